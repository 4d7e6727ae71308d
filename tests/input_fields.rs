//! Hostile and careless input, on every backend: several ids in one command change
//! nothing when one is bad; long and control-character fields are refused at input
//! and never break a listing; emails, currencies, dates and periods follow the rules;
//! an unknown id exits with the not-found code.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{each_backend, TestHome};
use support::*;

fn draft(home: &TestHome, client: i64, line: &str) -> i64 {
    json(
        home,
        &[
            "invoices",
            "create",
            "--client",
            &client.to_string(),
            "--line",
            line,
            "--json",
        ],
    )["id"]
        .as_i64()
        .expect("draft id")
}

#[test]
fn issuing_several_invoices_checks_them_all_first_and_changes_nothing_on_a_bad_one() {
    each_backend("multi-id issue", |backend, url| {
        let home = billing_home(url).with_label(backend);
        let ann = client(&home, "Ann", "EUR", "NL");
        let bob = client(&home, "Bob", "USD", "NL");
        let a = draft(&home, ann, "Setup;1;10.00");
        let b = draft(&home, bob, "Setup;1;20.00");
        let c = draft(&home, ann, "Extra;1;5.00");
        let before = ok(&home, &["invoices", "list", "--json"]);

        // An unknown id anywhere: not found, and no invoice issued.
        let err = fails(&home, &["invoices", "issue", &a.to_string(), "99999"], 3);
        assert!(err.contains("99999"), "[{backend}] {err}");
        assert_eq!(invoice(&home, a)["status"], "draft", "[{backend}]");
        let err = fails(
            &home,
            &["invoices", "issue", "99999", &a.to_string(), &b.to_string()],
            3,
        );
        assert!(err.contains("99999"), "[{backend}] {err}");
        // One that is not a draft (issued below) anywhere: bad input, nothing issued.
        ok(
            &home,
            &["invoices", "issue", &c.to_string(), "--date", "2026-03-01"],
        );
        let listed = ok(&home, &["invoices", "list", "--json"]);
        let err = fails(
            &home,
            &[
                "invoices",
                "issue",
                &a.to_string(),
                &b.to_string(),
                &c.to_string(),
            ],
            2,
        );
        assert!(err.contains("nothing was issued"), "[{backend}] {err}");
        assert_eq!(
            ok(&home, &["invoices", "list", "--json"]),
            listed,
            "[{backend}]"
        );
        assert_ne!(listed, before);
        assert!(
            emails_to(&home, "bob@example.com").is_empty(),
            "[{backend}]"
        );

        // All good: issued together, numbered in the order given, across two clients.
        let out = json(
            &home,
            &[
                "invoices",
                "issue",
                &b.to_string(),
                &a.to_string(),
                &b.to_string(),
                "--date",
                "2026-03-02",
                "--json",
            ],
        );
        let numbers: Vec<&str> = out
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v["number"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            numbers,
            ["2026-000002", "2026-000003"],
            "[{backend}] {out:#}"
        );
        assert_eq!(invoice(&home, a)["status"], "unpaid");
        assert_eq!(invoice(&home, b)["status"], "unpaid");
    });
}
