//! The `computestacks` module through the real binary and the real `.so`, against the
//! ComputeStacks simulator started in this process, on every backend: the whole
//! lifecycle (create, client area, SSO for client and staff, suspend, unsuspend, usage,
//! terminate that only suspends, delete as an admin action), a create whose reply is lost
//! (adopted, never duplicated), an e-mail clash with someone else's user (a task), the
//! import of 95 users over four pages, a 429 retried once the window resets, bad
//! credentials reported as invalid configuration, and a 404 "Unknown API Call" (a route
//! the controller does not know) told apart from a 404 for a user that is gone.

use std::sync::Arc;
use std::time::Duration;

use provisor_e2e::{backends, poll_until, so, Run, TestHome, PATIENCE};
use provisor_simulators::computestacks::{self as cs, ComputeStacksApi, UsageSeed};
use provisor_simulators::{Fault, FaultRule, Simulator};
use serde_json::{json, Value};

/// Retry at once: transient failures are retried within one `work` run.
const RETRY_NOW: [(&str, &str); 1] = [("PROVISOR_RETRY_SECS", "0")];

/// A home with the computestacks module, a handler `cs` on a fresh simulator, a plan
/// `Cloud` and a client Ada, on one backend; the home's checked calls (`ok`, `json`,
/// `refused`…) are the harness's, labelled with the backend.
struct Env {
    home: TestHome,
    backend: &'static str,
    sim: Simulator,
    api: Arc<ComputeStacksApi>,
}

impl std::ops::Deref for Env {
    type Target = TestHome;
    fn deref(&self) -> &TestHome {
        &self.home
    }
}

impl Env {
    fn new(backend: &'static str, url: Option<String>) -> Env {
        let home = TestHome::with_database(url).with_label(backend);
        home.drop_module(&so("provisor_computestacks"), "computestacks.so");
        let (sim, api) =
            cs::start_with_api(Some(&home.path().join("sim")), 0).expect("simulator starts");
        let env = Env {
            home,
            backend,
            sim,
            api,
        };
        env.ok(&["departments", "add", "cloud"]);
        env.handler("cs", cs::API_SECRET, &[]);
        env.ok(&["plans", "add", "Cloud", "--handler", "cs"]);
        env.client("Ada Lovelace", "ada@example.com");
        env
    }

    fn handler(&self, name: &str, secret: &str, extra: &[(&str, Value)]) -> Run {
        let mut settings = json!({
            "url": self.sim.url(),
            "api_key": cs::API_KEY,
            "api_secret": secret,
        });
        for (k, v) in extra {
            settings[*k] = v.clone();
        }
        let settings = settings.to_string();
        self.try_add_handler(name, "computestacks", &settings, &["--department", "cloud"])
    }

    fn client(&self, name: &str, email: &str) {
        self.ok(&[
            "clients",
            "add",
            "--name",
            name,
            "--email",
            email,
            "--currency",
            "USD",
            "--country",
            "GB",
        ]);
    }

    /// Orders a plan; returns the service id.
    fn order(&self, email: &str, plan: &str) -> i64 {
        self.home.order(email, plan, &[]).0
    }

    fn last_op(&self, id: i64) -> Value {
        let s = self.service(id);
        s["operations"]
            .as_array()
            .and_then(|ops| ops.last())
            .cloned()
            .unwrap_or_else(|| panic!("[{}] service {id} has no operations: {s:#}", self.backend))
    }

    /// Queues a lifecycle operation and works it off.
    fn lifecycle(&self, kind: &str, id: i64) -> Value {
        self.ok(&["services", kind, &id.to_string()]);
        self.work_env(&RETRY_NOW)
    }

    fn remote_id(&self, id: i64) -> u64 {
        let s = self.service(id);
        s["remote_id"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("[{}] no numeric remote id: {s:#}", self.backend))
    }

    fn requests(&self, endpoint: &str) -> u64 {
        self.sim
            .faults()
            .stats()
            .get(endpoint)
            .map(|s| s.requests)
            .unwrap_or(0)
    }

    /// `handlers call cs CALL --request FILE`.
    fn call(&self, call: &str, request: &Value) -> Value {
        let file = self
            .home
            .write(&format!("{call}.json"), &request.to_string());
        self.json(&[
            "handlers",
            "call",
            "cs",
            call,
            "--request",
            file.to_str().unwrap(),
        ])
    }
}

fn token_of(link: &str) -> String {
    link.split("token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no token in {link}"))
        .trim()
        .to_string()
}

fn row(start: &str, end: &str, product: &str, qty: &str, rate: &str) -> UsageSeed {
    UsageSeed {
        period_start: start.into(),
        period_end: end.into(),
        product: product.into(),
        rate: rate.into(),
        rate_period: 1,
        qty: qty.into(),
        qty_total: None,
        total: None,
        processed: false,
        external_id: None,
        created_at: None,
    }
}

fn panel_value(panel: &Value, label: &str) -> String {
    panel["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["label"] == label))
        .and_then(|r| r["value"].as_str())
        .unwrap_or_else(|| panic!("no {label} row in {panel:#}"))
        .to_string()
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn lifecycle(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    let api = &env.api;
    api.set_clock(Some("2026-11-20T10:00:00Z")).unwrap();

    let test = env.ok(&["handlers", "test", "cs"]);
    assert!(
        test.contains("connected to ComputeStacks") && test.contains("1 location"),
        "[{backend}] {test}"
    );

    // Create: one controller user per service, found again by its external id.
    let sid = env.order("ada@example.com", "Cloud");
    let report = env.work_env(&RETRY_NOW);
    assert_eq!(report["done"], 1, "[{backend}] {report:#}");
    let svc = env.service(sid);
    assert_eq!(svc["status"], "active", "[{backend}] {svc:#}");
    let id = env.remote_id(sid);
    let user = api.user(id).expect("the user exists on the controller");
    assert_eq!(
        user.external_id.as_deref(),
        Some(format!("provisor-{sid}").as_str())
    );
    assert_eq!(user.labels["provisor"]["service_id"], sid, "[{backend}]");
    assert_eq!(user.labels["provisor"]["client_id"], svc["client_id"]);
    assert_eq!(
        (
            user.email.as_str(),
            user.fname.as_str(),
            user.lname.as_str()
        ),
        ("ada@example.com", "Ada", "Lovelace")
    );
    assert_eq!(
        (user.currency.as_str(), user.country.as_str()),
        ("USD", "GB")
    );
    assert!(user.active);
    assert_eq!(svc["attributes"]["username"], "ada@example.com");
    assert_eq!(svc["attributes"]["cs_state"], "active");
    assert_eq!(api.count_users(), 1);

    // The client area reads the user with ?include=balance.
    api.set_user_figures(id, 12.5, 2);
    api.add_usage(
        id,
        &[row(
            "2026-11-01",
            "2026-11-02",
            "Container Small",
            "24",
            "0.0125",
        )],
    )
    .unwrap();
    let panel = env.json(&["services", "client-area", &sid.to_string(), "--json"]);
    assert_eq!(
        panel_value(&panel, "Account"),
        "ada@example.com",
        "[{backend}]"
    );
    assert_eq!(panel_value(&panel, "State"), "Active");
    assert_eq!(panel_value(&panel, "Run rate"), "$12.50 per month");
    assert_eq!(panel_value(&panel, "Usage not yet billed"), "$0.30");
    assert_eq!(panel_value(&panel, "Projects"), "2");
    let shown = panel.to_string();
    assert!(
        !shown.contains("token="),
        "[{backend}] no login token in the panel: {shown}"
    );

    // SSO: a fresh one-minute token on every request, for the client and for staff.
    let prefix = format!("{}/?username=ada%40example.com&token=", env.sim.url());
    let client_link = env.ok(&["services", "sso", &sid.to_string()]);
    assert!(
        client_link.trim().starts_with(&prefix),
        "[{backend}] {client_link}"
    );
    let admin_link = env.ok(&["services", "sso", &sid.to_string(), "--admin"]);
    assert!(
        admin_link.trim().starts_with(&prefix),
        "[{backend}] {admin_link}"
    );
    let admin_token = token_of(&admin_link);
    assert_ne!(token_of(&client_link), admin_token);
    // The controller keeps one token per user: the newest link is the one that works.
    assert!(api
        .check_login("ada@example.com", &token_of(&client_link))
        .is_err());
    assert_eq!(api.check_login("ada@example.com", &admin_token), Ok(id));
    let late = env.ok(&["services", "sso", &sid.to_string()]);
    api.advance_clock(61);
    let err = api
        .check_login("ada@example.com", &token_of(&late))
        .unwrap_err();
    assert!(err.contains("expired"), "[{backend}] {err}");
    let fresh = env.ok(&["services", "sso", &sid.to_string()]);
    assert_eq!(
        api.check_login("ada@example.com", &token_of(&fresh)),
        Ok(id)
    );

    // Suspend and resume through the suspension endpoints.
    let report = env.lifecycle("suspend", sid);
    assert_eq!(report["done"], 1, "[{backend}] {report:#}");
    assert_eq!(env.service(sid)["status"], "suspended");
    assert!(!api.user(id).unwrap().active, "[{backend}]");
    assert_eq!(env.requests("POST /api/admin/users/{id}/suspension"), 1);
    let report = env.lifecycle("unsuspend", sid);
    assert_eq!(report["done"], 1, "[{backend}] {report:#}");
    assert_eq!(env.service(sid)["status"], "active");
    assert!(api.user(id).unwrap().active, "[{backend}]");

    // A suspend whose reply is lost is retried, and suspending twice is fine.
    env.sim.faults().add(FaultRule::once(
        "POST /api/admin/users/{id}/suspension",
        Fault::LostReply,
    ));
    let report = env.lifecycle("suspend", sid);
    assert_eq!(
        (report["done"].as_i64(), report["retried"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(env.last_op(sid)["attempts"], 2, "[{backend}]");
    assert!(!api.user(id).unwrap().active);
    env.lifecycle("unsuspend", sid);

    // Usage of November: one item per billing-usage row that starts in the month, read
    // over two pages of 100 (rows for October and December are left out).
    let mut rows = Vec::new();
    for (month, days) in [("10", 31), ("11", 30), ("12", 5)] {
        for day in 1..=days {
            let start = format!("2026-{month}-{day:02}");
            let end = match (month, day) {
                ("10", 31) => "2026-11-01".to_string(),
                ("11", 30) => "2026-12-01".to_string(),
                _ => format!("2026-{month}-{:02}", day + 1),
            };
            rows.push(row(&start, &end, "Container Small", "24", "0.0125"));
            rows.push(row(&start, &end, "Storage", "10", "0.001"));
        }
    }
    let ids = api.add_usage(id, &rows).unwrap();
    let before = env.requests("GET /api/admin/users/{id}/billing_usages");
    let usage = env.json(&[
        "services",
        "usage",
        &sid.to_string(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        "--json",
    ]);
    let items = usage["items"].as_array().expect("items");
    // 60 rows seeded for November, plus the one read by the client area.
    assert_eq!(items.len(), 61, "[{backend}] {usage:#}");
    let october: Vec<String> = ids[..62].iter().map(ToString::to_string).collect();
    assert!(items
        .iter()
        .all(|i| !october.contains(&i["key"].as_str().unwrap().to_string())));
    assert!(items.iter().all(|i| i["unit"] == "hour"));
    let first_november = ids[62].to_string();
    let small = items
        .iter()
        .find(|i| i["key"] == first_november.as_str())
        .unwrap_or_else(|| panic!("[{backend}] no item for row {}: {usage:#}", ids[62]));
    assert_eq!(
        (&small["quantity"], &small["rate"], &small["amount"]),
        (&json!("24"), &json!("0.0125"), &json!("0.3")),
        "[{backend}] {small:#}"
    );
    assert!(small["description"]
        .as_str()
        .unwrap()
        .starts_with("Container Small, 2026-11-01 to 2026-11-02"));
    assert_eq!(small["details"]["rate_period"], 1);
    let pages = env.requests("GET /api/admin/users/{id}/billing_usages") - before;
    assert_eq!(pages, 2, "[{backend}] 133 rows at 100 a page");

    // Terminate suspends: the controller keeps the user.
    let report = env.lifecycle("terminate", sid);
    assert_eq!(report["done"], 1, "[{backend}] {report:#}");
    let svc = env.service(sid);
    assert_eq!(svc["status"], "terminated");
    assert_eq!(
        svc["attributes"]["cs_state"], "suspended",
        "[{backend}] {svc:#}"
    );
    assert_eq!(svc["attributes"]["cs_deleted"], false);
    let kept = api.user(id).expect("terminate must not delete the user");
    assert!(!kept.active);
    assert_eq!(env.requests("DELETE /api/admin/users/{id}"), 0);

    // Deleting is an explicit admin action, run as an operation on the service.
    let actions = env.json(&["services", "actions", &sid.to_string(), "--json"]);
    assert_eq!(
        actions[0]["name"], "delete_account",
        "[{backend}] {actions:#}"
    );
    assert!(actions[0]["confirm"]
        .as_str()
        .unwrap()
        .contains("cannot be undone"));
    // It asks for confirmation first; nothing is queued without it.
    env.refused(
        &["services", "action", &sid.to_string(), "delete_account"],
        &["confirmation", "--yes"],
    );
    env.refused(
        &["services", "action", &sid.to_string(), "explode", "--yes"],
        &["no admin action", "delete_account"],
    );
    let queued = env.ok(&[
        "services",
        "action",
        &sid.to_string(),
        "delete_account",
        "--yes",
    ]);
    assert!(
        queued.contains("queued as operation"),
        "[{backend}] {queued}"
    );
    env.work();
    let svc = env.service(sid);
    assert_eq!(svc["attributes"]["cs_deleted"], true, "[{backend}] {svc:#}");
    assert_eq!(svc["status"], "terminated", "[{backend}] still terminated");
    assert!(api.user(id).is_none(), "[{backend}] the user is deleted");
    // Already gone is success.
    let service = json!({"id": sid, "remote_id": id.to_string()});
    let again = env.call(
        "run_action",
        &json!({"operation_key": "delete-2", "service": service, "action": "delete_account"}),
    );
    assert_eq!(
        again["status"], "done",
        "[{backend}] already gone is success"
    );

    // Every exchange is in the module log, without the secret.
    let log = env.ok(&[
        "log",
        "--service",
        &sid.to_string(),
        "--limit",
        "1000",
        "--json",
    ]);
    assert!(log.contains("/api/admin/users"), "[{backend}]");
    assert!(
        !log.contains(cs::API_SECRET),
        "[{backend}] the API secret leaked into the log"
    );
}

#[test]
fn the_whole_lifecycle_on_a_simulated_controller_on_every_backend() {
    for (backend, url) in backends() {
        lifecycle(backend, url);
    }
}

fn lost_reply(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    env.sim
        .faults()
        .add(FaultRule::once("POST /api/admin/users", Fault::LostReply));
    let sid = env.order("ada@example.com", "Cloud");
    let report = env.work_env(&RETRY_NOW);
    assert_eq!(
        (report["done"].as_i64(), report["retried"].as_i64()),
        (Some(1), Some(1)),
        "[{backend}] {report:#}"
    );
    assert_eq!(env.api.count_users(), 1, "[{backend}] exactly one user");
    let made = env
        .api
        .user_by_external_id(&format!("provisor-{sid}"))
        .expect("the first attempt made the user");
    assert_eq!(
        env.remote_id(sid),
        made.id,
        "[{backend}] the retry adopted it"
    );
    let svc = env.service(sid);
    assert_eq!(svc["status"], "active");
    assert_eq!(env.last_op(sid)["attempts"], 2, "[{backend}] {svc:#}");
    assert_eq!(
        env.requests("POST /api/admin/users"),
        1,
        "[{backend}] the retry looked the user up instead of posting again"
    );
    let log = env.ok(&[
        "log",
        "--service",
        &sid.to_string(),
        "--limit",
        "100",
        "--json",
    ]);
    assert!(log.contains("adopting ComputeStacks user"), "[{backend}]");
}

#[test]
fn a_create_whose_reply_is_lost_is_adopted_not_duplicated_on_every_backend() {
    for (backend, url) in backends() {
        lost_reply(backend, url);
    }
}

fn email_clash(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    // Someone else's user already has Ada's e-mail.
    let foreign = env
        .api
        .add_user(json!({
            "fname": "Grace", "lname": "Hopper", "email": "ada@example.com",
            "external_id": "whmcs-17"
        }))
        .unwrap();
    let sid = env.order("ada@example.com", "Cloud");
    let report = env.work_env(&RETRY_NOW);
    assert_eq!(report["manual"], 1, "[{backend}] {report:#}");
    let op = env.last_op(sid);
    assert_eq!(
        op["attempts"], 1,
        "[{backend}] a clash is not retried: {op:#}"
    );
    assert_eq!(op["last_error_kind"], "permanent");
    let error = op["last_error"].as_str().unwrap_or_default();
    for needle in [
        "ada@example.com",
        &format!("ComputeStacks user {}", foreign.id),
        "whmcs-17",
        "remote_id",
    ] {
        assert!(
            error.contains(needle),
            "[{backend}] {needle:?} not in: {error}"
        );
    }
    let tasks = env.json(&["tasks", "list", "--json"]);
    let tasks: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["operation_id"] == op["id"])
        .collect();
    assert_eq!(tasks.len(), 1, "[{backend}] one task for the clash");
    assert_eq!(env.api.count_users(), 1, "[{backend}] nothing was created");
    assert_eq!(env.service(sid)["status"], "manual", "[{backend}]");

    // A user that carries this service's label is ours even with another external id
    // (made by hand, or by an older version): it is adopted.
    env.client("Bob Babbage", "bob@example.com");
    let bob = env.order("bob@example.com", "Cloud");
    let ours = env
        .api
        .add_user(json!({
            "fname": "Bob", "lname": "Babbage", "email": "bob@example.com",
            "merge_labels": {"provisor": {"service_id": bob}}
        }))
        .unwrap();
    let report = env.work_env(&RETRY_NOW);
    assert_eq!(report["done"], 1, "[{backend}] {report:#}");
    assert_eq!(env.remote_id(bob), ours.id, "[{backend}]");
    assert_eq!(env.api.count_users(), 2);
}

#[test]
fn an_email_taken_by_someone_else_becomes_a_task_on_every_backend() {
    for (backend, url) in backends() {
        email_clash(backend, url);
    }
}

fn import(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    let seeded = env.api.seed_users(95, Some(10), Some(2));
    let report = env.json(&["handlers", "import", "cs", "--json"]);
    assert_eq!(
        report["seen"], 95,
        "[{backend}] admins are not accounts: {report:#}"
    );
    assert_eq!(report["imported"], 95);
    assert_eq!(
        report["pages"], 4,
        "[{backend}] 96 users at the controller's 30 a page"
    );
    assert_eq!(env.requests("GET /api/admin/users"), 4);
    let services = env.json(&["services", "list", "--limit", "1000", "--json"]);
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 95, "[{backend}]");
    let suspended = services
        .iter()
        .filter(|s| s["status"] == "suspended")
        .count();
    assert_eq!(suspended, 9, "[{backend}]");
    let mut remote: Vec<u64> = services
        .iter()
        .map(|s| s["remote_id"].as_str().unwrap().parse().unwrap())
        .collect();
    remote.sort_unstable();
    assert_eq!(remote, seeded, "[{backend}]");

    let again = env.json(&["handlers", "import", "cs", "--json"]);
    assert_eq!(again["imported"], 0, "[{backend}] {again:#}");
    assert_eq!(again["already_known"], 95);
}

#[test]
fn every_page_of_existing_users_is_imported_on_every_backend() {
    for (backend, url) in backends() {
        import(backend, url);
    }
}

fn throttled(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    let api = &env.api;
    api.set_clock(Some("2026-11-20T10:00:00Z")).unwrap();
    api.set_rate_limit(3, 300);
    api.exhaust_rate_limit();
    let retry_soon = [("PROVISOR_RETRY_SECS", "1")];
    let sid = env.order("ada@example.com", "Cloud");
    let report = env.work_env(&retry_soon);
    assert_eq!(
        (report["done"].as_i64(), report["retried"].as_i64()),
        (Some(0), Some(1)),
        "[{backend}] {report:#}"
    );
    let op = env.last_op(sid);
    assert_eq!(op["last_error_kind"], "transient", "[{backend}] {op:#}");
    let error = op["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("throttled") && error.contains("429") && error.contains("limit 3"),
        "[{backend}] {error}"
    );
    assert_eq!(api.count_users(), 0);

    // The window resets; the retry (due a second later) goes through.
    api.advance_clock(300);
    poll_until(
        &format!("[{backend}] the retry of the throttled create"),
        PATIENCE,
        || {
            std::thread::sleep(Duration::from_millis(400));
            let report = env.work_env(&retry_soon);
            if report["done"] == 1 {
                Ok(())
            } else {
                Err(format!("{report:#}"))
            }
        },
    );
    assert_eq!(env.service(sid)["status"], "active", "[{backend}]");
    assert_eq!(env.last_op(sid)["attempts"], 2);
    assert_eq!(api.count_users(), 1);
}

#[test]
fn a_throttled_request_is_retried_and_succeeds_on_every_backend() {
    for (backend, url) in backends() {
        throttled(backend, url);
    }
}

fn bad_credentials(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    let run = env.handler("wrong", "not-the-secret", &[]);
    assert_eq!(
        run.code, 0,
        "[{backend}] settings that fit the schema are stored: {run:?}"
    );
    env.refused(
        &["handlers", "test", "wrong"],
        &[
            "invalid_config",
            "refused the API credentials",
            "check api_key and api_secret",
        ],
    );
    env.ok(&["plans", "add", "Broken", "--handler", "wrong"]);
    let sid = env.order("ada@example.com", "Broken");
    let report = env.work_env(&RETRY_NOW);
    assert_eq!(report["manual"], 1, "[{backend}] {report:#}");
    let op = env.last_op(sid);
    assert_eq!(op["attempts"], 1, "[{backend}] not retried: {op:#}");
    assert_eq!(op["last_error_kind"], "invalid_config");
    assert!(op["last_error"]
        .as_str()
        .unwrap_or_default()
        .contains("check api_key and api_secret"));
    assert_eq!(env.api.count_users(), 0);

    // An obsolete API version is refused before it is stored; a deprecated one works
    // and says so.
    let run = env.handler("old", cs::API_SECRET, &[("api_version", json!(50))]);
    assert_ne!(run.code, 0, "[{backend}] api_version 50 was accepted");
    assert!(
        run.stderr.contains("api_version"),
        "[{backend}] {}",
        run.stderr
    );
    let run = env.handler("dated", cs::API_SECRET, &[("api_version", json!(60))]);
    assert_eq!(run.code, 0, "[{backend}] {run:?}");
    let test = env.ok(&["handlers", "test", "dated"]);
    assert!(test.contains("deprecated"), "[{backend}] {test}");
}

#[test]
fn bad_credentials_are_reported_as_invalid_configuration_on_every_backend() {
    for (backend, url) in backends() {
        bad_credentials(backend, url);
    }
}

fn unknown_route(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url);
    let sid = env.order("ada@example.com", "Cloud");
    env.work_env(&RETRY_NOW);
    assert_eq!(env.service(sid)["status"], "active", "[{backend}]");
    let id = env.remote_id(sid);

    // The controller answers a route it does not know with 404 "Unknown API Call": the
    // suspend is a configuration problem, not a user deleted on the controller.
    env.sim.faults().add(FaultRule::once(
        "POST /api/admin/users/{id}/suspension",
        Fault::Error {
            status: 404,
            message: "Unknown API Call. Please check the documentation.".into(),
        },
    ));
    let report = env.lifecycle("suspend", sid);
    assert_eq!(report["manual"], 1, "[{backend}] {report:#}");
    let op = env.last_op(sid);
    assert_eq!(
        op["last_error_kind"], "invalid_config",
        "[{backend}] {op:#}"
    );
    let error = op["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("does not know this API call") && error.contains("check url"),
        "[{backend}] {error}"
    );
    assert!(!error.contains("no longer exists"), "[{backend}] {error}");
    assert!(env.api.user(id).is_some_and(|u| u.active), "[{backend}]");

    // A handler whose url is not the controller's base: every call is an unknown route,
    // and the service's user is not reported gone.
    env.handler(
        "moved",
        cs::API_SECRET,
        &[("url", json!(format!("{}/v2", env.sim.url())))],
    );
    let request = env.home.write(
        "sso.json",
        &json!({"service": {"id": sid, "remote_id": id.to_string()}, "audience": "client"})
            .to_string(),
    );
    let out = env.refused(
        &[
            "handlers",
            "call",
            "moved",
            "sso",
            "--request",
            request.to_str().unwrap(),
        ],
        &["does not know this API call"],
    );
    assert!(!out.contains("no longer exists"), "[{backend}] {out}");

    // A user that is really gone still reads as gone.
    env.call(
        "run_action",
        &json!({"operation_key": "del-1", "service": {"id": sid, "remote_id": id.to_string()}, "action": "delete_account"}),
    );
    assert!(env.api.user(id).is_none(), "[{backend}]");
    let request = env.home.write(
        "sso2.json",
        &json!({"service": {"id": sid, "remote_id": id.to_string()}, "audience": "client"})
            .to_string(),
    );
    env.refused(
        &[
            "handlers",
            "call",
            "cs",
            "sso",
            "--request",
            request.to_str().unwrap(),
        ],
        &["no longer exists"],
    );
}

#[test]
fn an_unknown_api_call_is_not_a_deleted_user_on_every_backend() {
    for (backend, url) in backends() {
        unknown_route(backend, url);
    }
}
