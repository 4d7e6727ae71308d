//! The catalog over the real `provisor serve --listen`, on SQLite and (with
//! `PROVISOR_TEST_PG`) PostgreSQL: a module upload that is no module is refused and
//! leaves nothing behind, the `recorder` fixture uploaded loads; handlers added over
//! the API have their settings checked and their secret never in any answer, the
//! daemon's output or the audit log; enabling, disabling and the connection test;
//! departments; a plan's price set by billing staff; what a client sees of the plans
//! (only orderable ones, its currency's prices, nothing of how they are provisioned);
//! a client's ledger (its own only). Every change is audited with the principal.

#[path = "billing_support.rs"]
mod support;

use std::path::Path;

use provisor_e2e::{each_backend, so, Daemon, TestHome, PATIENCE, STAFF_PASSWORD};
use serde_json::{json, Value};

const USAGE_TOKEN: &str = "e2e-catalog-0123456789abcdef0123456789abcd";
const SECRET: &str = "catalog-handler-secret-9f8e7d6c5b";
const CLIENT_PW: &str = "client A's long password";

/// The address from `api listening on http://IP:PORT`.
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

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    addr: String,
    /// Every answer's text, for the secret check.
    seen: std::cell::RefCell<String>,
}

impl Api {
    /// A request with a body of a media type; the status and the JSON answer.
    fn send(
        &self,
        (method, path): (&str, &str),
        bearer: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, url).bearer_auth(bearer);
        if let Some((media, bytes)) = body {
            req = req.header("content-type", media).body(bytes);
        }
        let (status, text) = self.rt.block_on(async {
            let r = req.send().await.expect("the server answers");
            (r.status().as_u16(), r.text().await.expect("a body"))
        });
        self.seen.borrow_mut().push_str(&text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        self.send(("GET", path), bearer, None)
    }

    fn post(&self, path: &str, bearer: &str, body: &Value) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        self.send(("POST", path), bearer, Some(("application/json", bytes)))
    }

    fn login(&self, realm: &str, email: &str, password: &str) -> String {
        let body = json!({"realm": realm, "email": email, "password": password});
        let (s, v) = self.send(
            ("POST", "/v1/sessions"),
            "",
            Some(("application/json", body.to_string().into_bytes())),
        );
        assert_eq!(s, 201, "login {email}: {v}");
        v["token"].as_str().expect("a token").to_string()
    }
}

/// The names in the modules directory (dot files — the loaded copies — aside).
fn module_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the modules directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Uploads: a file that is no module is refused naming why, nothing left behind; JSON
/// is refused naming Content-Type; the recorder fixture loads.
fn uploads(home: &TestHome, api: &Api, owner: &str, backend: &str) {
    let before = module_files(&home.modules());
    let junk = b"#!/bin/sh\necho this is not a module\n".to_vec();
    let (s, v) = api.send(
        ("POST", "/v1/modules"),
        owner,
        Some(("application/octet-stream", junk)),
    );
    assert_eq!(s, 400, "[{backend}] {v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("not an ELF shared library") && !detail.contains(".upload-"),
        "[{backend}] the reason, without the staging path: {v}"
    );
    assert_eq!(
        module_files(&home.modules()),
        before,
        "[{backend}] nothing left"
    );
    let staged: Vec<_> = std::fs::read_dir(home.path())
        .expect("the home")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".upload-"))
        .collect();
    assert!(staged.is_empty(), "[{backend}] no staged upload is left");

    let (s, v) = api.post("/v1/modules", owner, &json!({}));
    assert_eq!(s, 400, "[{backend}] {v}");
    assert_eq!(v["errors"][0]["field"], "Content-Type", "[{backend}] {v}");

    let bytes = std::fs::read(so("provisor_fixture_recorder")).expect("the recorder fixture");
    let (s, v) = api.send(
        ("POST", "/v1/modules"),
        owner,
        Some(("application/octet-stream", bytes)),
    );
    assert_eq!(s, 201, "[{backend}] {v}");
    assert_eq!(
        (&v["name"], &v["file"]),
        (&json!("recorder"), &json!("recorder.so")),
        "[{backend}] {v}"
    );
    assert!(module_files(&home.modules()).contains(&"recorder.so".to_string()));
    let (s, list) = api.get("/v1/modules", owner);
    assert_eq!(s, 200, "{list}");
    let recorder = list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|m| m["name"] == "recorder")
        .cloned()
        .unwrap_or_default();
    assert_eq!(recorder["state"], "loaded", "[{backend}] {list}");
}

/// Handlers: settings checked, the secret redacted in every answer, enable/disable,
/// the connection test, unknown names 404.
fn handlers(home: &TestHome, api: &Api, owner: &str, support: &str, backend: &str) {
    let journal = home.path().join("journal");
    let (s, v) = api.post(
        "/v1/handlers",
        owner,
        &json!({"name": "rec", "module": "recorder", "settings": {"journal": journal}}),
    );
    assert_eq!(s, 201, "[{backend}] {v}");
    let bad = json!({"name": "vh", "module": "versioned", "settings": {"token": 5}});
    let (s, v) = api.post("/v1/handlers", owner, &bad);
    assert_eq!(s, 400, "[{backend}] settings off the schema: {v}");
    let (s, none) = api.get("/v1/handlers/vh", owner);
    assert_eq!(s, 404, "[{backend}] nothing was stored: {none}");
    let good = json!({"name": "vh", "module": "versioned", "settings": {"token": SECRET, "url": "https://panel.example.test"}});
    let (s, v) = api.post("/v1/handlers", owner, &good);
    assert_eq!(s, 201, "[{backend}] {v}");
    assert_eq!(v["settings"]["token"], "[redacted]", "[{backend}] {v}");
    assert_eq!(v["settings"]["url"], "https://panel.example.test");
    let (s, v) = api.get("/v1/handlers/vh", support);
    assert_eq!((s, &v["settings"]["token"]), (200, &json!("[redacted]")));
    let (s, v) = api.get("/v1/handlers", support);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"].as_array().map(Vec::len),
        Some(2),
        "[{backend}] {v}"
    );
    let (s, v) = api.get("/v1/handlers/nope", owner);
    assert_eq!(s, 404, "[{backend}] {v}");

    let (s, v) = api.post("/v1/handlers/vh/disable", owner, &json!({}));
    assert_eq!((s, &v["enabled"]), (200, &json!(false)), "[{backend}] {v}");
    let (s, v) = api.post("/v1/handlers/vh/test", support, &json!({}));
    assert_eq!(s, 200, "[{backend}] {v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("versioned")),
        "{v}"
    );
    let (_, v) = api.get("/v1/handlers/vh", owner);
    assert_eq!(
        v["last_check_ok"], true,
        "[{backend}] the test is recorded: {v}"
    );
    let (s, v) = api.post("/v1/handlers/rec/test", support, &json!({}));
    assert_eq!(s, 400, "[{backend}] recorder has no connection test: {v}");
}

/// Departments and plans: a department added, a bad name refused; a price set by
/// billing, a bad period refused; what a client sees.
fn catalog(
    home: &TestHome,
    api: &Api,
    (owner, billing, client): (&str, &str, &str),
    backend: &str,
) {
    let (s, v) = api.post(
        "/v1/departments",
        owner,
        &json!({"name": "noc", "email": "noc@example.test"}),
    );
    assert_eq!((s, &v["name"]), (201, &json!("noc")), "[{backend}] {v}");
    let (s, v) = api.post("/v1/departments", owner, &json!({"name": "bad\nname"}));
    assert_eq!(s, 400, "[{backend}] {v}");
    let (_, v) = api.get("/v1/departments", billing);
    assert!(
        v["data"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|d| d["name"] == "noc"),
        "{v}"
    );

    home.ok(&["plans", "add", "web", "--handler", "rec"]);
    home.ok(&["plans", "add", "hidden", "--handler", "vh"]);
    let id = |name: &str| {
        home.json(&["plans", "show", name, "--json"])["id"]
            .as_i64()
            .expect("a plan id")
    };
    let (web, hidden) = (id("web"), id("hidden"));
    let price = json!({"currency": "EUR", "period": "monthly", "amount": "10.00"});
    let (s, v) = api.post(&format!("/v1/plans/{web}/prices"), billing, &price);
    assert_eq!(s, 200, "[{backend}] {v}");
    assert_eq!(
        v["prices"],
        json!([{"currency": "EUR", "period": "monthly", "amount": "10.00"}]),
        "[{backend}] {v}"
    );
    let bad = json!({"currency": "EUR", "period": "weekly", "amount": "1.00"});
    let (s, v) = api.post(&format!("/v1/plans/{web}/prices"), billing, &bad);
    assert_eq!(
        (s, &v["errors"][0]["field"]),
        (400, &json!("period")),
        "[{backend}] {v}"
    );
    let negative = json!({"currency": "EUR", "period": "monthly", "amount": "-1.00"});
    let (s, v) = api.post(&format!("/v1/plans/{web}/prices"), billing, &negative);
    assert_eq!(
        (s, &v["errors"][0]["field"]),
        (400, &json!("amount")),
        "[{backend}] {v}"
    );
    let (s, v) = api.post(&format!("/v1/plans/{web}/prices"), client, &price);
    assert_eq!(s, 403, "[{backend}] a client sets no price: {v}");
    let (s, v) = api.post("/v1/plans/99999/prices", billing, &price);
    assert_eq!(s, 404, "[{backend}] {v}");

    let (s, staff) = api.get(&format!("/v1/plans/{web}"), billing);
    assert_eq!((s, &staff["module"]), (200, &json!("recorder")), "{staff}");
    assert_eq!(staff["handlers"], json!(["rec"]));
    let (s, seen) = api.get("/v1/plans", client);
    assert_eq!(s, 200, "{seen}");
    let names: Vec<&str> = seen["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["web"],
        "[{backend}] a disabled handler's plan is not orderable"
    );
    let mine = &seen["data"][0];
    assert!(
        mine.get("module").is_none() && mine.get("handlers").is_none(),
        "[{backend}] a client sees nothing of provisioning: {mine}"
    );
    assert_eq!(mine["prices"][0]["amount"], "10.00");
    let (s, v) = api.get(&format!("/v1/plans/{hidden}"), client);
    assert_eq!(s, 404, "[{backend}] {v}");
}

/// The ledger: a client's own, another's is a 404, an unknown one a 404.
fn ledger(api: &Api, (billing, client): (&str, &str), (a, b): (i64, i64), backend: &str) {
    let (s, v) = api.get(&format!("/v1/clients/{a}/ledger"), client);
    assert_eq!(s, 200, "[{backend}] {v}");
    assert_eq!(
        (&v["client_id"], &v["currency"]),
        (&json!(a), &json!("EUR"))
    );
    assert!(v["balance"].is_string() && v["entries"].is_array(), "{v}");
    let (s, v) = api.get(&format!("/v1/clients/{b}/ledger"), client);
    assert_eq!(s, 404, "[{backend}] another client's ledger: {v}");
    let (s, v) = api.get(&format!("/v1/clients/{b}/ledger"), billing);
    assert_eq!(s, 200, "[{backend}] {v}");
    let (s, v) = api.get("/v1/clients/99999/ledger", billing);
    assert_eq!(s, 404, "[{backend}] {v}");
}

/// The changes' entries name the staff member and the address; no secret is anywhere.
fn audited(audit: &str, backend: &str) {
    let all: Vec<Value> = serde_json::from_str(audit).expect("the audit log as JSON");
    for (action, object, who) in [
        ("module.install", "recorder.so", "owner@staff.example.test"),
        ("handler.add", "vh", "owner@staff.example.test"),
        ("handler.disable", "vh", "owner@staff.example.test"),
        ("department.add", "noc", "owner@staff.example.test"),
        ("plan.price", "web", "billing@staff.example.test"),
    ] {
        let e = all
            .iter()
            .find(|e| e["action"] == action && e["object"]["id"] == object)
            .unwrap_or_else(|| panic!("[{backend}] no {action} of {object} in {all:#?}"));
        assert_eq!(
            (e["actor"]["name"].as_str(), e["source"].as_str()),
            (Some(who), Some("127.0.0.1")),
            "[{backend}] {e:#}"
        );
    }
}

fn scenario(backend: &'static str, url: Option<String>) {
    let home = TestHome::with_database(url)
        .with_env("PROVISOR_API_TOKEN", USAGE_TOKEN)
        .with_label(backend);
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    home.staff("billing@staff.example.test", "billing", &[]);
    home.staff("support@staff.example.test", "support", &[]);
    home.ok(&["currencies", "add", "EUR"]);
    let a = support::client(&home, "A", "EUR", "NL");
    let b = support::client(&home, "B", "EUR", "NL");
    home.ok_stdin(
        &["clients", "login", "a@example.com", "--password-stdin"],
        &format!("{CLIENT_PW}\n"),
    );
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
        seen: std::cell::RefCell::default(),
    };
    let owner = api.login("staff", "owner@staff.example.test", STAFF_PASSWORD);
    let billing = api.login("staff", "billing@staff.example.test", STAFF_PASSWORD);
    let support = api.login("staff", "support@staff.example.test", STAFF_PASSWORD);
    let client = api.login("client", "a@example.com", CLIENT_PW);

    uploads(&home, &api, &owner, backend);
    handlers(&home, &api, &owner, &support, backend);
    catalog(&home, &api, (&owner, &billing, &client), backend);
    ledger(&api, (&billing, &client), (a, b), backend);

    let output = daemon.stop();
    let audit = home.ok(&["audit", "--json", "--limit", "1000"]);
    audited(&audit, backend);
    let answers = api.seen.borrow();
    for (what, text) in [
        ("an answer", answers.as_str()),
        ("the daemon's output", output.as_str()),
        ("the audit log", audit.as_str()),
    ] {
        assert!(
            !text.contains(SECRET),
            "[{backend}] the handler's secret is in {what}"
        );
    }
}

#[test]
fn the_catalog_over_the_api() {
    each_backend("the catalog over the API", scenario);
}
