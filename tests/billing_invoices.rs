//! Invoices by hand, on every backend: lines rounded one by one and taxed per line,
//! totals that are the sums of the lines, partial payments, a payment reference that
//! arrives twice, overpayment that becomes credit and pays the next invoice, a
//! cancellation that returns what was paid to credit, the emails in the outbox.
//! Every amount below is computed by hand in the comments.

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::backends;
use support::*;

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = billing_home(url);
    ok(&home, &["taxes", "set", "DE", "19"]);
    let ann = client(&home, "Ann", "EUR", "NL");
    let bob = client(&home, "Bob", "USD", "DE");
    let cy = client(&home, "Cy", "USD", "US");

    // Ann (EUR, NL 21 %):
    //   Consulting 3 × 33.33 = 99.99; tax 20.9979 → 21.00; 120.99
    //   Setup fee  1 × 25.00 = 25.00; tax  5.25;           30.25
    //   Backup GB 12.5 × 0.08 = 1.00; tax  0.21;             1.21
    //   subtotal 125.99, tax 26.46, total 152.45
    let a = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &ann.to_string(),
            "--line",
            "Consulting;3;33.33",
            "--line",
            "Setup fee;1;25.00",
            "--line",
            "Backup GB;12.5;0.08",
            "--due",
            "2026-03-15",
            "--issue",
            "--date",
            "2026-03-01",
            "--json",
        ],
    );
    let a_id = a["id"].as_i64().unwrap();
    assert_eq!(a["number"], "2026-000001", "[{backend}] {a:#}");
    assert_eq!(a["status"], "unpaid");
    assert_eq!(line(&a, 0), ["99.99", "21.00", "120.99"].map(String::from));
    assert_eq!(line(&a, 1), ["25.00", "5.25", "30.25"].map(String::from));
    assert_eq!(line(&a, 2), ["1.00", "0.21", "1.21"].map(String::from));
    assert_eq!(a["lines"][0]["tax_rate"], "21");
    assert_eq!(
        totals(&a),
        ["125.99", "26.46", "152.45", "0.00", "152.45"].map(String::from),
        "[{backend}]"
    );
    let text = ok(&home, &["invoices", "show", "2026-000001"]);
    assert_eq!(
        text,
        "\
Invoice 2026-000001  [unpaid]
Client:   #1 Ann <ann@example.com>, NL
Issued:   2026-03-01   Due: 2026-03-15   Currency: EUR

#  DESCRIPTION   QTY  UNIT PRICE    NET  TAX %    TAX   TOTAL
1  Consulting      3       33.33  99.99     21  21.00  120.99
2  Setup fee       1       25.00  25.00     21   5.25   30.25
3  Backup GB    12.5        0.08   1.00     21   0.21    1.21

Subtotal  €125.99
Tax        €26.46
Total     €152.45
Paid        €0.00
Due       €152.45
",
        "[{backend}]"
    );

    // A partial payment leaves the rest due.
    let p = json(
        &home,
        &[
            "invoices",
            "pay",
            "2026-000001",
            "--amount",
            "100.00",
            "--reference",
            "A-1",
            "--date",
            "2026-03-05",
            "--json",
        ],
    );
    assert_eq!(p["recorded"], true, "[{backend}] {p:#}");
    assert_eq!(
        totals(&invoice(&home, a_id))[3..],
        ["100.00", "52.45"].map(String::from)
    );

    // The same payment arriving again is recorded once, and says so.
    let again = ok(
        &home,
        &[
            "invoices",
            "pay",
            "2026-000001",
            "--amount",
            "100",
            "--reference",
            "A-1",
        ],
    );
    assert!(
        again.contains("already recorded") && again.contains("nothing changed"),
        "[{backend}] {again}"
    );
    let err = fails(
        &home,
        &[
            "invoices",
            "pay",
            "2026-000001",
            "--amount",
            "90",
            "--reference",
            "A-1",
        ],
        2,
    );
    assert!(
        err.contains("A-1") && err.contains("already recorded"),
        "[{backend}] {err}"
    );
    let a = invoice(&home, a_id);
    assert_eq!(
        a["payments"].as_array().unwrap().len(),
        1,
        "[{backend}] {a:#}"
    );
    assert_eq!(a["amount_paid"], "100.00");

    // Ann's second invoice: 10.00 + 2.10 = 12.10, due 14 days after issue.
    let b = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            "ann@example.com",
            "--line",
            "Hosting;1;10.00",
            "--json",
        ],
    );
    assert_eq!(b["status"], "draft");
    assert!(b["number"].is_null());
    let b_id = b["id"].as_i64().unwrap();
    let issued = json(
        &home,
        &[
            "invoices",
            "issue",
            &b_id.to_string(),
            "--date",
            "2026-03-02",
            "--json",
        ],
    );
    assert_eq!(issued[0]["number"], "2026-000002", "[{backend}] {issued:#}");
    assert_eq!(issued[0]["due_date"], "2026-03-16");
    assert_eq!(issued[0]["total"], "12.10");

    // 70.00 for the 52.45 still due on A: 17.55 becomes credit, which pays B (12.10)
    // at once; 5.45 of credit is left.
    let p = json(
        &home,
        &[
            "invoices",
            "pay",
            &a_id.to_string(),
            "--amount",
            "70",
            "--reference",
            "A-2",
            "--date",
            "2026-03-06",
            "--json",
        ],
    );
    assert_eq!(p["applied"], "52.45", "[{backend}] {p:#}");
    assert_eq!(p["credited"], "17.55");
    assert_eq!(p["credit_applied"][0]["number"], "2026-000002");
    assert_eq!(p["credit_applied"][0]["amount"], "12.10");
    assert_eq!(p["credit_applied"][0]["paid"], true);
    assert_eq!(invoice(&home, a_id)["status"], "paid");
    assert_eq!(invoice(&home, b_id)["status"], "paid");
    let ledger = json(&home, &["clients", "ledger", &ann.to_string(), "--json"]);
    let amounts: Vec<&str> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["17.55", "-12.10"], "[{backend}] {ledger:#}");
    assert_eq!(ledger["balance"], "5.45");
    assert_eq!(ledger["entries"][0]["invoice_id"], a_id);
    assert!(ledger["entries"][0]["payment_id"].is_i64());
    assert_eq!(ledger["entries"][1]["invoice_id"], b_id);

    // A third invoice (4.00 + 0.84 = 4.84) is paid from credit when issued: 0.61 left.
    let c = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            "1",
            "--line",
            "Extra IP;1;4",
            "--issue",
            "--date",
            "2026-03-10",
            "--json",
        ],
    );
    assert_eq!(c["status"], "paid", "[{backend}] {c:#}");
    assert_eq!(c["payments"][0]["method"], "credit");
    assert_eq!(c["payments"][0]["amount"], "4.84");
    assert_eq!(
        json(&home, &["clients", "ledger", "1", "--json"])["balance"],
        "0.61"
    );
    assert_eq!(
        emails_to(&home, "ann@example.com"),
        [
            "invoice_created",
            "invoice_created",
            "invoice_paid",
            "invoice_paid",
            "invoice_created",
            "invoice_paid"
        ],
        "[{backend}]"
    );

    // Cy (USD, US: no tax rate): 15.00, no tax.
    let cy_inv = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &cy.to_string(),
            "--line",
            "Licence;1;15.00",
            "--issue",
            "--json",
        ],
    );
    assert_eq!(
        line(&cy_inv, 0),
        ["15.00", "0.00", "15.00"].map(String::from)
    );
    assert_eq!(cy_inv["currency"], "USD");
    // One payment reported by two processes at once is recorded once.
    let cy_id = cy_inv["id"].as_i64().unwrap().to_string();
    let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (home, cy_id) = (&home, &cy_id);
                s.spawn(move || {
                    json(
                        home,
                        &[
                            "invoices",
                            "pay",
                            cy_id,
                            "--amount",
                            "5",
                            "--reference",
                            "CY-1",
                            "--json",
                        ],
                    )
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let recorded = answers.iter().filter(|a| a["recorded"] == true).count();
    assert_eq!(recorded, 1, "[{backend}] {answers:#?}");
    let cy_now = invoice(&home, cy_inv["id"].as_i64().unwrap());
    assert_eq!(
        cy_now["payments"].as_array().unwrap().len(),
        1,
        "[{backend}] {cy_now:#}"
    );
    assert_eq!(cy_now["amount_due"], "10.00");

    // Bob (USD, half-even; DE 19 %):
    //   Support 3 × 19.99 = 59.97; tax 11.3943 → 11.39; 71.36
    //   Tie     1 × 1.50  =  1.50; tax 0.285 → 0.28 (half-even; half-up would say 0.29); 1.78
    //   subtotal 61.47, tax 11.67, total 73.14
    let d = json(
        &home,
        &[
            "invoices",
            "create",
            "--client",
            &bob.to_string(),
            "--line",
            "Support;3;19.99",
            "--line",
            "Tie;1;1.50",
            "--issue",
            "--json",
        ],
    );
    assert_eq!(
        line(&d, 1),
        ["1.50", "0.28", "1.78"].map(String::from),
        "[{backend}] {d:#}"
    );
    assert_eq!(
        totals(&d),
        ["61.47", "11.67", "73.14", "0.00", "73.14"].map(String::from)
    );
    let d_id = d["id"].as_i64().unwrap().to_string();
    ok(
        &home,
        &[
            "invoices",
            "pay",
            &d_id,
            "--amount",
            "20",
            "--reference",
            "B-1",
        ],
    );
    // Cancelled after a partial payment: the 20.00 paid returns to credit; the number
    // stays used.
    let cancelled = json(&home, &["invoices", "cancel", &d_id, "--json"]);
    assert_eq!(
        cancelled["status"], "cancelled",
        "[{backend}] {cancelled:#}"
    );
    assert!(cancelled["number"].is_string());
    let l = json(&home, &["clients", "ledger", "bob@example.com", "--json"]);
    assert_eq!(l["balance"], "20.00", "[{backend}] {l:#}");
    assert!(l["entries"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("cancelled"));
    let err = fails(&home, &["invoices", "cancel", &d_id], 2);
    assert!(err.contains("cancelled"), "[{backend}] {err}");
    let err = fails(&home, &["invoices", "cancel", "2026-000001"], 2);
    assert!(err.contains("paid"), "[{backend}] {err}");

    // Listings.
    let unpaid = json(&home, &["invoices", "list", "--status", "unpaid", "--json"]);
    let numbers: Vec<&str> = unpaid
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [cy_inv["number"].as_str().unwrap()],
        "[{backend}] {unpaid:#}"
    );
    let mine = json(
        &home,
        &["invoices", "list", "--client", "ann@example.com", "--json"],
    );
    assert_eq!(mine.as_array().unwrap().len(), 3);
    let table = ok(&home, &["invoices", "list"]);
    assert!(table.starts_with("ID  NUMBER"), "[{backend}] {table}");

    // Overdue: Cy's invoice (due 14 days after today) is not overdue today, and is
    // 30 days on; its email is queued once however often this runs.
    let later = chrono_like_today_plus(30);
    let dry = json(
        &home,
        &[
            "invoices",
            "overdue",
            "--date",
            &later,
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(dry.as_array().unwrap().len(), 1, "[{backend}] {dry:#}");
    assert!(emails_to(&home, "cy@example.com")
        .iter()
        .all(|k| k != "invoice_overdue"));
    ok(&home, &["invoices", "overdue", "--date", &later]);
    ok(&home, &["invoices", "overdue", "--date", &later]);
    let overdue: Vec<String> = emails_to(&home, "cy@example.com")
        .into_iter()
        .filter(|k| k == "invoice_overdue")
        .collect();
    assert_eq!(overdue.len(), 1, "[{backend}]");
}

/// Today (UTC) plus `days`, as YYYY-MM-DD, without a date crate in the tests.
fn chrono_like_today_plus(days: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + days * 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn invoices_by_hand_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
