//! `provisor demo`, the README's first command: against the shipped simulators, in a
//! fresh home, it orders through every module and exits 0. How long it took is printed
//! (a few seconds), not asserted; a demo still running after five minutes is stuck.

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use provisor_e2e::{bin, exits_within};

#[test]
fn the_demo_runs_every_module_against_the_simulators() {
    let home = tempfile::tempdir().unwrap();
    let kept = home.path().join("demo-home");
    // Output to files, not pipes: nothing blocks on a full pipe while we wait.
    let (out_file, err_file) = (home.path().join("out.txt"), home.path().join("err.txt"));
    let started = Instant::now();
    let child = std::process::Command::new(bin())
        .arg("demo")
        .arg("--keep")
        .arg(&kept)
        .env_remove("DATABASE_URL")
        .env("PROVISOR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(File::create(&out_file).expect("stdout file"))
        .stderr(File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("provisor demo starts");
    let run = exits_within(child, Duration::from_secs(300), "provisor demo");
    eprintln!("the demo took {:?}", started.elapsed());
    let text = std::fs::read_to_string(&out_file).unwrap_or_default();
    assert!(
        run.code == 0,
        "demo failed (exit {}):\n{text}\n{}",
        run.code,
        std::fs::read_to_string(&err_file).unwrap_or_default()
    );
    for needle in [
        "-- 1. The remote panels",
        "refused as expected",
        "handed to people",
        "staff member bob took it",
        "SSO for the client http://127.0.0.1:",
        "characters, hidden)",
        "Ada pays invoice",
        "Ada's credit from the paid deposit: €25.00",
        "from her credit at once",
        "[month_end] collected for service #1",
        "[postpaid] invoice",
        "[license] invoiced service #7",
        "ComputeStacks user active=false",
        "ComputeStacks user active=true",
        "pooled as free.lic with IP 0.0.0.0",
        "reused license",
        "700 h × 7 tokens/h 4900 token",
        "secrets redacted",
    ] {
        assert!(
            text.contains(needle),
            "the demo did not print {needle:?}:\n{text}"
        );
    }
    // Every service ends active, and the pool saved a purchase.
    let services = text
        .split("-- 7. Services")
        .nth(1)
        .and_then(|rest| rest.split("-- 8.").next())
        .unwrap_or_default();
    let rows: Vec<&str> = services.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(rows.len(), 6, "{services}");
    assert!(rows.iter().all(|r| r.contains(" active ")), "{services}");
    assert!(text.contains("2 licenses bought in all"), "{text}");
    // No SSO credential reached the output.
    assert!(
        text.split("token=")
            .skip(1)
            .all(|rest| rest.starts_with('…')),
        "an SSO token was printed:\n{text}"
    );

    // The kept home shows the demo's invoices: the deposit and the license paid at
    // order, the license paid from credit, its renewal, and the 1st's usage invoices.
    let list = std::process::Command::new(bin())
        .arg("--home")
        .arg(&kept)
        .args(["invoices", "list", "--json"])
        .env_remove("DATABASE_URL")
        .env_remove("PROVISOR_HOME")
        .output()
        .expect("provisor invoices list runs");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let invoices: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let invoices = invoices.as_array().expect("a list");
    assert_eq!(invoices.len(), 6, "{invoices:#?}");
    let paid = invoices.iter().filter(|i| i["status"] == "paid").count();
    assert_eq!(paid, 4, "{invoices:#?}");

    // --home names the demo's home too, but never one that holds something.
    let again = std::process::Command::new(bin())
        .arg("--home")
        .arg(&kept)
        .arg("demo")
        .env_remove("DATABASE_URL")
        .env_remove("PROVISOR_HOME")
        .output()
        .expect("provisor demo runs");
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
}
