//! Orders gated by payment, on every backend: a priced plan's order writes the
//! service (`pending`), its create held as `awaiting_payment`, and an invoice; paying
//! the invoice in full (by payments or by credit) queues the create in the same
//! transaction; a deposit becomes credit; cancelling the invoice drops the order; a
//! plan without prices is provisioned at once as before.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{backends, TestHome};
use serde_json::Value;
use support::*;

fn op(home: &TestHome, id: i64) -> Value {
    json(home, &["ops", "list", "--status", "all", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .cloned()
        .expect("operation listed")
}

fn service_status(home: &TestHome, id: i64) -> String {
    json(home, &["services", "show", &id.to_string(), "--json"])["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn order(home: &TestHome, client: &str, plan: &str) -> Value {
    json(
        home,
        &[
            "services", "order", "--client", client, "--plan", plan, "--json",
        ],
    )
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = billing_home(url);
    for plan in ["Basic", "VPS", "Cloud", "Odd"] {
        ok(&home, &["plans", "add", plan, "--handler", "rec"]);
    }
    ok(
        &home,
        &[
            "plans",
            "price",
            "VPS",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "10.00",
        ],
    );
    ok(
        &home,
        &[
            "plans",
            "price",
            "VPS",
            "--currency",
            "EUR",
            "--period",
            "annual",
            "--amount",
            "100",
        ],
    );
    ok(
        &home,
        &[
            "plans",
            "price",
            "Cloud",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "20",
        ],
    );
    ok(
        &home,
        &[
            "plans",
            "deposit",
            "Cloud",
            "--currency",
            "EUR",
            "--amount",
            "50",
        ],
    );
    ok(
        &home,
        &[
            "plans",
            "price",
            "Odd",
            "--currency",
            "USD",
            "--period",
            "quarterly",
            "--amount",
            "30",
        ],
    );
    let prices = json(&home, &["plans", "prices", "VPS", "--json"]);
    assert_eq!(
        prices["prices"].as_array().unwrap().len(),
        2,
        "[{backend}] {prices:#}"
    );
    client(&home, "Ann", "EUR", "NL");
    client(&home, "Bob", "USD", "DE");

    // A plan without prices: the create is queued at once, no invoice.
    let basic = order(&home, "ann@example.com", "Basic");
    assert!(basic.get("invoice_id").is_none(), "[{backend}] {basic:#}");
    assert_eq!(
        op(&home, basic["operation_id"].as_i64().unwrap())["status"],
        "queued"
    );

    // VPS for Ann: 10.00 + 21 % = 12.10; the create waits for payment.
    let vps = order(&home, "ann@example.com", "VPS");
    let (sid, oid) = (
        vps["service_id"].as_i64().unwrap(),
        vps["operation_id"].as_i64().unwrap(),
    );
    assert_eq!(vps["invoice"]["total"], "12.10", "[{backend}] {vps:#}");
    assert_eq!(vps["invoice"]["status"], "unpaid");
    let inv_id = vps["invoice_id"].as_i64().unwrap();
    let inv = invoice(&home, inv_id);
    assert_eq!(line(&inv, 0), ["10.00", "2.10", "12.10"].map(String::from));
    assert_eq!(inv["lines"][0]["period"], "monthly");
    assert_eq!(inv["lines"][0]["service_id"], sid);
    assert!(inv["lines"][0]["description"]
        .as_str()
        .unwrap()
        .starts_with("VPS, monthly "));
    assert_eq!(inv["service_id"], sid);
    assert_eq!(inv["due_date"], inv["issue_date"]);
    assert_eq!(op(&home, oid)["status"], "awaiting_payment", "[{backend}]");
    // The held creates are a filter of their own (docs/billing.md says so).
    let held = json(
        &home,
        &["ops", "list", "--status", "awaiting_payment", "--json"],
    );
    assert!(
        held.as_array().unwrap().iter().any(|o| o["id"] == oid),
        "[{backend}] {held:#}"
    );
    let text = ok(
        &home,
        &[
            "services",
            "order",
            "--client",
            "ann@example.com",
            "--plan",
            "Basic",
        ],
    );
    assert!(
        text.contains("create operation") && text.contains("queued"),
        "[{backend}] {text}"
    );

    // Workers leave it alone.
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(
        service_status(&home, basic["service_id"].as_i64().unwrap()),
        "active"
    );
    assert_eq!(service_status(&home, sid), "pending", "[{backend}]");

    // A partial payment does not release it; the rest does, in the same transaction.
    let p = json(
        &home,
        &[
            "invoices",
            "pay",
            &inv_id.to_string(),
            "--amount",
            "5",
            "--reference",
            "V-1",
            "--json",
        ],
    );
    assert!(p["released_operation"].is_null(), "[{backend}] {p:#}");
    assert_eq!(p["invoice"]["amount_due"], "7.10");
    assert_eq!(op(&home, oid)["status"], "awaiting_payment");
    let p = json(
        &home,
        &[
            "invoices",
            "pay",
            &inv_id.to_string(),
            "--amount",
            "7.10",
            "--reference",
            "V-2",
            "--json",
        ],
    );
    assert_eq!(p["released_operation"], oid, "[{backend}] {p:#}");
    assert_eq!(op(&home, oid)["status"], "queued");
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(service_status(&home, sid), "active", "[{backend}]");
    let mails = emails_to(&home, "ann@example.com");
    for kind in ["invoice_created", "invoice_paid", "welcome"] {
        assert!(mails.iter().any(|m| m == kind), "[{backend}] {mails:?}");
    }

    // Cloud for Bob (USD, half-even; no tax for DE here):
    //   20.00 EUR × 1.0845 = 21.69 USD; deposit 50.00 EUR × 1.0845 = 54.225 → 54.22
    //   total 75.91. Paid, the deposit becomes 54.22 of credit.
    let cloud = order(&home, "bob@example.com", "Cloud");
    let cloud_inv = invoice(&home, cloud["invoice_id"].as_i64().unwrap());
    assert_eq!(
        line(&cloud_inv, 0),
        ["21.69", "0.00", "21.69"].map(String::from),
        "[{backend}] {cloud_inv:#}"
    );
    assert_eq!(cloud_inv["lines"][1]["kind"], "deposit");
    assert_eq!(
        line(&cloud_inv, 1),
        ["54.22", "0.00", "54.22"].map(String::from)
    );
    assert_eq!(cloud_inv["total"], "75.91");
    let number = cloud_inv["number"].as_str().unwrap();
    let out = ok(
        &home,
        &[
            "invoices",
            "pay",
            number,
            "--amount",
            "75.91",
            "--reference",
            "C-1",
        ],
    );
    assert!(
        out.contains("the invoice is paid") && out.contains("queued"),
        "[{backend}] {out}"
    );
    let ledger = json(&home, &["clients", "ledger", "bob@example.com", "--json"]);
    assert_eq!(ledger["balance"], "54.22", "[{backend}] {ledger:#}");
    assert!(ledger["entries"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("deposit"));
    assert_eq!(ledger["entries"][0]["invoice_id"], cloud["invoice_id"]);

    // VPS for Bob: 10.00 EUR → 10.845 → 10.84 USD, paid from his credit at once, so the
    // create is queued straight away; 43.38 of credit is left.
    let vps_bob = order(&home, "bob@example.com", "VPS");
    assert_eq!(
        vps_bob["invoice"]["total"], "10.84",
        "[{backend}] {vps_bob:#}"
    );
    assert_eq!(vps_bob["invoice"]["status"], "paid");
    assert_eq!(
        op(&home, vps_bob["operation_id"].as_i64().unwrap())["status"],
        "queued"
    );
    assert_eq!(
        json(&home, &["clients", "ledger", "2", "--json"])["balance"],
        "43.38"
    );
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(
        service_status(&home, cloud["service_id"].as_i64().unwrap()),
        "active"
    );
    assert_eq!(
        service_status(&home, vps_bob["service_id"].as_i64().unwrap()),
        "active"
    );

    // Cancelling an order's invoice drops the order: the held create is cancelled and
    // the service, never provisioned, is terminated.
    let dropped = order(&home, "ann@example.com", "VPS");
    let out = ok(
        &home,
        &[
            "services",
            "order",
            "--client",
            "ann@example.com",
            "--plan",
            "VPS",
        ],
    );
    assert!(
        out.contains("waits for payment") && out.contains("invoices pay"),
        "[{backend}] {out}"
    );
    ok(
        &home,
        &["invoices", "cancel", &dropped["invoice_id"].to_string()],
    );
    assert_eq!(
        op(&home, dropped["operation_id"].as_i64().unwrap())["status"],
        "cancelled"
    );
    assert_eq!(
        service_status(&home, dropped["service_id"].as_i64().unwrap()),
        "terminated"
    );

    // Refused orders write nothing.
    let before = json(&home, &["services", "list", "--json"])
        .as_array()
        .unwrap()
        .len();
    let invoices_before = json(&home, &["invoices", "list", "--json"])
        .as_array()
        .unwrap()
        .len();
    let err = fails(
        &home,
        &[
            "services",
            "order",
            "--client",
            "ann@example.com",
            "--plan",
            "Odd",
        ],
        2,
    );
    assert!(
        err.contains("Odd") && err.contains("EUR") && err.contains("plans price"),
        "[{backend}] {err}"
    );
    // A client in a currency that is not set up is refused at input now (an order
    // for such a client stored earlier is covered in billing_input.rs).
    let err = fails(
        &home,
        &[
            "clients",
            "add",
            "--name",
            "Gus",
            "--email",
            "gus@example.com",
            "--currency",
            "GBP",
            "--country",
            "GB",
        ],
        2,
    );
    assert!(
        err.contains("GBP") && err.contains("currencies add GBP"),
        "[{backend}] {err}"
    );
    assert_eq!(
        json(&home, &["services", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        before
    );
    assert_eq!(
        json(&home, &["invoices", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        invoices_before
    );

    // Prices can be removed; the plan is then provisioned at once again.
    ok(
        &home,
        &[
            "plans",
            "price",
            "Odd",
            "--currency",
            "USD",
            "--period",
            "quarterly",
            "--remove",
        ],
    );
    let odd = order(&home, "ann@example.com", "Odd");
    assert!(odd.get("invoice_id").is_none(), "[{backend}] {odd:#}");
}

#[test]
fn orders_wait_for_payment_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
