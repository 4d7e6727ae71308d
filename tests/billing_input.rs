//! Bad billing input, on every backend: each is refused with an error that names the
//! thing and the fix, a non-zero exit (2 bad input, 3 not found), and nothing written.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{backends, TestHome};
use support::*;

/// Everything billing can write, as the CLI shows it.
fn state(home: &TestHome) -> String {
    [
        vec!["currencies", "list", "--json"],
        vec!["taxes", "list", "--json"],
        vec!["invoices", "list", "--json"],
        vec!["invoices", "show", "1", "--json"],
        vec!["invoices", "show", "2", "--json"],
        vec!["clients", "ledger", "1", "--json"],
        vec!["clients", "list", "--json"],
        vec!["plans", "prices", "P", "--json"],
        vec!["services", "list", "--json"],
        vec!["ops", "list", "--status", "all", "--json"],
        vec!["outbox", "list", "--json"],
    ]
    .iter()
    .map(|args| ok(home, args))
    .collect::<Vec<_>>()
    .join("\n")
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = billing_home(url);
    ok(&home, &["plans", "add", "P", "--handler", "rec"]);
    ok(
        &home,
        &[
            "plans",
            "price",
            "P",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "10",
        ],
    );
    client(&home, "Ann", "EUR", "NL");
    // A client in a currency that is not set up is refused now; Gus is a row from
    // before that rule (written directly), so the cases below still see one.
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
    assert!(err.contains("GBP is not set up"), "[{backend}] {err}");
    home.sql(
        "INSERT INTO clients (name, email, currency, country, created_at) \
         VALUES ('Gus', 'gus@example.com', 'GBP', 'GB', '2026-01-01 00:00:00+00:00')",
    );
    ok(
        &home,
        &[
            "clients", "credit", "1", "--amount", "3.00", "--reason", "goodwill",
        ],
    );
    // Invoice 1: unpaid (12.10 − 3.00 credit = 9.10 due); invoice 2: a draft.
    ok(
        &home,
        &["services", "order", "--client", "1", "--plan", "P"],
    );
    ok(
        &home,
        &["invoices", "create", "--client", "1", "--line", "Draft;1;1"],
    );
    let before = state(&home);

    // (arguments, exit code, words the error must contain)
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        // Currencies.
        (
            vec!["currencies", "add", "EURO"],
            2,
            vec!["EURO", "3-letter"],
        ),
        (vec!["currencies", "add", "XTS"], 2, vec!["XTS", "--rate"]),
        (
            vec!["currencies", "add", "XTS", "--rate", "-1"],
            2,
            vec!["-1", "out of range"],
        ),
        (
            vec!["currencies", "add", "XTS", "--rate", "abc"],
            2,
            vec!["abc", "not a number"],
        ),
        (
            vec!["currencies", "add", "XTS", "--rate", "0"],
            2,
            vec!["out of range"],
        ),
        (
            vec![
                "currencies",
                "add",
                "XTS",
                "--rate",
                "1",
                "--rounding",
                "up",
            ],
            2,
            vec!["half-up", "half-even", "down"],
        ),
        (
            vec![
                "currencies",
                "add",
                "XTS",
                "--rate",
                "1",
                "--minor-units",
                "9",
            ],
            2,
            vec!["--minor-units"],
        ),
        (
            vec!["currencies", "add", "USD", "--rate", "1.1"],
            2,
            vec!["already exists", "currencies set USD"],
        ),
        (
            vec!["currencies", "set", "EUR", "--rate", "2"],
            2,
            vec!["default", "1"],
        ),
        (
            vec!["currencies", "set", "GBP", "--rate", "2"],
            2,
            vec!["GBP", "currencies add GBP"],
        ),
        // Taxes.
        (
            vec!["taxes", "set", "NL", "abc"],
            2,
            vec!["abc", "not a number"],
        ),
        (
            vec!["taxes", "set", "NL", "120"],
            2,
            vec!["120", "out of range"],
        ),
        (vec!["taxes", "set", "NL", "-5"], 2, vec!["-5"]),
        (vec!["taxes", "set", "NLD", "5"], 2, vec!["NLD", "2-letter"]),
        // Prices and deposits.
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "GBP",
                "--period",
                "monthly",
                "--amount",
                "10",
            ],
            2,
            vec!["GBP", "currencies add GBP"],
        ),
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "EUR",
                "--period",
                "weekly",
                "--amount",
                "10",
            ],
            2,
            vec!["weekly", "monthly"],
        ),
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "EUR",
                "--period",
                "monthly",
                "--amount",
                "-10",
            ],
            2,
            vec!["-10", "negative"],
        ),
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "EUR",
                "--period",
                "monthly",
                "--amount",
                "10.001",
            ],
            2,
            vec!["10.001", "decimals", "EUR"],
        ),
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "EUR",
                "--period",
                "monthly",
                "--amount",
                "ten",
            ],
            2,
            vec!["ten", "not a number"],
        ),
        (
            vec![
                "plans",
                "price",
                "Nope",
                "--currency",
                "EUR",
                "--period",
                "monthly",
                "--amount",
                "1",
            ],
            3,
            vec!["Nope", "plans list"],
        ),
        (
            vec![
                "plans",
                "price",
                "P",
                "--currency",
                "EUR",
                "--period",
                "annual",
                "--remove",
            ],
            3,
            vec!["no annual price"],
        ),
        (
            vec![
                "plans",
                "deposit",
                "P",
                "--currency",
                "EUR",
                "--amount",
                "0",
            ],
            2,
            vec!["deposit"],
        ),
        // Credit.
        (
            vec!["clients", "credit", "1", "--amount", "abc", "--reason", "x"],
            2,
            vec!["abc", "not a number"],
        ),
        (
            vec!["clients", "credit", "1", "--amount", "0", "--reason", "x"],
            2,
            vec!["zero"],
        ),
        (
            vec!["clients", "credit", "1", "--amount", "-5", "--reason", "x"],
            2,
            vec!["no overdraft", "€0.00"],
        ),
        (
            vec!["clients", "credit", "1", "--amount", "5", "--reason", " "],
            2,
            vec!["--reason"],
        ),
        (
            vec!["clients", "credit", "99", "--amount", "5", "--reason", "x"],
            3,
            vec!["99", "clients list"],
        ),
        (
            vec!["clients", "credit", "2", "--amount", "5", "--reason", "x"],
            2,
            vec!["GBP", "currencies add GBP"],
        ),
        // Payments.
        (
            vec![
                "invoices",
                "pay",
                "999",
                "--amount",
                "1",
                "--reference",
                "X",
            ],
            3,
            vec!["no invoice 999", "invoices list"],
        ),
        (
            vec![
                "invoices",
                "pay",
                "2030-000001",
                "--amount",
                "1",
                "--reference",
                "X",
            ],
            3,
            vec!["2030-000001"],
        ),
        (
            vec!["invoices", "pay", "1", "--amount", "-5", "--reference", "X"],
            2,
            vec!["-5", "more than zero"],
        ),
        (
            vec![
                "invoices",
                "pay",
                "1",
                "--amount",
                "1,50",
                "--reference",
                "X",
            ],
            2,
            vec!["1,50", "point"],
        ),
        (
            vec![
                "invoices",
                "pay",
                "1",
                "--amount",
                "12.345",
                "--reference",
                "X",
            ],
            2,
            vec!["12.345", "decimals"],
        ),
        (
            vec![
                "invoices",
                "pay",
                "1",
                "--amount",
                "1",
                "--reference",
                "X",
                "--date",
                "2026-02-30",
            ],
            2,
            vec!["2026-02-30", "YYYY-MM-DD"],
        ),
        (
            vec!["invoices", "pay", "1", "--amount", "1", "--reference", ""],
            2,
            vec!["--reference"],
        ),
        (
            vec!["invoices", "pay", "2", "--amount", "1", "--reference", "X"],
            2,
            vec!["draft", "invoices issue 2"],
        ),
        // Invoices.
        (
            vec!["invoices", "create", "--client", "1", "--line", "no fields"],
            2,
            vec!["DESCRIPTION;QUANTITY;UNIT_PRICE"],
        ),
        (
            vec!["invoices", "create", "--client", "1", "--line", "X;0;1"],
            2,
            vec!["quantity"],
        ),
        (
            vec!["invoices", "create", "--client", "1", "--line", "X;1;-1"],
            2,
            vec!["negative", "clients credit"],
        ),
        (
            vec![
                "invoices",
                "create",
                "--client",
                "1",
                "--line",
                "X;1;1",
                "--due",
                "2026-13-01",
            ],
            2,
            vec!["2026-13-01", "YYYY-MM-DD"],
        ),
        (
            vec![
                "invoices",
                "create",
                "--client",
                "1",
                "--line",
                "X;1;1",
                "--issue",
                "--date",
                "2026-03-10",
                "--due",
                "2026-03-01",
            ],
            2,
            vec!["before the issue date"],
        ),
        (
            vec!["invoices", "create", "--client", "2", "--line", "X;1;1"],
            2,
            vec!["GBP"],
        ),
        (
            vec!["invoices", "issue", "2", "--date", "2025-02-29"],
            2,
            vec!["2025-02-29", "YYYY-MM-DD"],
        ),
        (vec!["invoices", "issue", "1"], 2, vec!["only a draft"]),
        (vec!["invoices", "show", "nope"], 3, vec!["nope"]),
        (
            vec!["invoices", "list", "--status", "open"],
            2,
            vec!["open", "unpaid"],
        ),
        (
            vec!["invoices", "overdue", "--date", "tomorrow"],
            2,
            vec!["tomorrow", "YYYY-MM-DD"],
        ),
        // Orders.
        (
            vec!["services", "order", "--client", "2", "--plan", "P"],
            2,
            vec!["GBP", "currencies add GBP"],
        ),
    ];
    for (args, code, words) in &cases {
        let err = fails(&home, args, *code);
        for w in words {
            assert!(
                err.contains(w),
                "[{backend}] {args:?}: {err:?} should mention {w:?}"
            );
        }
        assert!(err.starts_with("error: "), "[{backend}] {args:?}: {err}");
    }
    assert_eq!(
        state(&home),
        before,
        "[{backend}] a refused command wrote something"
    );
}

#[test]
fn bad_input_is_refused_and_writes_nothing_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
