//! Usage billing end to end, on SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL:
//! post-paid SolusVM tokens invoiced on the 1st, ComputeStacks usage collected into
//! billable items on the last day of the month and invoiced on the 1st (credit
//! first), `usage import` (all or nothing, dedupe, unknown units, late usage), and a
//! monthly run stopped half-way and started again. Invoices are computed by hand.

use std::fmt::Write as _;
use std::sync::Arc;

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{backends, so, TestHome};
use provisor_simulators::computestacks::{self as cs, ComputeStacksApi, UsageSeed};
use provisor_simulators::solusvm::{self, SolusVm, API_TOKEN};
use provisor_simulators::Simulator;
use serde_json::{json, Value};

fn ok(home: &TestHome, args: &[&str]) -> String {
    let r = home.run(args);
    assert_eq!(
        r.code,
        0,
        "`provisor {}` failed\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        r.stdout,
        r.stderr
    );
    r.stdout
}

fn js(home: &TestHome, args: &[&str]) -> Value {
    let out = ok(home, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("no JSON from {args:?} ({e}): {out}"))
}

fn fails(home: &TestHome, args: &[&str], code: i32) -> String {
    let r = home.run(args);
    assert_eq!(
        r.code,
        code,
        "`provisor {}`\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        r.stdout,
        r.stderr
    );
    r.stderr
}

fn invoices(home: &TestHome) -> Vec<Value> {
    js(home, &["invoices", "list", "--json"])
        .as_array()
        .expect("invoice list")
        .clone()
}

fn show(home: &TestHome, number: &str) -> Value {
    js(home, &["invoices", "show", number, "--json"])
}

/// The usage steps' events of a run (other billing steps are left out).
fn usage_events(v: &Value) -> Vec<Value> {
    v["billing"]
        .as_array()
        .expect("billing events")
        .iter()
        .filter(|e| e["step"] == "postpaid" || e["step"] == "month_end")
        .cloned()
        .collect()
}

fn cron(home: &TestHome, date: &str) -> Vec<Value> {
    usage_events(&js(home, &["cron", "--date", date, "--json"]))
}

fn cron_dry(home: &TestHome, date: &str) -> Vec<Value> {
    usage_events(&js(home, &["cron", "--date", date, "--dry-run", "--json"]))
}

fn client(home: &TestHome, name: &str, currency: &str, country: &str) -> String {
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
    email
}

fn order(home: &TestHome, email: &str, plan: &str) -> i64 {
    js(
        home,
        &[
            "services", "order", "--client", email, "--plan", plan, "--json",
        ],
    )["service_id"]
        .as_i64()
        .expect("service_id")
}

fn line(inv: &Value, i: usize) -> &Value {
    &inv["lines"][i]
}

// --- SolusVM: post-paid tokens -------------------------------------------------------

struct Solus {
    home: TestHome,
    sim: Simulator,
    api: Arc<SolusVm>,
}

fn solus(url: Option<String>) -> Solus {
    let home = TestHome::with_database(url)
        .with_env("PROVISOR_RETRY_SECS", "0")
        .with_env("PROVISOR_MAX_ATTEMPTS", "3");
    home.drop_module(&so("provisor_solusvm"), "solusvm.so");
    let (sim, api) = solusvm::start(Some(&home.path().join("sim")), 0).expect("simulator starts");
    let settings = json!({
        "url": sim.url(),
        "api_token": API_TOKEN,
        "token_price": {"EUR": "0.01"},
        "timeout_ms": 5000,
    });
    let f = home.write("solus.json", &settings.to_string());
    ok(&home, &["currencies", "add", "EUR"]);
    ok(&home, &["taxes", "set", "NL", "21"]);
    ok(
        &home,
        &[
            "handlers",
            "add",
            "solus",
            "--module",
            "solusvm",
            "--settings",
            f.to_str().unwrap(),
        ],
    );
    ok(&home, &["plans", "add", "cloud", "--handler", "solus"]);
    ok(
        &home,
        &[
            "usage",
            "plan",
            "cloud",
            "--mode",
            "postpaid",
            "--due-days",
            "14",
        ],
    );
    ok(
        &home,
        &[
            "usage",
            "price",
            "cloud",
            "--currency",
            "EUR",
            "--unit",
            "token",
            "--amount",
            "0.01",
        ],
    );
    Solus { home, sim, api }
}

#[test]
fn postpaid_tokens_are_invoiced_on_the_first() {
    for (b, url) in backends() {
        let env = solus(url);
        let home = &env.home;
        let _ = env.sim.url();
        let email = client(home, "Ann", "EUR", "NL");
        let sid = order(home, &email, "cloud");
        ok(home, &["work", "--until-idle"]);
        let svc = js(home, &["services", "show", &sid.to_string(), "--json"]);
        assert_eq!(svc["status"], "active", "[{b}] {svc:#}");
        let uid: u64 = svc["remote_id"].as_str().unwrap().parse().unwrap();
        // The docs' example: 7 tokens/h, cap 5000, 700 h → 4900 tokens.
        let web = env.api.create_server(uid, 1, "web-1").unwrap();
        env.api.record_uptime_hours(web.id, "2026-01", 700).unwrap();

        // Not the 1st: nothing. A dry run on the 1st says what it would do, writes nothing.
        assert!(cron(home, "2026-01-31").is_empty(), "[{b}]");
        let dry = cron_dry(home, "2026-02-01");
        assert_eq!(dry.len(), 1, "[{b}] {dry:#?}");
        assert_eq!(dry[0]["amount"], "59.29", "[{b}] {dry:#?}");
        assert!(
            invoices(home).is_empty(),
            "[{b}] the dry run wrote an invoice"
        );

        // 4900 tokens × €0.01 = €49.00; 21 % tax = €10.29; total €59.29.
        let ev = cron(home, "2026-02-01");
        assert_eq!(ev.len(), 1, "[{b}] {ev:#?}");
        let all = invoices(home);
        assert_eq!(all.len(), 1, "[{b}]");
        let inv = show(home, all[0]["number"].as_str().unwrap());
        assert_eq!(inv["lines"].as_array().unwrap().len(), 1, "[{b}] {inv:#}");
        let l = line(&inv, 0);
        assert_eq!(l["quantity"], "4900", "[{b}] {inv:#}");
        assert_eq!(l["unit_price"], "0.01");
        assert_eq!(l["net"], "49.00");
        assert_eq!(l["tax"], "10.29");
        assert_eq!(l["total"], "59.29");
        assert_eq!(l["period_start"], "2026-01-01");
        assert_eq!(l["period_end"], "2026-01-31");
        let d = l["description"].as_str().unwrap();
        assert!(d.contains("700 h") && d.contains("7 tokens/h"), "[{b}] {d}");
        assert_eq!(inv["total"], "59.29");
        assert_eq!(inv["issue_date"], "2026-02-01");
        assert_eq!(inv["due_date"], "2026-02-15");

        // The same day again, and three times: billed once.
        assert!(cron(home, "2026-02-01").is_empty(), "[{b}]");
        cron(home, "2026-02-01");
        assert_eq!(invoices(home).len(), 1, "[{b}]");
    }
}

/// Usage that cannot be read is a failed run: `cron` names the handler and the
/// service and exits with the module-failure code, bills nothing for it, and the same
/// date run again once the panel answers bills it once.
#[test]
fn usage_that_cannot_be_read_fails_the_run_and_is_billed_by_the_next_run() {
    for (b, url) in backends() {
        let env = solus(url);
        let home = &env.home;
        let email = client(home, "Bea", "EUR", "NL");
        let sid = order(home, &email, "cloud");
        ok(home, &["work", "--until-idle"]);
        let svc = js(home, &["services", "show", &sid.to_string(), "--json"]);
        let uid: u64 = svc["remote_id"].as_str().unwrap().parse().unwrap();
        let web = env.api.create_server(uid, 1, "web-1").unwrap();
        env.api.record_uptime_hours(web.id, "2026-01", 10).unwrap();

        env.sim.faults().add(provisor_simulators::FaultRule {
            endpoint: "GET /api/v1/users/{id}/usage".into(),
            faults: vec![provisor_simulators::Fault::ServerError { status: 503 }],
            rate: 1.0,
            times: None,
        });
        let r = home.run(&["cron", "--date", "2026-02-01"]);
        assert_eq!(r.code, 4, "[{b}] {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("billed 0 item(s), 1 FAILED"),
            "[{b}] {}",
            r.stdout
        );
        assert!(
            r.stderr.contains("handler solus") && r.stderr.contains(&format!("service #{sid}")),
            "[{b}] the failure names the handler and the service: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("cron --date 2026-02-01"),
            "[{b}] {}",
            r.stderr
        );
        let r = home.run(&["cron", "--date", "2026-02-01", "--json"]);
        assert_eq!(r.code, 4, "[{b}]");
        let v: Value = serde_json::from_str(&r.stdout).expect("JSON before the failure");
        let failed: Vec<&Value> = v["billing"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["failed"] == true)
            .collect();
        assert_eq!(failed.len(), 1, "[{b}] {v:#}");
        assert_eq!(failed[0]["handler"], "solus", "[{b}]");
        assert!(invoices(home).is_empty(), "[{b}] nothing billed");

        // The panel answers again: the same date bills it, once.
        env.sim.faults().clear();
        let ev = cron(home, "2026-02-01");
        assert_eq!(ev.len(), 1, "[{b}] {ev:#?}");
        assert_eq!(
            ev[0]["amount"], "0.85",
            "[{b}] 70 tokens x 0.01 + 21 %: {ev:#?}"
        );
        assert!(cron(home, "2026-02-01").is_empty(), "[{b}]");
        assert_eq!(invoices(home).len(), 1, "[{b}]");
    }
}

/// `billing run --period` bills a past month's usage again for the services that were
/// live in it: never one made since, never the modules' daily work, and once however
/// often it runs; a month not over yet is refused.
#[test]
fn a_past_month_is_billed_again_for_the_services_live_in_it() {
    for (b, url) in backends() {
        let env = solus(url);
        let home = &env.home;
        let ann = client(home, "Ann", "EUR", "NL");
        let bob = client(home, "Bob", "EUR", "NL");
        let old = order(home, &ann, "cloud");
        let new = order(home, &bob, "cloud");
        ok(home, &["work", "--until-idle"]);
        // Ann's service was made in January; Bob's today.
        home.sql(&format!(
            "UPDATE services SET created_at = '2026-01-10T08:00:00+00:00' WHERE id = {old}"
        ));
        for sid in [old, new] {
            let svc = js(home, &["services", "show", &sid.to_string(), "--json"]);
            let uid: u64 = svc["remote_id"].as_str().unwrap().parse().unwrap();
            let vm = env.api.create_server(uid, 1, "vm").unwrap();
            env.api.record_uptime_hours(vm.id, "2026-10", 100).unwrap();
        }
        let calls_before = js(home, &["log", "--json", "--limit", "1000"]);

        let dry = js(
            home,
            &[
                "billing",
                "run",
                "--period",
                "2026-10",
                "--dry-run",
                "--json",
            ],
        );
        let ev = usage_events(&dry);
        assert_eq!(ev.len(), 1, "[{b}] {ev:#?}");
        assert!(invoices(home).is_empty(), "[{b}] the dry run wrote");

        // 100 h x 7 tokens = 700 tokens x 0.01 = 7.00 + 21 % = 8.47, for Ann only.
        let v = js(
            home,
            &[
                "billing",
                "run",
                "--period",
                "2026-10",
                "--date",
                "2026-12-02",
                "--json",
            ],
        );
        let ev = usage_events(&v);
        assert_eq!(ev.len(), 1, "[{b}] {ev:#?}");
        assert_eq!(ev[0]["amount"], "8.47", "[{b}] {ev:#?}");
        let all = invoices(home);
        assert_eq!(all.len(), 1, "[{b}]");
        let inv = show(home, all[0]["number"].as_str().unwrap());
        assert_eq!(inv["issue_date"], "2026-12-02", "[{b}] {inv:#}");
        assert_eq!(line(&inv, 0)["period_start"], "2026-10-01", "[{b}] {inv:#}");
        assert_eq!(line(&inv, 0)["service_id"], old, "[{b}] {inv:#}");

        // Again: nothing. And no module's daily work ran.
        let v = js(home, &["billing", "run", "--period", "2026-10", "--json"]);
        assert!(usage_events(&v).is_empty(), "[{b}]");
        assert_eq!(invoices(home).len(), 1, "[{b}]");
        let calls = js(home, &["log", "--json", "--limit", "1000"]);
        let daily = |log: &Value| {
            log.as_array()
                .unwrap()
                .iter()
                .filter(|r| r["call"] == "daily")
                .count()
        };
        assert_eq!(
            daily(&calls),
            daily(&calls_before),
            "[{b}] a daily call ran"
        );

        // A month not over, or not a month: refused, nothing written.
        fails(
            home,
            &[
                "billing",
                "run",
                "--period",
                "2026-12",
                "--date",
                "2026-12-20",
            ],
            2,
        );
        fails(home, &["billing", "run", "--period", "2026-13"], 2);
        fails(home, &["billing", "run", "--period", "oct"], 2);
        assert_eq!(invoices(home).len(), 1, "[{b}]");
    }
}

// --- ComputeStacks: month-end billable items ----------------------------------------

struct Cs {
    home: TestHome,
    _sim: Simulator,
    api: Arc<ComputeStacksApi>,
}

fn seed(start: &str, end: &str, product: &str, qty: &str, rate: &str) -> UsageSeed {
    UsageSeed {
        period_start: start.into(),
        period_end: end.into(),
        product: product.into(),
        rate: rate.into(),
        rate_period: 1,
        qty: qty.into(),
        qty_total: None,
        total: None,
        processed: false,
        external_id: None,
        created_at: None,
    }
}

fn computestacks(url: Option<String>) -> Cs {
    let home = TestHome::with_database(url).with_env("PROVISOR_RETRY_SECS", "0");
    home.drop_module(&so("provisor_computestacks"), "computestacks.so");
    let (sim, api) = cs::start_with_api(Some(&home.path().join("sim")), 0).expect("simulator");
    let settings = json!({"url": sim.url(), "api_key": cs::API_KEY, "api_secret": cs::API_SECRET});
    let f = home.write("cs.json", &settings.to_string());
    ok(&home, &["departments", "add", "cloud"]);
    ok(
        &home,
        &[
            "handlers",
            "add",
            "cs",
            "--module",
            "computestacks",
            "--settings",
            f.to_str().unwrap(),
            "--department",
            "cloud",
        ],
    );
    ok(&home, &["plans", "add", "Cloud", "--handler", "cs"]);
    ok(&home, &["currencies", "add", "USD"]);
    ok(
        &home,
        &[
            "usage",
            "plan",
            "Cloud",
            "--mode",
            "month-end",
            "--due-days",
            "10",
        ],
    );
    Cs {
        home,
        _sim: sim,
        api,
    }
}

#[test]
fn month_end_items_are_collected_on_the_last_day_and_invoiced_on_the_first() {
    for (b, url) in backends() {
        let env = computestacks(url);
        let home = &env.home;
        let email = client(home, "Ada", "USD", "GB");
        let sid = order(home, &email, "Cloud");
        ok(home, &["work", "--until-idle"]);
        let svc = js(home, &["services", "show", &sid.to_string(), "--json"]);
        let uid: u64 = svc["remote_id"].as_str().unwrap().parse().unwrap();
        // January 2026 (31 days): 31 daily rows of Container Small (24 h × $0.0125 =
        // $0.30 each) and of Storage (10 × $0.001 = $0.01 each); one December row.
        let mut rows = vec![seed(
            "2025-12-31T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "Container Small",
            "24",
            "0.0125",
        )];
        for day in 1..=31 {
            let start = format!("2026-01-{day:02}T00:00:00Z");
            let end = if day == 31 {
                "2026-02-01T00:00:00Z".to_string()
            } else {
                format!("2026-01-{:02}T00:00:00Z", day + 1)
            };
            rows.push(seed(&start, &end, "Container Small", "24", "0.0125"));
            rows.push(seed(&start, &end, "Storage", "10", "0.001"));
        }
        env.api.add_usage(uid, &rows).unwrap();
        ok(
            home,
            &[
                "clients", "credit", &email, "--amount", "2.00", "--reason", "goodwill",
            ],
        );

        // The 30th of a 31-day month collects nothing.
        let ev = cron(home, "2026-01-30");
        assert!(ev.is_empty(), "[{b}] {ev:#?}");
        // The 31st (23:00 UTC) collects every row started before then: 31 + 1 December
        // row of Container Small = 32 × $0.30 = $9.60 (768 h); Storage 31 × $0.01 = $0.31.
        let ev = cron(home, "2026-01-31");
        assert_eq!(ev.len(), 2, "[{b}] {ev:#?}");
        let items = js(home, &["usage", "items", &sid.to_string(), "--json"]);
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 2, "[{b}] {items:#?}");
        let small = items
            .iter()
            .find(|i| i["product"] == "Container Small")
            .unwrap();
        assert_eq!(small["amount"], "9.60", "[{b}] {small:#}");
        assert_eq!(small["quantity"], "768");
        assert_eq!(
            small["usage"].as_array().unwrap().len(),
            32,
            "drill-down rows"
        );
        let storage = items.iter().find(|i| i["product"] == "Storage").unwrap();
        assert_eq!(storage["amount"], "0.31");
        // Collecting again adds nothing.
        assert!(cron(home, "2026-01-31").is_empty(), "[{b}]");
        assert!(invoices(home).is_empty(), "[{b}]");

        // A row that started at 22:00 on the 31st (before the cutoff) but that the panel
        // shows only after the last day's run: the 1st collects once more for January
        // before invoicing, so it is on January's item (Storage $0.31 + $0.01 = $0.32).
        env.api
            .add_usage(
                uid,
                &[seed(
                    "2026-01-31T22:00:00Z",
                    "2026-01-31T23:00:00Z",
                    "Storage",
                    "10",
                    "0.001",
                )],
            )
            .unwrap();
        // A dry run of the 1st shows that invoice, the late row included, and writes
        // nothing (the collection it would make is rolled back).
        let dry = cron_dry(home, "2026-02-01");
        assert!(
            dry.iter()
                .any(|e| e["step"] == "postpaid" && e["amount"] == "9.92"),
            "[{b}] {dry:#?}"
        );
        assert!(invoices(home).is_empty(), "[{b}]");
        let items = js(home, &["usage", "items", &sid.to_string(), "--json"]);
        let storage = items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["product"] == "Storage")
            .unwrap();
        assert_eq!(
            storage["amount"], "0.31",
            "[{b}] the dry run wrote: {storage:#}"
        );
        // The 1st invoices the items: $9.60 + $0.32 = $9.92, no tax in GB; $2.00 of
        // credit first, $7.92 due on the 11th.
        let ev = cron(home, "2026-02-01");
        assert_eq!(ev.len(), 2, "[{b}] {ev:#?}");
        assert!(
            ev[0]["message"]
                .as_str()
                .unwrap()
                .contains("1 usage row(s) of Storage"),
            "[{b}] {ev:#?}"
        );
        let all = invoices(home);
        assert_eq!(all.len(), 1, "[{b}]");
        let inv = show(home, all[0]["number"].as_str().unwrap());
        assert_eq!(inv["total"], "9.92", "[{b}] {inv:#}");
        assert_eq!(inv["amount_paid"], "2.00");
        assert_eq!(inv["amount_due"], "7.92");
        assert_eq!(inv["due_date"], "2026-02-11");
        assert_eq!(inv["lines"].as_array().unwrap().len(), 2);
        assert!(cron(home, "2026-02-01").is_empty(), "[{b}]");
        let items = js(home, &["usage", "items", &sid.to_string(), "--json"]);
        assert!(
            items
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["invoice_id"] == inv["id"]),
            "[{b}]"
        );
    }
}

// --- usage import --------------------------------------------------------------------

fn pushed(url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    let settings = json!({ "journal": home.path().join("journal").to_str().unwrap() });
    home.add_handler("rec", "recorder", &settings, None);
    ok(&home, &["currencies", "add", "EUR"]);
    ok(&home, &["taxes", "set", "NL", "21"]);
    support::metered_plan(&home, &[("GB", "0.08")]);
    home
}

#[test]
fn imported_usage_is_all_or_nothing_deduped_and_late_usage_is_flagged() {
    for (b, url) in backends() {
        let home = pushed(url);
        let email = client(&home, "Ann", "EUR", "NL");
        let sid = order(&home, &email, "metered");
        ok(&home, &["work", "--until-idle"]);

        // An unknown unit refuses the whole file.
        let bad = home.write(
            "bad.jsonl",
            &format!(
                "{{\"transaction_id\":\"t1\",\"service_id\":{sid},\"unit\":\"GB\",\"quantity\":\"10\",\"period_start\":\"2026-01-05\"}}\n\
                 {{\"transaction_id\":\"t2\",\"service_id\":{sid},\"unit\":\"parsecs\",\"quantity\":\"1\",\"period_start\":\"2026-01-05\"}}\n"
            ),
        );
        let err = fails(&home, &["usage", "import", bad.to_str().unwrap()], 2);
        assert!(
            err.contains("parsecs") && err.contains("nothing was imported"),
            "[{b}] {err}"
        );
        let err = fails(
            &home,
            &["usage", "import", home.write("d.json", &format!("[{{\"transaction_id\":\"x\",\"service_id\":{sid},\"unit\":\"GB\",\"quantity\":\"1\",\"period_start\":\"2026-02-30\"}}]")).to_str().unwrap()],
            2,
        );
        assert!(err.contains("2026-02-30"), "[{b}] {err}");

        // A JSON array; t1 twice (dedupe), 12.5 GB in January.
        let good = home.write(
            "good.json",
            &json!([
                {"transaction_id": "t1", "service_id": sid, "unit": "GB", "quantity": "10", "period_start": "2026-01-05"},
                {"transaction_id": "t1", "service_id": sid, "unit": "GB", "quantity": "10", "period_start": "2026-01-05"},
                {"transaction_id": "t3", "service_id": sid, "unit": "GB", "quantity": 2.5, "at": "2026-01-31T10:00:00Z"},
            ])
            .to_string(),
        );
        let r = js(
            &home,
            &["usage", "import", good.to_str().unwrap(), "--json"],
        );
        assert_eq!(
            (r["inserted"].as_u64(), r["duplicates"].as_u64()),
            (Some(2), Some(1)),
            "[{b}] {r:#}"
        );
        let r = js(
            &home,
            &["usage", "import", good.to_str().unwrap(), "--json"],
        );
        assert_eq!(r["inserted"], 0, "[{b}] imported twice: {r:#}");

        // February 1st: 12.5 GB × €0.08 = €1.00, tax €0.21, total €1.21.
        cron(&home, "2026-02-01");
        let all = invoices(&home);
        assert_eq!(all.len(), 1, "[{b}]");
        let inv = show(&home, all[0]["number"].as_str().unwrap());
        assert_eq!(line(&inv, 0)["quantity"], "12.5", "[{b}] {inv:#}");
        assert_eq!(inv["total"], "1.21", "[{b}] {inv:#}");

        // 10 GB more for January arrive after it was invoiced: late, on March's invoice.
        let late = home.write(
            "late.jsonl",
            &format!("{{\"transaction_id\":\"t9\",\"service_id\":{sid},\"unit\":\"GB\",\"quantity\":\"10\",\"period_start\":\"2026-01-20\"}}\n"),
        );
        let r = js(
            &home,
            &["usage", "import", late.to_str().unwrap(), "--json"],
        );
        assert_eq!(r["late"], 1, "[{b}] {r:#}");
        cron(&home, "2026-03-01");
        let all = invoices(&home);
        assert_eq!(all.len(), 2, "[{b}]");
        let inv = show(
            &home,
            all.iter()
                .map(|i| i["number"].as_str().unwrap())
                .max()
                .unwrap(),
        );
        let l = line(&inv, 0);
        assert!(
            l["description"].as_str().unwrap().starts_with("Late usage"),
            "[{b}] {inv:#}"
        );
        assert_eq!(l["period_start"], "2026-01-01");
        // 10 × 0.08 = 0.80; tax 0.168 → 0.17; total 0.97.
        assert_eq!(inv["total"], "0.97", "[{b}] {inv:#}");
    }
}

#[test]
fn a_monthly_run_stopped_half_way_finishes_with_one_invoice_per_client() {
    for (b, url) in backends() {
        let mut home = pushed(url);
        let mut lines = String::new();
        for (i, name) in ["Ann", "Bob", "Cy"].iter().enumerate() {
            let email = client(&home, name, "EUR", "NL");
            let sid = order(&home, &email, "metered");
            let _ = writeln!(
                lines,
                "{{\"transaction_id\":\"c{i}\",\"service_id\":{sid},\"unit\":\"GB\",\"quantity\":\"{}\",\"period_start\":\"2026-01-10\"}}",
                i + 1
            );
        }
        ok(&home, &["work", "--until-idle"]);
        let f = home.write("u.jsonl", &lines);
        ok(&home, &["usage", "import", f.to_str().unwrap()]);
        home.env.push(("PROVISOR_BILLING_CHUNK".into(), "1".into()));
        home.env
            .push(("PROVISOR_BILLING_STOP_AFTER_CHUNKS".into(), "2".into()));
        let r = home.run(&["cron", "--date", "2026-02-01"]);
        assert_ne!(r.code, 0, "[{b}] the run was to stop: {}", r.stdout);
        assert_eq!(invoices(&home).len(), 2, "[{b}] two chunks committed");
        home.env.pop();
        cron(&home, "2026-02-01");
        cron(&home, "2026-02-01");
        let all = invoices(&home);
        assert_eq!(all.len(), 3, "[{b}] {all:#?}");
        let mut clients: Vec<i64> = all
            .iter()
            .map(|i| i["client_id"].as_i64().unwrap())
            .collect();
        clients.sort_unstable();
        clients.dedup();
        assert_eq!(clients.len(), 3, "[{b}] one invoice per client");
        // Ann 1 GB: 0.08 + 0.0168 → 0.02 = 0.10; Bob 2 GB: 0.16 + 0.03 = 0.19;
        // Cy 3 GB: 0.24 + 0.05 = 0.29.
        let mut totals: Vec<String> = all
            .iter()
            .map(|i| i["total"].as_str().unwrap().to_string())
            .collect();
        totals.sort();
        assert_eq!(totals, ["0.10", "0.19", "0.29"], "[{b}]");
    }
}

#[test]
fn the_billing_time_zone_moves_the_month_end_cutoff() {
    for (b, url) in backends() {
        let mut env = computestacks(url);
        let email = client(&env.home, "Ada", "USD", "GB");
        let sid = order(&env.home, &email, "Cloud");
        ok(&env.home, &["work", "--until-idle"]);
        let svc = js(&env.home, &["services", "show", &sid.to_string(), "--json"]);
        let uid: u64 = svc["remote_id"].as_str().unwrap().parse().unwrap();
        // In Helsinki (+02:00), January's collection is at 2026-01-31T21:00Z: the 20:00Z row is in,
        // the 22:00Z row (23:00 UTC has not come yet, but billing time has) is not.
        env.api
            .add_usage(
                uid,
                &[
                    seed(
                        "2026-01-31T20:00:00Z",
                        "2026-01-31T21:00:00Z",
                        "Container Small",
                        "1",
                        "0.0125",
                    ),
                    seed(
                        "2026-01-31T22:00:00Z",
                        "2026-01-31T23:00:00Z",
                        "Container Small",
                        "1",
                        "0.0125",
                    ),
                ],
            )
            .unwrap();
        env.home
            .env
            .push(("PROVISOR_BILLING_TZ".into(), "Europe/Helsnki".into()));
        let err = fails(&env.home, &["cron", "--date", "2026-01-31"], 2);
        assert!(
            err.contains("PROVISOR_BILLING_TZ") && err.contains("Europe/Berlin"),
            "[{b}] {err}"
        );
        // The daemon's schedule follows the zone: a bad one refuses the start.
        let run = provisor_e2e::exits_within(
            env.home
                .start(&["serve", "--no-workers", "--check-interval", "0"]),
            provisor_e2e::PATIENCE,
            "serve with a bad billing time zone",
        );
        assert_eq!(run.code, 2, "[{b}] {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("PROVISOR_BILLING_TZ"),
            "[{b}] {}",
            run.stderr
        );
        env.home.env.pop();
        // Helsinki keeps EET (+02:00) through January and February.
        env.home
            .env
            .push(("PROVISOR_BILLING_TZ".into(), "Europe/Helsinki".into()));
        let ev = cron(&env.home, "2026-01-31");
        assert_eq!(ev.len(), 1, "[{b}] {ev:#?}");
        let items = js(&env.home, &["usage", "items", &sid.to_string(), "--json"]);
        assert_eq!(
            items[0]["usage"].as_array().unwrap().len(),
            1,
            "[{b}] {items:#}"
        );
        assert_eq!(items[0]["period_start"], "2026-01-01");
        // February's collection takes the late row.
        cron(&env.home, "2026-02-28");
        let items = js(&env.home, &["usage", "items", &sid.to_string(), "--json"]);
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 2, "[{b}] {items:#?}");
        assert_eq!(items[1]["period_start"], "2026-02-01");
        assert_eq!(
            items[1]["usage"][0]["started_at"],
            "2026-01-31T22:00:00+00:00"
        );
    }
}
