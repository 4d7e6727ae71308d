//! Refunds: money paid on an invoice given back, either through the bank or gateway it
//! came from (`original`) or as the client's credit (`credit`).
//!
//! A refund is a row in `payments` with a negative amount (method `refund` or
//! `refund_credit`) under a unique reference, so it is recorded once and listed with the
//! invoice's payments; a refund to credit also appends a ledger entry. The invoice's
//! `amount_paid` goes down by the refund (its total stays); a paid invoice whose money
//! has all been given back becomes `refunded`, a partly refunded one stays `paid`. An
//! unpaid invoice that had something paid on it can be refunded to the original payment
//! only: it stays `unpaid` and what is due grows by the refund.
//! Must not: touch services (a refund never suspends or terminates anything; the admin
//! decides), or give money paid from credit back anywhere but credit.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr,
};
use serde::Serialize;

use super::invoices::{self, Applied, InvoiceView, REFUND, REFUND_CREDIT};
use super::money::{self, Currency};
use super::{currencies, ledger, Email};
use crate::Settings;
use provisor_store::entities::kinds::EmailKind;
use provisor_store::entities::status::InvoiceStatus;
use provisor_store::entities::{invoice, invoice_line, payment};
use provisor_store::error::{Error, Fix, Message, Name, Result};
use provisor_store::{db_err, Store};

/// Where refunded money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// Back through the bank or gateway the money came from.
    Original,
    /// To the client's credit (the ledger).
    Credit,
}

impl Destination {
    /// `original` or `credit`.
    pub fn parse(text: &str) -> Result<Destination> {
        match text.trim() {
            "original" => Ok(Destination::Original),
            "credit" => Ok(Destination::Credit),
            other => Err(Error::invalid(Message::about(
                "to",
                format!("{other:?} is not a refund destination: use original (back to the bank or gateway) or credit"),
            ))),
        }
    }

    /// The `payments.method` a refund of this kind is recorded with.
    fn method(self) -> &'static str {
        match self {
            Destination::Original => REFUND,
            Destination::Credit => REFUND_CREDIT,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Destination::Original => "to the original payment",
            Destination::Credit => "to credit",
        }
    }
}

/// What `invoices refund` did.
#[derive(Debug, Clone, Serialize)]
pub struct Refunded {
    /// False when a refund with this reference was already recorded (nothing changed).
    pub recorded: bool,
    /// One line saying what happened, for the CLI.
    pub note: String,
    /// The refund's row in `payments`.
    pub payment_id: i64,
    /// The refund's reference.
    pub reference: String,
    /// Where the money went: back to the payer or to the client's credit.
    pub to: Destination,
    /// What was given back, as a positive amount.
    pub amount: String,
    /// What can still be refunded on the invoice.
    pub refundable: String,
    /// The ledger entry of a refund to credit.
    pub ledger_entry_id: Option<i64>,
    /// The client's credit balance after a refund to credit.
    pub balance: Option<String>,
    /// Invoices the refunded credit then went to.
    pub credit_applied: Vec<Applied>,
    /// The invoice's services: a refund leaves them as they are.
    pub services: Vec<i64>,
    /// The invoice as it is now.
    pub invoice: InvoiceView,
}

/// What has been paid and given back on an invoice, from its payments.
struct Money {
    /// `amount_paid`: everything paid minus everything refunded, so what can be refunded.
    refundable: Decimal,
    /// What of that can go back through the bank or gateway: real payments minus real
    /// refunds, and never more than `refundable` (a refund to credit gives back money
    /// paid from credit first).
    to_original: Decimal,
    /// The day the latest money arrived on the invoice.
    last_paid_on: Option<NaiveDate>,
}

async fn money_of<C: sea_orm::ConnectionTrait>(db: &C, inv: &invoice::Model) -> Result<Money> {
    let rows = payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(inv.id))
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading payments"))?;
    let mut real = Decimal::ZERO;
    let mut last_paid_on: Option<NaiveDate> = None;
    for p in &rows {
        let value = money::from_db(&p.amount, &format!("payment #{}", p.id))?;
        // A refund to the original has a negative amount: it takes from the real money.
        if matches!(p.method.as_str(), "payment" | REFUND) {
            real += value;
        }
        if value > Decimal::ZERO {
            last_paid_on = last_paid_on.max(Some(p.received_on));
        }
    }
    let refundable = money::from_db(&inv.amount_paid, &format!("invoice #{}", inv.id))?;
    Ok(Money {
        refundable,
        to_original: real.min(refundable).max(Decimal::ZERO),
        last_paid_on,
    })
}

/// The invoice's services (its own and its lines'), which a refund leaves running.
async fn services_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
) -> Result<Vec<i64>> {
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    let mut ids: Vec<i64> = inv
        .service_id
        .into_iter()
        .chain(lines.iter().filter_map(|l| l.service_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The refusal for an invoice that cannot be refunded, or `None` when it can.
fn refusal(inv: &invoice::Model, m: &Money, to: Destination, client_id: i64) -> Option<Message> {
    let number = invoices::name_of(inv);
    let cancel = || Fix::CancelInvoice {
        number: number.clone(),
    };
    match inv.status {
        InvoiceStatus::Draft => Some(Message::new(format!(
            "invoice {number} is a draft: nothing was paid on it, so there is nothing to refund"
        ))),
        InvoiceStatus::Cancelled => Some(
            Message::new(format!(
                "invoice {number} is cancelled: what was paid on it went to the client's credit when it was cancelled ("
            ))
            .fix(Fix::SeeLedger { client: client_id })
            .text("); ")
            .fix(Fix::Credit {
                client: Some(client_id),
                take: true,
            }),
        ),
        InvoiceStatus::Refunded => Some(Message::new(format!(
            "invoice {number} is already refunded in full: nothing is left to refund"
        ))),
        InvoiceStatus::Paid | InvoiceStatus::Unpaid if m.refundable <= Decimal::ZERO => {
            let m = Message::new(format!(
                "invoice {number} is {} with nothing paid on it: there is nothing to refund",
                inv.status
            ));
            Some(if inv.status == InvoiceStatus::Unpaid {
                m.text("; to drop it, ").fix(cancel())
            } else {
                m
            })
        }
        InvoiceStatus::Unpaid if to == Destination::Credit => Some(
            Message::new(format!(
                "invoice {number} is unpaid: credit goes straight to the client's unpaid invoices, so a refund to credit would pay it again; refund to the original payment ("
            ))
            .field("to")
            .text(" original), or ")
            .fix(cancel())
            .text(" (what was paid on it returns to credit)"),
        ),
        InvoiceStatus::Paid | InvoiceStatus::Unpaid => None,
    }
}

/// The answer for a reference already recorded: the same refund again changes nothing;
/// anything else under that reference is refused.
async fn already(
    store: &Store,
    p: payment::Model,
    inv: &invoice::Model,
    to: Destination,
    asked: Option<&str>,
) -> Result<Refunded> {
    let number = invoices::name_of(inv);
    let same =
        p.invoice_id == inv.id && p.method == to.method() && asked.is_none_or(|a| p.received == a);
    if !same {
        let other = invoices::find(store.db(), &p.invoice_id.to_string()).await?;
        return Err(Error::Invalid(format!(
            "reference {} was already recorded for invoice {} ({} {} {} on {}); this refund ({}{} of invoice {number}) is a different one: check the reference",
            p.reference.as_deref().unwrap_or(""),
            invoices::name_of(&other),
            p.method,
            p.received,
            p.currency,
            p.received_on,
            asked.map(|a| format!("{a} {} ", inv.currency)).unwrap_or_default(),
            to.words(),
        )));
    }
    let view = invoices::show(store, &inv.id.to_string()).await?;
    let m = money_of(store.db(), inv).await?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let given = -money::from_db(&p.amount, &format!("payment #{}", p.id))?;
    Ok(Refunded {
        recorded: false,
        note: format!(
            "refund {} of {} {} {} was already recorded for invoice {number} on {}; nothing changed",
            p.reference.as_deref().unwrap_or(""),
            cur.text(given),
            p.currency,
            to.words(),
            p.received_on
        ),
        payment_id: p.id,
        reference: p.reference.unwrap_or_default(),
        to,
        amount: cur.text(given),
        refundable: cur.text(m.refundable),
        ledger_entry_id: None,
        balance: None,
        credit_applied: Vec::new(),
        services: services_of(store.db(), inv).await?,
        invoice: view,
    })
}

/// What `invoices refund` was asked to do.
pub struct Request<'a> {
    /// The invoice's id or number.
    pub invoice: &'a str,
    /// The amount to give back; everything refundable when `None`.
    pub amount: Option<&'a str>,
    /// The refund's reference (unique: a refund asked twice is recorded once).
    pub reference: &'a str,
    /// Where the money goes: back to the payer or to the client's credit.
    pub to: Destination,
    /// The day the money went back.
    pub day: NaiveDate,
}

/// `invoices refund INVOICE --reference R [--amount X] [--to credit|original]`: gives
/// money paid on an invoice back, in one transaction holding the client's lock.
pub async fn refund(
    store: &Store,
    req: Request<'_>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Refunded> {
    let inv = invoices::find(store.db(), req.invoice).await?;
    let reference = invoices::check_reference(req.reference)?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let to = req.to;
    let asked = match req.amount {
        Some(text) => Some(cur.parse_amount(text, Name::Field("amount"))?),
        None => None,
    };
    // What the refund row would hold, to compare with one already recorded.
    let asked_text = asked.map(|x| cur.text(-x));
    if let Some(p) = invoices::by_reference(store.db(), &reference).await? {
        return already(store, p, &inv, to, asked_text.as_deref()).await;
    }
    let c = invoices::client_of(store.db(), inv.client_id).await?;
    let (tx, turn) = super::begin_for_client(store, c.id).await?;
    if let Some(p) = invoices::by_reference(&tx, &reference).await? {
        drop(tx);
        drop(turn);
        return already(store, p, &inv, to, asked_text.as_deref()).await;
    }
    // Read again under the lock: a payment or another refund may have come in meanwhile.
    let inv = invoices::find(&tx, &inv.id.to_string()).await?;
    let number = invoices::name_of(&inv);
    let m = money_of(&tx, &inv).await?;
    if let Some(why) = refusal(&inv, &m, to, c.id) {
        return Err(Error::invalid(why));
    }
    let value = refund_value(&req, asked, &m, &cur, &number)?;
    let given = cur.text(-value);
    let inserted = payment::ActiveModel {
        invoice_id: Set(inv.id),
        client_id: Set(c.id),
        method: Set(to.method().into()),
        reference: Set(Some(reference.clone())),
        currency: Set(cur.code.clone()),
        amount: Set(given.clone()),
        received: Set(given.clone()),
        received_on: Set(req.day),
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
            return match invoices::by_reference(store.db(), &reference).await? {
                Some(p) => already(store, p, &inv, to, asked_text.as_deref()).await,
                None => Err(db_err("recording the refund")(e)),
            };
        }
        Err(e) => return Err(db_err("recording the refund")(e)),
    };
    let entry = match to {
        Destination::Credit => Some(
            ledger::append(
                &tx,
                c.id,
                &cur,
                value,
                format!("refund of invoice {number} ({reference})"),
                Some(inv.id),
                Some(p.id),
                now,
            )
            .await?,
        ),
        Destination::Original => None,
    };
    let left = m.refundable - value;
    let mut row: invoice::ActiveModel = inv.clone().into();
    row.amount_paid = Set(cur.text(left));
    row.updated_at = Set(now);
    if inv.status == InvoiceStatus::Paid && left.is_zero() {
        row.status = Set(InvoiceStatus::Refunded);
    }
    let inv = row
        .update(&tx)
        .await
        .map_err(db_err("recording the refund"))?;
    let view = invoices::load_view(&tx, &inv).await?;
    queue_refund_email(&tx, &c, &cur, &inv, &view, &p, value, to, now).await?;
    // New credit goes to the client's unpaid invoices, as all credit does.
    let credit_applied = match to {
        Destination::Credit => {
            invoices::apply_credit(&tx, &c, &cur, req.day, now, settings).await?
        }
        Destination::Original => Vec::new(),
    };
    let balance = match to {
        Destination::Credit => Some(cur.text(ledger::balance(&tx, c.id, &cur.code).await?)),
        Destination::Original => None,
    };
    let services = services_of(&tx, &inv).await?;
    tx.commit().await.map_err(db_err("recording the refund"))?;
    drop(turn);
    let view = invoices::show(store, &inv.id.to_string()).await?;
    let shown = balance.as_deref();
    let note = refunded_note(
        &reference, &number, &cur, value, left, to, shown, &inv, &view,
    )?;
    Ok(Refunded {
        recorded: true,
        note,
        payment_id: p.id,
        reference,
        to,
        amount: cur.text(value),
        refundable: cur.text(left),
        ledger_entry_id: entry.map(|e| e.id),
        balance,
        credit_applied,
        services,
        invoice: view,
    })
}

/// The amount to refund: the one asked (more than zero, at most what can be
/// refunded) or all that can be; refused when it cannot go where it is sent or is
/// dated before the money it gives back came in.
fn refund_value(
    req: &Request<'_>,
    asked: Option<Decimal>,
    m: &Money,
    cur: &Currency,
    number: &str,
) -> Result<Decimal> {
    let to = req.to;
    let limits = || {
        format!(
            "{} can be refunded on invoice {number} ({} of it to the original payment; the rest was paid from credit and can only go back to credit)",
            cur.format(m.refundable),
            cur.format(m.to_original)
        )
    };
    let value = match (asked, req.amount) {
        (Some(x), Some(text)) => {
            if x <= Decimal::ZERO {
                return Err(Error::invalid(Message::about(
                    "amount",
                    format!(
                        "{text} must be more than zero (the amount to give back, in {}); {}",
                        cur.code,
                        limits()
                    ),
                )));
            }
            if x > m.refundable {
                return Err(Error::invalid(Message::about(
                    "amount",
                    format!("{text} is more than can be refunded: {}", limits()),
                )));
            }
            x
        }
        _ => m.refundable,
    };
    if to == Destination::Original && value > m.to_original {
        return Err(Error::invalid(
            Message::new(format!(
                "{} of invoice {number} cannot go back to the original payment: {} of what was paid on it came from credit and can only go back to credit; refund at most {} to the original payment (",
                cur.format(value),
                cur.format(m.refundable - m.to_original),
                cur.format(m.to_original),
            ))
            .field("to")
            .text(" original), or refund to credit (")
            .field("to")
            .text(" credit)"),
        ));
    }
    if let Some(last) = m.last_paid_on {
        if req.day < last {
            return Err(Error::invalid(Message::about(
                "date",
                format!(
                    "{} is before {last}, when money last came in on invoice {number}: a refund cannot come before what it gives back",
                    req.day
                ),
            )));
        }
    }
    Ok(value)
}

/// The one line `invoices refund` prints about a refund recorded.
#[allow(clippy::too_many_arguments)]
fn refunded_note(
    reference: &str,
    number: &str,
    cur: &Currency,
    value: Decimal,
    left: Decimal,
    to: Destination,
    balance: Option<&str>,
    inv: &invoice::Model,
    view: &InvoiceView,
) -> Result<String> {
    let mut note = format!(
        "refund {reference}: {} of invoice {number} {}",
        cur.format(value),
        to.words()
    );
    if let Some(b) = balance {
        let now = cur.format(money::from_db(b, "balance")?);
        let _ = write!(note, " (credit balance now {now})");
    }
    match inv.status {
        InvoiceStatus::Refunded => note.push_str("; the invoice is refunded in full"),
        InvoiceStatus::Unpaid => {
            let due = cur.format(money::from_db(&view.amount_due, "due")?);
            let _ = write!(note, "; the invoice is unpaid, {due} is due");
        }
        _ => {
            let _ = write!(
                note,
                "; the invoice stays paid, {} more can be refunded",
                cur.format(left)
            );
        }
    }
    Ok(note)
}

/// The "invoice refunded" email, once per refund.
#[allow(clippy::too_many_arguments)]
async fn queue_refund_email<C: sea_orm::ConnectionTrait>(
    db: &C,
    c: &provisor_store::entities::client::Model,
    cur: &Currency,
    inv: &invoice::Model,
    view: &InvoiceView,
    p: &payment::Model,
    value: Decimal,
    to: Destination,
    now: DateTime<Utc>,
) -> Result<()> {
    let number = invoices::name_of(inv);
    let how = match to {
        Destination::Original => "to the account or card you paid with",
        Destination::Credit => "to your account credit, which pays your next invoices",
    };
    super::queue_email(
        db,
        Email {
            kind: EmailKind::InvoiceRefunded,
            recipient: c.email.clone(),
            subject: format!("Invoice {number}: {} refunded", cur.format(value)),
            body: format!(
                "Hello {},\n\nwe have refunded {} of invoice {number} {how} (reference {}).\n\n{}",
                c.name,
                cur.format(value),
                p.reference.as_deref().unwrap_or(""),
                invoices::render(view)
            ),
            service_id: inv.service_id,
            dedupe_key: format!("invoice-{}-refund-{}", inv.id, p.id),
        },
        now,
    )
    .await
}
