//! Snapshots of what admins read: the listings, a task, the invoice view (lines, tax,
//! totals, payments, a refund), the credit ledger and the outbox, exactly as the real
//! binary prints them. The files in `tests/snapshots/` are the contract: a change to
//! any of them fails this test until it is reviewed and accepted (`cargo insta review`,
//! or `INSTA_UPDATE=always` and a look at `git diff`; see docs/testing.md).
//!
//! The data is made through the CLI with fixed days (`--date`, `--due`); only what is
//! truly variable is masked: times of "now" (a task opened, a ledger entry, a payment
//! recorded) and, in JSON, the `created_at`/`paid_at` stamps. The same snapshots are
//! asserted on SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL, which proves the output
//! does not depend on the backend.

use provisor_e2e::{each_backend, so, TestHome};
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A home with one of everything a listing shows: a loaded and a refused module file,
/// two handlers (one in a department), two currencies and two tax rates, three
/// clients, a priced plan and an unpriced one whose creates panic (a manual task),
/// two orders (one paid and provisioned, one waiting for payment), an invoice typed in
/// and paid in two parts (the second overpaid into credit), part of it refunded, a
/// draft, and a goodwill credit.
fn setup(backend: &'static str, url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url).with_label(backend);
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    home.drop_module(&so("provisor_fixture_panicky"), "panicky.so");
    home.write("modules/junk.so", "not a shared library");
    home.ok(&["departments", "add", "noc", "--email", "noc@example.com"]);
    let journal = home.path().join("journal");
    let settings = json!({ "journal": journal.to_str().expect("a UTF-8 path") });
    home.add_handler("rec", "recorder", &settings, Some("noc"));
    home.add_handler("pk", "panicky", &json!({}), None);

    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&[
        "currencies",
        "add",
        "USD",
        "--rate",
        "1.0845",
        "--rounding",
        "half-even",
    ]);
    home.ok(&["taxes", "set", "NL", "21"]);
    home.ok(&["taxes", "set", "DE", "19"]);
    for (name, email, currency, country) in [
        ("Ann Appel", "ann@example.com", "EUR", "NL"),
        ("Bob Bakker", "bob@example.org", "USD", "DE"),
        ("Cy Widget", "cy@example.net", "EUR", "US"),
    ] {
        home.ok(&[
            "clients",
            "add",
            "--name",
            name,
            "--email",
            email,
            "--currency",
            currency,
            "--country",
            country,
        ]);
    }

    home.ok(&["plans", "add", "basic", "--handler", "rec"]);
    home.ok(&["plans", "add", "wobbly", "--handler", "pk"]);
    for (currency, amount) in [("EUR", "10.00"), ("USD", "11.00")] {
        home.ok(&[
            "plans",
            "price",
            "basic",
            "--currency",
            currency,
            "--period",
            "monthly",
            "--amount",
            amount,
        ]);
    }

    // Ann's order is invoiced (2026-000001), paid and provisioned; Bob's (USD,
    // 2026-000002) waits for payment; Cy's create panics into a manual task.
    home.order("ann@example.com", "basic", &["--date", "2026-03-01"]);
    home.order("bob@example.org", "basic", &["--date", "2026-03-02"]);
    home.order("cy@example.net", "wobbly", &["--date", "2026-03-02"]);
    pay(&home, "2026-000001", "12.10", "BANK-1", "2026-03-03");
    home.work();

    // Ann's invoice typed in (2026-000003): three lines taxed one by one, 152.45 in all;
    // 100 paid, then 70 (17.55 over, into credit), then 20 refunded to the bank.
    home.ok(&[
        "invoices",
        "create",
        "--client",
        "ann@example.com",
        "--line",
        "Consulting;3;33.33",
        "--line",
        "Setup fee;1;25.00",
        "--line",
        "Backup GB;12.5;0.08",
        "--due",
        "2026-03-15",
        "--issue",
        "--date",
        "2026-03-04",
    ]);
    pay(&home, "2026-000003", "100.00", "A-1", "2026-03-05");
    pay(&home, "2026-000003", "70", "A-2", "2026-03-06");
    home.ok(&[
        "invoices",
        "refund",
        "2026-000003",
        "--amount",
        "20",
        "--reference",
        "R-1",
        "--date",
        "2026-03-07",
    ]);
    // A draft has no number and no dates yet.
    home.ok(&[
        "invoices",
        "create",
        "--client",
        "cy@example.net",
        "--line",
        "Domain transfer;2;8.50",
    ]);
    home.ok(&[
        "clients",
        "credit",
        "ann@example.com",
        "--amount",
        "5",
        "--reason",
        "goodwill",
    ]);
    home
}

fn pay(home: &TestHome, invoice: &str, amount: &str, reference: &str, date: &str) {
    home.ok(&[
        "invoices",
        "pay",
        invoice,
        "--amount",
        amount,
        "--reference",
        reference,
        "--date",
        date,
    ]);
}

/// The commands whose text output is snapshotted: (snapshot name, arguments).
const VIEWS: &[(&str, &[&str])] = &[
    ("modules_list", &["modules", "list"]),
    ("handlers_list", &["handlers", "list"]),
    ("departments_list", &["departments", "list"]),
    ("currencies_list", &["currencies", "list"]),
    ("taxes_list", &["taxes", "list"]),
    ("plans_list", &["plans", "list"]),
    ("plans_prices", &["plans", "prices", "basic"]),
    ("clients_list", &["clients", "list"]),
    ("clients_show", &["clients", "show", "ann@example.com"]),
    ("clients_ledger", &["clients", "ledger", "ann@example.com"]),
    ("services_list", &["services", "list"]),
    ("services_show", &["services", "show", "1"]),
    ("ops_list", &["ops", "list"]),
    ("ops_list_all", &["ops", "list", "--status", "all"]),
    ("tasks_list", &["tasks", "list"]),
    ("tasks_show", &["tasks", "show", "1"]),
    ("invoices_list", &["invoices", "list"]),
    ("invoices_show", &["invoices", "show", "2026-000003"]),
    ("invoices_show_order", &["invoices", "show", "2026-000002"]),
    ("invoices_show_draft", &["invoices", "show", "4"]),
    ("outbox_list", &["outbox", "list"]),
];

/// Times of "now" in tables and views (`2026-03-07 12:30:07`), replaced by a mask of
/// the same width so the snapshot keeps the table's alignment. Days alone (issue
/// dates, due dates, payment days) are fixed by the scenario and stay.
const NOW: &str = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}";

/// The stamps of "now" in JSON, by key: when the invoice was created and paid.
const NOW_JSON: &str = r#""(created_at|paid_at)": "\d{4}-\d{2}-\d{2}T[^"]+""#;

/// Asserts snapshots, going on after a mismatch so that every changed view is shown
/// (insta prints each diff), then failing once naming them all.
struct Snapshots {
    backend: &'static str,
    changed: Vec<String>,
}

impl Snapshots {
    fn check(&mut self, name: &str, command: &str, text: &str) {
        let mut settings = insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.set_description(command);
        settings.add_filter(NOW, "YYYY-MM-DD hh:mm:ss");
        settings.add_filter(NOW_JSON, r#""$1": "[now]""#);
        let matched = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(name, text));
        }));
        if matched.is_err() {
            self.changed.push(name.to_string());
        }
    }

    fn finish(self) {
        assert!(
            self.changed.is_empty(),
            "[{}] output changed for {:?}; review it (docs/testing.md) and accept the new \
             snapshots if the change is meant",
            self.backend,
            self.changed
        );
    }
}

fn scenario(backend: &'static str, url: Option<String>) {
    let home = setup(backend, url);
    let mut shots = Snapshots {
        backend,
        changed: Vec::new(),
    };
    for (name, args) in VIEWS {
        let text = home.ok(args);
        shots.check(name, &format!("provisor {}", args.join(" ")), &text);
    }

    // The last column cut to the terminal's width.
    let narrow = home.ok_env(&[("COLUMNS", "80")], &["ops", "list"]);
    shots.check(
        "ops_list_columns_80",
        "COLUMNS=80 provisor ops list",
        &narrow,
    );

    // One JSON form, as printed (its two "now" stamps masked by NOW_JSON).
    let args = ["invoices", "show", "2026-000003", "--json"];
    let printed = home.ok(&args);
    let parsed: Result<Value, _> = serde_json::from_str(&printed);
    assert!(parsed.is_ok(), "[{backend}] not JSON:\n{printed}");
    shots.check(
        "invoices_show_json",
        &format!("provisor {}", args.join(" ")),
        &printed,
    );
    shots.finish();
}

#[test]
fn listings_and_the_invoice_view_match_their_snapshots_on_every_backend() {
    each_backend("CLI snapshots", scenario);
}
