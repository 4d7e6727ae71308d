//! A service's other actions, operations and manual tasks over the real `provisor serve
//! --listen`, on SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL, with the manual-task
//! module: a create's task is listed, refused to a support account outside its
//! department and to a token acting for no staff account, taken by one inside it (for
//! that account) and completed; the service's sign-in link is answered to its client
//! (never the admin audience) and to support, `no-store`, and is in neither the daemon's
//! output nor the audit log; the panel shows what the task recorded; a renewal is queued
//! and cancelled, a plan change queued, a manual operation retried, a task sent back;
//! bad input is a 400 naming the field, unknown ids 404; the audit entries name the
//! staff account and its address.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{each_backend, so, Daemon, TestHome, PATIENCE, STAFF_PASSWORD};
use serde_json::{json, Value};

const USAGE_TOKEN: &str = "e2e-apiops-0123456789abcdef0123456789ab";
const CLIENT_PW: &str = "client A's long password";
const IN: &str = "in@staff.example.test";
const OUT: &str = "out@staff.example.test";
/// The sign-in link staff record on the service: a secret of the client's.
const LINK: &str = "https://panel.example.test/login/one-time-8f3e2a91c4";

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    addr: String,
}

/// One answer: status, `Cache-Control`, whether it was a replay, the body.
struct Answer {
    status: u16,
    cache: Option<String>,
    replayed: bool,
    body: Value,
}

impl Api {
    fn call(&self, method: &str, path: &str, bearer: &str, body: Option<Value>) -> Answer {
        self.keyed(method, path, bearer, body, None)
    }

    fn keyed(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Answer {
        let url = format!("http://{}{path}", self.addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, url).bearer_auth(bearer);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        self.rt.block_on(async {
            let r = req.send().await.expect("the server answers");
            let status = r.status().as_u16();
            let cache = r
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let replayed = r.headers().contains_key("idempotent-replayed");
            let text = r.text().await.expect("a body");
            Answer {
                status,
                cache,
                replayed,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            }
        })
    }

    fn ok(&self, method: &str, path: &str, bearer: &str, body: Option<Value>, want: u16) -> Value {
        let a = self.call(method, path, bearer, body);
        assert_eq!(a.status, want, "{method} {path}: {:#}", a.body);
        a.body
    }

    fn login(&self, realm: &str, email: &str, password: &str) -> String {
        let body = json!({"realm": realm, "email": email, "password": password});
        let v = self.ok("POST", "/v1/sessions", "", Some(body), 201);
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

/// The manual-task handler `hands` (department `noc`), plans `box` and `box-xl` on it,
/// support staff in and out of `noc`, client A with a login, and three `box` services
/// whose creates are open tasks.
fn setup(home: &TestHome) -> [i64; 3] {
    let ok = |args: &[&str]| support::ok(home, args);
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    ok(&["departments", "add", "noc"]);
    home.add_handler("hands", "manual-task", &json!({}), Some("noc"));
    ok(&["plans", "add", "box", "--handler", "hands"]);
    ok(&["plans", "add", "box-xl", "--handler", "hands"]);
    home.staff(IN, "support", &["noc"]);
    home.staff(OUT, "support", &[]);
    support::client(home, "A", "EUR", "NL");
    home.ok_stdin(
        &["clients", "login", "a@example.com", "--password-stdin"],
        &format!("{CLIENT_PW}\n"),
    );
    let services = [(); 3].map(|()| home.order("a@example.com", "box", &[]).0);
    ok(&["work", "--until-idle"]);
    services
}

/// The open task of service `sid`, from the listing.
fn task_of(list: &Value, sid: i64) -> Value {
    list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["service_id"] == sid)
        .cloned()
        .unwrap_or_else(|| panic!("no task of service {sid} in {list:#}"))
}

/// Tasks: listed, refused outside the department and without a staff account, taken,
/// completed (the service is active), and one sent back.
fn tasks(api: &Api, who: &Who, s: [i64; 3], backend: &str) {
    let list = api.ok(
        "GET",
        "/v1/tasks?department=noc&status=open",
        &who.outside,
        None,
        200,
    );
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(3),
        "[{backend}] {list:#}"
    );
    let t = task_of(&list, s[0]);
    let id = t["id"].as_i64().expect("an id");
    assert_eq!(t["department"], "noc");
    assert!(
        t["fields"].as_array().is_some_and(|f| !f.is_empty()),
        "{t:#}"
    );
    let bad = api.call("GET", "/v1/tasks?status=finished", &who.inside, None);
    assert_eq!(bad.status, 400, "[{backend}] {:#}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "status", "{:#}", bad.body);
    api.ok("GET", "/v1/tasks/987654", &who.inside, None, 404);
    api.ok("POST", "/v1/tasks/987654/take", &who.inside, None, 404);

    let refused = api.call("POST", &format!("/v1/tasks/{id}/take"), &who.outside, None);
    assert_eq!(refused.status, 403, "[{backend}] {:#}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("noc")),
        "the refusal names the department: {:#}",
        refused.body
    );
    let tokenless = api.call("POST", &format!("/v1/tasks/{id}/take"), &who.token, None);
    assert_eq!(tokenless.status, 403, "[{backend}] {:#}", tokenless.body);

    let taken = api.ok(
        "POST",
        &format!("/v1/tasks/{id}/take"),
        &who.inside,
        None,
        200,
    );
    assert_eq!(taken["status"], "taken", "{taken:#}");
    assert!(taken["taken_by_staff_id"].is_i64(), "{taken:#}");

    let missing = api.call(
        "POST",
        &format!("/v1/tasks/{id}/complete"),
        &who.inside,
        Some(json!({})),
    );
    assert_eq!(missing.status, 400, "[{backend}] {:#}", missing.body);
    let done = api.ok(
        "POST",
        &format!("/v1/tasks/{id}/complete"),
        &who.inside,
        Some(json!({"remote_id": "srv-1", "login_url": LINK})),
        200,
    );
    assert_eq!(done["status"], "done", "{done:#}");
    let svc = api.ok(
        "GET",
        &format!("/v1/services/{}", s[0]),
        &who.inside,
        None,
        200,
    );
    assert_eq!(svc["status"], "active", "[{backend}] {svc:#}");
    assert!(
        !done.to_string().contains(LINK),
        "a task never shows its values"
    );

    let other = task_of(&list, s[2])["id"].as_i64().expect("an id");
    let back = api.ok(
        "POST",
        &format!("/v1/tasks/{other}/return"),
        &who.inside,
        None,
        200,
    );
    assert_eq!(back["task"]["status"], "returned", "{back:#}");
    assert_eq!(back["operation"]["status"], "queued", "{back:#}");
}

/// The sign-in link and the panel of the active service.
fn links(api: &Api, who: &Who, sid: i64, backend: &str) {
    let path = format!("/v1/services/{sid}/sso");
    let admin = api.call(
        "POST",
        &path,
        &who.client,
        Some(json!({"audience": "admin"})),
    );
    assert_eq!(admin.status, 403, "[{backend}] {:#}", admin.body);
    let bad = api.call(
        "POST",
        &path,
        &who.client,
        Some(json!({"audience": "root"})),
    );
    assert_eq!(bad.status, 400, "[{backend}] {:#}", bad.body);
    for (bearer, audience) in [(&who.client, "client"), (&who.inside, "admin")] {
        let a = api.call("POST", &path, bearer, Some(json!({"audience": audience})));
        assert_eq!(a.status, 200, "[{backend}] {:#}", a.body);
        assert_eq!(a.body["url"], LINK, "{:#}", a.body);
        assert_eq!(a.body["audience"], audience);
        assert_eq!(a.cache.as_deref(), Some("no-store"), "[{backend}]");
    }
    // A link is never stored as an idempotent answer: a key sent twice mints twice.
    for _ in 0..2 {
        let body = Some(json!({"audience": "client"}));
        let a = api.keyed("POST", &path, &who.client, body, Some("sso-once"));
        assert_eq!(
            (a.status, a.replayed),
            (200, false),
            "[{backend}] {:#}",
            a.body
        );
    }
    let panel = api.ok(
        "GET",
        &format!("/v1/services/{sid}/panel"),
        &who.client,
        None,
        200,
    );
    assert!(panel.to_string().contains("srv-1"), "[{backend}] {panel:#}");
    api.ok("GET", "/v1/services/987654/panel", &who.client, None, 404);
}

/// A renewal queued and cancelled, a plan change queued (an unknown plan named), a
/// manual operation retried, an operation shown with its attempts.
fn operations(api: &Api, who: &Who, s: [i64; 3], backend: &str) {
    let renew = api.ok(
        "POST",
        &format!("/v1/services/{}/renew", s[0]),
        &who.inside,
        None,
        202,
    );
    let op = renew["id"].as_i64().expect("an operation");
    let shown = api.ok(
        "GET",
        &format!("/v1/operations/{op}"),
        &who.outside,
        None,
        200,
    );
    assert_eq!(
        (shown["kind"].as_str(), shown["status"].as_str()),
        (Some("renew"), Some("queued"))
    );
    let cancelled = api.ok(
        "POST",
        &format!("/v1/operations/{op}/cancel"),
        &who.inside,
        None,
        200,
    );
    assert_eq!(
        cancelled["status"], "cancelled",
        "[{backend}] {cancelled:#}"
    );
    let again = api.call(
        "POST",
        &format!("/v1/operations/{op}/cancel"),
        &who.inside,
        None,
    );
    assert!(
        matches!(again.status, 400 | 409),
        "[{backend}] {:#}",
        again.body
    );

    let change = format!("/v1/services/{}/change_plan", s[0]);
    let unknown = api.call(
        "POST",
        &change,
        &who.inside,
        Some(json!({"plan": "no-such-plan"})),
    );
    assert!(
        matches!(unknown.status, 400 | 404),
        "[{backend}] {:#}",
        unknown.body
    );
    assert_eq!(
        unknown.body["errors"][0]["field"], "plan",
        "{:#}",
        unknown.body
    );
    let changed = api.ok(
        "POST",
        &change,
        &who.inside,
        Some(json!({"plan": "box-xl"})),
        202,
    );
    assert_eq!(changed["kind"], "change_plan");

    let manual = api.ok(
        "GET",
        &format!("/v1/operations?service_id={}&status=manual", s[1]),
        &who.inside,
        None,
        200,
    );
    let op = manual["data"][0]["id"].as_i64().expect("the manual create");
    let detail = api.ok(
        "GET",
        &format!("/v1/operations/{op}"),
        &who.inside,
        None,
        200,
    );
    assert!(
        detail["attempt_log"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "[{backend}] {detail:#}"
    );
    let retried = api.ok(
        "POST",
        &format!("/v1/operations/{op}/retry"),
        &who.inside,
        None,
        200,
    );
    assert_eq!(
        (retried["retried"].as_str(), retried["status"].as_str()),
        (Some("requeued"), Some("queued"))
    );
    let bad = api.call("GET", "/v1/operations?kind=reboot", &who.inside, None);
    assert_eq!(
        bad.body["errors"][0]["field"], "kind",
        "[{backend}] {:#}",
        bad.body
    );
    api.ok(
        "POST",
        "/v1/operations/987654/retry",
        &who.inside,
        None,
        404,
    );
}

/// The audit entries of the changes name the staff account and its address.
fn audited(home: &TestHome, backend: &str) -> String {
    let audit = home.ok(&["audit", "--json", "--limit", "1000"]);
    let all: Vec<Value> = serde_json::from_str(&audit).expect("the audit log as JSON");
    for action in [
        "task.take",
        "task.complete",
        "task.send_back",
        "service.renew",
        "service.change_plan",
        "operation.cancel",
        "operation.retry",
    ] {
        let e = all
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("[{backend}] no {action} entry in {all:#?}"));
        assert_eq!(
            (
                e["actor"]["kind"].as_str(),
                e["actor"]["name"].as_str(),
                e["source"].as_str()
            ),
            (Some("staff"), Some(IN), Some("127.0.0.1")),
            "[{backend}] {e:#}"
        );
    }
    let sso: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "service.sso")
        .collect();
    assert!(
        sso.iter().any(|e| e["actor"]["kind"] == "client"),
        "[{backend}] the client's request is recorded: {sso:#?}"
    );
    audit
}

struct Who {
    inside: String,
    outside: String,
    token: String,
    client: String,
}

fn scenario(backend: &'static str, url: Option<String>) {
    let home = support::billing_home(url)
        .with_env("PROVISOR_API_TOKEN", USAGE_TOKEN)
        .with_label(backend);
    let s = setup(&home);
    let token = home
        .ok(&["tokens", "add", "bot", "--role", "support"])
        .trim()
        .to_string();
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
    let who = Who {
        inside: api.login("staff", IN, STAFF_PASSWORD),
        outside: api.login("staff", OUT, STAFF_PASSWORD),
        token,
        client: api.login("client", "a@example.com", CLIENT_PW),
    };
    tasks(&api, &who, s, backend);
    links(&api, &who, s[0], backend);
    operations(&api, &who, s, backend);
    let output = daemon.stop();
    let audit = audited(&home, backend);
    for (what, text) in [("the daemon's output", &output), ("the audit log", &audit)] {
        assert!(
            !text.contains(LINK),
            "[{backend}] the sign-in link is in {what}"
        );
    }
}

#[test]
fn services_operations_and_tasks_work_over_the_api() {
    each_backend("services, operations and tasks over the API", scenario);
}
