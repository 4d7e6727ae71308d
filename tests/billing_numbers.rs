//! Invoice numbers: sequential without gaps per year, given in the same transaction
//! as the change to `unpaid`, on every backend, with two processes issuing at once.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::backends;
use support::*;

const DRAFTS: usize = 30;

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = billing_home(url);
    let clients: Vec<String> = ["Ann", "Bob", "Cy"]
        .iter()
        .map(|n| client(&home, n, "EUR", "NL").to_string())
        .collect();
    let mut drafts = Vec::new();
    for i in 0..DRAFTS {
        let v = json(
            &home,
            &[
                "invoices",
                "create",
                "--client",
                &clients[i % 3],
                "--line",
                &format!("Item {i};1;{i}.50"),
                "--json",
            ],
        );
        drafts.push(v["id"].as_i64().unwrap().to_string());
    }

    // Two processes issue interleaved halves at the same time; each invoice is its own
    // transaction, so they contend for the year's counter all the way through.
    let (odd, even): (Vec<_>, Vec<_>) = drafts.iter().enumerate().partition(|(i, _)| i % 2 == 1);
    std::thread::scope(|s| {
        for half in [odd, even] {
            let home = &home;
            s.spawn(move || {
                let mut args = vec!["invoices", "issue", "--date", "2026-06-30"];
                args.extend(half.iter().map(|(_, id)| id.as_str()));
                home.run(&args).ok();
            });
        }
    });
    let mut numbers: Vec<String> = json(&home, &["invoices", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["number"]
                .as_str()
                .expect("every draft issued")
                .to_string()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=DRAFTS).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(numbers, expected, "[{backend}] no gaps, no duplicates");

    // A refused issue (due before the issue date) uses no number.
    let late = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &clients[0],
            "--line",
            "Late;1;1",
            "--due",
            "2026-01-01",
            "--json",
        ],
    );
    let err = fails(
        &home,
        &[
            "invoices",
            "issue",
            &late["id"].to_string(),
            "--date",
            "2026-06-30",
        ],
        2,
    );
    assert!(err.contains("before its issue date"), "[{backend}] {err}");
    assert!(invoice(&home, late["id"].as_i64().unwrap())["number"].is_null());
    let next = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &clients[1],
            "--line",
            "Next;1;1",
            "--issue",
            "--date",
            "2026-07-01",
            "--json",
        ],
    );
    assert_eq!(
        next["number"],
        format!("2026-{:06}", DRAFTS + 1),
        "[{backend}]"
    );

    // Each year counts from 1; an earlier year continues where it was.
    let new_year = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &clients[2],
            "--line",
            "NY;1;1",
            "--issue",
            "--date",
            "2027-01-01",
            "--json",
        ],
    );
    assert_eq!(new_year["number"], "2027-000001", "[{backend}]");
    let leap = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &clients[2],
            "--line",
            "Leap;1;1",
            "--issue",
            "--date",
            "2028-02-29",
            "--json",
        ],
    );
    assert_eq!(leap["number"], "2028-000001");
    let old_year = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &clients[2],
            "--line",
            "Dec;1;1",
            "--issue",
            "--date",
            "2026-12-31",
            "--json",
        ],
    );
    assert_eq!(
        old_year["number"],
        format!("2026-{:06}", DRAFTS + 2),
        "[{backend}]"
    );
    // Issuing twice is refused; the number does not move.
    let err = fails(&home, &["invoices", "issue", "2027-000001"], 2);
    assert!(err.contains("only a draft"), "[{backend}] {err}");
    assert_eq!(
        invoice(&home, new_year["id"].as_i64().unwrap())["number"],
        "2027-000001"
    );
}

#[test]
fn numbers_have_no_gaps_with_concurrent_issuers_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
