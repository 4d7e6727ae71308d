//! End-to-end tests of `provisor serve` and the modules directory: a real daemon,
//! real module `.so` files dropped in while it runs, and the CLI reading what the
//! daemon recorded.
//!
//! Run `cargo build --workspace` first (the binary and the module libraries).
//!
//! The tests wait on the daemon's events (a log line, a row), each bounded by
//! [`PATIENCE`]; they never assert how long one took. Latencies ("loaded 0.4 s after
//! the drop") are printed for information, measured from the moment the file appears
//! to the `updated_at` the daemon recorded for it, so the cost of the
//! `provisor modules list` process used to read it back (which scans, hashes and
//! probes the directory itself) does not count against the daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use provisor_e2e::{bin, exits_within, so, Daemon, TestHome, PATIENCE};
use serde_json::Value;

const SERVE: [&str; 4] = ["--check-interval", "1", "--scan-interval-ms", "500"];

/// Tests that print how long the daemon took run alone (the machine may have two
/// cores, and a neighbouring test hashing and probing `.so` files would be timed too),
/// so the printed figures measure the daemon; the others share.
static TIMING: RwLock<()> = RwLock::new(());

fn timed() -> RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(PoisonError::into_inner)
}

fn untimed() -> RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(PoisonError::into_inner)
}

/// `provisor modules list --json`, as rows.
fn modules_list(home: &TestHome) -> Vec<Value> {
    match home.run(&["modules", "list", "--json"]).json() {
        Value::Array(rows) => rows,
        other => panic!("modules list --json is not an array: {other}"),
    }
}

/// The `modules list` row for one file.
fn row<'a>(rows: &'a [Value], file: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["file"] == file)
        .unwrap_or_else(|| panic!("modules list has no row for {file}: {rows:#?}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Polls `probe` every 50 ms until it answers; panics with the daemon's log after
/// `limit`, or as soon as the daemon exits.
fn poll<T>(
    daemon: &mut Daemon,
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            daemon.alive(),
            "provisor serve exited while waiting for {what}:\n{}",
            daemon.output()
        );
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; daemon log:\n{}",
            daemon.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the daemon printed `needle` at or after byte `from`; returns its offset.
fn wait_after(daemon: &mut Daemon, needle: &str, from: usize, limit: Duration) -> usize {
    let log = daemon.log.clone();
    poll(
        daemon,
        limit,
        &format!("the daemon printing {needle:?} after byte {from}"),
        || {
            let bytes = std::fs::read(&log).unwrap_or_default();
            let tail = String::from_utf8_lossy(bytes.get(from..).unwrap_or(&[])).to_string();
            tail.find(needle).map(|i| from + i)
        },
    )
}

/// The byte offset of the first `needle` in `out`, or a panic showing `out`.
fn offset(out: &str, needle: &str) -> usize {
    out.find(needle)
        .unwrap_or_else(|| panic!("the daemon log has no {needle:?}:\n{out}"))
}

/// Seconds since the Unix epoch now.
fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Seconds since the Unix epoch of a UTC RFC 3339 time (`2026-01-02T03:04:05.678+00:00`).
fn epoch_of(ts: &str) -> f64 {
    fn bad<T>(ts: &str) -> T {
        panic!("not a UTC RFC 3339 time: {ts:?}")
    }
    let (date, time) = ts.split_once('T').unwrap_or_else(|| bad(ts));
    let time = time
        .strip_suffix('Z')
        .or_else(|| time.strip_suffix("+00:00"))
        .unwrap_or_else(|| bad(ts));
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().unwrap_or_else(|_| bad(ts)))
        .collect();
    let t: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().unwrap_or_else(|_| bad(ts)))
        .collect();
    assert!(
        d.len() == 3 && t.len() == 3,
        "not a UTC RFC 3339 time: {ts:?}"
    );
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// How long after `dropped_at` (epoch seconds) the daemon recorded this row.
fn recorded_after(r: &Value, dropped_at: f64) -> Duration {
    let at = epoch_of(text(r, "updated_at"));
    Duration::from_secs_f64((at - dropped_at).max(0.0))
}

/// Copies `src` with `extra` zero bytes appended: still a loadable ELF library, with a
/// different SHA-256.
fn padded_copy(home: &TestHome, src: &Path, name: &str, extra: usize) -> PathBuf {
    let mut bytes = std::fs::read(src).expect("read module");
    bytes.extend(std::iter::repeat_n(0u8, extra));
    let p = home.path().join(name);
    std::fs::write(&p, bytes).expect("write padded copy");
    p
}

/// Adds a handler through the CLI.
fn add_handler(home: &TestHome, name: &str, module: &str, settings: &str) {
    let file = home.write(&format!("{name}-settings.json"), settings);
    let path = file.to_str().expect("utf-8 path");
    home.run(&[
        "handlers",
        "add",
        name,
        "--module",
        module,
        "--settings",
        path,
    ])
    .ok();
}

#[test]
fn hot_add_loads_a_dropped_module_without_a_restart() {
    let _serial = timed();
    let home = TestHome::new();
    home.modules();
    let mut daemon = home.serve(&SERVE);
    assert!(
        daemon.output().contains("0 module(s) loaded"),
        "{}",
        daemon.output()
    );

    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    let (dropped, dropped_at) = (Instant::now(), now_epoch());
    // Wait on the daemon's log first: a `modules list` process started at once would
    // hash and probe the same file itself, competing with the daemon for the CPU.
    daemon.wait_for("module manual-task 1.0.0 loaded", PATIENCE);
    let (visible, rows) = poll(
        &mut daemon,
        PATIENCE,
        "manual-task listed as loaded",
        || {
            let rows = modules_list(&home);
            let loaded = rows.iter().any(|r| {
                r["file"] == "manual-task.so"
                    && r["name"] == "manual-task"
                    && r["status"] == "loaded"
            });
            loaded.then(|| (dropped.elapsed(), rows))
        },
    );
    let loaded = recorded_after(row(&rows, "manual-task.so"), dropped_at);
    eprintln!("hot add: recorded as loaded {loaded:?} after the drop; `modules list` showed it after {visible:?}");
    assert!(daemon.alive());
}

#[test]
fn upgrade_swaps_new_calls_to_the_new_version_while_in_flight_calls_finish_on_the_old() {
    let _serial = timed();
    let home = TestHome::new();
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    add_handler(&home, "v", "versioned", r#"{"sleep_ms": 2500}"#);
    let mut daemon = home.serve(&SERVE);

    daemon.wait_for("versioned 1.0.0 test_connection start", PATIENCE);
    home.drop_module(&so("provisor_fixture_versioned_v2"), "versioned.so");
    daemon.wait_for("upgraded 1.0.0 -> 2.0.0", PATIENCE);
    daemon.wait_for("versioned 1.0.0 test_connection finish", PATIENCE);
    daemon.wait_for("versioned 2.0.0 test_connection start", PATIENCE);
    daemon.wait_for("instance of module versioned 1.0.0 shut down", PATIENCE);

    let out = daemon.output();
    let v1_start = offset(&out, "versioned 1.0.0 test_connection start");
    let upgraded = offset(&out, "upgraded 1.0.0 -> 2.0.0");
    let v1_finish = offset(&out, "versioned 1.0.0 test_connection finish");
    let v1_shutdown = offset(&out, "versioned 1.0.0 shutdown");
    let host_shutdown = offset(&out, "instance of module versioned 1.0.0 shut down");
    let v2_start = offset(&out, "versioned 2.0.0 test_connection start");
    assert!(
        v1_start < upgraded,
        "the v1 call was in flight when the upgrade happened:\n{out}"
    );
    assert!(
        upgraded < v1_finish,
        "the in-flight call finished on v1 after the upgrade:\n{out}"
    );
    assert!(
        v1_finish < v1_shutdown,
        "v1 shut down only once its call in flight returned:\n{out}"
    );
    assert!(
        v1_shutdown < host_shutdown,
        "the module's shutdown ran before the host reported it:\n{out}"
    );
    assert!(
        v1_finish < v2_start,
        "the next call went to v2 after the v1 call returned:\n{out}"
    );
    assert_eq!(
        out.matches("versioned 1.0.0 test_connection start").count(),
        1,
        "no new call went to v1 after the upgrade:\n{out}"
    );
    assert!(
        !out.contains("versioned 2.0.0 shutdown"),
        "the v2 instance stays live:\n{out}"
    );

    let rows = modules_list(&home);
    let r = row(&rows, "versioned.so");
    assert_eq!(
        (text(r, "name"), text(r, "version"), text(r, "status")),
        ("versioned", "2.0.0", "loaded"),
        "{rows:#?}"
    );

    let history = home.run(&["modules", "history", "--json"]).json();
    let events = history.as_array().expect("history is an array");
    for version in ["1.0.0", "2.0.0"] {
        assert!(
            events.iter().any(|e| e["event"] == "loaded"
                && e["name"] == "versioned"
                && e["version"] == version),
            "no loaded event for versioned {version}: {history:#}"
        );
    }

    let mut copies: Vec<String> = std::fs::read_dir(home.modules().join(".loaded"))
        .expect(".loaded exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            #[allow(
                clippy::case_sensitive_file_extension_comparisons,
                reason = "the host names its copies `*.so`"
            )]
            let so = n.ends_with(".so");
            n.starts_with("versioned-") && so
        })
        .collect();
    copies.sort();
    assert_eq!(
        copies.len(),
        2,
        "two content-addressed copies of versioned.so: {copies:?}"
    );
    for c in &copies {
        let sha16 = c.trim_start_matches("versioned-").trim_end_matches(".so");
        assert!(
            sha16.len() == 16 && sha16.chars().all(|ch| ch.is_ascii_hexdigit()),
            "{c} is not <stem>-<sha16>.so"
        );
    }
    for (version, lib) in [
        ("1.0.0", "provisor_fixture_versioned_v1"),
        ("2.0.0", "provisor_fixture_versioned_v2"),
    ] {
        let original = std::fs::read(so(lib)).expect("read fixture");
        let same = copies.iter().any(|c| {
            std::fs::read(home.modules().join(".loaded").join(c)).is_ok_and(|b| b == original)
        });
        assert!(
            same,
            "no copy in .loaded has the bytes of versioned {version}: {copies:?}"
        );
    }
    assert!(daemon.alive());
}

#[test]
fn downgrade_and_same_version_rebuild_are_refused_while_the_loaded_version_keeps_serving() {
    let _serial = untimed();
    let home = TestHome::new();
    home.drop_module(&so("provisor_fixture_versioned_v2"), "versioned.so");
    add_handler(&home, "v", "versioned", r#"{"sleep_ms": 0}"#);
    let mut daemon = home.serve(&SERVE);
    daemon.wait_for("connection check ok: versioned 2.0.0", PATIENCE);

    // A downgrade dropped over the loaded file.
    let mark = daemon.output().len();
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    let refused_at = wait_after(
        &mut daemon,
        "module file versioned.so refused",
        mark,
        PATIENCE,
    );
    let rows = modules_list(&home);
    let r = row(&rows, "versioned.so");
    assert_eq!(
        (text(r, "status"), text(r, "version")),
        ("refused", "1.0.0"),
        "{r:#}"
    );
    assert!(
        text(r, "reason").contains("older"),
        "the reason names the downgrade: {r:#}"
    );
    // The loaded 2.0.0 keeps serving: later connection checks still run on it.
    let ok_after = wait_after(
        &mut daemon,
        "connection check ok: versioned 2.0.0",
        refused_at,
        PATIENCE,
    );
    let out = daemon.output();
    assert!(
        out[refused_at..].contains("older than the loaded 2.0.0"),
        "{out}"
    );
    assert!(
        !out[refused_at..].contains("versioned 1.0.0 test_connection"),
        "nothing ran on the refused 1.0.0:\n{out}"
    );

    // A rebuild of 2.0.0 with different bytes (same version): refused too.
    let rebuild = padded_copy(
        &home,
        &so("provisor_fixture_versioned_v2"),
        "v2-rebuild.bin",
        4096,
    );
    home.drop_module(&rebuild, "versioned.so");
    let refused_again = wait_after(
        &mut daemon,
        "module file versioned.so refused",
        ok_after,
        PATIENCE,
    );
    let rows = modules_list(&home);
    let r = row(&rows, "versioned.so");
    assert_eq!(
        (text(r, "status"), text(r, "version")),
        ("refused", "2.0.0"),
        "{r:#}"
    );
    assert!(
        text(r, "reason").contains("contents differ"),
        "the reason names the rebuild: {r:#}"
    );
    wait_after(
        &mut daemon,
        "connection check ok: versioned 2.0.0",
        refused_again,
        PATIENCE,
    );

    // The CLI loads the directory's file itself (now the 2.0.0 rebuild) and works.
    let tested = home.run(&["handlers", "test", "v"]).ok();
    assert!(tested.contains("versioned 2.0.0"), "{tested}");

    let out = daemon.output();
    assert!(!out.contains("upgraded"), "{out}");
    assert!(
        !out.contains("versioned 2.0.0 shutdown"),
        "the serving instance was never retired:\n{out}"
    );
    assert!(daemon.alive(), "the daemon survives the refusals:\n{out}");
}

#[test]
fn two_files_claiming_one_module_name_are_refused() {
    let _serial = untimed();
    let home = TestHome::new();
    home.modules();
    let mut daemon = home.serve(&SERVE);
    home.drop_module(&so("provisor_fixture_versioned_v1"), "a.so");
    home.drop_module(&so("provisor_fixture_versioned_v2"), "b.so");
    daemon.wait_for("two files claim module versioned", PATIENCE);

    let rows = modules_list(&home);
    let (a, b) = (row(&rows, "a.so"), row(&rows, "b.so"));
    let mut statuses = [text(a, "status"), text(b, "status")];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["loaded", "refused"],
        "one file loaded, the other refused: {rows:#?}"
    );
    let refused = if text(a, "status") == "refused" { a } else { b };
    assert!(
        text(refused, "reason").contains("two files claim module versioned"),
        "{refused:#}"
    );
    let loaded = if text(a, "status") == "loaded" { a } else { b };
    assert_eq!(text(loaded, "name"), "versioned", "{loaded:#}");
    assert!(daemon.alive());
}

/// `n` pseudo-random bytes (xorshift64), never starting like an ELF file.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out[0] = b'#';
    out
}

#[test]
fn bad_files_dropped_into_a_running_daemon_are_refused_and_it_keeps_serving() {
    let _serial = timed();
    let home = TestHome::new();
    home.modules();
    let mut daemon = home.serve(&SERVE);

    let garbage = home.path().join("garbage.bin");
    std::fs::write(&garbage, random_bytes(5000)).expect("write garbage");
    let full = std::fs::read(so("provisor_manual_task")).expect("read manual-task");
    let truncated = home.path().join("truncated.bin");
    std::fs::write(&truncated, &full[..8192]).expect("write truncated");

    home.drop_module(&garbage, "garbage.so");
    home.drop_module(&truncated, "truncated.so");
    home.drop_module(&so("provisor_fixture_not_a_module"), "not-a-module.so");
    home.drop_module(
        &so("provisor_fixture_other_interface"),
        "other-interface.so",
    );
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    let dropped_at = now_epoch();

    let expect: [(&str, &[&str]); 4] = [
        ("garbage.so", &["not an ELF"]),
        ("truncated.so", &["crashed", "cannot be loaded"]),
        ("not-a-module.so", &["not a Provisor module"]),
        ("other-interface.so", &["interface does not match"]),
    ];
    daemon.wait_for("module manual-task 1.0.0 loaded", PATIENCE);
    for (file, _) in expect {
        daemon.wait_for(&format!("module file {file} refused"), PATIENCE);
    }

    let rows = modules_list(&home);
    let good = row(&rows, "manual-task.so");
    assert_eq!(
        (text(good, "name"), text(good, "status")),
        ("manual-task", "loaded"),
        "{rows:#?}"
    );
    let loaded = recorded_after(good, dropped_at);
    eprintln!("bad files: manual-task recorded as loaded {loaded:?} after the last drop");
    for (file, words) in expect {
        let r = row(&rows, file);
        let reason = text(r, "reason");
        assert_eq!(text(r, "status"), "refused", "{r:#}");
        assert!(
            words.iter().any(|w| reason.contains(w)),
            "{file}: reason {reason:?} names none of {words:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        daemon.alive(),
        "the daemon survived the bad files:\n{}",
        daemon.output()
    );
    // And it still serves: a handler on the module dropped last works.
    add_handler(&home, "desk", "manual-task", "{}");
    daemon.wait_for("connection check ok", PATIENCE);
}

#[test]
fn disabling_a_handler_is_noticed_by_the_running_daemon() {
    let _serial = timed();
    let home = TestHome::new();
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    add_handler(&home, "desk", "manual-task", "{}");
    let mut daemon = home.serve(&SERVE);

    let out = home.run(&["handlers", "disable", "desk"]).ok();
    assert!(out.contains("handler desk disabled"), "{out}");
    let took = daemon.wait_for("handler desk disabled", PATIENCE);
    let mark = daemon.output().len();

    let out = home.run(&["handlers", "enable", "desk"]).ok();
    assert!(out.contains("handler desk enabled"), "{out}");
    let enabled = Instant::now();
    wait_after(&mut daemon, "handler desk enabled", mark, PATIENCE);
    eprintln!(
        "disable noticed after {took:?}, enable after {:?}",
        enabled.elapsed()
    );
    assert!(daemon.alive());
}

#[test]
fn a_second_daemon_on_the_same_home_is_refused() {
    let _serial = untimed();
    let home = TestHome::new();
    home.modules();
    let mut daemon = home.serve(&SERVE);

    // `home.run(&["serve"])`, except that a second daemon that does start is killed
    // instead of hanging the test.
    let child = Command::new(bin())
        .arg("--home")
        .arg(home.path())
        .env_remove("PROVISOR_HOME")
        .env_remove("DATABASE_URL")
        .env("PROVISOR_LOG", "warn")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("provisor serve starts");
    let run = exits_within(child, PATIENCE, "a second serve");
    assert!(!run.stdout.contains("ready"), "{run:?}");
    let err = run.fails_with(2);
    assert!(
        err.contains("already running") && err.contains("stop it first"),
        "{err}"
    );
    assert!(
        daemon.alive(),
        "the first daemon keeps running:\n{}",
        daemon.output()
    );
}

// Regression tests for host bugs found while writing the tests above.

#[test]
fn cli_handler_commands_do_not_run_a_downgrade_the_daemon_refused() {
    let _serial = untimed();
    let home = TestHome::new();
    home.drop_module(&so("provisor_fixture_versioned_v2"), "versioned.so");
    add_handler(&home, "v", "versioned", r#"{"sleep_ms": 0}"#);
    let mut daemon = home.serve(&SERVE);
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    daemon.wait_for("older than the loaded 2.0.0", PATIENCE);
    let run = home.run(&["handlers", "test", "v"]);
    assert!(
        !run.stdout.contains("versioned 1.0.0"),
        "`handlers test` ran versioned 1.0.0, which the daemon refused as a downgrade (it serves 2.0.0):\n{run:?}\n{}",
        daemon.output()
    );
}

#[test]
fn removing_the_loaded_one_of_two_claiming_files_loads_the_other() {
    let _serial = untimed();
    let home = TestHome::new();
    home.modules();
    let mut daemon = home.serve(&SERVE);
    home.drop_module(&so("provisor_fixture_versioned_v1"), "a.so");
    home.drop_module(&so("provisor_fixture_versioned_v2"), "b.so");
    daemon.wait_for(
        "two files claim module versioned: a.so (loaded, 1.0.0) and b.so",
        PATIENCE,
    );
    std::fs::remove_file(home.modules().join("a.so")).expect("remove a.so");
    daemon.wait_for("module file a.so was removed", PATIENCE);
    let rows = poll(
        &mut daemon,
        PATIENCE,
        "b.so (versioned 2.0.0, now the only file) loaded",
        || {
            let rows = modules_list(&home);
            (row(&rows, "b.so")["status"] == "loaded").then_some(rows)
        },
    );
    assert_eq!(text(row(&rows, "b.so"), "version"), "2.0.0");
}
