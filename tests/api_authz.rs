//! The API's authorization matrix over the real `provisor serve --listen`, on SQLite and
//! (with `PROVISOR_TEST_PG`) PostgreSQL. Generated from the route table
//! (`provisor_web::table::ROUTES`): every route is called by every principal — owner,
//! admin, billing, support (staff sessions from `POST /v1/sessions`), a read-only
//! token, the configured usage token, client A, client B, a revoked token, a session
//! ended by logout, and no credential — and the status must be exactly what the route's
//! policy and the object's owner (client A) say. A route without a row in [`case`]
//! fails the test. Then: one order sent twice under one key is one service and one
//! invoice; the 11th wrong password in a minute is a 429; and no password or token
//! appears in any response after the one that hands it over, in the daemon's output or
//! in the audit log.

#[path = "billing_support.rs"]
mod support;

use std::collections::HashMap;

use provisor_app::accounts::role_includes;
use provisor_e2e::{each_backend, so, Daemon, TestHome, PATIENCE, STAFF_PASSWORD};
use provisor_store::entities::kinds::Role;
use provisor_web::table::{Method, Policy, Route, ROUTES};
use serde_json::{json, Value};

const USAGE_TOKEN: &str = "e2e-authz-0123456789abcdef0123456789abcdef";
const CLIENT_PW: &str = "client A's long password";
const CLIENT_B_PW: &str = "client B's long password";
/// The secret setting of the `probe` handlers (module `versioned`): never in an answer.
const PROBE_TOKEN: &str = "probe-handler-token-5a1e9c0d7b";

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Staff(Role),
    /// A read-only token of this role.
    ReadOnly(Role),
    /// The configured `api.token`.
    Usage,
    /// Client A (`true`, the owner of every object in the paths) or client B.
    Client(bool),
    /// No, a revoked or an ended credential.
    Nobody,
}

struct Principal {
    name: &'static str,
    kind: Kind,
    bearer: Option<String>,
}

/// The objects the concrete requests name, all client A's.
struct Objects {
    client_a: i64,
    /// The service the reads name.
    service: i64,
    invoice: i64,
    /// A manual-task service's operation and its task, for the reads.
    operation: i64,
    task: i64,
    /// The plan the catalog's rows name (`catalog`, served by the enabled `rec`).
    catalog_plan: i64,
    /// Fresh services for each (operation, principal) that may change one: a request
    /// queued on a service blocks the next.
    fresh: HashMap<(&'static str, &'static str), i64>,
    /// Fresh invoices for each (operation, principal) that may change one: a draft to
    /// issue, an unpaid one to pay or cancel, a paid one to refund.
    fresh_invoices: HashMap<(&'static str, &'static str), i64>,
}

/// One concrete request of a route for a principal, and the status of success.
struct Case {
    path: String,
    body: Option<Value>,
    ok: u16,
    /// Whether the object it names is client A's (client B gets a 404).
    of_a: bool,
}

/// The concrete request of every route, by operation id: a new route needs a row here.
fn case(r: &Route, p: &Principal, o: &Objects) -> Option<Case> {
    let svc_for = |op: &'static str| o.fresh.get(&(op, p.name)).copied().unwrap_or(o.service);
    let c = |path: String, body: Option<Value>, ok: u16, of_a: bool| {
        Some(Case {
            path,
            body,
            ok,
            of_a,
        })
    };
    match r.operation_id {
        "getHealth" | "getOpenApi" | "getMe" | "listClients" | "listServices" | "listInvoices" => {
            c(r.path.to_string(), None, 200, false)
        }
        "pushUsage" => c(r.path.to_string(), Some(json!([])), 200, false),
        "createSession" => c(
            r.path.to_string(),
            Some(json!({"realm": "client", "email": "a@example.com", "password": CLIENT_PW})),
            201,
            false,
        ),
        "deleteSession" => c(r.path.to_string(), None, 204, false),
        "createClient" => c(
            r.path.to_string(),
            Some(
                json!({"name": p.name, "email": format!("new-{}@example.com", p.name), "currency": "EUR"}),
            ),
            201,
            false,
        ),
        "getClient" => c(format!("/v1/clients/{}", o.client_a), None, 200, true),
        "getService" => c(format!("/v1/services/{}", o.service), None, 200, true),
        "getInvoice" => c(format!("/v1/invoices/{}", o.invoice), None, 200, true),
        "createService" => c(
            r.path.to_string(),
            Some(json!({"client_id": o.client_a, "plan": "basic"})),
            201,
            true,
        ),
        op @ ("suspendService" | "unsuspendService" | "terminateService") => {
            let verb = op.trim_end_matches("Service");
            c(
                format!("/v1/services/{}/{verb}", svc_for(op)),
                None,
                202,
                true,
            )
        }
        "listInvoiceLines" => c(format!("/v1/invoices/{}/lines", o.invoice), None, 200, true),
        op @ ("issueInvoice" | "payInvoice" | "refundInvoice" | "cancelInvoice") => {
            let inv = o
                .fresh_invoices
                .get(&(op, p.name))
                .copied()
                .unwrap_or(o.invoice);
            let (verb, body, ok) = match op {
                "issueInvoice" => ("issue", None, 200),
                "payInvoice" => (
                    "payments",
                    Some(
                        json!({"amount": "6.05", "currency": "EUR", "reference": format!("pay-{}", p.name)}),
                    ),
                    201,
                ),
                "refundInvoice" => (
                    "refunds",
                    Some(json!({"reference": format!("refund-{}", p.name)})),
                    201,
                ),
                _ => ("cancel", None, 200),
            };
            c(format!("/v1/invoices/{inv}/{verb}"), body, ok, true)
        }
        "runBilling" => c(
            r.path.to_string(),
            Some(json!({"date": "2026-01-15", "dry_run": true})),
            200,
            false,
        ),
        "listAudit" => c("/v1/audit?limit=5".to_string(), None, 200, false),
        _ => more_cases(r, p, o),
    }
}

/// The concrete request of the routes of a service's other actions, operations, tasks
/// and the catalog (the rest of [`case`]).
fn more_cases(r: &Route, p: &Principal, o: &Objects) -> Option<Case> {
    let svc_for = |op: &'static str| o.fresh.get(&(op, p.name)).copied().unwrap_or(o.service);
    let c = |path: String, body: Option<Value>, ok: u16, of_a: bool| {
        Some(Case {
            path,
            body,
            ok,
            of_a,
        })
    };
    match r.operation_id {
        // A service's other actions, operations and tasks. The recorder offers no
        // renewal (refused before the module: 400), sign-in link or panel (the module
        // answers not_supported: 502) or admin action: past the policy, every principal
        // allowed gets the same refusal; their behaviour is `tests/api_operations.rs`'s,
        // on the manual-task module.
        "changeServicePlan" => c(
            format!("/v1/services/{}/change_plan", svc_for("changeServicePlan")),
            Some(json!({"plan": "priced"})),
            202,
            true,
        ),
        "renewService" => c(format!("/v1/services/{}/renew", o.service), None, 400, true),
        "createServiceSso" => c(
            format!("/v1/services/{}/sso", o.service),
            Some(json!({"audience": "client"})),
            502,
            true,
        ),
        "getServicePanel" => c(format!("/v1/services/{}/panel", o.service), None, 502, true),
        "runServiceAction" => c(
            format!("/v1/services/{}/actions/reboot", o.service),
            Some(json!({"fields": {}})),
            400,
            true,
        ),
        "listOperations" | "listTasks" => c(r.path.to_string(), None, 200, false),
        "getOperation" => c(format!("/v1/operations/{}", o.operation), None, 200, false),
        "getTask" => c(format!("/v1/tasks/{}", o.task), None, 200, false),
        op @ ("retryOperation" | "cancelOperation") => {
            let id = o.fresh.get(&(op, p.name)).copied().unwrap_or(o.operation);
            let verb = op.trim_end_matches("Operation");
            c(format!("/v1/operations/{id}/{verb}"), None, 200, false)
        }
        op @ ("takeTask" | "completeTask" | "returnTask") => {
            let id = o.fresh.get(&(op, p.name)).copied().unwrap_or(o.task);
            let verb = op.trim_end_matches("Task");
            let body = (op == "completeTask").then(|| json!({"remote_id": "box-1"}));
            c(format!("/v1/tasks/{id}/{verb}"), body, 200, false)
        }
        "listPlans" | "listDepartments" | "listHandlers" | "listModules" => {
            c(format!("{}?limit=100", r.path), None, 200, false)
        }
        "getPlan" => c(format!("/v1/plans/{}", o.catalog_plan), None, 200, false),
        "setPlanPrice" => c(
            format!("/v1/plans/{}/prices", o.catalog_plan),
            Some(json!({"currency": "EUR", "period": "annual", "amount": "100.00"})),
            200,
            false,
        ),
        "addDepartment" => c(
            r.path.to_string(),
            Some(json!({"name": format!("dept-{}", p.name.replace('_', "-"))})),
            201,
            false,
        ),
        "getHandler" => c("/v1/handlers/probe".to_string(), None, 200, false),
        "addHandler" => c(
            r.path.to_string(),
            Some(json!({
                "name": format!("probe-{}", p.name.replace('_', "-")),
                "module": "versioned",
                "settings": {"token": PROBE_TOKEN},
            })),
            201,
            false,
        ),
        op @ ("enableHandler" | "disableHandler" | "testHandler") => {
            let verb = op.trim_end_matches("Handler");
            c(format!("/v1/handlers/probe/{verb}"), None, 200, false)
        }
        // The matrix sends JSON: a module upload refuses it (400, naming Content-Type)
        // once the policy let it through.
        "uploadModule" => c(r.path.to_string(), Some(json!({})), 400, false),
        "getLedger" => c(
            format!("/v1/clients/{}/ledger", o.client_a),
            None,
            200,
            true,
        ),
        _ => None,
    }
}

fn holds(role: Role, roles: &[Role]) -> bool {
    roles.iter().any(|r| role_includes(role, *r))
}

/// What a staff role gets on a route.
fn staff_gets(r: &Route, role: Role, ok: u16) -> u16 {
    let allowed = match r.policy {
        Policy::Public | Policy::Signed => true,
        Policy::UsagePush => holds(role, &[Role::Billing]),
        Policy::Staff(roles) | Policy::StaffOrClient { staff: roles } => holds(role, roles),
    };
    if allowed {
        ok
    } else {
        403
    }
}

/// The status a principal must get: from the route's policy and the object's owner.
fn expected(r: &Route, p: &Principal, c: &Case) -> u16 {
    if r.policy == Policy::Public {
        return c.ok;
    }
    match p.kind {
        Kind::Nobody => 401,
        Kind::Usage => {
            if r.method == Method::Post && r.path == "/v1/usage" {
                c.ok
            } else {
                403
            }
        }
        Kind::ReadOnly(_) if r.method != Method::Get => 403,
        Kind::ReadOnly(role) | Kind::Staff(role) => staff_gets(r, role, c.ok),
        Kind::Client(is_a) => match r.policy {
            Policy::Signed => c.ok,
            Policy::StaffOrClient { .. } if is_a || !c.of_a => c.ok,
            Policy::StaffOrClient { .. } => 404,
            _ => 403,
        },
    }
}

/// Everything the run saw: for the secrets check at the end.
#[derive(Default)]
struct Seen(String);

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    addr: String,
}

impl Api {
    fn call(
        &self,
        seen: &mut Seen,
        (method, path): (&str, &str),
        bearer: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let (status, text) = self.rt.block_on(async {
            let r = req.send().await.expect("the server answers");
            let status = r.status().as_u16();
            (status, r.text().await.expect("a body"))
        });
        seen.0.push_str(&text);
        seen.0.push('\n');
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v)
    }

    fn login(&self, seen: &mut Seen, realm: &str, email: &str, password: &str) -> String {
        let body = json!({"realm": realm, "email": email, "password": password});
        let (status, v) = self.call(seen, ("POST", "/v1/sessions"), None, Some(&body), None);
        assert_eq!(status, 201, "login {email}: {v}");
        assert!(v["expires_at"].is_string(), "{v}");
        v["token"].as_str().expect("a token").to_string()
    }
}

fn api_addr(daemon: &mut Daemon) -> String {
    daemon.wait_for("api listening on http://", PATIENCE);
    let out = daemon.output();
    let (_, rest) = out
        .split_once("api listening on http://")
        .expect("the line");
    rest.split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

/// A home with staff of every role, clients A and B with logins, a free plan `basic`
/// and a priced plan `priced`, A's active service and A's invoice, and fresh services
/// for the requests that change one.
fn setup(home: &TestHome) -> Objects {
    let ok = |args: &[&str]| support::ok(home, args);
    home.staff("admin@staff.example.test", "admin", &[]);
    home.staff("billing@staff.example.test", "billing", &[]);
    home.staff("support@staff.example.test", "support", &[]);
    ok(&["plans", "add", "basic", "--handler", "rec"]);
    ok(&["plans", "add", "priced", "--handler", "rec"]);
    ok(&[
        "plans",
        "price",
        "priced",
        "--currency",
        "EUR",
        "--period",
        "monthly",
        "--amount",
        "10.00",
    ]);
    let client_a = support::client(home, "A", "EUR", "NL");
    support::client(home, "B", "EUR", "NL");
    home.ok_stdin(
        &["clients", "login", "a@example.com", "--password-stdin"],
        &format!("{CLIENT_PW}\n"),
    );
    home.ok_stdin(
        &["clients", "login", "b@example.com", "--password-stdin"],
        &format!("{CLIENT_B_PW}\n"),
    );
    let (service, _) = home.order("a@example.com", "basic", &[]);
    let priced = home.json(&[
        "services",
        "order",
        "--client",
        "a@example.com",
        "--plan",
        "priced",
        "--json",
    ]);
    let invoice = priced["invoice_id"].as_i64().expect("an invoice");
    let mut fresh = HashMap::new();
    for op in ["suspendService", "unsuspendService", "terminateService"] {
        for who in ["owner", "admin", "support"] {
            let (sid, _) = home.order("a@example.com", "basic", &[]);
            fresh.insert((op, who), sid);
        }
    }
    ok(&["work", "--until-idle"]);
    for who in ["owner", "admin", "support"] {
        let sid = fresh[&("unsuspendService", who)].to_string();
        ok(&["services", "suspend", &sid]);
    }
    ok(&["work", "--until-idle"]);
    let (operation, task) = manual_tasks(home, &mut fresh);
    // The catalog's rows: a plan, and a handler with a secret setting.
    ok(&["plans", "add", "catalog", "--handler", "rec"]);
    let catalog_plan = home.json(&["plans", "show", "catalog", "--json"])["id"]
        .as_i64()
        .expect("the plan's id");
    home.drop_module(
        &provisor_e2e::so("provisor_fixture_versioned_v1"),
        "versioned.so",
    );
    home.add_handler("probe", "versioned", &json!({"token": PROBE_TOKEN}), None);
    Objects {
        client_a,
        service,
        invoice,
        operation,
        task,
        catalog_plan,
        fresh,
        fresh_invoices: fresh_invoices(home),
    }
}

/// Client A's invoices of 6.05 EUR (5.00 and 21 % tax) for the staff who may change
/// one: drafts to issue, unpaid ones to pay and cancel, paid ones to refund.
fn fresh_invoices(home: &TestHome) -> HashMap<(&'static str, &'static str), i64> {
    let mut fresh = HashMap::new();
    for who in ["owner", "admin", "billing"] {
        for op in [
            "issueInvoice",
            "payInvoice",
            "refundInvoice",
            "cancelInvoice",
        ] {
            let mut args = vec![
                "invoices",
                "create",
                "--client",
                "a@example.com",
                "--line",
                "Setup;1;5.00",
                "--json",
            ];
            if op != "issueInvoice" {
                args.push("--issue");
            }
            let id = home.json(&args)["id"].as_i64().expect("an invoice");
            if op == "refundInvoice" {
                let reference = format!("paid-{who}");
                home.ok(&[
                    "invoices",
                    "pay",
                    &id.to_string(),
                    "--amount",
                    "6.05",
                    "--reference",
                    &reference,
                ]);
            }
            fresh.insert((op, who), id);
        }
    }
    fresh
}

/// Manual-task services (handler `hands`, department `noc`, where support works) whose
/// create is a task: a fresh task or manual operation for each (operation, principal)
/// that changes one, and fresh active services for plan changes. Answers an operation
/// and a task for the reads.
fn manual_tasks(
    home: &TestHome,
    fresh: &mut HashMap<(&'static str, &'static str), i64>,
) -> (i64, i64) {
    let ok = |args: &[&str]| support::ok(home, args);
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    ok(&["departments", "add", "noc"]);
    home.add_handler("hands", "manual-task", &json!({}), Some("noc"));
    ok(&["plans", "add", "box", "--handler", "hands"]);
    ok(&["staff", "departments", "support@staff.example.test", "noc"]);
    let mut boxes = Vec::new();
    for op in [
        "takeTask",
        "completeTask",
        "returnTask",
        "retryOperation",
        "cancelOperation",
    ] {
        for who in ["owner", "admin", "support"] {
            let (sid, _) = home.order("a@example.com", "box", &[]);
            boxes.push((op, who, sid));
        }
    }
    for who in ["owner", "admin", "support"] {
        let (sid, _) = home.order("a@example.com", "basic", &[]);
        fresh.insert(("changeServicePlan", who), sid);
    }
    ok(&["work", "--until-idle"]);
    let tasks = home.json(&["tasks", "list", "--json", "--limit", "1000"]);
    let of = |sid: i64| {
        tasks
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["service_id"] == sid)
            .map(|t| (t["operation_id"].as_i64(), t["id"].as_i64()))
            .and_then(|(o, t)| Some((o?, t?)))
            .unwrap_or_else(|| panic!("no task of service {sid}: {tasks:#}"))
    };
    for &(op, who, sid) in &boxes {
        let (operation, task) = of(sid);
        let id = if op.ends_with("Task") {
            task
        } else {
            operation
        };
        fresh.insert((op, who), id);
    }
    of(boxes[0].2)
}

/// The principals, with their credentials: staff and client sessions from the API,
/// tokens from the command line (one revoked), a session ended by logout.
fn principals(home: &TestHome, api: &Api, seen: &mut Seen) -> Vec<Principal> {
    let staff = |seen: &mut Seen, email: &str| api.login(seen, "staff", email, STAFF_PASSWORD);
    let token = |args: &[&str]| home.ok(args).trim().to_string();
    let ro = token(&["tokens", "add", "ro", "--role", "admin", "--read-only"]);
    let revoked = token(&["tokens", "add", "gone", "--role", "admin"]);
    let listed = home.json(&["tokens", "list", "--json"]);
    let gone = listed
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "gone")
        .and_then(|t| t["id"].as_i64())
        .expect("the token's id");
    home.ok(&["tokens", "revoke", &gone.to_string()]);
    let ended = staff(seen, "support@staff.example.test");
    let (status, _) = api.call(
        seen,
        ("DELETE", "/v1/sessions/current"),
        Some(&ended),
        None,
        None,
    );
    assert_eq!(status, 204);
    let p = |name, kind, bearer: Option<String>| Principal { name, kind, bearer };
    vec![
        p(
            "owner",
            Kind::Staff(Role::Owner),
            Some(staff(seen, "owner@staff.example.test")),
        ),
        p(
            "admin",
            Kind::Staff(Role::Admin),
            Some(staff(seen, "admin@staff.example.test")),
        ),
        p(
            "billing",
            Kind::Staff(Role::Billing),
            Some(staff(seen, "billing@staff.example.test")),
        ),
        p(
            "support",
            Kind::Staff(Role::Support),
            Some(staff(seen, "support@staff.example.test")),
        ),
        p("read_only", Kind::ReadOnly(Role::Admin), Some(ro)),
        p("usage", Kind::Usage, Some(USAGE_TOKEN.to_string())),
        p(
            "client_a",
            Kind::Client(true),
            Some(api.login(seen, "client", "a@example.com", CLIENT_PW)),
        ),
        p(
            "client_b",
            Kind::Client(false),
            Some(api.login(seen, "client", "b@example.com", CLIENT_B_PW)),
        ),
        p("revoked", Kind::Nobody, Some(revoked)),
        p("ended_session", Kind::Nobody, Some(ended)),
        p("nobody", Kind::Nobody, None),
    ]
}

/// Every route for every principal; logging out comes last (it ends the sessions).
fn matrix(api: &Api, seen: &mut Seen, who: &[Principal], o: &Objects, backend: &str) {
    let mut routes: Vec<&Route> = ROUTES.iter().collect();
    routes.sort_by_key(|r| r.operation_id == "deleteSession");
    let mut wrong = Vec::new();
    for r in routes {
        for p in who {
            let c = case(r, p, o).unwrap_or_else(|| {
                panic!(
                    "{} {} ({}) has no row in the authorization matrix: add one to `case`",
                    r.method.as_str(),
                    r.path,
                    r.operation_id
                )
            });
            let want = expected(r, p, &c);
            let (got, body) = api.call(
                seen,
                (r.method.as_str(), &c.path),
                p.bearer.as_deref(),
                c.body.as_ref(),
                None,
            );
            if got != want {
                wrong.push(format!(
                    "{} {} as {}: got {got}, want {want}: {body}",
                    r.method.as_str(),
                    c.path,
                    p.name
                ));
            }
            if matches!(got, 401 | 403 | 404) {
                assert_eq!(
                    body["status"].as_u64(),
                    Some(u64::from(got)),
                    "a problem document: {body}"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "[{backend}] {} wrong answer(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// One order sent twice under one key: one service, one invoice, a replay.
fn idempotent_order(api: &Api, seen: &mut Seen, owner: &str, client_a: i64, backend: &str) {
    let count = |seen: &mut Seen, path: &str| {
        let (s, v) = api.call(seen, ("GET", path), Some(owner), None, None);
        assert_eq!(s, 200, "{v}");
        v["data"].as_array().expect("a list").len()
    };
    let services = format!("/v1/services?client_id={client_a}&limit=100");
    let invoices = format!("/v1/invoices?client_id={client_a}&limit=100");
    let (s0, i0) = (count(seen, &services), count(seen, &invoices));
    let body = json!({"client_id": client_a, "plan": "priced"});
    let first = api.call(
        seen,
        ("POST", "/v1/services"),
        Some(owner),
        Some(&body),
        Some("order-once"),
    );
    let second = api.call(
        seen,
        ("POST", "/v1/services"),
        Some(owner),
        Some(&body),
        Some("order-once"),
    );
    assert_eq!(first.0, 201, "[{backend}] {}", first.1);
    assert_eq!(first, second, "[{backend}] the replay is the first answer");
    assert!(first.1["invoice_id"].is_i64(), "{}", first.1);
    assert_eq!(
        (count(seen, &services), count(seen, &invoices)),
        (s0 + 1, i0 + 1),
        "[{backend}] one service and one invoice"
    );
    // A page's `next` keeps the listing's filters.
    let (_, page) = api.call(
        seen,
        ("GET", &format!("/v1/services?client_id={client_a}&limit=1")),
        Some(owner),
        None,
        None,
    );
    let next = page["next"].as_str().expect("a next page").to_string();
    assert!(next.contains(&format!("client_id={client_a}")), "{next}");
    let (s, more) = api.call(seen, ("GET", &next), Some(owner), None, None);
    assert_eq!(s, 200, "{more}");
    assert!(
        more["data"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|x| x["client_id"] == client_a),
        "[{backend}] {more}"
    );
}

/// The 11th wrong password in a minute is refused before the hash is checked (from
/// 127.0.0.2, so the address's count starts at zero); within the window the right
/// password of that account waits too, while another account from another address
/// still logs in. That the right password works after the window is the unit test's
/// (`provisor_app::accounts` tests), which moves the clock.
fn rate_limited(api: &Api, seen: &mut Seen, backend: &str) {
    let other = Api {
        rt: tokio::runtime::Runtime::new().expect("a runtime"),
        http: reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .build()
            .expect("a client"),
        addr: api.addr.clone(),
    };
    let wrong =
        json!({"realm": "client", "email": "b@example.com", "password": "not B's password at all"});
    for i in 1..=10 {
        let (s, v) = other.call(seen, ("POST", "/v1/sessions"), None, Some(&wrong), None);
        assert_eq!(s, 401, "[{backend}] attempt {i}: {v}");
    }
    let (s, v) = other.call(seen, ("POST", "/v1/sessions"), None, Some(&wrong), None);
    assert_eq!(s, 429, "[{backend}] the 11th: {v}");
    let right = json!({"realm": "client", "email": "b@example.com", "password": CLIENT_B_PW});
    let (s, _) = api.call(seen, ("POST", "/v1/sessions"), None, Some(&right), None);
    assert_eq!(
        s, 429,
        "[{backend}] within the window even the right password waits"
    );
    api.login(seen, "client", "a@example.com", CLIENT_PW);
}

/// A sample of each kind of change the matrix made is recorded with the principal
/// and the address it came from.
fn audited(audit: &str, o: &Objects, backend: &str) {
    let all: Vec<Value> = serde_json::from_str(audit).expect("the audit log as JSON");
    let find = |action: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        all.iter()
            .find(|e| e["action"] == action && pred(e))
            .cloned()
            .unwrap_or_else(|| panic!("[{backend}] no {action} entry like that in {all:#?}"))
    };
    let suspended = o.fresh[&("suspendService", "support")].to_string();
    let cases = [
        (
            find("service.suspend", &|e| {
                e["object"]["id"] == suspended.as_str()
            }),
            "staff",
            "support@staff.example.test",
        ),
        (
            find("client.add", &|e| {
                e["after"]["email"] == "new-billing@example.com"
            }),
            "staff",
            "billing@staff.example.test",
        ),
        (
            find("service.order", &|e| e["actor"]["kind"] == "client"),
            "client",
            "a@example.com",
        ),
    ];
    for (e, kind, name) in cases {
        assert_eq!(
            (
                e["actor"]["kind"].as_str(),
                e["actor"]["name"].as_str(),
                e["source"].as_str()
            ),
            (Some(kind), Some(name), Some("127.0.0.1")),
            "[{backend}] {e:#}"
        );
    }
}

fn scenario(backend: &'static str, url: Option<String>) {
    let home = support::billing_home(url)
        .with_env("PROVISOR_API_TOKEN", USAGE_TOKEN)
        .with_label(backend);
    let objects = setup(&home);
    let mut daemon = home.serve(&[
        "--listen",
        "127.0.0.1:0",
        "--no-workers",
        "--check-interval",
        "0",
    ]);
    let api = Api {
        rt: tokio::runtime::Runtime::new().expect("a runtime"),
        http: reqwest::Client::new(),
        addr: api_addr(&mut daemon),
    };
    let mut seen = Seen::default();
    // Unknown email and wrong password: the same answer.
    let unknown = json!({"realm": "staff", "email": "nobody@staff.example.test", "password": "whatever it is here"});
    let wrong_pw = json!({"realm": "staff", "email": "admin@staff.example.test", "password": "whatever it is here"});
    let a = api.call(
        &mut seen,
        ("POST", "/v1/sessions"),
        None,
        Some(&unknown),
        None,
    );
    let b = api.call(
        &mut seen,
        ("POST", "/v1/sessions"),
        None,
        Some(&wrong_pw),
        None,
    );
    assert_eq!((a.0, &a.1["detail"]), (b.0, &b.1["detail"]), "[{backend}]");
    assert_eq!(a.0, 401);

    let who = principals(&home, &api, &mut seen);
    let owner = who[0].bearer.clone().expect("the owner's session");
    let (s, me) = api.call(&mut seen, ("GET", "/v1/me"), Some(&owner), None, None);
    assert_eq!(
        (s, me["kind"].as_str(), me["role"].as_str()),
        (200, Some("staff"), Some("owner")),
        "{me}"
    );
    idempotent_order(&api, &mut seen, &owner, objects.client_a, backend);
    let secrets: Vec<String> = who
        .iter()
        .filter_map(|p| p.bearer.clone())
        .chain(
            [
                STAFF_PASSWORD,
                CLIENT_PW,
                CLIENT_B_PW,
                USAGE_TOKEN,
                PROBE_TOKEN,
            ]
            .map(str::to_string),
        )
        .collect();
    matrix(&api, &mut seen, &who, &objects, backend);
    rate_limited(&api, &mut seen, backend);
    let output = daemon.stop();
    let audit = home.ok(&["audit", "--json", "--limit", "1000"]);
    audited(&audit, &objects, backend);
    // The login answers hand the session tokens over once; everything else is clean.
    let answers: String = seen
        .0
        .lines()
        .filter(|l| !l.contains("\"object\":\"session\""))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in &secrets {
        for (what, text) in [
            ("an answer", &answers),
            ("the daemon's output", &output),
            ("the audit log", &audit),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "[{backend}] a secret ({}…) is in {what}",
                &secret[..6]
            );
        }
    }
}

#[test]
fn every_route_answers_every_principal_as_its_policy_says() {
    each_backend("the authorization matrix", scenario);
}
