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
use super::{currencies, ledger, taxes, Email};
use crate::Settings;
use provisor_store::entities::kinds::{EmailKind, InvoiceLineKind};
use provisor_store::entities::status::InvoiceStatus;
use provisor_store::entities::{client, invoice, invoice_line, outbox, payment};
use provisor_store::error::{Error, Fix, Listing, Message, Name, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

mod batch;
mod issue;
mod numbers;
mod pay;
mod view;

pub(crate) use batch::{issue_batch, BatchInvoice};
pub(crate) use issue::issue_in;
pub use issue::{create, issue, issue_many};
pub(crate) use pay::{apply_credit, by_reference};
pub use pay::{cancel, overdue, pay};
pub use view::{list, load_view, render, show};

/// Days between issue and due date when an invoice made by hand names none.
pub const DEFAULT_DUE_DAYS: u64 = 14;

/// One line to put on a new invoice.
#[derive(Debug, Clone)]
pub(crate) struct NewLine {
    pub kind: InvoiceLineKind,
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
    /// The invoice.
    pub invoice_id: i64,
    /// Its number.
    pub number: Option<String>,
    /// What was applied, decimal text in the invoice's currency.
    pub amount: String,
    /// Whether the invoice is now paid in full.
    pub paid: bool,
    /// The create operation its payment released, for an order's invoice.
    pub released_operation: Option<i64>,
}

/// An invoice line as shown.
#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    /// Its place on the invoice, from 1.
    pub position: i32,
    /// `service`, `deposit`, `manual` or `usage`.
    pub kind: InvoiceLineKind,
    /// What is billed.
    pub description: String,
    /// How many, decimal text.
    pub quantity: String,
    /// The price of one, decimal text.
    pub unit_price: String,
    /// quantity × unit price, rounded.
    pub net: String,
    /// The tax rate in percent.
    pub tax_rate: String,
    /// net × rate / 100, rounded.
    pub tax: String,
    /// net + tax.
    pub total: String,
    /// The service billed, for service and usage lines.
    pub service_id: Option<i64>,
    /// The billing period of a service or usage line (`monthly` … `annual`).
    pub period: Option<String>,
    /// The first day of the period billed, if any.
    pub period_start: Option<NaiveDate>,
    /// The last day of the period billed, if any.
    pub period_end: Option<NaiveDate>,
}

/// A payment, a credit application or a refund as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentView {
    /// The row id in `payments`.
    pub id: i64,
    /// `payment`, `credit`, `refund` or `refund_credit` (refunds have negative amounts).
    pub method: String,
    /// The payment's or refund's reference; `None` for credit applied.
    pub reference: Option<String>,
    /// What went to the invoice (negative for a refund), decimal text.
    pub amount: String,
    /// What arrived (more than `amount` when overpaid), decimal text.
    pub received: String,
    /// The day the money arrived or left.
    pub received_on: NaiveDate,
}

/// An invoice as shown (`invoices show`, the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceView {
    /// The invoice's row id.
    pub id: i64,
    /// `YYYY-NNNNNN`; `None` while a draft.
    pub number: Option<String>,
    /// `draft`, `unpaid`, `paid`, `cancelled` or `refunded`.
    pub status: InvoiceStatus,
    /// The client's id.
    pub client_id: i64,
    /// The client's name.
    pub client_name: String,
    /// The client's email address.
    pub client_email: String,
    /// The client's country code (empty: none).
    pub client_country: String,
    /// The service whose order it gates, if any.
    pub service_id: Option<i64>,
    /// The currency code of every amount.
    pub currency: String,
    /// That currency's symbol.
    pub currency_symbol: String,
    /// The sum of the lines' net amounts.
    pub subtotal: String,
    /// The sum of the lines' tax.
    pub tax_total: String,
    /// subtotal + tax.
    pub total: String,
    /// Payments and credit applied, net of refunds.
    pub amount_paid: String,
    /// What is still to pay.
    pub amount_due: String,
    /// Given back by refunds (a positive amount; `amount_paid` is already net of it).
    pub amount_refunded: String,
    /// The day it was issued; `None` while a draft.
    pub issue_date: Option<NaiveDate>,
    /// The day it is due; `None` while a draft.
    pub due_date: Option<NaiveDate>,
    /// When it was paid in full (RFC 3339), if it was.
    pub paid_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Its lines, in order.
    pub lines: Vec<LineView>,
    /// Its payments, credit applications and refunds, in the order recorded.
    pub payments: Vec<PaymentView>,
    #[serde(skip)]
    cur: Option<Currency>,
}

/// An invoice in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceSummary {
    /// The invoice's row id.
    pub id: i64,
    /// Its number; `None` while a draft.
    pub number: Option<String>,
    /// Its status.
    pub status: InvoiceStatus,
    /// The client's id.
    pub client_id: i64,
    /// The currency code.
    pub currency: String,
    /// The total.
    pub total: String,
    /// What is still to pay.
    pub amount_due: String,
    /// The day it was issued, if it was.
    pub issue_date: Option<NaiveDate>,
    /// The day it is due, if issued.
    pub due_date: Option<NaiveDate>,
}

/// What `invoices pay` did.
#[derive(Debug, Clone, Serialize)]
pub struct Paid {
    /// False when a payment with this reference was already recorded (nothing changed).
    pub recorded: bool,
    /// One line saying what happened, for the CLI.
    pub note: String,
    /// The payment's row in `payments` (the earlier one when already recorded).
    pub payment_id: i64,
    /// What went to this invoice.
    pub applied: String,
    /// What was paid beyond the amount due and became credit.
    pub credited: String,
    /// The create operation the payment released, for an order's invoice.
    pub released_operation: Option<i64>,
    /// Credit that then went to other unpaid invoices.
    pub credit_applied: Vec<Applied>,
    /// The invoice as it is now.
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
        status: Set(InvoiceStatus::Draft),
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
            kind: Set(l.kind),
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

/// The total an invoice with these lines would have (rounded per line, as stored).
pub(crate) fn lines_total(lines: &[NewLine], cur: &Currency) -> Decimal {
    let amounts: Vec<money::LineAmounts> = lines
        .iter()
        .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, cur))
        .collect();
    money::totals(&amounts, cur).total
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
        Error::not_found(
            Message::new(format!(
                "no invoice {reference}; give an id or a number like 2026-000001 ("
            ))
            .fix(Fix::See {
                listing: Listing::Invoices,
            })
            .text(")"),
        )
    })
}

pub(crate) async fn client_of<C: ConnectionTrait>(db: &C, id: i64) -> Result<client::Model> {
    client::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err("reading clients"))?
        .ok_or_else(|| Error::Storage(format!("client #{id} of an invoice is missing")))
}

pub(crate) fn check_reference(reference: &str) -> Result<String> {
    let r = reference.trim();
    if r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
        return Err(Error::invalid(Message::about(
            "reference",
            "must be the payment's reference (bank or gateway transaction id), 1 to 200 printable characters",
        )));
    }
    Ok(r.to_string())
}

/// The `method` of a refund paid back through the bank or gateway (a negative amount).
pub const REFUND: &str = "refund";

/// The `method` of a refund given back as credit (a negative amount, with a ledger entry).
pub const REFUND_CREDIT: &str = "refund_credit";

/// Whether a payment row is a refund (its amount is negative).
pub(crate) fn is_refund(method: &str) -> bool {
    matches!(method, REFUND | REFUND_CREDIT)
}
