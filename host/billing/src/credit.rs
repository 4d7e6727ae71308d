//! Credit staff add or take (`clients credit`): one ledger entry, and new credit paying
//! the client's unpaid invoices at once, in one transaction under the client's lock.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::currencies;
use crate::invoices::{self, Applied};
use crate::ledger::{self, EntryView};
use crate::Settings;
use provisor_store::error::{Error, Message, Name, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// What an adjustment did.
#[derive(Debug, Clone, Serialize)]
pub struct Adjusted {
    /// The client.
    pub client_id: i64,
    /// The ledger entry written.
    pub entry: EntryView,
    /// The balance after the adjustment and after any credit applied to invoices.
    pub balance: String,
    /// The client's currency code.
    pub currency: String,
    /// Invoices the new credit went to.
    pub applied: Vec<Applied>,
}

/// `clients credit ID --amount X --reason R`: adds (positive) or takes (negative)
/// credit in the client's currency. New credit goes to unpaid invoices at once.
pub async fn adjust(
    store: &Store,
    client_ref: &str,
    amount: &str,
    reason: &str,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Adjusted> {
    let c = lookup::get_client(store, client_ref).await?;
    let cur = currencies::require(store.db(), &c.currency)
        .await
        .map_err(|e| {
            Error::invalid(
                Message::new(format!("client #{} pays in {}: ", c.id, c.currency))
                    .then(e.into_message()),
            )
        })?;
    let value = cur.parse_amount(amount, Name::Field("amount"))?;
    if value.is_zero() {
        return Err(Error::invalid(Message::about(
            "amount",
            "is zero: give a positive amount to add credit or a negative one to take it",
        )));
    }
    let reason = reason.trim();
    provisor_store::input::check_line(Name::Field("reason"), reason, 500)?;
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid(Message::about(
            "reason",
            "must say why, in 1 to 500 characters",
        )));
    }
    let (tx, _turn) = crate::begin_for_client(store, c.id).await?;
    let before = ledger::balance(&tx, c.id, &cur.code).await?;
    ledger::after_adjustment(
        before,
        value,
        &cur,
        &format!("client #{} ({})", c.id, c.name),
    )?;
    let entry = ledger::append(&tx, c.id, &cur, value, reason.to_string(), None, None, now).await?;
    let applied = if value > Decimal::ZERO {
        invoices::apply_credit(&tx, &c, &cur, settings.zone.date_of(now), now, settings).await?
    } else {
        Vec::new()
    };
    let after = ledger::balance(&tx, c.id, &cur.code).await?;
    tx.commit().await.map_err(db_err("adjusting credit"))?;
    Ok(Adjusted {
        client_id: c.id,
        entry: EntryView::from(&entry),
        balance: cur.text(after),
        currency: cur.code,
        applied,
    })
}
