//! Prepaid recurring billing, on every backend, through `provisor cron --date D`:
//! renewal invoices 7 days before the due date (credit applied first), one per client
//! per day however often the day runs, nothing for a past date, a dry run that writes
//! nothing, overdue → suspend → (paid) unsuspend, further overdue → terminate, month
//! ends clamped (Jan 31 → Feb 28, and Feb 29 in a leap year), and a run killed
//! half-way that, run again, bills every client exactly once; `serve` does the day's
//! run once, and a restart does not do it again.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{backends, TestHome};
use serde_json::Value;
use support::*;

/// Orders `plan` for `client`, pays the order's invoice in full on `day`, and lets the
/// worker provision it. Returns (service id, order invoice id).
fn order_paid(home: &TestHome, client: &str, plan: &str, day: &str) -> (i64, i64) {
    let o = json(
        home,
        &[
            "services", "order", "--client", client, "--plan", plan, "--date", day, "--json",
        ],
    );
    let sid = o["service_id"].as_i64().unwrap();
    let inv = o["invoice_id"].as_i64().unwrap();
    let total = o["invoice"]["total"].as_str().unwrap().to_string();
    let reference = format!("order-{sid}");
    ok(
        home,
        &[
            "invoices",
            "pay",
            &inv.to_string(),
            "--amount",
            &total,
            "--reference",
            &reference,
            "--date",
            day,
        ],
    );
    ok(home, &["work", "--until-idle"]);
    assert_eq!(service_status(home, sid), "active");
    (sid, inv)
}

fn service_status(home: &TestHome, id: i64) -> String {
    json(home, &["services", "show", &id.to_string(), "--json"])["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cron(home: &TestHome, day: &str) -> Vec<Value> {
    json(home, &["cron", "--date", day, "--json"])["billing"]
        .as_array()
        .unwrap()
        .clone()
}

fn invoices(home: &TestHome) -> Vec<Value> {
    json(home, &["invoices", "list", "--limit", "1000", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// Operations of `kind` for service `sid`: their statuses, oldest first.
fn ops(home: &TestHome, sid: i64, kind: &str) -> Vec<String> {
    let mut all: Vec<Value> = json(home, &["ops", "list", "--status", "all", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["service_id"] == sid && o["kind"] == kind)
        .cloned()
        .collect();
    all.sort_by_key(|o| o["id"].as_i64());
    all.iter()
        .map(|o| o["status"].as_str().unwrap().to_string())
        .collect()
}

fn new_invoices(before: &[Value], after: &[Value]) -> Vec<Value> {
    after
        .iter()
        .filter(|a| !before.iter().any(|b| b["id"] == a["id"]))
        .cloned()
        .collect()
}

fn priced_home(url: Option<String>) -> TestHome {
    let home = billing_home(url);
    ok(&home, &["plans", "add", "VPS", "--handler", "rec"]);
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
    home
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = priced_home(url);
    client(&home, "Ann", "EUR", "NL");
    // Ordered and paid on Jan 31: paid to Feb 27, next due Feb 28 (clamped).
    let (sid, _) = order_paid(&home, "ann@example.com", "VPS", "2026-01-31");
    let start = invoices(&home);
    assert!(
        cron(&home, "2026-02-20").is_empty(),
        "[{backend}] nothing is due 8 days ahead"
    );
    assert_eq!(invoices(&home).len(), start.len());

    // €5.00 of credit goes to the renewal first.
    ok(
        &home,
        &[
            "clients",
            "credit",
            "ann@example.com",
            "--amount",
            "5.00",
            "--reason",
            "goodwill",
        ],
    );
    // Feb 21 (7 days before Feb 28), run three times: one invoice.
    let events = cron(&home, "2026-02-21");
    for _ in 0..2 {
        assert!(cron(&home, "2026-02-21").is_empty(), "[{backend}]");
    }
    let renewal = new_invoices(&start, &invoices(&home));
    assert_eq!(renewal.len(), 1, "[{backend}] {renewal:#?}");
    let inv = invoice(&home, renewal[0]["id"].as_i64().unwrap());
    // 10.00 + 21 % = 12.10; 5.00 from credit, 7.10 due on Feb 28.
    assert_eq!(inv["lines"].as_array().unwrap().len(), 1, "[{backend}]");
    assert_eq!(line(&inv, 0), ["10.00", "2.10", "12.10"].map(String::from));
    assert_eq!(inv["lines"][0]["service_id"], sid);
    assert_eq!(inv["lines"][0]["period"], "monthly");
    assert_eq!(inv["lines"][0]["period_start"], "2026-02-28");
    assert_eq!(inv["lines"][0]["period_end"], "2026-03-30");
    assert_eq!(
        totals(&inv),
        ["10.00", "2.10", "12.10", "5.00", "7.10"].map(String::from),
        "[{backend}] {inv:#}"
    );
    assert_eq!(inv["issue_date"], "2026-02-21");
    assert_eq!(inv["due_date"], "2026-02-28");
    assert_eq!(inv["status"], "unpaid");
    let number = inv["number"].as_str().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["step"] == "renewal" && e["amount"] == "12.10" && e["invoice"] == number),
        "[{backend}] {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["step"] == "credit" && e["amount"] == "5.00"),
        "[{backend}] {events:#?}"
    );
    assert_eq!(
        json(&home, &["clients", "ledger", "ann@example.com", "--json"])["balance"],
        "0.00"
    );

    // A past date run again: nothing new.
    let now = invoices(&home);
    cron(&home, "2026-02-10");
    cron(&home, "2026-02-21");
    assert_eq!(invoices(&home), now, "[{backend}]");

    // Due Feb 28, 3 days' grace: Mar 3 is still inside it, Mar 4 queues the suspend.
    cron(&home, "2026-03-03");
    assert!(ops(&home, sid, "suspend").is_empty(), "[{backend}]");
    let ev = cron(&home, "2026-03-04");
    assert_eq!(
        ops(&home, sid, "suspend"),
        ["queued"],
        "[{backend}] {ev:#?}"
    );
    cron(&home, "2026-03-04");
    assert_eq!(ops(&home, sid, "suspend"), ["queued"], "[{backend}]");
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(service_status(&home, sid), "suspended");

    // Paying it queues the unsuspend (in the payment's transaction).
    ok(
        &home,
        &[
            "invoices",
            "pay",
            number,
            "--amount",
            "7.10",
            "--reference",
            "R-1",
            "--date",
            "2026-03-05",
        ],
    );
    assert_eq!(ops(&home, sid, "unsuspend"), ["queued"], "[{backend}]");
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(service_status(&home, sid), "active");
    cron(&home, "2026-03-06");
    assert_eq!(ops(&home, sid, "suspend"), ["done"], "[{backend}]");

    // The next renewal (due Mar 31, clamped back to the anchor's 31st): a dry run
    // prints it and writes nothing.
    let before = invoices(&home);
    let out = ok(&home, &["cron", "--date", "2026-03-24", "--dry-run"]);
    assert!(
        out.contains(&format!(
            "would invoice service #{sid} monthly 2026-03-31 to 2026-04-29"
        )) && out.contains("12.10 EUR"),
        "[{backend}] {out}"
    );
    assert_eq!(invoices(&home), before, "[{backend}] the dry run wrote");
    cron(&home, "2026-03-24");
    let second = new_invoices(&before, &invoices(&home));
    assert_eq!(second.len(), 1, "[{backend}]");
    let inv2 = invoice(&home, second[0]["id"].as_i64().unwrap());
    assert_eq!(
        totals(&inv2),
        ["10.00", "2.10", "12.10", "0.00", "12.10"].map(String::from)
    );
    assert_eq!(inv2["due_date"], "2026-03-31");

    // Unpaid: suspended on Apr 4, terminated once more than 14 days late (Apr 15).
    cron(&home, "2026-04-04");
    assert_eq!(
        ops(&home, sid, "suspend"),
        ["done", "queued"],
        "[{backend}]"
    );
    ok(&home, &["work", "--until-idle"]);
    cron(&home, "2026-04-14");
    assert!(ops(&home, sid, "terminate").is_empty(), "[{backend}]");
    cron(&home, "2026-04-15");
    assert_eq!(ops(&home, sid, "terminate"), ["queued"], "[{backend}]");
    // Terminating: no renewal for May (invoice day Apr 23).
    let before = invoices(&home);
    let ev = cron(&home, "2026-04-23");
    assert_eq!(invoices(&home), before, "[{backend}] {ev:#?}");
    assert!(
        ev.iter()
            .any(|e| e["message"].as_str().unwrap().contains("ends")),
        "[{backend}] {ev:#?}"
    );
    ok(&home, &["work", "--until-idle"]);
    assert_eq!(service_status(&home, sid), "terminated");
    assert!(cron(&home, "2026-05-23").is_empty(), "[{backend}]");
    assert_eq!(invoices(&home), before);

    // A leap year: paid on 2028-01-31, due 2028-02-29, invoiced 2028-02-22.
    client(&home, "Cleo", "EUR", "NL");
    let (leap, _) = order_paid(&home, "cleo@example.com", "VPS", "2028-01-31");
    let before = invoices(&home);
    cron(&home, "2028-02-21");
    assert_eq!(invoices(&home), before, "[{backend}]");
    cron(&home, "2028-02-22");
    let got = new_invoices(&before, &invoices(&home));
    assert_eq!(got.len(), 1, "[{backend}]");
    let inv = invoice(&home, got[0]["id"].as_i64().unwrap());
    assert_eq!(inv["lines"][0]["service_id"], leap);
    assert_eq!(inv["lines"][0]["period_start"], "2028-02-29");
    assert_eq!(inv["lines"][0]["period_end"], "2028-03-30");
    assert_eq!(inv["due_date"], "2028-02-29");
    assert_eq!(inv["total"], "12.10");
}

fn crash(backend: &str, url: Option<String>) {
    let mut home = priced_home(url);
    let n = 5;
    for i in 0..n {
        let name = format!("C{i}");
        client(&home, &name, "EUR", "NL");
        order_paid(
            &home,
            &format!("{}@example.com", name.to_lowercase()),
            "VPS",
            "2026-01-31",
        );
    }
    let start = invoices(&home);
    home.env
        .push(("PROVISOR_TEST_CRASH_AFTER_CLIENTS".into(), "2".into()));
    let r = home.run(&["cron", "--date", "2026-02-21"]);
    home.env.pop();
    drop(r);
    let half = new_invoices(&start, &invoices(&home));
    assert_eq!(half.len(), 2, "[{backend}] {half:#?}");
    cron(&home, "2026-02-21");
    cron(&home, "2026-02-22");
    let all = new_invoices(&start, &invoices(&home));
    assert_eq!(all.len(), n, "[{backend}] {all:#?}");
    let mut clients: Vec<i64> = all
        .iter()
        .map(|i| i["client_id"].as_i64().unwrap())
        .collect();
    clients.sort_unstable();
    clients.dedup();
    assert_eq!(clients.len(), n, "[{backend}] one renewal per client");
    for i in &all {
        assert_eq!(i["total"], "12.10");
        assert_eq!(i["due_date"], "2026-02-28");
    }
}

/// Order `plan` as an addon of service `parent`, paid on `day`.
fn addon_paid(home: &TestHome, client: &str, plan: &str, parent: i64, day: &str) -> i64 {
    let o = json(
        home,
        &[
            "services",
            "order",
            "--client",
            client,
            "--plan",
            plan,
            "--addon-of",
            &parent.to_string(),
            "--date",
            day,
            "--json",
        ],
    );
    let sid = o["service_id"].as_i64().unwrap();
    let total = o["invoice"]["total"].as_str().unwrap().to_string();
    ok(
        home,
        &[
            "invoices",
            "pay",
            &o["invoice_id"].as_i64().unwrap().to_string(),
            "--amount",
            &total,
            "--reference",
            &format!("addon-{sid}"),
            "--date",
            day,
        ],
    );
    ok(home, &["work", "--until-idle"]);
    assert_eq!(service_status(home, sid), "active");
    sid
}

/// One invoice per client per day for all its services; an addon bills while the
/// service it is attached to lives, and its billing ends when that one is terminated.
fn addons(backend: &str, url: Option<String>) {
    let home = priced_home(url);
    ok(
        &home,
        &["plans", "add", "Backup", "--handler", "rec", "--addon"],
    );
    ok(
        &home,
        &[
            "plans",
            "price",
            "Backup",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "2.00",
        ],
    );
    client(&home, "Eve", "EUR", "NL");
    client(&home, "Dan", "EUR", "NL");
    let (eve_vps, _) = order_paid(&home, "eve@example.com", "VPS", "2026-01-31");
    let eve_backup = addon_paid(&home, "eve@example.com", "Backup", eve_vps, "2026-01-31");
    let (dan_vps, _) = order_paid(&home, "dan@example.com", "VPS", "2026-01-31");
    let dan_backup = addon_paid(&home, "dan@example.com", "Backup", dan_vps, "2026-01-31");
    ok(&home, &["services", "terminate", &dan_vps.to_string()]);
    let before = invoices(&home);
    let ev = cron(&home, "2026-02-21");
    let got = new_invoices(&before, &invoices(&home));
    // Eve: one invoice, VPS 10.00 + 2.10 and Backup 2.00 + 0.42 = 14.52. Dan: none.
    assert_eq!(got.len(), 1, "[{backend}] {ev:#?}");
    let inv = invoice(&home, got[0]["id"].as_i64().unwrap());
    assert_eq!(inv["client_email"], "eve@example.com");
    assert_eq!(line(&inv, 0), ["10.00", "2.10", "12.10"].map(String::from));
    assert_eq!(line(&inv, 1), ["2.00", "0.42", "2.42"].map(String::from));
    assert_eq!(inv["lines"][1]["service_id"], eve_backup);
    assert_eq!(
        totals(&inv),
        ["12.00", "2.52", "14.52", "0.00", "14.52"].map(String::from),
        "[{backend}] {inv:#}"
    );
    for sid in [dan_vps, dan_backup] {
        assert!(
            ev.iter()
                .any(|e| e["service_id"] == sid && e["message"].as_str().unwrap().contains("ends")),
            "[{backend}] {sid}: {ev:#?}"
        );
    }
    // Ended terms stay ended: later runs bill neither.
    let later = cron(&home, "2026-03-24");
    assert!(
        later
            .iter()
            .all(|e| e["service_id"] != dan_vps && e["service_id"] != dan_backup),
        "[{backend}] {later:#?}"
    );
}

#[test]
fn addons_bill_while_their_service_lives_on_every_backend() {
    for (backend, url) in backends() {
        addons(backend, url);
    }
}

#[test]
fn renewals_suspend_and_terminate_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}

#[test]
fn a_run_killed_half_way_bills_each_client_once_on_every_backend() {
    for (backend, url) in backends() {
        crash(backend, url);
    }
}

/// The UTC date `n` days ago, YYYY-MM-DD.
fn days_ago(n: u32) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{n} days ago"), "+%F"])
        .output()
        .expect("date runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn serve_does_the_daily_run_once_a_day_across_restarts_on_every_backend() {
    let args = ["--no-workers", "--check-interval", "0", "--cron-hour", "0"];
    let limit = std::time::Duration::from_secs(60);
    for (backend, url) in backends() {
        let home = priced_home(url);
        client(&home, "Ann", "EUR", "NL");
        // Paid 24 days ago: due in 4 to 7 days, so today's run invoices the renewal.
        let (sid, _) = order_paid(&home, "ann@example.com", "VPS", &days_ago(24));
        let before = invoices(&home);
        let mut daemon = home.serve(&args);
        daemon.wait_for("done: 1 billing item(s)", limit);
        let log = daemon.stop();
        let got = new_invoices(&before, &invoices(&home));
        assert_eq!(got.len(), 1, "[{backend}] {log}");
        let inv = invoice(&home, got[0]["id"].as_i64().unwrap());
        assert_eq!(inv["lines"][0]["service_id"], sid);
        assert_eq!(inv["total"], "12.10");
        // A restart the same day: recorded as done, not run again.
        let mut daemon = home.serve(&args);
        daemon.wait_for("already done (recorded)", limit);
        let log = daemon.stop();
        assert!(!log.contains("billing item(s)"), "[{backend}] {log}");
        assert_eq!(new_invoices(&before, &invoices(&home)).len(), 1);
    }
}
