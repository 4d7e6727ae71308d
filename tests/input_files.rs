//! Hostile entries in the modules directory: a FIFO, a symlink to /dev/zero, a
//! dangling link and a directory named like a module are refused with their reason,
//! never opened, and hang nothing (not `modules list`, not `serve`'s shutdown).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use provisor_e2e::{exits_within, so, TestHome, PATIENCE};
use serde_json::Value;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    #[allow(unsafe_code)]
    // SAFETY: mkfifo with a valid NUL-terminated path and a plain mode.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// A modules directory with one good module and every kind of entry that is not a file.
fn hostile_home() -> TestHome {
    let home = TestHome::new();
    let dir = home.modules();
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    mkfifo(&dir.join("fifo.so"));
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.so")).expect("symlink");
    std::os::unix::fs::symlink(dir.join("nowhere.so.gone"), dir.join("dangling.so"))
        .expect("symlink");
    std::fs::create_dir(dir.join("x.so")).expect("mkdir");
    // A link to a real module is refused too: links are never followed here.
    std::os::unix::fs::symlink(so("provisor_manual_task"), dir.join("linked.so")).expect("symlink");
    home
}

fn reason_of<'a>(rows: &'a [Value], file: &str) -> &'a str {
    let row = rows
        .iter()
        .find(|r| r["file"] == file)
        .unwrap_or_else(|| panic!("no row for {file} in {rows:#?}"));
    assert_eq!(row["status"], "refused", "{row:#?}");
    row["reason"].as_str().unwrap_or_default()
}

#[test]
fn entries_that_are_not_files_are_refused_with_their_reason_and_hang_nothing() {
    let home = hostile_home();
    let run = exits_within(
        home.start(&["modules", "list", "--json"]),
        PATIENCE,
        "modules list with a FIFO and a link to /dev/zero in modules/",
    );
    let out = run.ok();
    let rows: Vec<Value> = serde_json::from_str::<Value>(&out)
        .expect("JSON")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let good = rows
        .iter()
        .find(|r| r["file"] == "manual-task.so")
        .expect("good row");
    assert_eq!(good["status"], "loaded", "{good:#?}");
    assert!(reason_of(&rows, "fifo.so").contains("named pipe (FIFO)"));
    let zero = reason_of(&rows, "zero.so");
    assert!(zero.contains("symbolic link (to /dev/zero)"), "{zero}");
    assert!(
        zero.contains("replace the symlink with the file itself"),
        "{zero}"
    );
    assert!(reason_of(&rows, "dangling.so").contains("dangling symbolic link"));
    assert!(reason_of(&rows, "x.so").contains("is a directory"));
    assert!(reason_of(&rows, "linked.so").contains("replace the symlink"));

    // The table shows the same, and the commands that scan first do not hang either.
    let table = home.ok(&["modules", "list"]);
    assert!(table.contains("named pipe"), "{table}");
    let settings = home.write("desk.json", "{}");
    let settings = settings.to_str().expect("UTF-8 path");
    let run = exits_within(
        home.start(&[
            "handlers",
            "add",
            "desk",
            "--module",
            "manual-task",
            "--settings",
            settings,
        ]),
        PATIENCE,
        "handlers add with a FIFO in modules/",
    );
    run.ok();
    let run = exits_within(
        home.start(&["plans", "add", "Desk", "--handler", "desk"]),
        PATIENCE,
        "plans add with a FIFO in modules/",
    );
    run.ok();
}

#[test]
fn serve_stops_on_sigterm_with_a_fifo_in_the_modules_directory() {
    let home = hostile_home();
    let mut daemon = home.serve(&["--no-workers", "--scan-interval-ms", "200"]);
    // It has met the FIFO, then scans a few more times.
    daemon.wait_for("fifo.so", PATIENCE);
    std::thread::sleep(Duration::from_millis(800));
    assert!(daemon.alive(), "{}", daemon.output());
    // A scan stuck on the FIFO would keep it running: the bound is only a ceiling.
    let (status, log) = daemon.stop_within(PATIENCE);
    assert!(
        status.success(),
        "serve exited with {status} on SIGTERM:\n{log}"
    );
}

#[test]
fn install_and_inspect_of_a_missing_file_is_not_found_and_of_a_fifo_refused() {
    let home = TestHome::new();
    let err = home.fails(&["modules", "install", "/missing/nothing.so"], 3);
    assert!(err.contains("/missing/nothing.so"), "{err}");
    let fifo = home.path().join("pipe.so");
    mkfifo(&fifo);
    let fifo_text = fifo.display().to_string();
    let run = exits_within(
        home.start(&["modules", "inspect", &fifo_text]),
        PATIENCE,
        "modules inspect of a FIFO",
    );
    let err = run.fails_with(2);
    assert!(err.contains("named pipe"), "{err}");
    let run = exits_within(
        home.start(&["modules", "install", &fifo_text]),
        PATIENCE,
        "modules install of a FIFO",
    );
    let err = run.fails_with(2);
    assert!(err.contains("named pipe"), "{err}");
}
