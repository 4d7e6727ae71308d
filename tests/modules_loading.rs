//! Loading modules through the real binary: the shipped five, every kind of bad file,
//! permissions, inspect/install, and calls that panic or hang.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use provisor_e2e::{exits_within, poll_until, so, TestHome, PATIENCE, SHIPPED};
use serde_json::Value;

fn list(home: &TestHome) -> Vec<Value> {
    home.run(&["modules", "list", "--json"])
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn row<'a>(rows: &'a [Value], file: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["file"] == file)
        .unwrap_or_else(|| panic!("no row for {file} in {rows:#?}"))
}

#[test]
fn the_five_shipped_modules_load_in_a_fresh_home() {
    let home = TestHome::new();
    for (lib, name) in SHIPPED {
        home.drop_module(&so(lib), &format!("{name}.so"));
    }
    let rows = list(&home);
    assert_eq!(rows.len(), 5, "{rows:#?}");
    for (_, name) in SHIPPED {
        let r = row(&rows, &format!("{name}.so"));
        assert_eq!(r["status"], "loaded", "{r:#?}");
        assert_eq!(r["name"], name);
    }
    let table = home.run(&["modules", "list"]).ok();
    assert!(table.starts_with("NAME"), "{table}");
    assert_eq!(table.matches(" loaded ").count(), 5, "{table}");
}

#[test]
fn bad_files_are_refused_one_line_each_while_good_modules_load() {
    let home = TestHome::new();
    let mut garbage = Vec::with_capacity(4096);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push(x as u8);
    }
    std::fs::write(home.modules().join("random.so"), &garbage).unwrap();
    let real = std::fs::read(so("provisor_manual_task")).unwrap();
    std::fs::write(home.modules().join("truncated.so"), &real[..8192]).unwrap();
    home.drop_module(&so("provisor_fixture_not_a_module"), "not-a-module.so");
    home.drop_module(
        &so("provisor_fixture_other_interface"),
        "other-interface.so",
    );
    home.drop_module(
        &provisor_e2e::abi_fixture("v2-major", "major2_module"),
        "major2.so",
    );
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");

    let rows = list(&home);
    let expect = [
        ("random.so", "not an ELF shared library"),
        ("truncated.so", ""),
        ("not-a-module.so", "not a Provisor module"),
        ("other-interface.so", "interface does not match"),
        (
            "major2.so",
            "built against provisor-module-api 2.0.0, but this host speaks 1.0.0",
        ),
    ];
    for (file, needle) in expect {
        let r = row(&rows, file);
        assert_eq!(r["status"], "refused", "{r:#?}");
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(needle), "{file}: {reason}");
        assert!(
            !reason.contains('\n'),
            "{file}: reason must be one line: {reason}"
        );
    }
    let truncated = row(&rows, "truncated.so")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        truncated.contains("crashed the loader") || truncated.contains("cannot be loaded"),
        "{truncated}"
    );
    assert_eq!(row(&rows, "manual-task.so")["status"], "loaded");
    // The table shows the same, and the history keeps every refusal.
    let history = home.run(&["modules", "history", "--json"]).json();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "refused")
            .count()
            >= 5,
        "{history:#}"
    );
}

#[test]
fn world_writable_and_foreign_owned_files_are_refused() {
    let home = TestHome::new();
    let ww = home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o666)).unwrap();
    let rows = list(&home);
    let reason = row(&rows, "manual-task.so")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("world-writable") && reason.contains("chmod o-w"),
        "{reason}"
    );

    std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(row(&list(&home), "manual-task.so")["status"], "loaded");

    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let other = home.drop_module(&so("provisor_solusvm"), "solusvm.so");
        std::os::unix::fs::chown(&other, Some(65534), None).unwrap();
        let reason = row(&list(&home), "solusvm.so")["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            reason.contains("owned by uid 65534") && reason.contains("chown"),
            "{reason}"
        );
    }
}

#[test]
fn inspect_and_install_check_the_file_fully_and_copy_nothing_when_refused() {
    let home = TestHome::new();
    home.run(&["init"]).ok();
    let garbage = home.write("garbage.so", "definitely not a library");
    let err = home
        .run(&["modules", "install", garbage.to_str().unwrap()])
        .fails_with(2);
    assert!(
        err.contains("garbage.so refused") && err.contains("not an ELF"),
        "{err}"
    );
    let err = home
        .run(&["modules", "inspect", garbage.to_str().unwrap()])
        .fails_with(2);
    assert!(err.contains("not an ELF"), "{err}");
    let copied: Vec<_> = std::fs::read_dir(home.modules())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "so"))
        .collect();
    assert!(copied.is_empty(), "a refused file was copied: {copied:?}");

    let cs = so("provisor_computestacks");
    let shown = home.run(&["modules", "inspect", cs.to_str().unwrap()]).ok();
    assert!(shown.contains("module:        computestacks"), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.contains("api_secret") && l.contains("secret")),
        "{shown}"
    );
    let json = home
        .run(&["modules", "inspect", cs.to_str().unwrap(), "--json"])
        .json();
    assert_eq!(json["manifest"]["name"], "computestacks");

    let out = home
        .run(&[
            "modules",
            "install",
            so("provisor_manual_task").to_str().unwrap(),
        ])
        .ok();
    assert!(out.contains("module manual-task 1.0.0 loaded"), "{out}");
    assert!(home.modules().join("manual-task.so").exists());
    assert_eq!(row(&list(&home), "manual-task.so")["status"], "loaded");
}

fn add_handler(home: &TestHome, name: &str, module: &str, settings: &str) {
    let file = home.write(&format!("{name}.json"), settings);
    home.run(&[
        "handlers",
        "add",
        name,
        "--module",
        module,
        "--settings",
        file.to_str().unwrap(),
    ])
    .ok();
}

#[test]
fn a_panicking_constructor_or_call_fails_that_call_only() {
    let home = TestHome::new();
    home.drop_module(&so("provisor_fixture_panicky"), "panicky.so");
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    add_handler(&home, "boom-new", "panicky", r#"{"panic_in_new": true}"#);
    add_handler(&home, "boom-call", "panicky", "{}");
    add_handler(&home, "staff", "manual-task", "{}");

    let err = home.run(&["handlers", "test", "boom-new"]).fails_with(4);
    assert!(
        err.contains("could not be instantiated")
            && err.contains("panicked")
            && err.contains("instantiate panics on purpose"),
        "{err}"
    );

    let req = home.write(
        "req.json",
        r#"{"operation_key": "op-1", "service": {"id": 1}}"#,
    );
    let req = req.to_str().unwrap();
    let err = home
        .run(&["handlers", "call", "boom-call", "create", "--request", req])
        .fails_with(4);
    assert!(
        err.contains("panicked error: module panicked: fixture: create panics on purpose"),
        "{err}"
    );
    let err = home
        .run(&["handlers", "call", "boom-call", "suspend", "--request", req])
        .fails_with(4);
    assert!(err.contains("transient error"), "{err}");
    // A malformed request is the module's permanent refusal, not a crash.
    let err = home
        .run(&["handlers", "call", "boom-call", "suspend"])
        .fails_with(4);
    assert!(err.contains("malformed suspend request"), "{err}");
    let err = home
        .run(&[
            "handlers",
            "call",
            "boom-call",
            "terminate",
            "--request",
            req,
        ])
        .fails_with(4);
    assert!(err.contains("permanent error"), "{err}");

    // Everything else keeps working.
    home.run(&["handlers", "test", "boom-call"]).ok();
    home.run(&["handlers", "test", "staff"]).ok();
    let log = home
        .run(&["log", "--handler", "boom-call", "--json"])
        .json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["call"] == "create" && r["outcome"] == "panicked"),
        "{log:#}"
    );
}

#[test]
fn a_hanging_call_is_abandoned_at_the_configured_limit() {
    let home = TestHome::new();
    home.drop_module(&so("provisor_fixture_panicky"), "panicky.so");
    // The call hangs for ten minutes: a CLI that waited for it instead of abandoning it
    // would still be running when PATIENCE (a ceiling, not a target) runs out.
    add_handler(&home, "slow", "panicky", r#"{"hang_ms": 600000}"#);
    let run = exits_within(
        home.start(&["--call-timeout", "1", "handlers", "test", "slow"]),
        PATIENCE,
        "handlers test of a call hanging for ten minutes, with --call-timeout 1",
    );
    let err = run.fails_with(4);
    assert!(err.contains("did not answer within 1s"), "{err}");
    let shown = home.run(&["handlers", "show", "slow", "--json"]).json();
    assert_eq!(shown["last_check_ok"], false);
}

/// The daemon's threads, from /proc.
fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// A module whose calls hang cannot make the daemon leak threads: once a handler has
/// `PROVISOR_MAX_STUCK_CALLS` abandoned calls still inside the module, it is not called
/// again (no new thread), `handlers list` says so, and its operations wait, visibly and
/// without using up their attempts.
#[test]
fn hung_calls_are_capped_per_handler_and_its_operations_wait() {
    let home = TestHome::new()
        .with_env("PROVISOR_CALL_TIMEOUT", "1")
        .with_env("PROVISOR_MAX_STUCK_CALLS", "2");
    home.drop_module(&so("provisor_fixture_panicky"), "panicky.so");
    // Each call hangs for ten minutes, longer than any wait below.
    add_handler(&home, "slow", "panicky", r#"{"hang_ms": 600000}"#);
    home.run(&["plans", "add", "hangs", "--handler", "slow"])
        .ok();
    home.run(&["currencies", "add", "EUR"]).ok();
    home.run(&[
        "clients",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
        "--currency",
        "EUR",
        "--country",
        "NL",
    ])
    .ok();
    // A connection check every second, each hanging for a minute.
    let mut daemon = home.serve(&["--check-interval", "1"]);
    let pid = daemon.child.id();
    daemon.wait_for("is not called: 2 of its calls", PATIENCE);
    let at_cap = threads(pid);
    // A check a second: a leak would add about eight threads; the runtime's own pool
    // may add a couple for file work.
    std::thread::sleep(Duration::from_secs(8));
    let later = threads(pid);
    assert!(
        later <= at_cap + 3,
        "threads grew from {at_cap} to {later} while the handler was at its cap:\n{}",
        daemon.output()
    );

    let list = home.run(&["handlers", "list"]).ok();
    assert!(list.contains("2 (see handlers show)"), "{list}");
    let shown = home.run(&["handlers", "show", "slow", "--json"]).json();
    assert_eq!(shown["stuck_calls"], 2, "{shown:#}");
    assert!(
        shown["last_check_message"]
            .as_str()
            .is_some_and(|m| m.contains("is not called")),
        "{shown:#}"
    );

    // An order for it waits: queued, no attempt used, the reason shown.
    let (sid, _) = home.order("ann@example.com", "hangs", &[]);
    let op = poll_until(
        "the order's create waiting for the handler at its cap",
        PATIENCE,
        || {
            let ops = home.run(&["ops", "list", "--json"]).json();
            let op = ops
                .as_array()
                .and_then(|a| a.iter().find(|o| o["service_id"] == sid))
                .cloned()
                .unwrap_or(Value::Null);
            let waits = op["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("is not called"));
            if waits {
                Ok(op)
            } else {
                Err(format!("{op:#}"))
            }
        },
    );
    assert_eq!(op["status"], "queued", "{op:#}");
    assert_eq!(op["attempts"], 0, "{op:#}");
    assert!(
        op["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Its operations wait")),
        "{op:#}"
    );
    // It stops on SIGTERM without waiting for the calls stuck in the module (they hang
    // for ten minutes; the ceiling is PATIENCE).
    let (status, log) = daemon.stop_within(PATIENCE);
    assert!(status.success(), "serve exited with {status}:\n{log}");
}
