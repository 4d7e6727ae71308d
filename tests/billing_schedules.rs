//! Services with no billing schedule: accounts brought in by `handlers import` and
//! services of a plan that got its first price later. `billing unscheduled` lists them
//! with why; `handlers import --plan P --next-due D`, `billing schedule ID --next-due D`
//! and `plans price … --apply-to-existing` give them a term, and the daily run then
//! invoices each once. On SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL, against the
//! ComputeStacks simulator.

use provisor_e2e::{each_backend, so, TestHome};
use std::sync::Arc;

use provisor_simulators::computestacks as cs;
use provisor_simulators::Simulator;
use serde_json::{json, Value};

fn rows(v: Value) -> Vec<Value> {
    match v {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    }
}

/// A home with a ComputeStacks handler `cs` on the simulator, EUR, and the plan Cloud
/// at €10.00 a month.
fn cs_home(
    b: &'static str,
    url: Option<String>,
) -> (TestHome, Simulator, Arc<cs::ComputeStacksApi>) {
    let home = TestHome::with_database(url)
        .with_label(b)
        .with_env("PROVISOR_RETRY_SECS", "0");
    home.drop_module(&so("provisor_computestacks"), "computestacks.so");
    let (sim, api) = cs::start_with_api(Some(&home.path().join("sim")), 0).expect("simulator");
    let settings = json!({"url": sim.url(), "api_key": cs::API_KEY, "api_secret": cs::API_SECRET});
    home.add_handler("cs", "computestacks", &settings, None);
    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&["plans", "add", "Cloud", "--handler", "cs"]);
    home.ok(&[
        "plans",
        "price",
        "Cloud",
        "--currency",
        "EUR",
        "--period",
        "monthly",
        "--amount",
        "10.00",
    ]);
    (home, sim, api)
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn unscheduled_services_are_listed_and_billed_once_they_have_a_term() {
    each_backend("billing schedules", |b, url| {
        let (home, _sim, api) = cs_home(b, url);
        home.drop_module(&so("provisor_manual_task"), "manual-task.so");
        home.add_handler("staff", "manual-task", &json!({}), None);
        home.ok(&["plans", "add", "Legacy", "--handler", "cs"]);
        home.ok(&["plans", "add", "Box", "--handler", "staff"]);
        let seeded = api.seed_users(3, None, None);

        // Refused before the panel is paged: an unpriced plan, a plan not served.
        home.refused_with(
            &[
                "handlers",
                "import",
                "cs",
                "--plan",
                "Legacy",
                "--next-due",
                "2027-01-10",
            ],
            2,
            &["plan Legacy has no price", "nothing was imported"],
        );
        home.refused_with(
            &["handlers", "import", "cs", "--plan", "Box"],
            2,
            &["does not serve it", "Cloud"],
        );
        assert!(
            rows(home.json(&["services", "list", "--json"])).is_empty(),
            "[{b}]"
        );

        // Imported onto Cloud and billed from 2027-01-10.
        let report = home.json(&[
            "handlers",
            "import",
            "cs",
            "--plan",
            "Cloud",
            "--next-due",
            "2027-01-10",
            "--json",
        ]);
        assert_eq!(
            (report["imported"].as_u64(), report["scheduled"].as_u64()),
            (Some(3), Some(3)),
            "[{b}] {report:#}"
        );
        let services = rows(home.json(&["services", "list", "--json"]));
        assert_eq!(services.len(), 3, "[{b}]");
        // Imported clients pay in the default currency; their country is not known.
        let client = home.json(&[
            "clients",
            "show",
            &format!("seed-{}@cs.example.test", seeded[0]),
            "--json",
        ]);
        let client = client.get("client").unwrap_or(&client);
        assert_eq!(client["currency"], "EUR", "[{b}] {client:#}");
        assert_eq!(client["country"], "", "[{b}] {client:#}");
        assert!(
            rows(home.json(&["billing", "unscheduled", "--json"])).is_empty(),
            "[{b}]"
        );

        // A week before the due date: one invoice per service, €10.00 each; once.
        home.ok(&["cron", "--date", "2027-01-03"]);
        home.ok(&["cron", "--date", "2027-01-03"]);
        let invoices = rows(home.json(&["invoices", "list", "--json"]));
        assert_eq!(invoices.len(), 3, "[{b}] {invoices:#?}");
        assert!(
            invoices
                .iter()
                .all(|i| i["total"] == "10.00" && i["due_date"] == "2027-01-10"),
            "[{b}] {invoices:#?}"
        );

        // A service on a plan with no price (made by staff): listed, with the fix.
        let email = format!("seed-{}@cs.example.test", seeded[0]);
        home.order(&email, "Box", &[]);
        home.ok(&["work", "--until-idle"]);
        let tasks = rows(home.json(&["tasks", "list", "--json"]));
        let task = tasks[0]["id"].as_i64().expect("a task").to_string();
        home.staff("alice@staff.example.test", "admin", &[]);
        home.ok(&[
            "tasks",
            "take",
            &task,
            "--staff",
            "alice@staff.example.test",
        ]);
        home.ok(&["tasks", "complete", &task, "--set", "remote_id=srv-1"]);
        let listed = rows(home.json(&["billing", "unscheduled", "--json"]));
        assert_eq!(listed.len(), 1, "[{b}] {listed:#?}");
        assert_eq!(listed[0]["reason"], "plan_has_no_price", "[{b}]");
        assert!(
            listed[0]["why"]
                .as_str()
                .unwrap()
                .contains("--apply-to-existing"),
            "[{b}]"
        );
        let table = home.ok(&["billing", "unscheduled"]);
        assert!(table.contains("Box"), "[{b}] {table}");

        // Its first price, applied to the live services: billed from its next period.
        let out = home.ok(&[
            "plans",
            "price",
            "Box",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "50.00",
            "--apply-to-existing",
        ]);
        assert!(out.contains("billed monthly from"), "[{b}] {out}");
        assert!(
            rows(home.json(&["billing", "unscheduled", "--json"])).is_empty(),
            "[{b}]"
        );
        // Applying again changes nothing.
        let again = home.json(&[
            "plans",
            "price",
            "Box",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "50.00",
            "--apply-to-existing",
            "--json",
        ]);
        assert!(
            rows(again["scheduled"].clone()).is_empty(),
            "[{b}] {again:#}"
        );
    });
}

#[test]
fn an_import_without_a_due_date_is_listed_and_scheduled_one_by_one() {
    each_backend("billing schedule by hand", |b, url| {
        let (home, _sim, api) = cs_home(b, url);
        api.seed_users(2, None, None);
        let out = home.ok(&["handlers", "import", "cs"]);
        assert!(out.contains("billing unscheduled"), "[{b}] {out}");
        let listed = rows(home.json(&["billing", "unscheduled", "--json"]));
        assert_eq!(listed.len(), 2, "[{b}] {listed:#?}");
        assert!(
            listed.iter().all(|u| u["reason"] == "no_billing_term"),
            "[{b}]"
        );
        let sid = listed[0]["service_id"].as_i64().unwrap().to_string();
        home.ok(&["billing", "schedule", &sid, "--next-due", "2027-02-01"]);
        let out = home.ok(&["billing", "schedule", &sid, "--next-due", "2027-03-01"]);
        assert!(
            out.contains("already has a billing schedule"),
            "[{b}] {out}"
        );
        assert_eq!(
            rows(home.json(&["billing", "unscheduled", "--json"])).len(),
            1,
            "[{b}]"
        );
        home.refused_with(
            &["billing", "schedule", "99999", "--next-due", "2027-02-01"],
            3,
            &["#99999"],
        );
        home.refused_with(
            &["billing", "schedule", &sid, "--next-due", "2027-02-30"],
            2,
            &["--next-due"],
        );
    });
}
