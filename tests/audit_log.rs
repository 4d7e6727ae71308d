//! The audit log records the actor of every state change: a realistic day through the
//! real binary (a client, handlers, a priced plan, an order paid, work done by the
//! module, a suspend and unsuspend, a manual task taken and completed, a `cron` day),
//! then `provisor audit` read back on every backend. A refused command records
//! nothing, no handler secret reaches an entry, and the table refuses UPDATE and
//! DELETE on both backends.

use std::process::Command;

use provisor_e2e::{each_backend, so, TestHome};
use serde_json::{json, Value};

/// The handler secret that must never reach the log.
const SECRET: &str = "s3cret-audit-token-7Q2vX9";

/// The name `Actor::shell()` gives the user running these tests.
fn os_user() -> String {
    let run = |args: &[&str]| {
        Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    run(&["-un"]).unwrap_or_else(|| format!("uid {}", run(&["-u"]).unwrap_or_default()))
}

fn entries(home: &TestHome, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--json", "--limit", "1000"];
    args.extend_from_slice(filter);
    home.json(&args).as_array().cloned().unwrap_or_default()
}

/// The one entry of `action` about `object` (kind, id), asserting there is exactly one.
fn one(all: &[Value], action: &str, object: (&str, &str)) -> Value {
    let found: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["action"] == action
                && e["object"]["kind"] == object.0
                && e["object"]["id"] == object.1
        })
        .collect();
    assert_eq!(found.len(), 1, "one {action} of {object:?} in {all:#?}");
    found[0].clone()
}

fn shell(e: &Value, user: &str) {
    assert_eq!(
        (e["actor"]["kind"].as_str(), e["actor"]["name"].as_str()),
        (Some("shell"), Some(user)),
        "{e:#}"
    );
}

/// Runs `statement` on the home's database and answers whether it succeeded.
fn sql_succeeds(home: &TestHome, url: Option<&str>, statement: &str) -> bool {
    let out = match url {
        Some(url) => Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
            .output(),
        None => Command::new("sqlite3")
            .arg(home.path().join("provisor.db"))
            .arg(statement)
            .output(),
    }
    .expect("the database's shell runs");
    out.status.success()
}

/// The day up to the audit: returns (service id of the paid order, its invoice number,
/// the manual service's task id).
fn a_day(home: &TestHome) -> (i64, String, String) {
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    let versioned = so("provisor_fixture_versioned_v1");
    home.ok(&[
        "modules",
        "install",
        versioned.to_str().expect("a UTF-8 path"),
    ]);
    home.ok(&["departments", "add", "noc"]);
    let journal = home.path().join("journal");
    home.add_handler("rec", "recorder", &json!({"journal": journal}), None);
    home.add_handler("hands", "manual-task", &json!({}), Some("noc"));
    home.add_handler(
        "vers",
        "versioned",
        &json!({"token": SECRET, "url": "https://panel.example.test"}),
        None,
    );
    home.ok(&["handlers", "disable", "vers"]);
    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&["taxes", "set", "NL", "21"]);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Ann Appel",
        "--email",
        "ann@example.com",
        "--currency",
        "EUR",
        "--country",
        "US",
    ]);
    home.ok(&["plans", "add", "Basic", "--handler", "rec"]);
    home.ok(&[
        "plans",
        "price",
        "Basic",
        "--currency",
        "EUR",
        "--period",
        "monthly",
        "--amount",
        "10",
    ]);
    home.ok(&["plans", "add", "Box", "--handler", "hands"]);

    let ordered = home.json(&[
        "services",
        "order",
        "--client",
        "ann@example.com",
        "--plan",
        "Basic",
        "--date",
        "2026-01-31",
        "--json",
    ]);
    let svc = ordered["service_id"].as_i64().expect("a service");
    let number = ordered["invoice"]["number"]
        .as_str()
        .expect("an invoice")
        .to_string();
    home.ok(&[
        "invoices",
        "pay",
        &number,
        "--amount",
        "10.00",
        "--reference",
        "bank-1",
        "--date",
        "2026-01-31",
    ]);
    home.work();
    home.ok(&["services", "suspend", &svc.to_string()]);
    home.work();
    home.ok(&["services", "unsuspend", &svc.to_string()]);
    home.work();

    home.order("ann@example.com", "Box", &[]);
    home.work();
    let task = home.tasks()[0]["id"].as_i64().expect("a task").to_string();
    home.staff("alice@example.com", "admin", &[]);
    home.ok(&["tasks", "take", &task, "--staff", "alice@example.com"]);
    home.ok(&["tasks", "complete", &task, "--set", "remote_id=srv-1"]);
    // The renewal is invoiced on Feb 21, due Feb 28; unpaid, Mar 4 queues a suspend.
    home.ok(&["cron", "--date", "2026-02-21", "--json"]);
    home.ok(&["cron", "--date", "2026-03-04", "--json"]);
    (svc, number, task)
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &'static str, url: Option<String>) {
    let db = url.clone();
    let home = TestHome::with_database(url).with_label(backend);
    let user = os_user();
    let (svc, number, task) = a_day(&home);
    let s = svc.to_string();

    // A refused command records nothing.
    let before = entries(&home, &[]).len();
    home.fails(&["services", "suspend", "999"], 3);
    home.fails(&["tasks", "take", "999", "--staff", "alice@example.com"], 3);
    assert_eq!(entries(&home, &[]).len(), before, "[{backend}]");

    let all = entries(&home, &[]);
    // Newest first.
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "[{backend}] {ids:?}");
    assert_eq!(all[0]["action"], "daily.run", "[{backend}]");

    // What the shell user did, with what changed.
    let e = one(&all, "client.add", ("client", "1"));
    shell(&e, &user);
    assert_eq!(e["after"]["email"], "ann@example.com", "[{backend}]");
    shell(&one(&all, "department.add", ("department", "noc")), &user);
    shell(&one(&all, "plan.add", ("plan", "1")), &user);
    let e = one(&all, "plan.price", ("plan", "Basic"));
    assert_eq!(
        (
            e["after"]["currency"].as_str(),
            e["after"]["amount"].as_str()
        ),
        (Some("EUR"), Some("10"))
    );
    shell(&one(&all, "currency.add", ("currency", "EUR")), &user);
    assert_eq!(one(&all, "tax.set", ("tax", "NL"))["after"]["rate"], "21");
    let installs: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "module.install")
        .collect();
    assert_eq!(installs.len(), 1, "[{backend}] {installs:#?}");
    shell(installs[0], &user);
    let e = one(&all, "handler.add", ("handler", "vers"));
    assert_eq!(
        e["after"]["settings"],
        json!(["token", "url"]),
        "[{backend}] {e:#}"
    );
    let e = one(&all, "handler.disable", ("handler", "vers"));
    assert_eq!(
        (
            e["before"]["enabled"].as_bool(),
            e["after"]["enabled"].as_bool()
        ),
        (Some(true), Some(false))
    );

    let e = one(&all, "service.order", ("service", &s));
    shell(&e, &user);
    assert_eq!(e["after"]["status"], "pending", "[{backend}] {e:#}");
    assert_eq!(e["after"]["handler"], "rec", "[{backend}] {e:#}");
    let e = one(&all, "invoice.pay", ("invoice", &number));
    shell(&e, &user);
    assert_eq!(
        (
            e["before"]["status"].as_str(),
            e["after"]["status"].as_str()
        ),
        (Some("unpaid"), Some("paid")),
        "[{backend}] {e:#}"
    );
    assert!(
        e["after"]["released_operation_id"].is_i64(),
        "[{backend}] {e:#}"
    );

    let suspends: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "service.suspend" && e["object"]["id"] == s.as_str())
        .collect();
    assert_eq!(suspends.len(), 2, "[{backend}] {suspends:#?}");
    // The overdue suspend, by the daily run.
    let e = suspends[0];
    assert_eq!(
        (
            e["actor"]["kind"].as_str(),
            e["actor"]["name"].as_str(),
            e["before"]["status"].as_str()
        ),
        (Some("system"), Some("cron"), Some("active")),
        "[{backend}] {e:#}"
    );
    // The one asked for by hand.
    let e = suspends[1].clone();
    shell(&e, &user);
    assert_eq!(e["before"]["status"], "active", "[{backend}] {e:#}");
    let suspend_op = e["after"]["operation_id"].as_i64().expect("its operation");
    assert_eq!(
        one(&all, "service.unsuspend", ("service", &s))["before"]["status"],
        "suspended"
    );

    // Operations the module finished, by the module, with the service before and after.
    let done = one(
        &all,
        "operation.done",
        ("operation", &suspend_op.to_string()),
    );
    assert_eq!(
        (
            done["actor"]["kind"].as_str(),
            done["actor"]["id"].as_i64(),
            done["actor"]["name"].as_str()
        ),
        (Some("module"), Some(suspend_op), Some("rec")),
        "[{backend}] {done:#}"
    );
    assert_eq!(
        (
            done["before"]["status"].as_str(),
            done["after"]["status"].as_str(),
            done["after"]["kind"].as_str()
        ),
        (Some("active"), Some("suspended"), Some("suspend")),
        "[{backend}] {done:#}"
    );
    let creates: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "operation.done" && e["after"]["kind"] == "create")
        .collect();
    assert_eq!(
        creates.len(),
        1,
        "[{backend}] only the module's create; the task's is task.complete"
    );
    assert_eq!(
        (
            creates[0]["before"]["status"].as_str(),
            creates[0]["after"]["status"].as_str()
        ),
        (Some("provisioning"), Some("active"))
    );

    // The manual task, by the shell user.
    let e = one(&all, "task.take", ("task", &task));
    shell(&e, &user);
    assert_eq!(e["after"]["taken_by"], "alice", "[{backend}] {e:#}");
    let e = one(&all, "task.complete", ("task", &task));
    assert_eq!(
        (
            e["after"]["service_status"].as_str(),
            e["after"]["fields"].clone()
        ),
        (Some("active"), json!(["remote_id"])),
        "[{backend}] {e:#}"
    );

    // The daily run, by the system.
    let days: Vec<&Value> = all.iter().filter(|e| e["action"] == "daily.run").collect();
    assert_eq!(days.len(), 2, "[{backend}]");
    let day = days[0];
    assert_eq!(day["object"]["id"], "2026-03-04", "[{backend}] {day:#}");
    assert_eq!(
        (day["actor"]["kind"].as_str(), day["actor"]["name"].as_str()),
        (Some("system"), Some("cron")),
        "[{backend}] {day:#}"
    );
    assert!(
        day["at"].as_str().unwrap().contains('T'),
        "RFC 3339: {day:#}"
    );

    // The filters.
    let mine = entries(&home, &["--object", &format!("service:{s}")]);
    let actions: Vec<&str> = mine.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "service.suspend",
            "service.unsuspend",
            "service.suspend",
            "service.order"
        ],
        "[{backend}]"
    );
    let by_module = entries(&home, &["--actor", "module"]);
    assert!(
        by_module.iter().all(|e| e["action"] == "operation.done"),
        "[{backend}]"
    );
    assert_eq!(
        by_module.len(),
        3,
        "[{backend}] create, suspend, unsuspend, and none for the task's"
    );
    assert_eq!(
        entries(&home, &["--actor", "module:rec"]).len(),
        3,
        "[{backend}]"
    );
    assert_eq!(
        entries(
            &home,
            &["--actor", &format!("shell:{user}"), "--action", "task.take"]
        )
        .len(),
        1
    );
    let two = home.json(&[
        "audit",
        "--json",
        "--action",
        "operation.done",
        "--limit",
        "2",
    ]);
    assert_eq!(two.as_array().map(Vec::len), Some(2), "[{backend}] {two:#}");
    assert!(
        entries(&home, &["--since", "2999-01-01"]).is_empty(),
        "[{backend}]"
    );
    assert_eq!(
        entries(&home, &["--since", "2000-01-01T00:00:00Z"]).len(),
        all.len()
    );
    home.refused_with(
        &["audit", "--actor", "robot"],
        2,
        &["--actor", "staff, client"],
    );
    home.refused_with(&["audit", "--action", "service.explode"], 2, &["--action"]);
    home.refused_with(
        &["audit", "--since", "yesterday"],
        2,
        &["--since", "RFC 3339"],
    );

    // No handler secret in any entry.
    let text = home.ok(&["audit", "--json", "--limit", "1000"]);
    assert!(
        !text.contains(SECRET),
        "[{backend}] the secret is in the log"
    );
    let table = home.ok(&["audit", "--limit", "1000"]);
    assert!(
        !table.contains(SECRET) && table.contains("operation.done"),
        "[{backend}]"
    );

    // Append-only, on both backends.
    assert!(
        !sql_succeeds(
            &home,
            db.as_deref(),
            "UPDATE audit_log SET actor_name = 'nobody'"
        ),
        "[{backend}]"
    );
    assert!(
        !sql_succeeds(&home, db.as_deref(), "DELETE FROM audit_log"),
        "[{backend}]"
    );
    assert_eq!(entries(&home, &[]).len(), all.len(), "[{backend}]");

    // The text listing (the same on every backend), its times and the user's name masked.
    let listing = home.ok(&["audit", "--object", &format!("service:{s}")]);
    let mut settings = insta::Settings::clone_current();
    settings.set_omit_expression(true);
    settings.add_filter(
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
        "YYYY-MM-DD hh:mm:ss",
    );
    settings.add_filter(&format!("shell:{}", regex_escape(&user)), "shell:USER");
    // The user's name sets the column's width: compare the cells, not the padding.
    settings.add_filter(" {2,}", "  ");
    settings.bind(|| insta::assert_snapshot!("audit_service", listing));
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_alphanumeric() {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

#[test]
fn the_audit_log_records_the_actor_of_every_state_change() {
    each_backend("the audit log", scenario);
}
