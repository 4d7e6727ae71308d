//! `provisor demo`, the README's first command: against the shipped simulators, in a
//! fresh home, it orders through every module and exits 0 well within a minute.

use std::time::{Duration, Instant};

use provisor_e2e::bin;

#[test]
fn the_demo_runs_every_module_against_the_simulators() {
    let home = tempfile::tempdir().unwrap();
    let kept = home.path().join("demo-home");
    let started = Instant::now();
    let out = std::process::Command::new(bin())
        .arg("demo")
        .arg("--keep")
        .arg(&kept)
        .env_remove("DATABASE_URL")
        .env("PROVISOR_LOG", "warn")
        .output()
        .expect("provisor demo runs");
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(60), "the demo took {took:?}");
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
