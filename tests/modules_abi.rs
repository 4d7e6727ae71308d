//! The interface's compatibility rules, with modules built in separate workspaces
//! against a frozen older copy of the interface and against a 2.x copy.

use provisor_e2e::{abi_fixture, TestHome};

#[test]
fn a_module_built_against_an_older_1x_interface_loads_and_lacks_only_what_was_appended() {
    let home = TestHome::new();
    home.drop_module(&abi_fixture("v1-frozen", "frozen_module"), "frozen.so");
    let rows = home.run(&["modules", "list", "--json"]).json();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["status"], "loaded", "{row:#}");
    assert_eq!(row["name"], "frozen");

    let settings = home.write("s.json", "{}");
    home.run(&[
        "handlers",
        "add",
        "fz",
        "--module",
        "frozen",
        "--settings",
        settings.to_str().unwrap(),
    ])
    .ok();
    let out = home.run(&["handlers", "test", "fz"]).ok();
    assert!(out.contains("frozen ok"), "{out}");
    let created = home.run(&["handlers", "call", "fz", "create"]).json();
    assert_eq!(created["remote_id"], "frozen-1");
    // `daily` was appended after the frozen copy's last prefix field.
    let err = home.run(&["handlers", "call", "fz", "daily"]).fails_with(4);
    assert!(
        err.contains("not_supported") && err.contains("built without the daily run"),
        "{err}"
    );
}

#[test]
fn a_module_built_against_another_major_version_is_refused_with_the_fix() {
    let home = TestHome::new();
    let lib = abi_fixture("v2-major", "major2_module");
    let err = home
        .run(&["modules", "install", lib.to_str().unwrap()])
        .fails_with(2);
    assert!(
        err.contains("built against provisor-module-api 2.0.0")
            && err.contains("rebuild it against provisor-module-api 1.x"),
        "{err}"
    );
    let err = home
        .run(&["modules", "inspect", lib.to_str().unwrap()])
        .fails_with(2);
    assert!(err.contains("2.0.0"), "{err}");
}
