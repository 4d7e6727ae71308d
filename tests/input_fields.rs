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

/// Asserts a refusal that names the field's length and limit without echoing it.
fn refused_long(home: &TestHome, args: &[&str], backend: &str, length: usize, limit: usize) {
    let err = fails(home, args, 2);
    assert!(
        err.contains(&format!("{length} characters")) && err.contains(&format!("limit is {limit}")),
        "[{backend}] {err}"
    );
    assert!(
        err.len() < 400,
        "[{backend}] the error echoes the value: {} bytes",
        err.len()
    );
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn long_and_control_character_fields_are_refused_at_input() {
    each_backend("long fields", |backend, url| {
        let home = billing_home(url).with_label(backend);
        let long = "N".repeat(100_000);
        let before = ok(&home, &["clients", "list", "--json"]);
        refused_long(
            &home,
            &[
                "clients",
                "add",
                "--name",
                &long,
                "--email",
                "n@example.com",
            ],
            backend,
            100_000,
            200,
        );
        // Values a staff member types into a task or an admin action are bounded too.
        let value = format!("remote_id={}", "v".repeat(5_000));
        refused_long(
            &home,
            &["tasks", "complete", "1", "--set", &value],
            backend,
            5_000,
            1000,
        );
        refused_long(
            &home,
            &[
                "services", "action", "1", "reboot", "--set", &value, "--yes",
            ],
            backend,
            5_000,
            1000,
        );
        let email = format!("{}@example.com", "e".repeat(300));
        refused_long(
            &home,
            &["clients", "add", "--name", "N", "--email", &email],
            backend,
            312,
            254,
        );
        let settings = home.write(
            "rec2.json",
            &format!(
                "{{\"journal\": {:?}}}",
                home.path().join("j2").to_str().unwrap()
            ),
        );
        let label = "L".repeat(70_000);
        refused_long(
            &home,
            &[
                "handlers",
                "add",
                "rec2",
                "--module",
                "recorder",
                "--settings",
                settings.to_str().unwrap(),
                "--label",
                &label,
            ],
            backend,
            70_000,
            200,
        );
        refused_long(
            &home,
            &["plans", "add", &long, "--handler", "rec"],
            backend,
            100_000,
            200,
        );
        refused_long(&home, &["departments", "add", &long], backend, 100_000, 200);
        // Control characters: ESC, CR, LF, \x01 and tab in names, emails, lines.
        for bad in [
            "Evil\u{1b}[2J",
            "Two\rLines",
            "Two\nLines",
            "Odd\u{1}",
            "Tab\there",
        ] {
            let err = fails(
                &home,
                &["clients", "add", "--name", bad, "--email", "c@example.com"],
                2,
            );
            assert!(
                err.contains("control character"),
                "[{backend}] {bad:?}: {err}"
            );
            assert!(
                !err.contains('\u{1b}') && !err.contains('\r'),
                "[{backend}] {err:?}"
            );
        }
        for bad in ["c\u{1b}@example.com", "c@example.com\r\nBcc: x@y.com"] {
            fails(&home, &["clients", "add", "--name", "C", "--email", bad], 2);
        }
        assert_eq!(
            ok(&home, &["clients", "list", "--json"]),
            before,
            "[{backend}]"
        );
        let ann = client(&home, "Ann", "EUR", "NL");
        let invoices = ok(&home, &["invoices", "list", "--json"]);
        for bad in ["Setup\u{1b}[31m;1;10.00", "Setup\nfee;1;10.00"] {
            let err = fails(
                &home,
                &[
                    "invoices",
                    "create",
                    "--client",
                    &ann.to_string(),
                    "--line",
                    bad,
                ],
                2,
            );
            assert!(err.contains("control character"), "[{backend}] {err}");
        }
        let line = format!("{};1;10.00", "D".repeat(5_000));
        refused_long(
            &home,
            &[
                "invoices",
                "create",
                "--client",
                &ann.to_string(),
                "--line",
                &line,
            ],
            backend,
            5_000,
            1_000,
        );
        assert_eq!(
            ok(&home, &["invoices", "list", "--json"]),
            invoices,
            "[{backend}]"
        );
    });
}

#[test]
fn rows_stored_before_the_limits_still_list_cut_and_escaped() {
    let home = billing_home(None);
    client(&home, "Ann", "EUR", "NL");
    let long = "Z".repeat(100_000);
    let sql = format!(
        "INSERT INTO clients (name, email, currency, country, created_at) \
         VALUES ('{long}', 'Old.Mixed@Example.COM', 'EUR', 'NL', '2026-01-01 00:00:00+00:00'); \
         INSERT INTO clients (name, email, currency, country, created_at) \
         VALUES ('Evil' || char(27) || '[2J' || char(13) || 'x', 'evil@example.com', 'EUR', 'NL', '2026-01-01 00:00:00+00:00');"
    );
    home.sql(&sql);
    let table = ok(&home, &["clients", "list"]);
    assert!(
        table.contains("ZZZ…"),
        "{}",
        &table[..table.len().min(2000)]
    );
    assert!(
        table.len() < 2_000,
        "a long name is printed whole: {} bytes",
        table.len()
    );
    assert!(
        !table.contains('\u{1b}') && !table.contains('\r'),
        "{table:?}"
    );
    assert!(table.contains("Evil\\u{1b}[2J\\rx"), "{table}");
    // JSON keeps every character.
    let all = json(&home, &["clients", "list", "--json"]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"].as_str().map(str::len) == Some(100_000)));
    // A mixed-case email stored before emails were lowercased is found in any case,
    // and a new client cannot take it in another case.
    let shown = json(
        &home,
        &["clients", "show", "old.mixed@example.com", "--json"],
    );
    assert_eq!(shown["email"], "Old.Mixed@Example.COM", "{shown:#}");
    let err = fails(
        &home,
        &[
            "clients",
            "add",
            "--name",
            "Dup",
            "--email",
            "OLD.MIXED@example.com",
        ],
        2,
    );
    assert!(err.contains("already exists"), "{err}");
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn input_rules_for_emails_currencies_dates_periods_and_unknown_ids() {
    each_backend("input rules", |backend, url| {
        let home = billing_home(url).with_label(backend);
        // Emails: lowercased at input, one client per address in any case.
        ok(
            &home,
            &[
                "clients",
                "add",
                "--name",
                "Ada",
                "--email",
                "ADA@Example.com",
            ],
        );
        let all = json(&home, &["clients", "list", "--json"]);
        assert_eq!(all[0]["email"], "ada@example.com", "[{backend}] {all:#}");
        let err = fails(
            &home,
            &[
                "clients",
                "add",
                "--name",
                "Ada 2",
                "--email",
                "ada@example.com",
            ],
            2,
        );
        assert!(err.contains("already exists"), "[{backend}] {err}");
        let err = fails(
            &home,
            &["clients", "add", "--name", "X", "--email", "a@b@c.com"],
            2,
        );
        assert!(err.contains("not an email address"), "[{backend}] {err}");
        // A currency that is not set up.
        let err = fails(
            &home,
            &[
                "clients",
                "add",
                "--name",
                "X",
                "--email",
                "x@example.com",
                "--currency",
                "XYZ",
            ],
            2,
        );
        assert!(err.contains("XYZ is not set up"), "[{backend}] {err}");

        // Orders find the client by email in any case; unknown ids are not found.
        ok(&home, &["plans", "add", "P", "--handler", "rec"]);
        let out = json(
            &home,
            &[
                "services",
                "order",
                "--client",
                "Ada@EXAMPLE.com",
                "--plan",
                "P",
                "--json",
            ],
        );
        assert!(out.to_string().contains("service"), "[{backend}] {out:#}");
        fails(
            &home,
            &["services", "order", "--client", "99999", "--plan", "P"],
            3,
        );
        fails(
            &home,
            &[
                "services",
                "order",
                "--client",
                "nobody@example.com",
                "--plan",
                "P",
            ],
            3,
        );
        fails(
            &home,
            &["services", "order", "--client", "1", "--plan", "No Such"],
            3,
        );
        fails(&home, &["services", "suspend", "99999"], 3);
        fails(&home, &["services", "terminate", "99999"], 3);
        fails(
            &home,
            &["services", "change-plan", "1", "--plan", "No Such"],
            3,
        );
        let err = fails(&home, &["plans", "add", "Q", "--handler", "nosuch"], 3);
        assert!(err.contains("nosuch"), "[{backend}] {err}");
        fails(&home, &["modules", "install", "/missing.so"], 3);
        let err = fails(
            &home,
            &[
                "handlers",
                "call",
                "rec",
                "test_connection",
                "--request",
                "/missing/req.json",
            ],
            3,
        );
        assert!(
            err.contains("request file /missing/req.json"),
            "[{backend}] {err}"
        );

        // A payment dated before the invoice's issue date.
        let ada = 1;
        let inv = json(
            &home,
            &[
                "invoices",
                "create",
                "--client",
                &ada.to_string(),
                "--line",
                "Setup;1;10.00",
                "--issue",
                "--date",
                "2026-03-01",
                "--json",
            ],
        );
        let id = inv["id"].as_i64().unwrap().to_string();
        let err = fails(
            &home,
            &[
                "invoices",
                "pay",
                &id,
                "--amount",
                "12.10",
                "--reference",
                "r1",
                "--date",
                "2026-02-28",
            ],
            2,
        );
        assert!(err.contains("before invoice"), "[{backend}] {err}");
        assert_eq!(
            invoice(&home, inv["id"].as_i64().unwrap())["status"],
            "unpaid"
        );

        // Usage for a period outside the service's life.
        metered_plan(&home, &[("GB", "0.10")]);
        let (sid, _) = home.order("ada@example.com", "metered", &[]);
        for (day, why) in [
            ("0001-01-01", "before service"),
            ("9999-12-31", "in the future"),
        ] {
            let f = home.write(
                "u.json",
                &format!(
                    "[{{\"transaction_id\":\"t-{day}\",\"service_id\":{sid},\"unit\":\"GB\",\"quantity\":\"1\",\"period_start\":\"{day}\"}}]"
                ),
            );
            let err = fails(&home, &["usage", "import", f.to_str().unwrap()], 2);
            assert!(err.contains(why), "[{backend}] {day}: {err}");
        }
    });
}

#[test]
fn handlers_import_refuses_before_paging_the_panel() {
    let home = billing_home(None);
    // The recorder cannot list accounts: refused by its manifest, the module is never
    // called (operations_import.rs covers a handler without a plan).
    let err = fails(&home, &["handlers", "import", "rec"], 2);
    assert!(err.contains("cannot list accounts"), "{err}");
    fails(&home, &["handlers", "import", "nosuch"], 3);
}
