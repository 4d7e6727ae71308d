//! What staff do with money — invoices created, issued, paid, refunded, cancelled,
//! overdue reminders, credit adjustments, usage imports — each recorded in the audit
//! log with its actor. Billing owns these transactions (each first takes the client's
//! lock), so every entry is written right after the change commits (`docs/audit.md`).
//! Must not: hold a billing rule; `provisor_billing` does.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::audit::{record_after, Action, Actor};
use provisor_billing::invoices::{self, InvoiceSummary, InvoiceView, Paid};
use provisor_billing::refunds::{self, Refunded};
use provisor_billing::usage::import::{self, Imported};
use provisor_billing::{credit, Settings};
use provisor_store::error::Result;
use provisor_store::Store;

/// The store, billing's settings and the time of the change: what every use case here
/// works with.
pub type On<'a> = (&'a Store, &'a Settings, DateTime<Utc>);

fn state(v: &InvoiceView) -> Value {
    json!({"status": v.status, "total": v.total, "amount_paid": v.amount_paid, "currency": v.currency})
}

fn id_of(v: &InvoiceView) -> String {
    v.number.clone().unwrap_or_else(|| v.id.to_string())
}

/// Creates a draft invoice for a client from `lines` (issued at once on `issue_on`).
pub async fn create(
    (store, settings, now): On<'_>,
    actor: &Actor,
    client: &str,
    lines: &[String],
    (due, issue_on): (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<InvoiceView> {
    let v = invoices::create(store, client, lines, due, issue_on, now, settings).await?;
    let mut after = state(&v);
    after["client_id"] = json!(v.client_id);
    after["lines"] = json!(lines.len());
    record_after(
        store,
        actor,
        Action::InvoiceCreate,
        Some(id_of(&v)),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(v)
}

/// Issues draft invoices on `day`: one `invoice.issue` entry each.
pub async fn issue_many(
    (store, settings, now): On<'_>,
    actor: &Actor,
    references: &[String],
    day: NaiveDate,
) -> Result<Vec<InvoiceView>> {
    let done = invoices::issue_many(store, references, day, now, settings).await?;
    for v in &done {
        let mut after = state(v);
        after["number"] = json!(v.number);
        record_after(
            store,
            actor,
            Action::InvoiceIssue,
            Some(v.id.to_string()),
            Some(json!({"status": "draft"})),
            Some(after),
            now,
        )
        .await?;
    }
    Ok(done)
}

/// Records a payment on an invoice (see [`provisor_billing::invoices::pay`]); a
/// payment already recorded under `reference` records nothing new.
pub async fn pay(
    (store, settings, now): On<'_>,
    actor: &Actor,
    invoice: &str,
    (amount, reference): (&str, &str),
    day: NaiveDate,
) -> Result<Paid> {
    let before = invoices::show(store, invoice).await.ok().map(|v| state(&v));
    let paid = invoices::pay(store, invoice, amount, reference, day, now, settings).await?;
    if paid.recorded {
        let mut after = state(&paid.invoice);
        after["payment_id"] = json!(paid.payment_id);
        after["applied"] = json!(paid.applied);
        after["credited"] = json!(paid.credited);
        after["reference"] = json!(reference);
        if let Some(op) = paid.released_operation {
            after["released_operation_id"] = json!(op);
        }
        record_after(
            store,
            actor,
            Action::InvoicePay,
            Some(id_of(&paid.invoice)),
            before,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(paid)
}

/// Gives money paid on an invoice back (see [`provisor_billing::refunds::refund`]).
pub async fn refund(
    (store, settings, now): On<'_>,
    actor: &Actor,
    request: refunds::Request<'_>,
) -> Result<Refunded> {
    let before = invoices::show(store, request.invoice)
        .await
        .ok()
        .map(|v| state(&v));
    let r = refunds::refund(store, request, now, settings).await?;
    if r.recorded {
        let mut after = state(&r.invoice);
        after["amount"] = json!(r.amount);
        after["to"] = json!(r.to);
        after["reference"] = json!(r.reference);
        record_after(
            store,
            actor,
            Action::InvoiceRefund,
            Some(id_of(&r.invoice)),
            before,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(r)
}

/// Cancels an invoice (see [`provisor_billing::invoices::cancel`]).
pub async fn cancel(
    (store, settings, now): On<'_>,
    actor: &Actor,
    invoice: &str,
) -> Result<InvoiceView> {
    let before = invoices::show(store, invoice).await.ok().map(|v| state(&v));
    let v = invoices::cancel(store, invoice, now, settings).await?;
    record_after(
        store,
        actor,
        Action::InvoiceCancel,
        Some(id_of(&v)),
        before,
        Some(state(&v)),
        now,
    )
    .await?;
    Ok(v)
}

/// Queues an overdue email for every unpaid invoice due before `day`; one
/// `invoice.overdue` entry per run that queued any, with the invoices' ids.
pub async fn overdue(
    store: &Store,
    actor: &Actor,
    day: NaiveDate,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<InvoiceSummary>> {
    let rows = invoices::overdue(store, day, dry_run, now).await?;
    if !dry_run && !rows.is_empty() {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let after = json!({"day": day, "invoices": ids});
        record_after(
            store,
            actor,
            Action::InvoiceOverdue,
            None,
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(rows)
}

/// Adjusts a client's credit (see [`provisor_billing::credit::adjust`]).
pub async fn credit(
    (store, settings, now): On<'_>,
    actor: &Actor,
    client: &str,
    amount: &str,
    reason: &str,
) -> Result<credit::Adjusted> {
    let a = credit::adjust(store, client, amount, reason, now, settings).await?;
    let after = json!({
        "amount": a.entry.amount,
        "currency": a.currency,
        "reason": a.entry.reason,
        "balance": a.balance,
        "invoices_paid": a.applied.len(),
    });
    record_after(
        store,
        actor,
        Action::ClientCredit,
        Some(a.client_id.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(a)
}

/// Imports a usage file: one `usage.import` entry with its counts.
pub async fn import_usage(
    (store, settings, now): On<'_>,
    actor: &Actor,
    file: &std::path::Path,
) -> Result<Imported> {
    let r = import::import_file(store, file, now, settings).await?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    record_import(store, actor, name, &r, now).await?;
    Ok(r)
}

/// Imports parsed usage records (a batch the HTTP API received): one `usage.import`
/// entry with its counts, after the batch's transaction committed.
pub async fn import_usage_records(
    (store, settings, now): On<'_>,
    actor: &Actor,
    records: Vec<import::NewRecord>,
    started: std::time::Instant,
) -> Result<Imported> {
    let r = import::import_records(store, records, now, started, settings).await?;
    record_import(store, actor, None, &r, now).await?;
    Ok(r)
}

async fn record_import(
    store: &Store,
    actor: &Actor,
    file: Option<String>,
    r: &Imported,
    now: DateTime<Utc>,
) -> Result<()> {
    let after = json!({"file": file, "records": r.records, "inserted": r.inserted, "duplicates": r.duplicates, "late": r.late});
    record_after(
        store,
        actor,
        Action::UsageImport,
        None,
        None,
        Some(after),
        now,
    )
    .await
}
