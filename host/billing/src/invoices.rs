//! Invoices and payments.
//!
//! An invoice is made as a `draft` (lines with their rounded amounts, totals that are
//! the sums of those lines). Issuing it gives it the next number of its issue year in
//! the same transaction as the status change to `unpaid`, from a counter row that the
//! transaction holds locked until it commits: concurrent issuers wait for each other,
//! and a rolled-back issue gives its number back, so numbers have no gaps and no
//! duplicates. Payments carry a unique reference (recorded once); what is paid beyond
//! the amount due becomes credit; credit goes to unpaid invoices (oldest due date
//! first) whenever there is some. A fully paid invoice turns its deposit lines into
//! credit and releases the create its order was waiting on.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr, Statement,
};
use serde::Serialize;

use super::money::{self, Currency};
use super::prices::Period;
use super::{currencies, ledger, orders, taxes, Email};
use crate::Settings;
use provisor_store::entities::{client, invoice, invoice_line, outbox, payment};
use provisor_store::error::{Error, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// Days between issue and due date when an invoice made by hand names none.
pub const DEFAULT_DUE_DAYS: u64 = 14;

/// Every invoice status.
pub const STATUSES: [&str; 5] = ["draft", "unpaid", "paid", "cancelled", "refunded"];

/// One line to put on a new invoice.
#[derive(Debug, Clone)]
pub(crate) struct NewLine {
    /// service, deposit or manual.
    pub kind: &'static str,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Percent.
    pub tax_rate: Decimal,
    pub service_id: Option<i64>,
    pub period: Option<(Period, NaiveDate, NaiveDate)>,
}

/// Money applied to one invoice (from credit, or from a payment).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub invoice_id: i64,
    pub number: Option<String>,
    pub amount: String,
    /// Whether the invoice is now paid in full.
    pub paid: bool,
    /// The create operation its payment released, for an order's invoice.
    pub released_operation: Option<i64>,
}

/// An invoice line as shown.
#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    pub position: i32,
    pub kind: String,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub net: String,
    pub tax_rate: String,
    pub tax: String,
    pub total: String,
    pub service_id: Option<i64>,
    pub period: Option<String>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

/// A payment, a credit application or a refund as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentView {
    pub id: i64,
    /// payment, credit, refund or refund_credit (refunds have negative amounts).
    pub method: String,
    pub reference: Option<String>,
    pub amount: String,
    pub received: String,
    pub received_on: NaiveDate,
}

/// An invoice as shown (`invoices show`, the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceView {
    pub id: i64,
    pub number: Option<String>,
    pub status: String,
    pub client_id: i64,
    pub client_name: String,
    pub client_email: String,
    pub client_country: String,
    pub service_id: Option<i64>,
    pub currency: String,
    pub currency_symbol: String,
    pub subtotal: String,
    pub tax_total: String,
    pub total: String,
    pub amount_paid: String,
    pub amount_due: String,
    /// Given back by refunds (a positive amount; `amount_paid` is already net of it).
    pub amount_refunded: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub paid_at: Option<String>,
    pub created_at: String,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentView>,
    #[serde(skip)]
    cur: Option<Currency>,
}

/// An invoice in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceSummary {
    pub id: i64,
    pub number: Option<String>,
    pub status: String,
    pub client_id: i64,
    pub currency: String,
    pub total: String,
    pub amount_due: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
}

/// What `invoices pay` did.
#[derive(Debug, Clone, Serialize)]
pub struct Paid {
    /// False when a payment with this reference was already recorded (nothing changed).
    pub recorded: bool,
    pub note: String,
    pub payment_id: i64,
    /// What went to this invoice.
    pub applied: String,
    /// What was paid beyond the amount due and became credit.
    pub credited: String,
    pub released_operation: Option<i64>,
    /// Credit that then went to other unpaid invoices.
    pub credit_applied: Vec<Applied>,
    pub invoice: InvoiceView,
}

fn amount(text: &str, what: impl FnOnce() -> String) -> Result<Decimal> {
    money::from_db(text, &what())
}

fn inv_amounts(inv: &invoice::Model) -> Result<(Decimal, Decimal)> {
    let what = || format!("invoice #{}", inv.id);
    Ok((amount(&inv.total, what)?, amount(&inv.amount_paid, what)?))
}

pub(crate) fn name_of(inv: &invoice::Model) -> String {
    match &inv.number {
        Some(n) => n.clone(),
        None => format!("#{} (draft)", inv.id),
    }
}

/// Writes a draft invoice with its lines; amounts are rounded per line and the
/// totals are the sums of the rounded lines.
pub(crate) async fn insert_draft<C: ConnectionTrait>(
    db: &C,
    client_id: i64,
    cur: &Currency,
    lines: Vec<NewLine>,
    service_id: Option<i64>,
    due_date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<invoice::Model> {
    if lines.is_empty() {
        return Err(Error::Invalid("an invoice needs at least one line".into()));
    }
    let amounts: Vec<money::LineAmounts> = lines
        .iter()
        .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, cur))
        .collect();
    let t = money::totals(&amounts, cur);
    let zero = cur.text(Decimal::ZERO);
    let inv = invoice::ActiveModel {
        client_id: Set(client_id),
        service_id: Set(service_id),
        number: Set(None),
        number_year: Set(None),
        number_seq: Set(None),
        status: Set("draft".into()),
        currency: Set(cur.code.clone()),
        subtotal: Set(cur.text(t.subtotal)),
        tax_total: Set(cur.text(t.tax)),
        total: Set(cur.text(t.total)),
        amount_paid: Set(zero),
        issue_date: Set(None),
        due_date: Set(due_date),
        paid_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("storing the invoice"))?;
    let rows: Vec<invoice_line::ActiveModel> = lines
        .into_iter()
        .zip(&amounts)
        .enumerate()
        .map(|(i, (l, a))| invoice_line::ActiveModel {
            invoice_id: Set(inv.id),
            position: Set(i as i32 + 1),
            kind: Set(l.kind.to_string()),
            description: Set(l.description),
            quantity: Set(l.quantity.normalize().to_string()),
            unit_price: Set(cur.text(l.unit_price)),
            net: Set(cur.text(a.net)),
            tax_rate: Set(l.tax_rate.normalize().to_string()),
            tax: Set(cur.text(a.tax)),
            total: Set(cur.text(a.total)),
            service_id: Set(l.service_id),
            period: Set(l.period.map(|p| p.0.as_str().to_string())),
            period_start: Set(l.period.map(|p| p.1)),
            period_end: Set(l.period.map(|p| p.2)),
            ..Default::default()
        })
        .collect();
    invoice_line::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(db_err("storing the invoice lines"))?;
    Ok(inv)
}

/// The next number of `year`: one upsert on the year's counter row, which stays locked
/// until the transaction ends.
async fn next_number<C: ConnectionTrait>(db: &C, year: i32) -> Result<i64> {
    let backend = db.get_database_backend();
    // The same bound statement on both backends; only the placeholder syntax differs
    // (`$1` on PostgreSQL, `?1` on SQLite).
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO invoice_sequences (year, last) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last"
        }
        _ => {
            "INSERT INTO invoice_sequences (year, last) VALUES (?1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [year.into()]))
        .await
        .map_err(db_err("numbering the invoice"))?
        .ok_or_else(|| Error::Storage("numbering the invoice: no number came back".into()))?;
    row.try_get::<i64>("", "last")
        .map_err(db_err("numbering the invoice"))
}

/// `draft` → `unpaid`: the number, the issue and due dates, the "invoice created"
/// email, then any credit the client has. A zero invoice is paid at once. Callers
/// hold the client's lock.
pub(crate) async fn issue_in<C: ConnectionTrait>(
    db: &C,
    inv: invoice::Model,
    client: &client::Model,
    cur: &Currency,
    issue_date: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<Applied>> {
    if inv.status != "draft" {
        return Err(Error::Invalid(format!(
            "invoice {} is {}; only a draft can be issued",
            name_of(&inv),
            inv.status
        )));
    }
    let due = inv
        .due_date
        .unwrap_or(issue_date + chrono::Days::new(DEFAULT_DUE_DAYS));
    if due < issue_date {
        return Err(Error::Invalid(format!(
            "invoice #{} is due on {due}, before its issue date {issue_date}; give a later --due",
            inv.id
        )));
    }
    let year = issue_date.year();
    let seq = next_number(db, year).await?;
    let number = format!("{year}-{seq:06}");
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set("unpaid".into());
    m.number = Set(Some(number.clone()));
    m.number_year = Set(Some(year));
    m.number_seq = Set(Some(seq));
    m.issue_date = Set(Some(issue_date));
    m.due_date = Set(Some(due));
    m.updated_at = Set(now);
    let inv = m.update(db).await.map_err(db_err("issuing the invoice"))?;
    let view = load_view(db, &inv).await?;
    super::queue_email(
        db,
        Email {
            kind: "invoice_created",
            recipient: client.email.clone(),
            subject: format!(
                "Invoice {number}: {} due {due}",
                cur.format(amount(&inv.total, || number.clone())?)
            ),
            body: format!(
                "Hello {},\n\nyour invoice is ready.\n\n{}",
                client.name,
                render(&view)
            ),
            service_id: inv.service_id,
            dedupe_key: format!("invoice-{}-created", inv.id),
        },
        now,
    )
    .await?;
    let mut applied = Vec::new();
    if amount(&inv.total, || number.clone())?.is_zero() {
        let released = settle(db, &inv, client, cur, now, settings).await?;
        applied.push(Applied {
            invoice_id: inv.id,
            number: inv.number.clone(),
            amount: cur.text(Decimal::ZERO),
            paid: true,
            released_operation: released,
        });
    }
    applied.extend(apply_credit(db, client, cur, issue_date, now, settings).await?);
    Ok(applied)
}

/// One invoice of a batch (see [`issue_batch`]).
pub(crate) struct BatchInvoice<'a> {
    pub client: &'a client::Model,
    pub cur: &'a Currency,
    pub lines: Vec<NewLine>,
    pub due_date: NaiveDate,
}

/// The total an invoice with these lines would have (rounded per line, as stored).
pub(crate) fn lines_total(lines: &[NewLine], cur: &Currency) -> Decimal {
    let amounts: Vec<money::LineAmounts> = lines
        .iter()
        .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, cur))
        .collect();
    money::totals(&amounts, cur).total
}

/// Rows per multi-row insert: at most 16 columns × 1000 rows = 16,000 bound
/// parameters, well under SQLite's 32,766 and PostgreSQL's 65,535.
const BATCH_ROWS: usize = 1000;

/// Takes `n` consecutive numbers of `year` with one upsert on the year's counter row
/// (locked until the transaction ends, as [`next_number`]); returns the first.
async fn reserve_numbers<C: ConnectionTrait>(db: &C, year: i32, n: i64) -> Result<i64> {
    let backend = db.get_database_backend();
    // As in `next_number`: one statement, only the placeholder syntax differs.
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO invoice_sequences (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + $2 RETURNING last"
        }
        _ => {
            "INSERT INTO invoice_sequences (year, last) VALUES (?1, ?2) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + ?2 RETURNING last"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [year.into(), n.into()],
        ))
        .await
        .map_err(db_err("numbering the invoices"))?
        .ok_or_else(|| Error::Storage("numbering the invoices: no number came back".into()))?;
    let last = row
        .try_get::<i64>("", "last")
        .map_err(db_err("numbering the invoices"))?;
    Ok(last - n + 1)
}

/// Issues many invoices at once, with the same result as [`insert_draft`] +
/// [`issue_in`] for each in turn, in a handful of statements: the batch's numbers
/// from one update of the year's counter (gapless, in batch order), the invoices, their
/// lines and their "invoice created" emails each in multi-row inserts, and one read of
/// the new invoices' ids. Callers hold the clients' locks and pass only invoices that
/// `issue_in` would leave unpaid and untouched: a total above zero, and a client with
/// no credit in the invoice's currency.
pub(crate) async fn issue_batch<C: ConnectionTrait>(
    db: &C,
    batch: Vec<BatchInvoice<'_>>,
    issue_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<invoice::Model>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let year = issue_date.year();
    let mut prepared = Vec::with_capacity(batch.len());
    for b in batch {
        if b.lines.is_empty() {
            return Err(Error::Invalid("an invoice needs at least one line".into()));
        }
        if b.due_date < issue_date {
            return Err(Error::Invalid(format!(
                "an invoice for client #{} is due on {}, before its issue date {issue_date}",
                b.client.id, b.due_date
            )));
        }
        let amounts: Vec<money::LineAmounts> = b
            .lines
            .iter()
            .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, b.cur))
            .collect();
        let t = money::totals(&amounts, b.cur);
        if t.total <= Decimal::ZERO {
            return Err(Error::Invalid(format!(
                "an invoice for client #{} totals {}: it is issued on its own",
                b.client.id,
                b.cur.text(t.total)
            )));
        }
        prepared.push((b, amounts, t));
    }
    let first = reserve_numbers(db, year, prepared.len() as i64).await?;
    let last = first + prepared.len() as i64 - 1;
    // The rows as stored, kept in memory: only their ids are read back.
    let mut models: Vec<invoice::Model> = prepared
        .iter()
        .enumerate()
        .map(|(i, (b, _, t))| {
            let seq = first + i as i64;
            invoice::Model {
                id: 0,
                client_id: b.client.id,
                service_id: None,
                number: Some(format!("{year}-{seq:06}")),
                number_year: Some(year),
                number_seq: Some(seq),
                status: "unpaid".into(),
                currency: b.cur.code.clone(),
                subtotal: b.cur.text(t.subtotal),
                tax_total: b.cur.text(t.tax),
                total: b.cur.text(t.total),
                amount_paid: b.cur.text(Decimal::ZERO),
                issue_date: Some(issue_date),
                due_date: Some(b.due_date),
                paid_at: None,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    for part in models.chunks(BATCH_ROWS) {
        let rows = part.iter().map(|m| {
            let mut a: invoice::ActiveModel = m.clone().into();
            a.id = sea_orm::ActiveValue::NotSet;
            a
        });
        invoice::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(db_err("storing the invoices"))?;
    }
    let ids: std::collections::HashMap<i64, i64> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::NumberSeq)
        .column(invoice::Column::Id)
        .filter(invoice::Column::NumberYear.eq(year))
        .filter(invoice::Column::NumberSeq.between(first, last))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await
        .map_err(db_err("reading the new invoices' ids"))?
        .into_iter()
        .collect();
    for m in &mut models {
        let seq = m.number_seq.unwrap_or_default();
        m.id = *ids
            .get(&seq)
            .ok_or_else(|| Error::Storage(format!("invoice {year}-{seq:06} was not stored")))?;
    }
    let mut made = Vec::with_capacity(prepared.len());
    let mut line_rows: Vec<invoice_line::ActiveModel> = Vec::new();
    let mut emails: Vec<outbox::ActiveModel> = Vec::with_capacity(prepared.len());
    for ((b, amounts, _), inv) in prepared.into_iter().zip(models) {
        let cur = b.cur;
        let lines: Vec<LineView> = b
            .lines
            .into_iter()
            .zip(&amounts)
            .enumerate()
            .map(|(k, (l, a))| LineView {
                position: k as i32 + 1,
                kind: l.kind.to_string(),
                description: l.description,
                quantity: l.quantity.normalize().to_string(),
                unit_price: cur.text(l.unit_price),
                net: cur.text(a.net),
                tax_rate: l.tax_rate.normalize().to_string(),
                tax: cur.text(a.tax),
                total: cur.text(a.total),
                service_id: l.service_id,
                period: l.period.map(|p| p.0.as_str().to_string()),
                period_start: l.period.map(|p| p.1),
                period_end: l.period.map(|p| p.2),
            })
            .collect();
        for l in &lines {
            line_rows.push(invoice_line::ActiveModel {
                invoice_id: Set(inv.id),
                position: Set(l.position),
                kind: Set(l.kind.clone()),
                description: Set(l.description.clone()),
                quantity: Set(l.quantity.clone()),
                unit_price: Set(l.unit_price.clone()),
                net: Set(l.net.clone()),
                tax_rate: Set(l.tax_rate.clone()),
                tax: Set(l.tax.clone()),
                total: Set(l.total.clone()),
                service_id: Set(l.service_id),
                period: Set(l.period.clone()),
                period_start: Set(l.period_start),
                period_end: Set(l.period_end),
                ..Default::default()
            });
        }
        let number = inv.number.clone().unwrap_or_default();
        let total = amount(&inv.total, || number.clone())?;
        let due = inv.due_date.unwrap_or(b.due_date);
        let view = InvoiceView {
            id: inv.id,
            number: inv.number.clone(),
            status: inv.status.clone(),
            client_id: b.client.id,
            client_name: b.client.name.clone(),
            client_email: b.client.email.clone(),
            client_country: b.client.country.clone(),
            service_id: inv.service_id,
            currency: inv.currency.clone(),
            currency_symbol: cur.symbol.clone(),
            subtotal: inv.subtotal.clone(),
            tax_total: inv.tax_total.clone(),
            total: inv.total.clone(),
            amount_paid: inv.amount_paid.clone(),
            amount_due: cur.text(total),
            amount_refunded: cur.text(Decimal::ZERO),
            issue_date: inv.issue_date,
            due_date: inv.due_date,
            paid_at: None,
            created_at: inv.created_at.to_rfc3339(),
            lines,
            payments: Vec::new(),
            cur: Some(cur.clone()),
        };
        emails.push(outbox::ActiveModel {
            kind: Set("invoice_created".into()),
            recipient: Set(b.client.email.clone()),
            subject: Set(format!("Invoice {number}: {} due {due}", cur.format(total))),
            body: Set(format!(
                "Hello {},\n\nyour invoice is ready.\n\n{}",
                b.client.name,
                render(&view)
            )),
            service_id: Set(inv.service_id),
            dedupe_key: Set(format!("invoice-{}-created", inv.id)),
            created_at: Set(now),
            sent_at: Set(None),
            ..Default::default()
        });
        made.push(inv);
    }
    for part in line_rows.chunks(BATCH_ROWS) {
        invoice_line::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(db_err("storing the invoice lines"))?;
    }
    drop(line_rows);
    provisor_store::queue::queue_emails(db, emails).await?;
    Ok(made)
}

/// Marks an invoice paid in full: the "paid" email, deposit lines into credit, and
/// the order's held create queued. Returns that operation.
async fn settle<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    client: &client::Model,
    cur: &Currency,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<i64>> {
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set("paid".into());
    m.paid_at = Set(Some(now));
    m.updated_at = Set(now);
    let inv = m
        .update(db)
        .await
        .map_err(db_err("marking the invoice paid"))?;
    let number = name_of(&inv);
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .filter(invoice_line::Column::Kind.eq("deposit"))
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    for l in lines {
        let value = amount(&l.total, || format!("invoice {number} line {}", l.position))?;
        ledger::append(
            db,
            client.id,
            cur,
            value,
            format!("deposit paid with invoice {number}"),
            Some(inv.id),
            None,
            now,
        )
        .await?;
    }
    super::queue_email(
        db,
        Email {
            kind: "invoice_paid",
            recipient: client.email.clone(),
            subject: format!("Invoice {number} is paid"),
            body: format!(
                "Hello {},\n\nthank you: invoice {number} ({}) is paid in full.\n",
                client.name,
                cur.format(amount(&inv.total, || number.clone())?)
            ),
            service_id: inv.service_id,
            dedupe_key: format!("invoice-{}-paid", inv.id),
        },
        now,
    )
    .await?;
    let released = match inv.service_id {
        Some(s) => orders::release(db, s, now).await?,
        None => None,
    };
    // Billing terms start or advance; a service suspended for this invoice is unsuspended.
    super::recurring::on_paid(db, &inv, now, settings).await?;
    Ok(released)
}

/// Adds `value` to what has been paid on `inv`; settles it when that reaches the total.
async fn add_paid<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    value: Decimal,
    client: &client::Model,
    cur: &Currency,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<(bool, Option<i64>)> {
    let (total, paid) = inv_amounts(inv)?;
    let paid = paid + value;
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.amount_paid = Set(cur.text(paid));
    m.updated_at = Set(now);
    let inv = m
        .update(db)
        .await
        .map_err(db_err("recording the payment"))?;
    if paid >= total {
        Ok((true, settle(db, &inv, client, cur, now, settings).await?))
    } else {
        Ok((false, None))
    }
}

/// Applies the client's credit in `cur` to their unpaid invoices in that currency,
/// oldest due date first, until the credit or the invoices run out. Every step is a
/// `credit` payment on the invoice and a negative ledger entry linked to both.
/// Callers hold the client's lock.
pub(crate) async fn apply_credit<C: ConnectionTrait>(
    db: &C,
    client: &client::Model,
    cur: &Currency,
    today: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<Applied>> {
    let mut out = Vec::new();
    // Each round pays an invoice in full or uses up the credit; a settled invoice may
    // add credit (its deposit), so look again until neither is left.
    loop {
        let balance = ledger::balance(db, client.id, &cur.code).await?;
        if balance <= Decimal::ZERO {
            break;
        }
        let Some(inv) = invoice::Entity::find()
            .filter(invoice::Column::ClientId.eq(client.id))
            .filter(invoice::Column::Status.eq("unpaid"))
            .filter(invoice::Column::Currency.eq(&cur.code))
            .order_by_asc(invoice::Column::DueDate)
            .order_by_asc(invoice::Column::Id)
            .one(db)
            .await
            .map_err(db_err("reading unpaid invoices"))?
        else {
            break;
        };
        let (total, paid) = inv_amounts(&inv)?;
        let value = balance.min(total - paid).max(Decimal::ZERO);
        let number = name_of(&inv);
        let p = payment::ActiveModel {
            invoice_id: Set(inv.id),
            client_id: Set(client.id),
            method: Set("credit".into()),
            reference: Set(None),
            currency: Set(cur.code.clone()),
            amount: Set(cur.text(value)),
            received: Set(cur.text(value)),
            received_on: Set(today),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(db_err("applying credit"))?;
        ledger::append(
            db,
            client.id,
            cur,
            -value,
            format!("applied to invoice {number}"),
            Some(inv.id),
            Some(p.id),
            now,
        )
        .await?;
        let (paid_now, released) = add_paid(db, &inv, value, client, cur, now, settings).await?;
        out.push(Applied {
            invoice_id: inv.id,
            number: inv.number.clone(),
            amount: cur.text(value),
            paid: paid_now,
            released_operation: released,
        });
        if !paid_now {
            break;
        }
    }
    Ok(out)
}

/// An invoice by id (`12`) or number (`2026-000001`).
pub async fn find<C: ConnectionTrait>(db: &C, reference: &str) -> Result<invoice::Model> {
    let r = reference.trim();
    let found = if let Ok(id) = r.parse::<i64>() {
        invoice::Entity::find_by_id(id).one(db).await
    } else {
        invoice::Entity::find()
            .filter(invoice::Column::Number.eq(r))
            .one(db)
            .await
    }
    .map_err(db_err("reading invoices"))?;
    found.ok_or_else(|| {
        Error::NotFound(format!(
            "no invoice {reference}; give an id or a number like 2026-000001 (`provisor invoices list` shows them)"
        ))
    })
}

pub(crate) async fn client_of<C: ConnectionTrait>(db: &C, id: i64) -> Result<client::Model> {
    client::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err("reading clients"))?
        .ok_or_else(|| Error::Storage(format!("client #{id} of an invoice is missing")))
}

/// An invoice with its lines, payments and client.
pub async fn load_view<C: ConnectionTrait>(db: &C, inv: &invoice::Model) -> Result<InvoiceView> {
    let c = client_of(db, inv.client_id).await?;
    let cur = currencies::find(db, &inv.currency).await?;
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .order_by_asc(invoice_line::Column::Position)
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    let payments = payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(inv.id))
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading payments"))?;
    let (total, paid) = inv_amounts(inv)?;
    let due = match inv.status.as_str() {
        "draft" | "unpaid" => total - paid,
        _ => Decimal::ZERO,
    };
    let text = |x: Decimal| match &cur {
        Some(c) => c.text(x),
        None => x.to_string(),
    };
    let mut refunded = Decimal::ZERO;
    for p in payments.iter().filter(|p| is_refund(&p.method)) {
        refunded -= money::from_db(&p.amount, &format!("refund #{}", p.id))?;
    }
    Ok(InvoiceView {
        id: inv.id,
        number: inv.number.clone(),
        status: inv.status.clone(),
        client_id: c.id,
        client_name: c.name,
        client_email: c.email,
        client_country: c.country,
        service_id: inv.service_id,
        currency: inv.currency.clone(),
        currency_symbol: cur
            .as_ref()
            .map(|c| c.symbol.clone())
            .unwrap_or_else(|| inv.currency.clone()),
        subtotal: inv.subtotal.clone(),
        tax_total: inv.tax_total.clone(),
        total: inv.total.clone(),
        amount_paid: inv.amount_paid.clone(),
        amount_due: text(due),
        amount_refunded: text(refunded),
        issue_date: inv.issue_date,
        due_date: inv.due_date,
        paid_at: inv.paid_at.map(|t| t.to_rfc3339()),
        created_at: inv.created_at.to_rfc3339(),
        lines: lines
            .into_iter()
            .map(|l| LineView {
                position: l.position,
                kind: l.kind,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                net: l.net,
                tax_rate: l.tax_rate,
                tax: l.tax,
                total: l.total,
                service_id: l.service_id,
                period: l.period,
                period_start: l.period_start,
                period_end: l.period_end,
            })
            .collect(),
        payments: payments
            .into_iter()
            .map(|p| PaymentView {
                id: p.id,
                method: p.method,
                reference: p.reference,
                amount: p.amount,
                received: p.received,
                received_on: p.received_on,
            })
            .collect(),
        cur,
    })
}

/// One invoice by id or number.
pub async fn show(store: &Store, reference: &str) -> Result<InvoiceView> {
    let inv = find(store.db(), reference).await?;
    load_view(store.db(), &inv).await
}

/// Invoices, newest first, optionally for one client or in one status.
pub async fn list(
    store: &Store,
    client_ref: Option<&str>,
    status: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<InvoiceSummary>> {
    let mut q = invoice::Entity::find()
        .order_by_desc(invoice::Column::Id)
        .offset(offset)
        .limit(limit);
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(Error::Invalid(format!(
                "--status {s:?} is not an invoice status: use one of {}",
                STATUSES.join(", ")
            )));
        }
        q = q.filter(invoice::Column::Status.eq(s));
    }
    if let Some(c) = client_ref {
        let c = lookup::get_client(store, c).await?;
        q = q.filter(invoice::Column::ClientId.eq(c.id));
    }
    let rows = q
        .all(store.db())
        .await
        .map_err(db_err("reading invoices"))?;
    rows.iter().map(summary).collect()
}

fn summary(inv: &invoice::Model) -> Result<InvoiceSummary> {
    let (total, paid) = inv_amounts(inv)?;
    let due = if matches!(inv.status.as_str(), "draft" | "unpaid") {
        total - paid
    } else {
        Decimal::ZERO
    };
    let mut due_text = due.to_string();
    if let Some((_, frac)) = inv.total.split_once('.') {
        let mut d = due;
        d.rescale(frac.len() as u32);
        due_text = d.to_string();
    }
    Ok(InvoiceSummary {
        id: inv.id,
        number: inv.number.clone(),
        status: inv.status.clone(),
        client_id: inv.client_id,
        currency: inv.currency.clone(),
        total: inv.total.clone(),
        amount_due: due_text,
        issue_date: inv.issue_date,
        due_date: inv.due_date,
    })
}

/// Parses `DESCRIPTION;QUANTITY;UNIT_PRICE` (the description may contain `;`).
fn parse_line(text: &str, cur: &Currency, tax_rate: Decimal) -> Result<NewLine> {
    let mut parts = text.rsplitn(3, ';');
    let (price, qty, desc) = match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(q), Some(d)) => (p, q, d),
        _ => {
            return Err(Error::Invalid(format!(
                "--line {:?} must look like \"DESCRIPTION;QUANTITY;UNIT_PRICE\", e.g. \"Setup fee;1;25.00\"",
                provisor_store::input::preview(text)
            )))
        }
    };
    let desc = desc.trim();
    provisor_store::input::check_line(
        "an invoice line's description",
        desc,
        provisor_store::input::TEXT_MAX,
    )?;
    if desc.is_empty() {
        return Err(Error::Invalid(
            "an invoice line's description is empty: give \"DESCRIPTION;QUANTITY;UNIT_PRICE\""
                .into(),
        ));
    }
    let quantity = money::parse_bounded(
        qty,
        "the quantity",
        Decimal::ZERO,
        false,
        Decimal::from(1_000_000),
        4,
    )?;
    let unit_price = cur.parse_amount(price, "the unit price")?;
    if unit_price < Decimal::ZERO {
        return Err(Error::Invalid(format!(
            "--line {:?}: the unit price is negative; give credit with `provisor clients credit` instead",
            provisor_store::input::preview(text)
        )));
    }
    Ok(NewLine {
        kind: "manual",
        description: desc.to_string(),
        quantity,
        unit_price,
        tax_rate,
        service_id: None,
        period: None,
    })
}

/// `invoices create`: a draft with lines typed in, in the client's currency, taxed at
/// the client's country's rate; issued at once on `issue_on`.
pub async fn create(
    store: &Store,
    client_ref: &str,
    lines: &[String],
    due: Option<NaiveDate>,
    issue_on: Option<NaiveDate>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let c = lookup::get_client(store, client_ref).await?;
    let cur = currencies::require(store.db(), &c.currency)
        .await
        .map_err(|e| Error::Invalid(format!("client #{} pays in {}: {e}", c.id, c.currency)))?;
    if lines.is_empty() {
        return Err(Error::Invalid(
            "an invoice needs at least one --line \"DESCRIPTION;QUANTITY;UNIT_PRICE\"".into(),
        ));
    }
    let rate = taxes::rate_for(store.db(), &c.country).await?;
    let parsed = lines
        .iter()
        .map(|l| parse_line(l, &cur, rate))
        .collect::<Result<Vec<_>>>()?;
    if let (Some(d), Some(i)) = (due, issue_on) {
        if d < i {
            return Err(Error::Invalid(format!(
                "--due {d} is before the issue date {i}"
            )));
        }
    }
    let (tx, _turn) = super::begin_for_client(store, c.id).await?;
    let inv = insert_draft(&tx, c.id, &cur, parsed, None, due, now).await?;
    if let Some(day) = issue_on {
        issue_in(&tx, inv.clone(), &c, &cur, day, now, settings).await?;
    }
    tx.commit().await.map_err(db_err("storing the invoice"))?;
    show(store, &inv.id.to_string()).await
}

/// `invoices issue`: a draft becomes `unpaid` with the next number of `day`'s year.
pub async fn issue(
    store: &Store,
    reference: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let mut views = issue_many(store, &[reference.to_string()], day, now, settings).await?;
    views
        .pop()
        .ok_or_else(|| Error::Storage("issuing the invoice: nothing was issued".into()))
}

/// `invoices issue A B …`: every invoice is found and checked to be a draft first,
/// then all are issued in one transaction (numbers in the order given), so a bad id
/// anywhere in the list changes nothing. An invoice named twice is issued once.
pub async fn issue_many(
    store: &Store,
    references: &[String],
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<InvoiceView>> {
    let mut found: Vec<invoice::Model> = Vec::new();
    for r in references {
        let inv = find(store.db(), r).await?;
        if !found.iter().any(|f| f.id == inv.id) {
            found.push(inv);
        }
    }
    for inv in &found {
        if inv.status != "draft" {
            return Err(Error::Invalid(format!(
                "invoice {} is {}; only a draft can be issued (nothing was issued)",
                name_of(inv),
                inv.status
            )));
        }
    }
    let mut clients: Vec<client::Model> = Vec::new();
    let mut curs: Vec<Currency> = Vec::new();
    for inv in &found {
        clients.push(client_of(store.db(), inv.client_id).await?);
        curs.push(currencies::require(store.db(), &inv.currency).await?);
    }
    let (tx, _turn) = super::begin_write(store).await?;
    // Every client's lock, in id order, so two multi-invoice runs cannot deadlock.
    let mut ids: Vec<i64> = clients.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        super::lock_client(&tx, id).await?;
    }
    for ((inv, c), cur) in found.iter().zip(&clients).zip(&curs) {
        // Read again under the lock: another process may have issued it meanwhile.
        let inv = find(&tx, &inv.id.to_string()).await?;
        issue_in(&tx, inv, c, cur, day, now, settings).await?;
    }
    tx.commit().await.map_err(db_err("issuing the invoices"))?;
    let mut views = Vec::new();
    for inv in &found {
        views.push(show(store, &inv.id.to_string()).await?);
    }
    Ok(views)
}

pub(crate) fn check_reference(reference: &str) -> Result<String> {
    let r = reference.trim();
    if r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "--reference must be the payment's reference (bank or gateway transaction id), 1 to 200 printable characters".into(),
        ));
    }
    Ok(r.to_string())
}

pub(crate) async fn by_reference<C: ConnectionTrait>(
    db: &C,
    reference: &str,
) -> Result<Option<payment::Model>> {
    payment::Entity::find()
        .filter(payment::Column::Reference.eq(reference))
        .one(db)
        .await
        .map_err(db_err("reading payments"))
}

/// The answer for a reference already recorded: the same payment again changes
/// nothing; a different payment under a used reference is refused.
async fn already(
    store: &Store,
    p: payment::Model,
    inv: &invoice::Model,
    received: &str,
) -> Result<Paid> {
    let other = find(store.db(), &p.invoice_id.to_string()).await?;
    if p.invoice_id != inv.id || p.received != received {
        return Err(Error::Invalid(format!(
            "reference {} was already recorded for invoice {} ({} {} on {}); this payment ({} {} for invoice {}) is a different one: check the reference",
            p.reference.as_deref().unwrap_or(""),
            name_of(&other),
            p.received,
            p.currency,
            p.received_on,
            received,
            inv.currency,
            name_of(inv),
        )));
    }
    Ok(Paid {
        recorded: false,
        note: format!(
            "payment {} of {} {} was already recorded for invoice {} on {}; nothing changed",
            p.reference.as_deref().unwrap_or(""),
            p.received,
            p.currency,
            name_of(inv),
            p.received_on
        ),
        payment_id: p.id,
        applied: p.amount.clone(),
        credited: "0".into(),
        released_operation: None,
        credit_applied: Vec::new(),
        invoice: show(store, &inv.id.to_string()).await?,
    })
}

/// `invoices pay ID --amount X --reference R`: records a payment received on `day`.
/// Part of the amount due leaves the rest due; more than is due becomes credit (which
/// then goes to the client's other unpaid invoices); a reference already recorded is
/// recorded once.
pub async fn pay(
    store: &Store,
    reference_of_invoice: &str,
    amount_text: &str,
    reference: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Paid> {
    let inv = find(store.db(), reference_of_invoice).await?;
    let reference = check_reference(reference)?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let received = cur.parse_amount(amount_text, "--amount")?;
    if received <= Decimal::ZERO {
        return Err(Error::Invalid(format!(
            "--amount {amount_text} must be more than zero (a payment received, in {})",
            cur.code
        )));
    }
    let received_text = cur.text(received);
    if let Some(p) = by_reference(store.db(), &reference).await? {
        return already(store, p, &inv, &received_text).await;
    }
    let c = client_of(store.db(), inv.client_id).await?;
    let (tx, turn) = super::begin_for_client(store, c.id).await?;
    if let Some(p) = by_reference(&tx, &reference).await? {
        drop(tx);
        drop(turn);
        return already(store, p, &inv, &received_text).await;
    }
    let inv = find(&tx, &inv.id.to_string()).await?;
    let number = name_of(&inv);
    match inv.status.as_str() {
        "unpaid" => {}
        "draft" => {
            return Err(Error::Invalid(format!(
                "invoice {number} is a draft; issue it first with `provisor invoices issue {}`",
                inv.id
            )))
        }
        "paid" => {
            return Err(Error::Invalid(format!(
                "invoice {number} is already paid; record money that is not for an invoice as credit with `provisor clients credit {} --amount X --reason R`",
                c.id
            )))
        }
        other => {
            return Err(Error::Invalid(format!(
                "invoice {number} is {other}; it takes no payments"
            )))
        }
    }
    if let Some(issued) = inv.issue_date.filter(|issued| day < *issued) {
        return Err(Error::Invalid(format!(
            "the payment date {day} is before invoice {}'s issue date {issued}: give the day the money arrived with --date (on or after {issued})",
            inv.number.as_deref().unwrap_or("(draft)")
        )));
    }
    let (total, paid) = inv_amounts(&inv)?;
    let applied = received.min(total - paid);
    let excess = received - applied;
    let inserted = payment::ActiveModel {
        invoice_id: Set(inv.id),
        client_id: Set(c.id),
        method: Set("payment".into()),
        reference: Set(Some(reference.clone())),
        currency: Set(cur.code.clone()),
        amount: Set(cur.text(applied)),
        received: Set(received_text.clone()),
        received_on: Set(day),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await;
    let p = match inserted {
        Ok(p) => p,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            // Another process recorded this reference between our check and insert.
            drop(tx);
            drop(turn);
            return match by_reference(store.db(), &reference).await? {
                Some(p) => already(store, p, &inv, &received_text).await,
                None => Err(db_err("recording the payment")(e)),
            };
        }
        Err(e) => return Err(db_err("recording the payment")(e)),
    };
    let (_, released) = add_paid(&tx, &inv, applied, &c, &cur, now, settings).await?;
    if excess > Decimal::ZERO {
        ledger::append(
            &tx,
            c.id,
            &cur,
            excess,
            format!("overpayment of invoice {number} (payment {reference})"),
            Some(inv.id),
            Some(p.id),
            now,
        )
        .await?;
    }
    let credit_applied = apply_credit(&tx, &c, &cur, day, now, settings).await?;
    tx.commit().await.map_err(db_err("recording the payment"))?;
    drop(turn);
    let view = show(store, &inv.id.to_string()).await?;
    let mut note = format!(
        "payment {reference}: {} to invoice {number}",
        cur.format(applied)
    );
    if excess > Decimal::ZERO {
        note.push_str(&format!(
            ", {} more than was due became credit",
            cur.format(excess)
        ));
    }
    note.push_str(&match view.status.as_str() {
        "paid" => "; the invoice is paid".to_string(),
        _ => format!(
            "; {} is still due",
            cur.format(money::from_db(&view.amount_due, "due")?)
        ),
    });
    if let Some(op) = released {
        note.push_str(&format!("; create operation #{op} queued"));
    }
    Ok(Paid {
        recorded: true,
        note,
        payment_id: p.id,
        applied: cur.text(applied),
        credited: cur.text(excess),
        released_operation: released,
        credit_applied,
        invoice: view,
    })
}

/// `invoices cancel`: a draft or unpaid invoice is cancelled (its number stays used).
/// What was already paid on it returns to credit; an order waiting on it is dropped
/// (its held create cancelled, the service terminated before it ever existed).
pub async fn cancel(
    store: &Store,
    reference: &str,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let inv = find(store.db(), reference).await?;
    let c = client_of(store.db(), inv.client_id).await?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let (tx, _turn) = super::begin_for_client(store, c.id).await?;
    let inv = find(&tx, &inv.id.to_string()).await?;
    let number = name_of(&inv);
    if !matches!(inv.status.as_str(), "draft" | "unpaid") {
        return Err(Error::Invalid(format!(
            "invoice {number} is {}; only a draft or unpaid invoice can be cancelled",
            inv.status
        )));
    }
    let (_, paid) = inv_amounts(&inv)?;
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set("cancelled".into());
    m.updated_at = Set(now);
    let inv = m
        .update(&tx)
        .await
        .map_err(db_err("cancelling the invoice"))?;
    if paid > Decimal::ZERO {
        ledger::append(
            &tx,
            c.id,
            &cur,
            paid,
            format!("invoice {number} cancelled: what was paid on it returns to credit"),
            Some(inv.id),
            None,
            now,
        )
        .await?;
    }
    if let Some(s) = inv.service_id {
        orders::drop_order(&tx, s, now).await?;
    }
    apply_credit(&tx, &c, &cur, super::day_of(now), now, settings).await?;
    tx.commit()
        .await
        .map_err(db_err("cancelling the invoice"))?;
    show(store, &inv.id.to_string()).await
}

/// Unpaid invoices due before `day`: each gets one "overdue" email (unless
/// `dry_run`). Returns them.
pub async fn overdue(
    store: &Store,
    day: NaiveDate,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<InvoiceSummary>> {
    let rows = invoice::Entity::find()
        .filter(invoice::Column::Status.eq("unpaid"))
        .filter(invoice::Column::DueDate.lt(day))
        .order_by_asc(invoice::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading unpaid invoices"))?;
    if !dry_run {
        for inv in &rows {
            let c = client_of(store.db(), inv.client_id).await?;
            let view = load_view(store.db(), inv).await?;
            let cur = currencies::require(store.db(), &inv.currency).await?;
            let number = name_of(inv);
            let _turn = store.write_turn().await;
            super::queue_email(
                store.db(),
                Email {
                    kind: "invoice_overdue",
                    recipient: c.email.clone(),
                    subject: format!(
                        "Invoice {number} is overdue: {} was due {}",
                        cur.format(money::from_db(&view.amount_due, "due")?),
                        inv.due_date.map(|d| d.to_string()).unwrap_or_default()
                    ),
                    body: format!(
                        "Hello {},\n\ninvoice {number} is past its due date.\n\n{}",
                        c.name,
                        render(&view)
                    ),
                    service_id: inv.service_id,
                    dedupe_key: format!("invoice-{}-overdue", inv.id),
                },
                now,
            )
            .await?;
        }
    }
    rows.iter().map(summary).collect()
}

/// An invoice as readable text.
pub fn render(v: &InvoiceView) -> String {
    let fmt = |text: &str| -> String {
        match (&v.cur, money::from_db(text, "amount")) {
            (Some(c), Ok(x)) => c.format(x),
            _ => format!("{text} {}", v.currency),
        }
    };
    let mut out = String::new();
    let title = match &v.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice #{}", v.id),
    };
    out.push_str(&format!("{title}  [{}]\n", v.status));
    out.push_str(&format!(
        "Client:   #{} {} <{}>, {}\n",
        v.client_id,
        provisor_store::input::shown(&v.client_name, provisor_store::input::NAME_MAX),
        provisor_store::input::shown(&v.client_email, provisor_store::input::EMAIL_MAX),
        v.client_country
    ));
    let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "Issued:   {}   Due: {}   Currency: {}\n",
        day(v.issue_date),
        day(v.due_date),
        v.currency
    ));
    if let Some(s) = v.service_id {
        out.push_str(&format!("Service:  #{s}\n"));
    }
    out.push('\n');
    let mut rows = vec![vec![
        "#".to_string(),
        "DESCRIPTION".into(),
        "QTY".into(),
        "UNIT PRICE".into(),
        "NET".into(),
        "TAX %".into(),
        "TAX".into(),
        "TOTAL".into(),
    ]];
    for l in &v.lines {
        rows.push(vec![
            l.position.to_string(),
            // Escaped and cut: a description stored before the input limits (or one a
            // module wrote) cannot break the layout or reach a terminal raw.
            provisor_store::input::shown(&l.description, provisor_store::input::TEXT_MAX),
            l.quantity.clone(),
            l.unit_price.clone(),
            l.net.clone(),
            l.tax_rate.clone(),
            l.tax.clone(),
            l.total.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 1 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    let mut totals = vec![
        ("Subtotal", fmt(&v.subtotal)),
        ("Tax", fmt(&v.tax_total)),
        ("Total", fmt(&v.total)),
        ("Paid", fmt(&v.amount_paid)),
    ];
    if money::from_db(&v.amount_refunded, "refunded").is_ok_and(|r| !r.is_zero()) {
        totals.push(("Refunded", fmt(&v.amount_refunded)));
    }
    if matches!(v.status.as_str(), "draft" | "unpaid") {
        totals.push(("Due", fmt(&v.amount_due)));
    }
    let w = totals
        .iter()
        .map(|(_, a)| a.chars().count())
        .max()
        .unwrap_or(0);
    for (label, a) in totals {
        out.push_str(&format!("{label:<9} {a:>w$}\n"));
    }
    if !v.payments.is_empty() {
        out.push_str("\nPayments:\n");
        for p in &v.payments {
            let what = match (&p.method[..], &p.reference) {
                ("credit", _) => "from credit".to_string(),
                (REFUND, Some(r)) => format!("refund {r}"),
                (REFUND_CREDIT, Some(r)) => format!("refund {r} to credit"),
                (_, Some(r)) => format!("payment {r}"),
                (m, None) => m.to_string(),
            };
            let mut line = format!("  {}  {what}  {}", p.received_on, fmt(&p.amount));
            if p.received != p.amount {
                line.push_str(&format!(" (received {})", fmt(&p.received)));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The `method` of a refund paid back through the bank or gateway (a negative amount).
pub const REFUND: &str = "refund";

/// The `method` of a refund given back as credit (a negative amount, with a ledger entry).
pub const REFUND_CREDIT: &str = "refund_credit";

/// Whether a payment row is a refund (its amount is negative).
pub(crate) fn is_refund(method: &str) -> bool {
    matches!(method, REFUND | REFUND_CREDIT)
}
