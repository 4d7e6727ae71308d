//! The `solusvm` module through the real binary and the real `.so`, against the SolusVM
//! simulator, on embedded SQLite and (when `PROVISOR_TEST_PG` is set) PostgreSQL: the full
//! post-pay lifecycle (one panel user per client, VMs suspended and resumed with it,
//! single sign-on, the client-area panel, usage in tokens capped per month), a create
//! whose reply is lost, two services sharing one user, garbage from the panel, a wrong
//! API token, and an import that pages through every user.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use provisor_e2e::{so, TestHome};
use provisor_simulators::solusvm::{self, SolusVm, API_TOKEN};
use provisor_simulators::{Fault, FaultRule, Simulator};
use serde_json::{json, Value};

/// Retry at once, give up after three attempts.
const ENV: [(&str, &str); 2] = [("PROVISOR_RETRY_SECS", "0"), ("PROVISOR_MAX_ATTEMPTS", "3")];

/// One backend's home with the solusvm module and a simulator beside it; the home's
/// checked calls (`ok`, `json`, `fails`, `work`…) are the harness's, labelled with the
/// backend.
struct Env {
    home: TestHome,
    backend: &'static str,
    sim: Simulator,
    api: Arc<SolusVm>,
}

impl std::ops::Deref for Env {
    type Target = TestHome;
    fn deref(&self) -> &TestHome {
        &self.home
    }
}

impl Env {
    fn new(backend: &'static str, url: Option<String>) -> Env {
        let mut home = TestHome::with_database(url).with_label(backend);
        for (k, v) in ENV {
            home = home.with_env(k, v);
        }
        home.drop_module(&so("provisor_solusvm"), "solusvm.so");
        let (sim, api) =
            solusvm::start(Some(&home.path().join("sim")), 0).expect("simulator starts");
        Env {
            home,
            backend,
            sim,
            api,
        }
    }

    /// Adds the handler `solus` on the simulator with this API token.
    fn handler(&self, token: &str) {
        let settings = json!({
            "url": self.sim.url(),
            "api_token": token,
            "token_price": {"EUR": "0.01", "USD": "0.011"},
            "timeout_ms": 5000,
        });
        self.add_handler("solus", "solusvm", &settings, None);
        self.ok(&["plans", "add", "cloud", "--handler", "solus"]);
    }

    fn client(&self, email: &str) -> i64 {
        self.ok(&["clients", "add", "--name", "Ann Example", "--email", email]);
        self.json(&["clients", "show", email, "--json"])["id"]
            .as_i64()
            .expect("client id")
    }

    /// Orders the plan for a client; returns (service id, create operation id).
    fn order(&self, email: &str) -> (i64, i64) {
        self.home.order(email, "cloud", &[])
    }

    /// Queues `kind` for a service, works it off and asserts the new status.
    fn lifecycle(&self, sid: i64, kind: &str, status: &str) -> Value {
        self.ok(&["services", kind, &sid.to_string()]);
        self.work();
        let s = self.service(sid);
        assert_eq!(
            s["status"], status,
            "[{}] after {kind}: {s:#}",
            self.backend
        );
        s
    }

    fn usage(&self, sid: i64, from: &str, to: &str) -> Vec<Value> {
        self.json(&[
            "services",
            "usage",
            &sid.to_string(),
            "--from",
            from,
            "--to",
            to,
            "--json",
        ])["items"]
            .as_array()
            .expect("usage items")
            .clone()
    }

    /// The SolusVM user id a service is bound to.
    fn user_id(&self, s: &Value) -> u64 {
        s["remote_id"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("[{}] no SolusVM user id: {s:#}", self.backend))
    }
}

/// `GET url` over a fresh connection; the status code.
fn browse(url: &str) -> u16 {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).expect("connect to the simulator");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply}"))
}

/// Runs a scenario on every backend at once, each with its own home and simulator.
fn each_backend(what: &str, scenario: fn(Env)) {
    provisor_e2e::each_backend(what, |backend, url| scenario(Env::new(backend, url)));
}

fn find<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["details"]["name"] == name)
        .unwrap_or_else(|| panic!("no usage item for {name}: {items:#?}"))
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn post_pay_lifecycle_from_sign_up_to_the_last_bill() {
    each_backend("lifecycle", |env| {
        let b = env.backend;
        env.handler(API_TOKEN);
        let out = env.ok(&["handlers", "test", "solus"]);
        assert!(out.contains("connected to SolusVM"), "[{b}] {out}");
        let client = env.client("ann@example.com");

        let (sid, _) = env.order("ann@example.com");
        assert_eq!(env.work()["done"], 1, "[{b}]");
        let s = env.service(sid);
        assert_eq!(s["status"], "active", "[{b}] {s:#}");
        let uid = env.user_id(&s);
        assert_eq!(s["attributes"]["email"], "ann@example.com", "[{b}] {s:#}");
        assert_eq!(s["attributes"]["user_id"], uid, "[{b}] {s:#}");
        let users = env.api.users_with_email("ann@example.com");
        assert_eq!(users.len(), 1, "[{b}] {users:#?}");
        assert_eq!(users[0].id, uid);
        assert_eq!(
            users[0].billing_user_id,
            Some(client as u64),
            "[{b}] billing_user_id is our client id"
        );
        assert_eq!(users[0].status, "active");

        // The client builds VMs in the panel: one on the docs' 7 tokens/h, 5000 cap plan,
        // one on a 20 tokens/h plan, and a spare an admin suspended by hand.
        let web = env.api.create_server(uid, 1, "web-1").unwrap();
        let db = env.api.create_server(uid, 2, "db-1").unwrap();
        let spare = env.api.create_server(uid, 1, "spare").unwrap();
        env.api.set_server_suspended(spare.id, true).unwrap();
        env.api.record_uptime_hours(web.id, "2026-01", 700).unwrap();
        env.api.record_uptime_hours(db.id, "2026-01", 30).unwrap();
        env.api
            .record_uptime_minutes(db.id, "2026-01-31", 5)
            .unwrap(); // a started hour
        env.api
            .record_uptime_hours(spare.id, "2026-01", 744)
            .unwrap();
        env.api.record_uptime_hours(web.id, "2026-02", 10).unwrap(); // outside the period

        let panel = env.json(&["services", "client-area", &sid.to_string(), "--json"]);
        let rows = panel["rows"].as_array().expect("rows");
        let row = |label: &str| {
            rows.iter()
                .find(|r| r["label"] == label)
                .and_then(|r| r["value"].as_str())
                .unwrap_or_else(|| panic!("[{b}] no row {label}: {panel:#}"))
                .to_string()
        };
        assert_eq!(row("Account"), "ann@example.com");
        assert_eq!(row("Servers"), "3");
        assert_eq!(
            row("web-1"),
            format!("running, {}, plan Small", web.ip),
            "[{b}]"
        );
        assert!(row("spare").starts_with("suspended, "), "[{b}] {panel:#}");
        assert!(
            !panel.to_string().contains("token="),
            "[{b}] no login token in the panel"
        );

        // Client single sign-on: a one-time link, good for one visit.
        let link = env
            .ok(&["services", "sso", &sid.to_string()])
            .trim()
            .to_string();
        assert!(
            link.starts_with(&format!("{}/auth/by-token?token=", env.sim.url())),
            "[{b}] {link}"
        );
        assert_eq!(browse(&link), 200, "[{b}] first visit logs in");
        assert_eq!(browse(&link), 401, "[{b}] the link is one-time");
        let second = env
            .ok(&["services", "sso", &sid.to_string()])
            .trim()
            .to_string();
        assert_ne!(second, link, "[{b}] every click mints a fresh token");
        // Neither the generated password nor a login token reaches the module log.
        let log = env.ok(&["log", "--service", &sid.to_string(), "--json"]);
        let password = &env.api.users_with_email("ann@example.com")[0].password;
        let token = second.rsplit('=').next().unwrap();
        assert!(
            log.contains("POST /api/v1/users") || log.contains("api/v1/users"),
            "[{b}] {log}"
        );
        assert!(
            !log.contains(password.as_str()),
            "[{b}] the password is in the log"
        );
        assert!(!log.contains(token), "[{b}] the SSO token is in the log");
        // Admin: the user's page in the admin area, nothing minted.
        let tokens = env.api.tokens_of(uid).len();
        let admin = env
            .ok(&["services", "sso", &sid.to_string(), "--admin"])
            .trim()
            .to_string();
        assert_eq!(
            admin,
            format!("{}/admin/users/{uid}", env.sim.url()),
            "[{b}]"
        );
        assert_eq!(browse(&admin), 200);
        assert_eq!(
            env.api.tokens_of(uid).len(),
            tokens,
            "[{b}] the admin link mints no token"
        );

        // Suspend: the user and every VM; unsuspend resumes ours, not the admin's spare.
        env.lifecycle(sid, "suspend", "suspended");
        assert_eq!(env.api.user(uid).unwrap().status, "suspended", "[{b}]");
        for vm in [&web, &db, &spare] {
            assert!(
                env.api.server(vm.id).unwrap().is_suspended,
                "[{b}] {} suspended",
                vm.name
            );
        }
        env.lifecycle(sid, "unsuspend", "active");
        assert_eq!(env.api.user(uid).unwrap().status, "active", "[{b}]");
        assert!(
            !env.api.server(web.id).unwrap().is_suspended,
            "[{b}] web-1 resumed"
        );
        assert!(
            !env.api.server(db.id).unwrap().is_suspended,
            "[{b}] db-1 resumed"
        );
        assert!(
            env.api.server(spare.id).unwrap().is_suspended,
            "[{b}] the admin's suspension stays"
        );

        // January in tokens: 700 h × 7 = 4900 (under the 5000 cap, the docs' example),
        // 31 started hours × 20 = 620, and 744 h × 7 = 5208 capped at 5000.
        let items = env.usage(sid, "2026-01-01", "2026-02-01");
        assert_eq!(items.len(), 3, "[{b}] {items:#?}");
        let web_item = find(&items, "web-1");
        assert_eq!(web_item["unit"], "token");
        assert_eq!(web_item["quantity"], "4900", "[{b}] {web_item:#}");
        assert_eq!(web_item["rate"], "0.01");
        assert_eq!(web_item["amount"], "49.00");
        let d = &web_item["details"];
        assert_eq!(
            (
                d["hours"].as_u64(),
                d["tokens_per_hour"].as_u64(),
                d["tokens_per_month"].as_u64(),
                d["capped"].as_bool()
            ),
            (Some(700), Some(7), Some(5000), Some(false)),
            "[{b}] {web_item:#}"
        );
        assert_eq!(d["server_uuid"], web.uuid.as_str());
        let db_item = find(&items, "db-1");
        assert_eq!(
            (
                db_item["quantity"].as_str(),
                db_item["details"]["hours"].as_u64()
            ),
            (Some("620"), Some(31)),
            "[{b}]"
        );
        let spare_item = find(&items, "spare");
        assert_eq!(spare_item["quantity"], "5000", "[{b}] {spare_item:#}");
        assert_eq!(spare_item["details"]["capped"], true);
        assert!(
            spare_item["description"]
                .as_str()
                .unwrap()
                .contains("capped"),
            "[{b}] {spare_item:#}"
        );
        let keys: std::collections::BTreeSet<&str> =
            items.iter().filter_map(|i| i["key"].as_str()).collect();
        assert_eq!(keys.len(), 3, "[{b}] keys are unique: {items:#?}");
        // A period across two months is billed per month (the cap is monthly).
        let two = env.usage(sid, "2026-01-15", "2026-02-15");
        assert!(
            two.iter()
                .any(|i| i["details"]["name"] == "web-1"
                    && i["details"]["period_start"] == "2026-02-01"),
            "[{b}] {two:#?}"
        );

        // Terminate: nothing deleted; the user is locked and its VMs suspended.
        let s = env.lifecycle(sid, "terminate", "terminated");
        assert_eq!(env.user_id(&s), uid);
        assert_eq!(env.api.user(uid).unwrap().status, "locked", "[{b}]");
        assert!(
            env.api.servers_of(uid).iter().all(|v| v.is_suspended),
            "[{b}]"
        );
        assert_eq!(
            env.usage(sid, "2026-01-01", "2026-02-01").len(),
            3,
            "[{b}] the last month can still be billed"
        );

        // Deleting the user is an admin action, refused while VMs exist.
        let request = json!({
            "operation_key": "delete-1",
            "action": "delete_user",
            "service": {"id": sid, "status": "terminated", "remote_id": uid.to_string(),
                         "client": {"id": client, "email": "ann@example.com"}},
        });
        let f = env.home.write("delete.json", &request.to_string());
        let err = env.fails(
            &[
                "handlers",
                "call",
                "solus",
                "run_action",
                "--request",
                f.to_str().unwrap(),
            ],
            4,
        );
        assert!(
            err.contains("web-1") && err.contains("permanent"),
            "[{b}] {err}"
        );
        assert!(env.api.user(uid).is_some());
        for vm in env.api.servers_of(uid) {
            env.api.remove_server(vm.id).unwrap();
        }
        let done = env.json(&[
            "handlers",
            "call",
            "solus",
            "run_action",
            "--request",
            f.to_str().unwrap(),
        ]);
        assert_eq!(done["status"], "done", "[{b}] {done:#}");
        assert!(env.api.user(uid).is_none(), "[{b}] the user is deleted");
        let again = env.json(&[
            "handlers",
            "call",
            "solus",
            "run_action",
            "--request",
            f.to_str().unwrap(),
        ]);
        assert_eq!(
            again["status"], "done",
            "[{b}] an already deleted user is success: {again:#}"
        );
    });
}

#[test]
fn a_create_whose_reply_is_lost_adopts_the_user_it_made() {
    each_backend("lost reply", |env| {
        let b = env.backend;
        env.handler(API_TOKEN);
        env.client("lost@example.com");
        env.sim
            .faults()
            .add(FaultRule::once("POST /api/v1/users", Fault::LostReply));
        let (sid, op) = env.order("lost@example.com");
        env.work();
        let s = env.service(sid);
        assert_eq!(s["status"], "active", "[{b}] {s:#}");
        let users = env.api.users_with_email("lost@example.com");
        assert_eq!(users.len(), 1, "[{b}] exactly one SolusVM user: {users:#?}");
        assert_eq!(env.user_id(&s), users[0].id);
        let o = env.op(op);
        assert_eq!(
            o["attempts"], 2,
            "[{b}] the lost reply, then the adopting retry: {o:#}"
        );
        assert_eq!(
            env.sim.faults().stats()["POST /api/v1/users"].requests,
            1,
            "[{b}] the retry did not POST again"
        );
    });
}

#[test]
fn two_services_of_one_client_share_one_user() {
    each_backend("shared user", |env| {
        let b = env.backend;
        env.handler(API_TOKEN);
        env.client("pair@example.com");
        let (first, _) = env.order("pair@example.com");
        let (second, _) = env.order("pair@example.com");
        env.work();
        let (s1, s2) = (env.service(first), env.service(second));
        assert_eq!(
            (s1["status"].as_str(), s2["status"].as_str()),
            (Some("active"), Some("active")),
            "[{b}]"
        );
        let uid = env.user_id(&s1);
        assert_eq!(env.user_id(&s2), uid, "[{b}] the same SolusVM user");
        assert_eq!(
            env.api.users_with_email("pair@example.com").len(),
            1,
            "[{b}]"
        );

        let vm = env.api.create_server(uid, 1, "shared-vm").unwrap();
        env.api.record_uptime_hours(vm.id, "2026-01", 100).unwrap();
        // Billed once: by the lower-numbered service.
        assert_eq!(
            env.usage(first, "2026-01-01", "2026-02-01").len(),
            1,
            "[{b}]"
        );
        assert!(
            env.usage(second, "2026-01-01", "2026-02-01").is_empty(),
            "[{b}] not billed twice"
        );

        // The user stays active while one service is; it is locked with the last one.
        env.lifecycle(first, "suspend", "suspended");
        assert_eq!(
            env.api.user(uid).unwrap().status,
            "active",
            "[{b}] the second service still uses it"
        );
        assert!(!env.api.server(vm.id).unwrap().is_suspended);
        env.lifecycle(second, "terminate", "terminated");
        assert_eq!(
            env.api.user(uid).unwrap().status,
            "suspended",
            "[{b}] the one left is suspended"
        );
        assert!(env.api.server(vm.id).unwrap().is_suspended, "[{b}]");
        assert_eq!(
            env.usage(first, "2026-01-01", "2026-02-01").len(),
            1,
            "[{b}]"
        );
        assert!(
            env.usage(second, "2026-01-01", "2026-02-01").is_empty(),
            "[{b}] still billed once"
        );
        env.lifecycle(first, "terminate", "terminated");
        assert_eq!(env.api.user(uid).unwrap().status, "locked", "[{b}]");
    });
}

#[test]
fn garbage_from_the_panel_is_a_clear_error_and_a_retry_adopts() {
    each_backend("garbage", |env| {
        let b = env.backend;
        env.handler(API_TOKEN);
        env.api.garbage("GET /api/v1/projects", 1);
        let err = env.fails(&["handlers", "test", "solus"], 4);
        assert!(
            err.contains("GET /api/v1/projects")
                && err.contains("not the expected JSON")
                && !err.contains("panicked"),
            "[{b}] {err}"
        );
        env.ok(&["handlers", "test", "solus"]);

        // The create takes effect, then a PHP warning comes back: transient, and the
        // retry finds the user by e-mail.
        env.client("warn@example.com");
        env.api.garbage("POST /api/v1/users", 1);
        let (sid, op) = env.order("warn@example.com");
        env.work();
        assert_eq!(env.service(sid)["status"], "active", "[{b}]");
        assert_eq!(
            env.api.users_with_email("warn@example.com").len(),
            1,
            "[{b}]"
        );
        let o = env.op(op);
        let first = &o["attempt_log"][0];
        let error = first["error"].as_str().unwrap_or("");
        assert!(
            error.contains("POST /api/v1/users") && error.contains("not the expected JSON"),
            "[{b}] the first attempt's error names the endpoint: {o:#}"
        );
    });
}

#[test]
fn a_wrong_api_token_is_invalid_config() {
    each_backend("bad token", |env| {
        let b = env.backend;
        env.handler("not-the-token");
        let err = env.fails(&["handlers", "test", "solus"], 4);
        assert!(
            err.contains("invalid_config") && err.contains("api_token") && err.contains("401"),
            "[{b}] {err}"
        );
        env.client("denied@example.com");
        let (_, op) = env.order("denied@example.com");
        env.work();
        let o = env.op(op);
        assert_eq!(
            o["status"], "manual",
            "[{b}] no retry on a wrong token: {o:#}"
        );
        assert_eq!(o["attempts"], 1, "[{b}] {o:#}");
        assert_eq!(o["last_error_kind"], "invalid_config", "[{b}] {o:#}");
        assert_eq!(env.api.users_with_email("denied@example.com").len(), 0);
    });
}

#[test]
fn import_pages_through_every_user() {
    each_backend("import", |env| {
        let b = env.backend;
        env.handler(API_TOKEN);
        for n in 0..17 {
            let status = if n == 16 { "suspended" } else { "active" };
            env.api
                .seed_user(&format!("user{n:02}@example.com"), status, None);
        }
        let report = env.json(&["handlers", "import", "solus", "--json"]);
        assert_eq!(
            report["seen"], 17,
            "[{b}] every page, without the admin: {report:#}"
        );
        let services = env.json(&["services", "list", "--json"]);
        let services = services.as_array().expect("list");
        assert_eq!(services.len(), 17, "[{b}]");
        let suspended = services
            .iter()
            .filter(|s| s["status"] == "suspended")
            .count();
        assert_eq!(suspended, 1, "[{b}] {services:#?}");
    });
}
