//! Invoices' payments and refunds, billing runs and the audit log over the real
//! `provisor serve --listen`, on SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL: a
//! payment over the API pays an order's invoice and releases its held create, once
//! under one `Idempotency-Key`; a refund is recorded once per reference; a draft is
//! issued and cancelled; a dry run of a
//! billing run says what it would invoice and changes nothing, the real run invoices
//! it; the audit log names the principal and is for admins only; bad input is a 400
//! naming the field, an unknown invoice a 404.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{each_backend, Daemon, TestHome, PATIENCE, STAFF_PASSWORD};
use serde_json::{json, Value};

const USAGE_TOKEN: &str = "e2e-billing-0123456789abcdef0123456789abcdef";
const CLIENT_PW: &str = "client A's long password";

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    addr: String,
}

/// An answer: status, whether it was a replay, body.
type Answer = (u16, bool, Value);

impl Api {
    fn call(
        &self,
        (method, path): (&str, &str),
        bearer: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let url = format!("http://{}{path}", self.addr);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, url).bearer_auth(bearer);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.rt.block_on(async {
            let r = req.send().await.expect("the server answers");
            let status = r.status().as_u16();
            let replayed = r.headers().contains_key("idempotent-replayed");
            let text = r.text().await.expect("a body");
            (
                status,
                replayed,
                serde_json::from_str(&text).unwrap_or(Value::Null),
            )
        })
    }

    fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        let (s, _, v) = self.call(("GET", path), bearer, None, None);
        (s, v)
    }

    fn post(&self, path: &str, bearer: &str, body: &Value, key: &str) -> Answer {
        self.call(("POST", path), bearer, Some(body), Some(key))
    }

    fn login(&self, realm: &str, email: &str, password: &str) -> String {
        let body = json!({"realm": realm, "email": email, "password": password});
        let url = format!("http://{}/v1/sessions", self.addr);
        let v: Value = self.rt.block_on(async {
            let r = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("the server answers");
            assert_eq!(r.status().as_u16(), 201, "login {email}");
            r.json().await.expect("a session")
        });
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

/// The field a 400 problem names.
fn field(v: &Value) -> &str {
    v["errors"][0]["field"].as_str().unwrap_or("")
}

/// Staff of each role, client A with a login, a priced monthly plan, and A's order of
/// it: (service, its held create, its invoice).
fn setup(home: &TestHome) -> (i64, i64, i64) {
    let ok = |args: &[&str]| support::ok(home, args);
    home.staff("admin@staff.example.test", "admin", &[]);
    home.staff("billing@staff.example.test", "billing", &[]);
    home.staff("support@staff.example.test", "support", &[]);
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
    support::client(home, "A", "EUR", "NL");
    home.ok_stdin(
        &["clients", "login", "a@example.com", "--password-stdin"],
        &format!("{CLIENT_PW}\n"),
    );
    let order = home.json(&[
        "services",
        "order",
        "--client",
        "a@example.com",
        "--plan",
        "priced",
        "--json",
    ]);
    let id = |k: &str| order[k].as_i64().expect(k);
    (id("service_id"), id("operation_id"), id("invoice_id"))
}

/// Refusals: the wrong currency and a bad amount name their field, an unknown invoice
/// is a 404, a client may not record a payment.
fn refusals(api: &Api, billing: &str, client: &str, invoice: i64, backend: &str) {
    let path = format!("/v1/invoices/{invoice}/payments");
    let body = |amount: &str, currency: &str| json!({"amount": amount, "currency": currency, "reference": "bad-1"});
    let (s, _, v) = api.post(&path, billing, &body("12.10", "USD"), "bad-currency");
    assert_eq!((s, field(&v)), (400, "currency"), "[{backend}] {v}");
    let (s, _, v) = api.post(&path, billing, &body("lots", "EUR"), "bad-amount");
    assert_eq!((s, field(&v)), (400, "amount"), "[{backend}] {v}");
    let (s, _, v) = api.post(
        "/v1/invoices/999999/payments",
        billing,
        &body("12.10", "EUR"),
        "no-invoice",
    );
    assert_eq!(s, 404, "[{backend}] {v}");
    let (s, _, v) = api.post(&path, client, &body("12.10", "EUR"), "as-client");
    assert_eq!(s, 403, "[{backend}] {v}");
    let (s, v) = api.get("/v1/invoices/999999/lines", billing);
    assert_eq!(s, 404, "[{backend}] {v}");
}

/// A payment sent twice under one key: one payment, the invoice paid, the held create
/// released; the refund of part of it, recorded once per reference.
fn pay_and_refund(api: &Api, home: &TestHome, billing: &str, ids: (i64, i64), backend: &str) {
    let (op, invoice) = ids;
    let (s, lines) = api.get(&format!("/v1/invoices/{invoice}/lines"), billing);
    assert_eq!(s, 200, "[{backend}] {lines}");
    assert_eq!(
        (
            lines["data"][0]["unit_price"].as_str(),
            lines["data"][0]["currency"].as_str()
        ),
        (Some("10.00"), Some("EUR")),
        "[{backend}] {lines}"
    );
    assert_eq!(home.op(op)["status"], "awaiting_payment", "[{backend}]");
    let path = format!("/v1/invoices/{invoice}/payments");
    let body = json!({"amount": "12.10", "currency": "EUR", "reference": "bank-1"});
    let first = api.post(&path, billing, &body, "pay-once");
    let second = api.post(&path, billing, &body, "pay-once");
    assert_eq!(first.0, 201, "[{backend}] {}", first.2);
    assert_eq!((second.0, second.1), (201, true), "[{backend}] a replay");
    assert_eq!(
        first.2, second.2,
        "[{backend}] the replay is the first answer"
    );
    let p = &first.2;
    assert_eq!(
        (
            p["object"].as_str(),
            p["invoice"]["status"].as_str(),
            p["applied"].as_str(),
            p["released_operation_id"].as_i64()
        ),
        (Some("payment"), Some("paid"), Some("12.10"), Some(op)),
        "[{backend}] {p}"
    );
    assert_eq!(
        home.op(op)["status"],
        "queued",
        "[{backend}] the create is released"
    );
    let shown = home.json(&["invoices", "show", &invoice.to_string(), "--json"]);
    assert_eq!(
        shown["payments"].as_array().map(Vec::len),
        Some(1),
        "[{backend}] one payment: {shown}"
    );

    let path = format!("/v1/invoices/{invoice}/refunds");
    let body = json!({"reference": "refund-1", "amount": "2.00", "currency": "EUR"});
    let (s, _, r) = api.post(&path, billing, &body, "refund-a");
    assert_eq!(
        (
            s,
            r["object"].as_str(),
            r["amount"].as_str(),
            r["recorded"].as_bool()
        ),
        (201, Some("refund"), Some("2.00"), Some(true)),
        "[{backend}] {r}"
    );
    let (s, _, again) = api.post(&path, billing, &body, "refund-b");
    assert_eq!(
        (s, again["recorded"].as_bool(), again["id"].as_i64()),
        (200, Some(false), r["id"].as_i64()),
        "[{backend}] the same reference is recorded once: {again}"
    );
    let (s, _, v) = api.post(
        &path,
        billing,
        &json!({"reference": "refund-2", "to": "elsewhere"}),
        "refund-c",
    );
    assert_eq!((s, field(&v)), (400, "to"), "[{backend}] {v}");
    let shown = home.json(&["invoices", "show", &invoice.to_string(), "--json"]);
    assert_eq!(shown["amount_refunded"], "2.00", "[{backend}] {shown}");
}

/// A draft issued over the API gets its number; cancelled, it is cancelled, and a
/// second cancel is refused; both are audited with the principal.
fn issue_and_cancel(api: &Api, home: &TestHome, billing: &str, backend: &str) {
    let draft = home.json(&[
        "invoices",
        "create",
        "--client",
        "a@example.com",
        "--line",
        "Setup;1;5.00",
        "--json",
    ])["id"]
        .as_i64()
        .expect("a draft");
    let (s, _, v) = api.post(
        &format!("/v1/invoices/{draft}/issue"),
        billing,
        &json!({"date": "last week"}),
        "issue-bad",
    );
    assert_eq!((s, field(&v)), (400, "date"), "[{backend}] {v}");
    let (s, _, v) = api.post(
        &format!("/v1/invoices/{draft}/issue"),
        billing,
        &json!({}),
        "issue",
    );
    assert_eq!(
        (s, v["status"].as_str(), v["number"].is_string()),
        (200, Some("unpaid"), true),
        "[{backend}] {v}"
    );
    let path = format!("/v1/invoices/{draft}/cancel");
    let (s, _, v) = api.post(&path, billing, &json!({}), "cancel");
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("cancelled")),
        "[{backend}] {v}"
    );
    let (s, _, v) = api.post(&path, billing, &json!({}), "cancel-again");
    assert!((400..500).contains(&s), "[{backend}] {s} {v}");
}

/// A dry run of a day whose renewal is due says it would invoice it and changes
/// nothing; the real run invoices it.
fn billing_run(api: &Api, home: &TestHome, billing: &str, backend: &str) {
    home.ok(&["work", "--until-idle"]);
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(32)).to_string();
    let list = || home.json(&["invoices", "list", "--json"]);
    let before = list();
    let (s, _, dry) = api.post(
        "/v1/billing/runs",
        billing,
        &json!({"date": day, "dry_run": true}),
        "dry-run",
    );
    assert_eq!(s, 200, "[{backend}] {dry}");
    let renewals = |v: &Value| {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["step"] == "renewal" && !e["failed"].as_bool().unwrap_or(false))
            .count()
    };
    assert!(
        renewals(&dry) >= 1,
        "[{backend}] a renewal would be billed: {dry}"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(list(), before, "[{backend}] a dry run changes nothing");
    let (s, _, real) = api.post(
        "/v1/billing/runs",
        billing,
        &json!({"date": day}),
        "real-run",
    );
    assert_eq!(s, 200, "[{backend}] {real}");
    assert_eq!(renewals(&real), renewals(&dry), "[{backend}] {real}");
    let after = list();
    assert_eq!(
        after.as_array().map(Vec::len),
        before.as_array().map(|b| b.len() + renewals(&dry)),
        "[{backend}] the real run invoiced what the dry run said"
    );
    let (s, _, v) = api.post(
        "/v1/billing/runs",
        billing,
        &json!({"dry_run": true}),
        "no-date",
    );
    assert_eq!((s, field(&v)), (400, "date"), "[{backend}] {v}");
    let (s, _, v) = api.post(
        "/v1/billing/runs",
        billing,
        &json!({"period": "October"}),
        "bad-period",
    );
    assert_eq!((s, field(&v)), (400, "period"), "[{backend}] {v}");
}

/// The audit log: admins read it, newest first, paginated down the ids; it names the
/// principal and its address; billing, support and clients get 403.
fn audit(api: &Api, who: [&str; 4], backend: &str) {
    let [admin, billing, support, client] = who;
    for (name, bearer) in [
        ("billing", billing),
        ("support", support),
        ("client", client),
    ] {
        let (s, v) = api.get("/v1/audit", bearer);
        assert_eq!(s, 403, "[{backend}] {name}: {v}");
    }
    let (s, v) = api.get("/v1/audit?action=invoice.pay", admin);
    assert_eq!(s, 200, "[{backend}] {v}");
    let entries = v["data"].as_array().expect("a list");
    assert_eq!(entries.len(), 1, "[{backend}] one payment: {v}");
    let e = &entries[0];
    assert_eq!(
        (
            e["actor"]["kind"].as_str(),
            e["actor"]["name"].as_str(),
            e["source"].as_str(),
            e["object_kind"].as_str(),
        ),
        (
            Some("staff"),
            Some("billing@staff.example.test"),
            Some("127.0.0.1"),
            Some("invoice"),
        ),
        "[{backend}] {e}"
    );
    assert!(e["after"]["released_operation_id"].is_i64(), "{e}");
    let (_, runs) = api.get("/v1/audit?action=daily.run&actor=staff", admin);
    assert_eq!(
        runs["data"].as_array().map(Vec::len),
        Some(1),
        "[{backend}] the real run is recorded, the dry run is not: {runs}"
    );
    let (_, first) = api.get("/v1/audit?limit=1", admin);
    let next = first["next"].as_str().expect("a next page").to_string();
    let (s, second) = api.get(&next, admin);
    assert_eq!(s, 200, "[{backend}] {second}");
    assert!(
        second["data"][0]["id"].as_i64() < first["data"][0]["id"].as_i64(),
        "[{backend}] newest first: {first} then {second}"
    );
    for action in ["invoice.issue", "invoice.cancel", "invoice.refund"] {
        let (_, v) = api.get(&format!("/v1/audit?action={action}&actor=staff"), admin);
        assert_eq!(
            v["data"][0]["actor"]["name"], "billing@staff.example.test",
            "[{backend}] {action}: {v}"
        );
    }
    let (s, v) = api.get("/v1/audit?action=invoice.nothing", admin);
    assert_eq!((s, field(&v)), (400, "action"), "[{backend}] {v}");
}

fn scenario(backend: &'static str, url: Option<String>) {
    let home = support::billing_home(url)
        .with_env("PROVISOR_API_TOKEN", USAGE_TOKEN)
        .with_label(backend);
    let (_service, op, invoice) = setup(&home);
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
    let staff = |email: &str| api.login("staff", email, STAFF_PASSWORD);
    let admin = staff("admin@staff.example.test");
    let billing = staff("billing@staff.example.test");
    let support = staff("support@staff.example.test");
    let client = api.login("client", "a@example.com", CLIENT_PW);
    refusals(&api, &billing, &client, invoice, backend);
    pay_and_refund(&api, &home, &billing, (op, invoice), backend);
    issue_and_cancel(&api, &home, &billing, backend);
    billing_run(&api, &home, &billing, backend);
    audit(&api, [&admin, &billing, &support, &client], backend);
    daemon.stop();
}

#[test]
fn payments_refunds_runs_and_the_audit_log_over_the_api() {
    each_backend("billing over the API", scenario);
}
