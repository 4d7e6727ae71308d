//! Shared steps for the billing tests (`#[path]`-included by each `billing_*.rs`).

#![allow(dead_code)]

use provisor_e2e::{so, TestHome};
use serde_json::Value;

/// A home on `url` with the recorder module, handler `rec`, the default currency EUR,
/// USD at 1.0845 per euro rounded half-even, and 21 % tax in NL.
pub fn billing_home(url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    let settings = serde_json::json!({ "journal": home.path().join("journal").to_str().unwrap() });
    let f = home.write("rec.json", &settings.to_string());
    ok(
        &home,
        &[
            "handlers",
            "add",
            "rec",
            "--module",
            "recorder",
            "--settings",
            f.to_str().unwrap(),
        ],
    );
    ok(&home, &["currencies", "add", "EUR"]);
    ok(
        &home,
        &[
            "currencies",
            "add",
            "USD",
            "--rate",
            "1.0845",
            "--rounding",
            "half-even",
        ],
    );
    ok(&home, &["taxes", "set", "NL", "21"]);
    home
}

/// Adds a client and returns its id.
pub fn client(home: &TestHome, name: &str, currency: &str, country: &str) -> i64 {
    let email = format!("{}@example.com", name.to_lowercase());
    ok(
        home,
        &[
            "clients",
            "add",
            "--name",
            name,
            "--email",
            &email,
            "--currency",
            currency,
            "--country",
            country,
        ],
    );
    let all = json(home, &["clients", "list", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == email.as_str())
        .and_then(|c| c["id"].as_i64())
        .expect("client added")
}

pub fn ok(home: &TestHome, args: &[&str]) -> String {
    home.run(args).ok()
}

pub fn json(home: &TestHome, args: &[&str]) -> Value {
    home.run(args).json()
}

/// Runs a command that must fail with `code` and returns its stderr.
pub fn fails(home: &TestHome, args: &[&str], code: i32) -> String {
    home.run(args).fails_with(code)
}

/// `invoices show ID --json`.
pub fn invoice(home: &TestHome, id: i64) -> Value {
    json(home, &["invoices", "show", &id.to_string(), "--json"])
}

/// The kinds of the outbox's emails to `email`, oldest first.
pub fn emails_to(home: &TestHome, email: &str) -> Vec<String> {
    json(home, &["outbox", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["recipient"] == email)
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A line's amounts: [net, tax, total].
pub fn line(inv: &Value, i: usize) -> [String; 3] {
    let l = &inv["lines"][i];
    [
        l["net"].as_str().unwrap().to_string(),
        l["tax"].as_str().unwrap().to_string(),
        l["total"].as_str().unwrap().to_string(),
    ]
}

/// [subtotal, `tax_total`, total, `amount_paid`, `amount_due`].
pub fn totals(inv: &Value) -> [String; 5] {
    [
        "subtotal",
        "tax_total",
        "total",
        "amount_paid",
        "amount_due",
    ]
    .map(|k| inv[k].as_str().unwrap().to_string())
}

/// The `metered` plan on handler `rec`, billing pushed usage at these prices
/// ((unit, EUR amount)).
pub fn metered_plan(home: &TestHome, prices: &[(&str, &str)]) {
    ok(home, &["plans", "add", "metered", "--handler", "rec"]);
    ok(home, &["usage", "plan", "metered", "--mode", "pushed"]);
    for (unit, amount) in prices {
        ok(
            home,
            &[
                "usage",
                "price",
                "metered",
                "--currency",
                "EUR",
                "--unit",
                unit,
                "--amount",
                amount,
            ],
        );
    }
}
