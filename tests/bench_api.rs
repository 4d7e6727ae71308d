//! `provisor bench api` runs end to end with tiny numbers, so it cannot rot: the real
//! binary starts the real server on a free loopback port, and the output has its
//! shape (five phases with rates and latencies, three targets). No rate is asserted:
//! figures belong in `docs/performance.md`, never in a timed test.

use provisor_e2e::TestHome;

const PHASES: [&str; 5] = [
    "GET /v1/health",
    "GET /v1/services/{id}",
    "POST /v1/services",
    "POST, no Idempotency-Key",
    "order in process",
];

#[test]
fn bench_api_prints_every_phase_and_target() {
    let home = TestHome::new();
    let f = home.json(&[
        "bench",
        "api",
        "--connections",
        "3",
        "--requests",
        "12",
        "--json",
    ]);
    assert_eq!(f["backend"], "sqlite", "{f}");
    assert_eq!(f["connections"], 3, "{f}");
    let phases = f["phases"].as_array().expect("phases");
    let names: Vec<&str> = phases.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, PHASES, "{f}");
    for p in phases {
        assert_eq!(p["requests"], 12, "{p}");
        for key in ["secs", "rate", "p50_ms", "p99_ms"] {
            assert!(p[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {p}");
        }
        assert!(p["p99_ms"].as_f64() >= p["p50_ms"].as_f64(), "{p}");
    }
    let targets = f["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 3, "{f}");
    for t in targets {
        assert!(t["met"].is_boolean(), "{t}");
        assert!(
            t["value"].as_f64().is_some() && t["target"].as_f64().is_some(),
            "{t}"
        );
    }

    // The table: a row per phase, a line per target, and nothing on standard error.
    let run = home.run(&["bench", "api", "--connections", "2", "--requests", "4"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    for name in PHASES {
        assert!(run.stdout.contains(name), "no {name} row:\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("reads ÷ health") && run.stdout.contains("(target ≥ 0.80)"),
        "{}",
        run.stdout
    );
}

#[test]
fn bench_api_refuses_zero() {
    let home = TestHome::new();
    let err = home.fails(&["bench", "api", "--connections", "0"], 2);
    assert!(err.contains("--connections"), "{err}");
}
