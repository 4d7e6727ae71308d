//! `provisor cron --date D`: every handler's daily run (enabled or disabled), with what
//! the module asks for queued as operations, safe to run twice; on every backend.

use provisor_e2e::{backends, so, TestHome};

fn scenario(backend: &str, url: Option<String>) {
    let home = TestHome::with_database(url).with_label(backend);
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    let settings = serde_json::json!({
        "journal": home.path().join("journal").to_str().unwrap(),
        "expire_on": "2026-03-01",
    });
    home.add_handler("rec", "recorder", &settings, None);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Cron",
        "--email",
        "cron@example.com",
    ]);
    home.ok(&["plans", "add", "P", "--handler", "rec"]);
    for _ in 0..2 {
        home.order("cron@example.com", "P", &[]);
    }
    home.work();

    // Bad dates are refused by name, and nothing runs.
    for bad in ["2026-02-30", "yesterday", "2026-13-01"] {
        let err = home.run(&["cron", "--date", bad]).fails_with(2);
        assert!(
            err.contains(bad) && err.contains("YYYY-MM-DD"),
            "[{backend}] {err}"
        );
    }

    // A dry run calls nothing and writes nothing.
    let dry = home
        .run(&["cron", "--date", "2026-02-01", "--dry-run", "--json"])
        .json();
    assert_eq!(
        dry["handlers"][0]["status"], "skipped",
        "[{backend}] {dry:#}"
    );
    assert_eq!(dry["handlers"][0]["services"], 2);
    let show = home.service(1);
    assert!(
        show["attributes"].get("last_daily").is_none(),
        "[{backend}] {show:#}"
    );

    // Before the expiry date: the module stamps its services, nothing is queued. The
    // handler is disabled: it takes no new services but its daily run still happens.
    home.run(&["handlers", "disable", "rec"]).ok();
    let run = home.run(&["cron", "--date", "2026-02-01", "--json"]).json();
    let h = &run["handlers"][0];
    assert_eq!(h["status"], "done", "[{backend}] {run:#}");
    assert_eq!(h["enabled"], false);
    assert_eq!(h["actions"].as_array().unwrap().len(), 2);
    assert!(h["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["event"] == "seen" && a.get("queued_operation").is_none()));
    let show = home.service(1);
    assert_eq!(
        show["attributes"]["last_daily"], "2026-02-01",
        "[{backend}] {show:#}"
    );

    // From the expiry date: a terminate per service, queued once however often the day
    // is run.
    let first = home.run(&["cron", "--date", "2026-03-01", "--json"]).json();
    let queued = first["handlers"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["queued_operation"].is_i64())
        .count();
    assert_eq!(queued, 2, "[{backend}] {first:#}");
    let again = home.run(&["cron", "--date", "2026-03-01", "--json"]).json();
    for a in again["handlers"][0]["actions"].as_array().unwrap() {
        assert!(a.get("queued_operation").is_none(), "[{backend}] {again:#}");
        assert!(
            a["note"]
                .as_str()
                .unwrap_or("")
                .contains("already has operation"),
            "[{backend}] {again:#}"
        );
    }
    let text = home.run(&["cron", "--date", "2026-03-01"]).ok();
    assert!(
        text.contains("rec (disabled) [recorder]: 2 service(s), done"),
        "[{backend}] {text}"
    );
    home.run(&["work", "--until-idle"]).ok();
    let services = home.run(&["services", "list", "--json"]).json();
    assert!(
        services
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "terminated"),
        "[{backend}] {services:#}"
    );
    // Terminated services are no longer shown to the module.
    let after = home.run(&["cron", "--date", "2026-03-02", "--json"]).json();
    assert_eq!(after["handlers"][0]["services"], 0, "[{backend}] {after:#}");
    let ops = home
        .run(&["ops", "list", "--status", "all", "--json"])
        .json();
    let terminates = ops
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "terminate")
        .count();
    assert_eq!(
        terminates, 2,
        "[{backend}] one terminate per service: {ops:#}"
    );
}

#[test]
fn daily_run_for_a_date() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
