//! What admins read, through the real binary on SQLite and (with `PROVISOR_TEST_PG`)
//! PostgreSQL: errors shown only while they are current, the LAST ERROR column cut to
//! the terminal's width, attempts numbered across a `tasks retry`, `tasks show`,
//! client names in `services list`, ledger times to the second, paging and filters
//! refused by name when wrong, and progress that stays off the output of a pipe.

use provisor_e2e::{each_backend, so, TestHome};
use serde_json::{json, Value};

/// A home with the panicky module (its creates panic: a manual task) as handler `pk`
/// and the versioned one (creates succeed) as `v1`, clients and a plan on each.
fn setup(backend: &'static str, url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url).with_label(backend);
    home.drop_module(&so("provisor_fixture_panicky"), "panicky.so");
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    home.ok(&["departments", "add", "noc"]);
    home.add_handler("pk", "panicky", &json!({}), None);
    home.add_handler("v1", "versioned", &json!({}), Some("noc"));
    for (name, email) in [
        ("Cy Widget", "cy@example.com"),
        ("Ann Appel", "ann@example.com"),
        ("Bob Bakker", "bob@example.org"),
        ("Dee 100% Hosting", "dee@example.net"),
        ("Eve Evers", "eve@example.com"),
    ] {
        home.ok(&["clients", "add", "--name", name, "--email", email]);
    }
    home.ok(&["plans", "add", "wobbly", "--handler", "pk"]);
    home.ok(&["plans", "add", "basic", "--handler", "v1"]);
    home
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// The table's data lines (the header and any paging note left out).
fn data_lines(table: &str) -> Vec<&str> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('…'))
        .collect()
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn errors_attempts_and_tasks(backend: &'static str, url: Option<String>) {
    let home = setup(backend, url);
    let (sid, create) = home.order("cy@example.com", "wobbly", &[]);
    home.work();

    // Manual: the error is current, in full through a pipe, cut with COLUMNS.
    let table = home.ok(&["ops", "list"]);
    assert!(
        table.contains("create panics on purpose"),
        "[{backend}] a manual operation shows its error:\n{table}"
    );
    let narrow = home.ok_env(&[("COLUMNS", "80")], &["ops", "list"]);
    let row = data_lines(&narrow)
        .into_iter()
        .find(|l| l.starts_with(&create.to_string()))
        .unwrap_or_else(|| panic!("[{backend}] no row for #{create}:\n{narrow}"));
    assert!(
        row.chars().count() <= 80 && row.ends_with('…'),
        "[{backend}] LAST ERROR is not cut to 80 columns: {row:?}"
    );
    let full = home.json_env(&[("COLUMNS", "60")], &["ops", "list", "--json"]);
    assert!(
        full[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("create panics on purpose")),
        "[{backend}] --json keeps the full text: {full:#}"
    );

    // tasks show: the reason, the form, what to do.
    let tid = home.tasks()[0]["id"].as_i64().expect("a task id");
    let shown = home.ok(&["tasks", "show", &tid.to_string()]);
    for needle in [
        format!("task #{tid}"),
        format!("operation #{create} create (manual)"),
        "remote_id".to_string(),
        "panick".to_string(),
        "tasks complete".to_string(),
    ] {
        assert!(
            shown.contains(&needle),
            "[{backend}] tasks show lacks {needle:?}:\n{shown}"
        );
    }
    let t = home.json(&["tasks", "show", &tid.to_string(), "--json"]);
    assert_eq!(
        (t["id"].as_i64(), t["operation"]["id"].as_i64()),
        (Some(tid), Some(create)),
        "[{backend}] {t:#}"
    );
    home.refused_with(&["tasks", "show", "9999"], 3, &["#9999"]);

    // tasks retry restarts the stored attempt (modules see 1 again); ops show numbers
    // the rows on.
    home.ok(&["tasks", "retry", &tid.to_string()]);
    home.work();
    let o = home.op(create);
    let log = o["attempt_log"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        log.iter()
            .map(|a| (a["number"].as_i64(), a["attempt"].as_i64()))
            .collect::<Vec<_>>(),
        vec![(Some(1), Some(1)), (Some(2), Some(1))],
        "[{backend}] {o:#}"
    );
    assert_eq!(
        o["attempts"], 1,
        "[{backend}] the stored counter restarts: {o:#}"
    );
    let text = home.ok(&["ops", "show", &create.to_string()]);
    assert!(
        text.contains("attempt 1 by") && text.contains("attempt 2 (try 1 after a retry) by"),
        "[{backend}] ops show does not number on:\n{text}"
    );

    // Done by hand: the old error stays in the database, not in the listings.
    let tid = home.tasks()[0]["id"].as_i64().expect("a second task");
    home.ok(&[
        "tasks",
        "complete",
        &tid.to_string(),
        "--set",
        "remote_id=pk-1",
    ]);
    let all = home.ok(&["ops", "list", "--status", "all"]);
    assert!(
        !all.contains("panics on purpose"),
        "[{backend}] a done operation lists an old error:\n{all}"
    );
    let row = home.json(&["ops", "list", "--status", "all", "--json"]);
    let done = row
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == create))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (done["status"].as_str(), done["error"].is_null()),
        (Some("done"), true),
        "[{backend}] {done:#}"
    );
    assert!(
        done["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("panics on purpose")),
        "[{backend}] the history is kept: {done:#}"
    );
    let svc = home.ok(&["services", "show", &sid.to_string()]);
    assert!(
        !svc.contains("panics on purpose") && svc.contains("Cy Widget"),
        "[{backend}] services show:\n{svc}"
    );
    let op_text = home.ok(&["ops", "show", &create.to_string()]);
    assert!(
        !op_text.contains("last error:"),
        "[{backend}] ops show of a done operation shows a last error:\n{op_text}"
    );

    // services list names the client.
    let list = home.ok(&["services", "list"]);
    assert!(
        list.contains("Cy Widget"),
        "[{backend}] services list has no client name:\n{list}"
    );
    let v = home.json(&["services", "list", "--json"]);
    assert_eq!(v[0]["client"], "Cy Widget", "[{backend}] {v:#}");

    // Ledger times to the second.
    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&[
        "clients",
        "credit",
        "cy@example.com",
        "--amount",
        "5",
        "--reason",
        "goodwill",
    ]);
    let ledger = home.ok(&["clients", "ledger", "cy@example.com"]);
    let line = ledger
        .lines()
        .find(|l| l.contains("goodwill"))
        .unwrap_or_else(|| panic!("[{backend}] no entry:\n{ledger}"));
    let when = line.split_whitespace().skip(1).take(2).collect::<Vec<_>>();
    assert!(
        when.len() == 2
            && when[0].len() == 10
            && when[1].len() == 8
            && when[1].chars().filter(|c| *c == ':').count() == 2,
        "[{backend}] the ledger's time is not YYYY-MM-DD HH:MM:SS: {line:?}"
    );
}

#[test]
fn listings_show_only_current_errors_and_number_attempts_across_retries() {
    each_backend("errors, attempts and tasks", errors_attempts_and_tasks);
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn paging_and_filters(backend: &'static str, url: Option<String>) {
    let home = setup(backend, url);

    // Clients: pages, search by name or email in any case, wildcards taken literally.
    let page = home.ok(&["clients", "list", "--limit", "2"]);
    assert_eq!(data_lines(&page).len(), 2, "[{backend}]\n{page}");
    assert!(
        page.contains("--offset 2"),
        "[{backend}] no note of more rows:\n{page}"
    );
    let last = home.ok(&["clients", "list", "--limit", "2", "--offset", "4"]);
    assert_eq!(data_lines(&last).len(), 1, "[{backend}]\n{last}");
    assert!(!last.contains("more rows"), "[{backend}]\n{last}");
    let found = home.json(&["clients", "list", "--search", "EXAMPLE.ORG", "--json"]);
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(1),
        "[{backend}] {found:#}"
    );
    assert_eq!(found[0]["name"], "Bob Bakker", "[{backend}]");
    let found = home.json(&["clients", "list", "--search", "ann ap", "--json"]);
    assert_eq!(
        found[0]["email"], "ann@example.com",
        "[{backend}] {found:#}"
    );
    let pct = home.json(&["clients", "list", "--search", "100%", "--json"]);
    assert_eq!(pct.as_array().map(Vec::len), Some(1), "[{backend}] {pct:#}");
    let none = home.json(&["clients", "list", "--search", "_", "--json"]);
    assert_eq!(
        none.as_array().map(Vec::len),
        Some(0),
        "[{backend}] {none:#}"
    );
    home.refused_with(&["clients", "list", "--limit", "0"], 2, &["--limit"]);
    home.refused_with(&["clients", "list", "--limit", "2000000"], 2, &["--limit"]);
    home.refused_with(&["clients", "list", "--offset=-1"], 2, &["--offset"]);
    home.refused_with(&["clients", "list", "--limit", "ten"], 2, &["--limit"]);

    // Services: by status, client, handler, plan.
    let (a, _) = home.order("ann@example.com", "basic", &[]);
    let (b, _) = home.order("bob@example.org", "basic", &[]);
    let (c, c_create) = home.order("cy@example.com", "wobbly", &[]);
    home.work();
    let list = |args: &[&str]| {
        let mut all = vec!["services", "list", "--json"];
        all.extend_from_slice(args);
        ids(&home.json(&all))
    };
    assert_eq!(list(&[]), vec![c, b, a], "[{backend}] newest first");
    assert_eq!(list(&["--handler", "v1"]), vec![b, a], "[{backend}]");
    assert_eq!(list(&["--plan", "wobbly"]), vec![c], "[{backend}]");
    assert_eq!(list(&["--status", "manual"]), vec![c], "[{backend}]");
    assert_eq!(
        list(&["--client", "bob@example.org"]),
        vec![b],
        "[{backend}]"
    );
    assert_eq!(
        list(&["--limit", "1", "--offset", "1"]),
        vec![b],
        "[{backend}]"
    );
    let page = home.ok(&["services", "list", "--limit", "2"]);
    assert!(page.contains("--offset 2"), "[{backend}]\n{page}");
    home.refused_with(
        &["services", "list", "--status", "bogus"],
        2,
        &["bogus", "active"],
    );
    home.refused_with(&["services", "list", "--handler", "nope"], 3, &["nope"]);
    home.refused_with(&["services", "list", "--plan", "nope"], 3, &["nope"]);
    home.refused_with(&["services", "list", "--client", "x@y.z"], 3, &["x@y.z"]);

    // Operations: by status, service, handler, kind.
    let ops = |args: &[&str]| {
        let mut all = vec!["ops", "list", "--json"];
        all.extend_from_slice(args);
        home.json(&all).as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(
        ops(&["--status", "all", "--kind", "create"]),
        3,
        "[{backend}]"
    );
    assert_eq!(ops(&["--status", "done"]), 2, "[{backend}]");
    assert_eq!(ops(&[]), 1, "[{backend}] only the manual one is current");
    assert_eq!(
        ops(&["--status", "all", "--handler", "pk"]),
        1,
        "[{backend}]"
    );
    assert_eq!(
        ids(&home.json(&[
            "ops",
            "list",
            "--status",
            "all",
            "--service",
            &c.to_string(),
            "--json"
        ])),
        vec![c_create],
        "[{backend}]"
    );
    assert_eq!(
        ops(&["--status", "all", "--limit", "2", "--offset", "2"]),
        1,
        "[{backend}]"
    );
    home.refused_with(
        &["ops", "list", "--status", "bogus"],
        2,
        &["bogus", "queued"],
    );
    home.refused_with(
        &["ops", "list", "--kind", "bogus"],
        2,
        &["bogus", "suspend"],
    );
    home.refused_with(&["ops", "list", "--handler", "nope"], 3, &["nope"]);
    home.refused_with(&["ops", "list", "--service", "999"], 3, &["#999"]);
    home.refused_with(&["ops", "list", "--limit", "0"], 2, &["--limit"]);

    // Tasks, invoices and the module log page too.
    assert_eq!(home.tasks().len(), 1, "[{backend}]");
    let t = home.ok(&["tasks", "list", "--all", "--offset", "1"]);
    assert!(t.contains("no open tasks"), "[{backend}]\n{t}");
    home.refused_with(&["tasks", "list", "--limit", "0"], 2, &["--limit"]);
    home.ok(&["currencies", "add", "EUR"]);
    for _ in 0..3 {
        home.ok(&[
            "invoices",
            "create",
            "--client",
            "eve@example.com",
            "--line",
            "Setup;1;10.00",
        ]);
    }
    let inv = home.ok(&["invoices", "list", "--limit", "2"]);
    assert_eq!(data_lines(&inv).len(), 2, "[{backend}]\n{inv}");
    assert!(inv.contains("--offset 2"), "[{backend}]\n{inv}");
    let inv = home.json(&[
        "invoices",
        "list",
        "--status",
        "draft",
        "--client",
        "eve@example.com",
        "--offset",
        "2",
        "--json",
    ]);
    assert_eq!(inv.as_array().map(Vec::len), Some(1), "[{backend}] {inv:#}");
    home.refused_with(&["invoices", "list", "--status", "open"], 2, &["open"]);
    home.refused_with(&["invoices", "list", "--limit", "0"], 2, &["--limit"]);
    let log = home.ok(&["log", "--limit", "1"]);
    assert_eq!(data_lines(&log).len(), 1, "[{backend}]\n{log}");
    assert!(log.contains("--offset 1"), "[{backend}]\n{log}");
    let log = home.json(&["log", "--limit", "1", "--offset", "1", "--json"]);
    assert_eq!(log.as_array().map(Vec::len), Some(1), "[{backend}] {log:#}");
}

#[test]
fn long_listings_page_and_filter_and_refuse_bad_values() {
    each_backend("paging and filters", paging_and_filters);
}

/// Long runs draw progress only on a terminal: through pipes (as here) their standard
/// error stays empty, with or without --json.
#[test]
fn long_runs_print_no_progress_when_not_on_a_terminal() {
    let home = TestHome::new();
    home.ok(&["init"]);
    home.ok(&["currencies", "add", "EUR"]);
    for args in [
        vec!["cron", "--date", "2026-01-01"],
        vec!["cron", "--date", "2026-01-02", "--json"],
        vec![
            "billing",
            "run",
            "--period",
            "2025-12",
            "--date",
            "2026-01-01",
        ],
        vec!["bench", "billing", "--clients", "3"],
    ] {
        let run = home.run(&args);
        assert_eq!(run.code, 0, "`{}`: {}", args.join(" "), run.stderr);
        assert!(
            run.stderr.is_empty(),
            "`provisor {}` wrote to a pipe's standard error:\n{}",
            args.join(" "),
            run.stderr
        );
    }
}

/// On a terminal (a pseudo-terminal from `script`) the same runs do draw.
#[test]
fn long_runs_draw_progress_on_a_terminal() {
    let home = TestHome::new();
    home.ok(&["init"]);
    let cmd = format!(
        "{} --home {} bench billing --clients 200",
        provisor_e2e::bin().display(),
        home.path().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("PROVISOR_LOG", "warn")
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("billing bench: 200 clients"),
        "no progress on a terminal:\n{text}"
    );
}
