//! Refunds, on every backend: a full refund to the original payment (the invoice becomes
//! `refunded`, the email is queued), a partial refund to credit (a ledger entry, the
//! invoice stays paid), a reference that arrives twice or from two processes at once
//! (recorded once), money paid from credit that can only go back to credit, a refund of
//! part of what was paid on an unpaid invoice, and refused input that writes nothing.
//! Every amount below is computed by hand in the comments.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{backends, TestHome};
use serde_json::Value;
use support::*;

/// Makes an invoice of one line for `client` and issues it on `day`; returns its JSON.
fn issued(home: &TestHome, client: i64, line: &str, day: &str) -> Value {
    json(
        home,
        &[
            "invoices",
            "create",
            "--client",
            &client.to_string(),
            "--line",
            line,
            "--issue",
            "--date",
            day,
            "--json",
        ],
    )
}

fn pay(home: &TestHome, invoice: &str, amount: &str, reference: &str, day: &str) {
    ok(
        home,
        &[
            "invoices",
            "pay",
            invoice,
            "--amount",
            amount,
            "--reference",
            reference,
            "--date",
            day,
        ],
    );
}

/// `invoices refund INVOICE --reference R --date D ARGS… --json`.
fn refund(home: &TestHome, invoice: &str, reference: &str, day: &str, args: &[&str]) -> Value {
    let mut all = vec![
        "invoices",
        "refund",
        invoice,
        "--reference",
        reference,
        "--date",
        day,
    ];
    all.extend_from_slice(args);
    all.push("--json");
    json(home, &all)
}

/// Methods and amounts of an invoice's payments, oldest first.
/// `invoices refund INVOICE --reference R ARGS…`, which must be refused (exit 2);
/// returns what it printed.
fn refund_fails(home: &TestHome, invoice: &str, reference: &str, args: &[&str]) -> String {
    let mut all = vec!["invoices", "refund", invoice, "--reference", reference];
    all.extend_from_slice(args);
    fails(home, &all, 2)
}

fn payments(inv: &Value) -> Vec<(String, String)> {
    inv["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["method"].as_str().unwrap().to_string(),
                p["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Everything a refused refund must leave as it was.
fn state(home: &TestHome, invoice: &str, client: i64) -> (String, Value, Value, Value) {
    (
        ok(home, &["invoices", "show", invoice]),
        json(home, &["invoices", "show", invoice, "--json"]),
        json(home, &["clients", "ledger", &client.to_string(), "--json"]),
        json(home, &["outbox", "list", "--json"]),
    )
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = billing_home(url);
    let ann = client(&home, "Ann", "EUR", "NL");
    let cy = client(&home, "Cy", "EUR", "NL");
    let dee = client(&home, "Dee", "EUR", "NL");

    // 1. A full refund to the original payment.
    // Ann's 2026-000001: Hosting 1 × 100.00 = 100.00; tax 21 % = 21.00; total 121.00,
    // paid in full on 2026-03-02.
    let a = issued(&home, ann, "Hosting;1;100.00", "2026-03-01");
    assert_eq!(a["number"], "2026-000001", "[{backend}] {a:#}");
    assert_eq!(a["total"], "121.00");
    pay(&home, "2026-000001", "121.00", "P-1", "2026-03-02");
    let r = refund(&home, "2026-000001", "R-1", "2026-03-10", &[]);
    assert_eq!(r["recorded"], true, "[{backend}] {r:#}");
    assert_eq!(r["to"], "original");
    assert_eq!(r["amount"], "121.00");
    assert_eq!(r["refundable"], "0.00");
    assert!(r["ledger_entry_id"].is_null());
    let a = &r["invoice"];
    assert_eq!(a["status"], "refunded", "[{backend}] {a:#}");
    assert_eq!(a["total"], "121.00");
    assert_eq!(a["amount_paid"], "0.00");
    assert_eq!(a["amount_due"], "0.00");
    assert_eq!(a["amount_refunded"], "121.00");
    assert_eq!(
        payments(a),
        pairs(&[("payment", "121.00"), ("refund", "-121.00")])
    );
    assert_eq!(a["payments"][1]["received"], "-121.00");
    assert_eq!(a["payments"][1]["reference"], "R-1");
    assert_eq!(a["payments"][1]["received_on"], "2026-03-10");
    let text = ok(&home, &["invoices", "show", "2026-000001"]);
    assert!(
        text.starts_with("Invoice 2026-000001  [refunded]\n"),
        "[{backend}] {text}"
    );
    assert!(
        text.contains(
            "\
Total     €121.00
Paid        €0.00
Refunded  €121.00
"
        ),
        "[{backend}] {text}"
    );
    assert!(
        text.contains("  2026-03-02  payment P-1  €121.00\n  2026-03-10  refund R-1  -€121.00\n"),
        "[{backend}] {text}"
    );
    let listed = json(
        &home,
        &["invoices", "list", "--status", "refunded", "--json"],
    );
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "[{backend}] {listed:#}"
    );
    assert_eq!(listed[0]["number"], "2026-000001");
    assert_eq!(listed[0]["amount_due"], "0.00");
    assert_eq!(
        emails_to(&home, "ann@example.com"),
        ["invoice_created", "invoice_paid", "invoice_refunded"],
        "[{backend}]"
    );
    // The same refund again: recorded once, exit 0, says so.
    let again = ok(
        &home,
        &[
            "invoices",
            "refund",
            "2026-000001",
            "--reference",
            "R-1",
            "--date",
            "2026-03-10",
        ],
    );
    assert!(
        again.contains("R-1")
            && again.contains("already recorded")
            && again.contains("nothing changed"),
        "[{backend}] {again}"
    );
    let again = refund(&home, "1", "R-1", "2026-03-10", &["--amount", "121.00"]);
    assert_eq!(again["recorded"], false, "[{backend}] {again:#}");
    assert_eq!(payments(&invoice(&home, 1)).len(), 2);
    // Under that reference, a different refund (amount, destination) is refused.
    let err = refund_fails(&home, "2026-000001", "R-1", &["--amount", "5"]);
    assert!(
        err.contains("R-1") && err.contains("already recorded"),
        "[{backend}] {err}"
    );
    // A payment's reference is not a refund's.
    let err = refund_fails(&home, "2026-000001", "P-1", &[]);
    assert!(err.contains("P-1"), "[{backend}] {err}");
    // Nothing is left to refund.
    let err = refund_fails(&home, "2026-000001", "R-1b", &[]);
    assert!(
        err.contains("2026-000001") && err.contains("already refunded"),
        "[{backend}] {err}"
    );
    assert_eq!(emails_to(&home, "ann@example.com").len(), 3);

    // 2. A partial refund to credit.
    // Ann's 2026-000002: Setup 2 × 25.00 = 50.00; tax 10.50; total 60.50, paid in full.
    // 20.00 back to credit: 60.50 − 20.00 = 40.50 stays paid; the invoice stays paid
    // (nothing is due on it), and Ann's balance is 20.00.
    let b = issued(&home, ann, "Setup;2;25.00", "2026-03-02");
    assert_eq!(b["total"], "60.50", "[{backend}] {b:#}");
    pay(&home, "2026-000002", "60.50", "P-2", "2026-03-03");
    let r = refund(
        &home,
        "2026-000002",
        "R-2",
        "2026-03-11",
        &["--amount", "20.00", "--to", "credit"],
    );
    assert_eq!(r["recorded"], true, "[{backend}] {r:#}");
    assert_eq!(r["to"], "credit");
    assert_eq!(r["amount"], "20.00");
    assert_eq!(r["refundable"], "40.50");
    assert_eq!(r["balance"], "20.00");
    let b = &r["invoice"];
    assert_eq!(b["status"], "paid", "[{backend}] {b:#}");
    assert_eq!(
        totals(b),
        ["50.00", "10.50", "60.50", "40.50", "0.00"].map(String::from)
    );
    assert_eq!(b["amount_refunded"], "20.00");
    assert_eq!(
        payments(b),
        pairs(&[("payment", "60.50"), ("refund_credit", "-20.00")])
    );
    let l = json(&home, &["clients", "ledger", &ann.to_string(), "--json"]);
    assert_eq!(l["balance"], "20.00", "[{backend}] {l:#}");
    assert_eq!(l["entries"].as_array().unwrap().len(), 1);
    let e = &l["entries"][0];
    assert_eq!(e["amount"], "20.00");
    assert_eq!(e["reason"], "refund of invoice 2026-000002 (R-2)");
    assert_eq!(e["invoice_id"], b["id"]);
    assert_eq!(e["payment_id"], r["payment_id"]);
    let text = ok(&home, &["invoices", "show", "2026-000002"]);
    assert!(
        text.contains("Paid      €40.50\nRefunded  €20.00\n") && !text.contains("Due "),
        "[{backend}] {text}"
    );
    assert!(
        text.contains("  2026-03-11  refund R-2 to credit  -€20.00\n"),
        "[{backend}] {text}"
    );
    // The same reference twice: recorded once, the credit given once.
    let again = refund(
        &home,
        "2026-000002",
        "R-2",
        "2026-03-11",
        &["--amount", "20.00", "--to", "credit"],
    );
    assert_eq!(again["recorded"], false, "[{backend}] {again:#}");
    let l = json(&home, &["clients", "ledger", &ann.to_string(), "--json"]);
    assert_eq!(l["balance"], "20.00", "[{backend}] {l:#}");
    assert_eq!(payments(&invoice(&home, 2)).len(), 2);

    // 3. Money paid from credit goes back only to credit.
    // Ann's 2026-000003: Support 1 × 50.00 = 50.00; tax 10.50; total 60.50. Her 20.00
    // of credit pays part of it when it is issued (40.50 due), she pays 40.50.
    let c = issued(&home, ann, "Support;1;50.00", "2026-03-12");
    assert_eq!(
        payments(&c),
        pairs(&[("credit", "20.00")]),
        "[{backend}] {c:#}"
    );
    assert_eq!(c["amount_due"], "40.50");
    pay(&home, "2026-000003", "40.50", "P-3", "2026-03-13");
    // Everything (60.50) to the original: 20.00 of it came from credit.
    let err = refund_fails(&home, "2026-000003", "R-3", &["--date", "2026-03-14"]);
    assert!(
        err.contains("2026-000003") && err.contains("--to credit") && err.contains("€40.50"),
        "[{backend}] {err}"
    );
    let err = refund_fails(
        &home,
        "2026-000003",
        "R-3",
        &["--amount", "40.51", "--date", "2026-03-14"],
    );
    assert!(err.contains("--to credit"), "[{backend}] {err}");
    // The 40.50 paid for real goes back; 60.50 − 40.50 = 20.00 is left on it.
    let r = refund(
        &home,
        "2026-000003",
        "R-3",
        "2026-03-14",
        &["--amount", "40.50"],
    );
    assert_eq!(r["refundable"], "20.00", "[{backend}] {r:#}");
    assert_eq!(r["invoice"]["status"], "paid");
    let err = refund_fails(
        &home,
        "2026-000003",
        "R-4",
        &["--amount", "0.01", "--date", "2026-03-14"],
    );
    assert!(err.contains("--to credit"), "[{backend}] {err}");
    // The rest, 20.00, to credit: the invoice is refunded in full; balance 0 + 20.00.
    let r = refund(
        &home,
        "2026-000003",
        "R-4",
        "2026-03-14",
        &["--to", "credit"],
    );
    assert_eq!(r["amount"], "20.00", "[{backend}] {r:#}");
    assert_eq!(r["balance"], "20.00");
    let c = &r["invoice"];
    assert_eq!(c["status"], "refunded");
    assert_eq!(c["amount_paid"], "0.00");
    assert_eq!(c["amount_refunded"], "60.50");
    assert_eq!(
        payments(c),
        pairs(&[
            ("credit", "20.00"),
            ("payment", "40.50"),
            ("refund", "-40.50"),
            ("refund_credit", "-20.00"),
        ])
    );
    // Ledger: +20.00, −20.00 (applied to 2026-000003), +20.00 (R-4) = 20.00.
    let l = json(&home, &["clients", "ledger", &ann.to_string(), "--json"]);
    let amounts: Vec<&str> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["20.00", "-20.00", "20.00"], "[{backend}] {l:#}");
    assert_eq!(l["balance"], "20.00");
    let refunds = emails_to(&home, "ann@example.com")
        .into_iter()
        .filter(|k| k == "invoice_refunded")
        .count();
    assert_eq!(refunds, 4, "[{backend}] R-1, R-2, R-3, R-4");

    // 4. An unpaid invoice with something paid on it.
    // Cy's 2026-000004: Licence 1 × 10.00 = 10.00; tax 2.10; total 12.10. He pays 5.00:
    // 7.10 due. 2.00 back: 3.00 paid, 12.10 − 3.00 = 9.10 due; the rest (3.00) back:
    // nothing paid, 12.10 due, still unpaid.
    let d = issued(&home, cy, "Licence;1;10.00", "2026-03-01");
    assert_eq!(d["number"], "2026-000004", "[{backend}] {d:#}");
    pay(&home, "2026-000004", "5.00", "P-5", "2026-03-02");
    let err = refund_fails(
        &home,
        "2026-000004",
        "R-5",
        &["--to", "credit", "--date", "2026-03-03"],
    );
    assert!(
        err.contains("2026-000004") && err.contains("unpaid") && err.contains("--to original"),
        "[{backend}] {err}"
    );
    let r = refund(
        &home,
        "2026-000004",
        "R-5",
        "2026-03-03",
        &["--amount", "2"],
    );
    assert_eq!(r["invoice"]["status"], "unpaid", "[{backend}] {r:#}");
    assert_eq!(r["invoice"]["amount_paid"], "3.00");
    assert_eq!(r["invoice"]["amount_due"], "9.10");
    let r = refund(&home, "2026-000004", "R-6", "2026-03-03", &[]);
    assert_eq!(r["amount"], "3.00", "[{backend}] {r:#}");
    assert_eq!(
        totals(&r["invoice"]),
        ["10.00", "2.10", "12.10", "0.00", "12.10"].map(String::from)
    );
    assert_eq!(r["invoice"]["status"], "unpaid");
    let err = refund_fails(&home, "2026-000004", "R-7", &[]);
    assert!(
        err.contains("2026-000004") && err.contains("nothing paid"),
        "[{backend}] {err}"
    );
    let text = ok(&home, &["invoices", "show", "2026-000004"]);
    assert!(
        text.contains("Paid       €0.00\nRefunded   €5.00\nDue       €12.10\n"),
        "[{backend}] {text}"
    );

    // 5. Refused input writes nothing. Dee's 2026-000005: 1 × 10.00 + 2.10 = 12.10, paid.
    let f = issued(&home, dee, "Hosting;1;10.00", "2026-03-01");
    assert_eq!(f["number"], "2026-000005", "[{backend}] {f:#}");
    pay(&home, "2026-000005", "12.10", "P-8", "2026-03-02");
    let draft = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &dee.to_string(),
            "--line",
            "Draft;1;1.00",
            "--json",
        ],
    );
    let draft_id = draft["id"].as_i64().unwrap().to_string();
    let gone = issued(&home, dee, "Gone;1;1.00", "2026-03-01");
    let gone_number = gone["number"].as_str().unwrap().to_string();
    ok(&home, &["invoices", "cancel", &gone_number]);
    let before = state(&home, "2026-000005", dee);
    let refused: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (
            vec!["2026-000005", "--amount", "-5"],
            2,
            vec!["-5", "more than zero"],
        ),
        (
            vec!["2026-000005", "--amount", "0"],
            2,
            vec!["more than zero", "€12.10"],
        ),
        (
            vec!["2026-000005", "--amount", "abc"],
            2,
            vec!["--amount", "abc"],
        ),
        (
            vec!["2026-000005", "--amount", "12.11"],
            2,
            vec!["12.11", "€12.10"],
        ),
        (
            vec!["2026-000005", "--amount", "1.005"],
            2,
            vec!["1.005", "EUR"],
        ),
        (vec!["2026-000005", "--to", "bank"], 2, vec!["bank"]),
        (
            vec!["2026-000005", "--date", "2026-02-30"],
            2,
            vec!["2026-02-30"],
        ),
        (
            vec!["2026-000005", "--date", "2026-03-01"],
            2,
            vec!["2026-03-02", "before"],
        ),
        (
            vec![&draft_id, "--amount", "1"],
            2,
            vec!["draft", "nothing to refund"],
        ),
        (
            vec![&gone_number, "--amount", "1"],
            2,
            vec!["cancelled", "credit"],
        ),
        (vec!["2026-999999"], 3, vec!["2026-999999"]),
        (vec!["999"], 3, vec!["999"]),
    ];
    for (args, code, words) in refused {
        let mut all = vec!["invoices", "refund", "--reference", "BAD-1"];
        all.extend(args.iter().copied());
        let err = fails(&home, &all, code);
        for w in &words {
            assert!(err.contains(w), "[{backend}] {all:?}: {err}");
        }
        assert_eq!(
            state(&home, "2026-000005", dee),
            before,
            "[{backend}] {all:?} changed something"
        );
    }
    assert!(refund_fails(&home, "2026-000005", " ", &[]).contains("--reference"));

    // One refund reported by two processes at once is recorded once.
    let answers: Vec<Value> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let home = &home;
                s.spawn(move || refund(home, "2026-000005", "RACE-1", "2026-03-05", &[]))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let recorded = answers.iter().filter(|a| a["recorded"] == true).count();
    assert_eq!(recorded, 1, "[{backend}] {answers:#?}");
    let f = json(&home, &["invoices", "show", "2026-000005", "--json"]);
    assert_eq!(
        payments(&f),
        pairs(&[("payment", "12.10"), ("refund", "-12.10")]),
        "[{backend}] {f:#}"
    );
    assert_eq!(f["status"], "refunded");
    let refunded = json(
        &home,
        &["invoices", "list", "--status", "refunded", "--json"],
    );
    let numbers: Vec<&str> = refunded
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        ["2026-000005", "2026-000003", "2026-000001"],
        "[{backend}]"
    );
}

#[test]
fn refunds_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}

/// The text output says what happened and that services are left running.
#[test]
fn refund_output_names_the_services_it_leaves_alone() {
    let home = billing_home(None);
    ok(&home, &["plans", "add", "vps", "--handler", "rec"]);
    ok(
        &home,
        &[
            "plans",
            "price",
            "vps",
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "10.00",
        ],
    );
    let ann = client(&home, "Ann", "EUR", "NL");
    let ordered = json(
        &home,
        &[
            "services",
            "order",
            "--client",
            &ann.to_string(),
            "--plan",
            "vps",
            "--json",
        ],
    );
    let service = ordered["service_id"].as_i64().unwrap();
    let number = ordered["invoice"]["number"].as_str().unwrap().to_string();
    // VPS monthly 10.00 + 21 % = 12.10.
    assert_eq!(ordered["invoice"]["total"], "12.10", "{ordered:#}");
    ok(
        &home,
        &[
            "invoices",
            "pay",
            &number,
            "--amount",
            "12.10",
            "--reference",
            "P-1",
        ],
    );
    let out = ok(
        &home,
        &[
            "invoices",
            "refund",
            &number,
            "--reference",
            "R-1",
            "--amount",
            "2.10",
        ],
    );
    assert!(
        out.contains(&format!("refund R-1: €2.10 of invoice {number} to the original payment"))
            && out.contains("stays paid, €10.00 more can be refunded")
            && out.contains(&format!(
                "service #{service} keeps running; terminate it with `provisor services terminate {service}`"
            )),
        "{out}"
    );
}

/// docs/billing.md, "Worked example: a refund in two parts", on every backend.
#[test]
fn the_docs_worked_example() {
    for (backend, url) in backends() {
        let home = billing_home(url);
        let ann = client(&home, "Ann", "EUR", "NL");
        ok(
            &home,
            &[
                "clients",
                "credit",
                &ann.to_string(),
                "--amount",
                "20",
                "--reason",
                "goodwill",
            ],
        );
        // Hosting 1 × 100.00 = 100.00 + 21.00 = 121.00; 20.00 from credit, 101.00 due.
        let a = issued(&home, ann, "Hosting;1;100.00", "2026-03-01");
        assert_eq!(a["amount_due"], "101.00", "[{backend}] {a:#}");
        pay(&home, "2026-000001", "101.00", "P-1", "2026-03-02");
        let err = refund_fails(&home, "2026-000001", "R-1", &["--date", "2026-03-10"]);
        assert!(
            err.contains("€20.00") && err.contains("at most €101.00"),
            "[{backend}] {err}"
        );
        // 121.00 − 30.00 = 91.00 paid, of which 101.00 − 30.00 = 71.00 real money.
        let r = refund(
            &home,
            "2026-000001",
            "R-1",
            "2026-03-10",
            &["--amount", "30.00"],
        );
        assert_eq!(r["refundable"], "91.00", "[{backend}] {r:#}");
        assert_eq!(r["invoice"]["status"], "paid");
        let again = refund(
            &home,
            "2026-000001",
            "R-1",
            "2026-03-10",
            &["--amount", "30.00"],
        );
        assert_eq!(again["recorded"], false, "[{backend}] {again:#}");
        // The 91.00 left to credit: balance 20.00 − 20.00 + 91.00 = 91.00.
        let r = refund(
            &home,
            "2026-000001",
            "R-2",
            "2026-03-11",
            &["--to", "credit"],
        );
        assert_eq!(r["amount"], "91.00", "[{backend}] {r:#}");
        assert_eq!(r["balance"], "91.00");
        assert_eq!(r["invoice"]["status"], "refunded");
        let text = ok(&home, &["invoices", "show", "2026-000001"]);
        assert!(
            text.ends_with(
                "\
Total     €121.00
Paid        €0.00
Refunded  €121.00

Payments:
  2026-03-01  from credit  €20.00
  2026-03-02  payment P-1  €101.00
  2026-03-10  refund R-1  -€30.00
  2026-03-11  refund R-2 to credit  -€91.00
"
            ),
            "[{backend}] {text}"
        );
    }
}
