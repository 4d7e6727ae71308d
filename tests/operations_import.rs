//! Import and sync of existing remote accounts (`handlers import`, `handlers sync`),
//! on every backend.

use provisor_e2e::{backends, so, TestHome};
use serde_json::Value;

fn scenario(backend: &str, url: Option<String>) {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    home.run(&["departments", "add", "ops"]).ok();
    let s = home.write("s.json", r#"{"fake_accounts": 95}"#);
    home.run(&[
        "handlers",
        "add",
        "cs",
        "--module",
        "versioned",
        "--settings",
        s.to_str().unwrap(),
        "--department",
        "ops",
    ])
    .ok();
    let e = home.write("e.json", "{}");
    home.run(&[
        "handlers",
        "add",
        "staff",
        "--module",
        "manual-task",
        "--settings",
        e.to_str().unwrap(),
    ])
    .ok();

    // Without a plan for the handler there is nothing to import into.
    let err = home.run(&["handlers", "import", "cs"]).fails_with(2);
    assert!(err.contains("serves no plan"), "[{backend}] {err}");
    // A module that cannot list accounts is refused by name.
    let err = home.run(&["handlers", "import", "staff"]).fails_with(2);
    assert!(err.contains("cannot list accounts"), "[{backend}] {err}");

    home.run(&["plans", "add", "Cloud", "--handler", "cs"]).ok();
    let report = home.run(&["handlers", "import", "cs", "--json"]).json();
    assert_eq!(report["seen"], 95, "[{backend}] {report:#}");
    assert_eq!(report["pages"], 2, "[{backend}] 95 accounts at 50 a page");
    assert_eq!(report["imported"], 95);
    assert_eq!(
        report["clients_created"], 93,
        "[{backend}] three accounts share one owner: {report:#}"
    );

    let services = home
        .run(&["services", "list", "--limit", "1000", "--json"])
        .json();
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 95, "[{backend}]");
    assert_eq!(
        services
            .iter()
            .filter(|s| s["status"] == "suspended")
            .count(),
        9,
        "[{backend}]"
    );
    assert!(services
        .iter()
        .all(|s| s["remote_id"].as_str().unwrap_or("").starts_with("imp-")));
    // Importing provisions nothing.
    let ops = home
        .run(&["ops", "list", "--status", "all", "--json"])
        .json();
    assert_eq!(
        ops,
        Value::Array(vec![]),
        "[{backend}] import must not queue operations"
    );

    // Running it again imports nothing twice.
    let again = home.run(&["handlers", "import", "cs", "--json"]).json();
    assert_eq!(again["imported"], 0, "[{backend}] {again:#}");
    assert_eq!(again["already_known"], 95);

    // Sync: a service we think is active but the panel has suspended is reconciled.
    let id = services
        .iter()
        .find(|s| s["remote_id"] == "imp-20")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let sync = home.run(&["handlers", "sync", "cs", "--json"]).json();
    assert_eq!(
        sync["state_changes"],
        Value::Array(vec![]),
        "[{backend}] nothing to change yet: {sync:#}"
    );
    home.run(&["services", "unsuspend", &id.to_string()]).ok();
    home.run(&["work", "--until-idle"]).ok();
    let shown = home
        .run(&["services", "show", &id.to_string(), "--json"])
        .json();
    assert_eq!(shown["status"], "active", "[{backend}]");
    let sync = home.run(&["handlers", "sync", "cs", "--json"]).json();
    let changes = sync["state_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "[{backend}] {sync:#}");
    assert!(
        changes[0].as_str().unwrap().contains("active -> suspended"),
        "[{backend}] {sync:#}"
    );
}

#[test]
fn existing_accounts_are_imported_once_and_synced_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
