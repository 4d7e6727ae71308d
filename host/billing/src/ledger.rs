//! The client credit ledger: append-only entries (amount, currency, reason, and the
//! invoice or payment behind it); a balance is the sum of a client's entries in a
//! currency. Nothing updates or deletes an entry; a correction is another entry.
//! Credit never goes below zero: there is no overdraft.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::currencies;
use super::money::{self, Currency};
use provisor_store::entities::{client, credit_entry};
use provisor_store::error::{Error, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// One ledger entry as shown.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    /// The entry's row id.
    pub id: i64,
    /// Signed decimal text: credit added (positive) or taken (negative).
    pub amount: String,
    /// The currency code.
    pub currency: String,
    /// Why, for people.
    pub reason: String,
    /// The invoice involved, if any.
    pub invoice_id: Option<i64>,
    /// The payment involved, if any.
    pub payment_id: Option<i64>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
}

impl From<&credit_entry::Model> for EntryView {
    fn from(e: &credit_entry::Model) -> Self {
        EntryView {
            id: e.id,
            amount: e.amount.clone(),
            currency: e.currency.clone(),
            reason: e.reason.clone(),
            invoice_id: e.invoice_id,
            payment_id: e.payment_id,
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

/// A client's ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Ledger {
    /// The client's id.
    pub client_id: i64,
    /// The client's name.
    pub client: String,
    /// The client's currency code.
    pub currency: String,
    /// The balance in the client's currency.
    pub balance: String,
    /// The entries, in the order recorded.
    pub entries: Vec<EntryView>,
}

/// A client's balance in a currency: the sum of the entries.
pub(crate) async fn balance<C: ConnectionTrait>(
    db: &C,
    client_id: i64,
    currency: &str,
) -> Result<Decimal> {
    let rows = credit_entry::Entity::find()
        .filter(credit_entry::Column::ClientId.eq(client_id))
        .filter(credit_entry::Column::Currency.eq(currency))
        .all(db)
        .await
        .map_err(db_err("reading the credit ledger"))?;
    let mut sum = Decimal::ZERO;
    for r in &rows {
        sum += money::from_db(&r.amount, &format!("credit entry #{}", r.id))?;
    }
    Ok(sum)
}

/// Appends one entry. Callers hold the client's lock and have checked the balance.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append<C: ConnectionTrait>(
    db: &C,
    client_id: i64,
    currency: &Currency,
    amount: Decimal,
    reason: String,
    invoice_id: Option<i64>,
    payment_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<credit_entry::Model> {
    credit_entry::ActiveModel {
        client_id: Set(client_id),
        currency: Set(currency.code.clone()),
        amount: Set(currency.text(amount)),
        reason: Set(reason),
        invoice_id: Set(invoice_id),
        payment_id: Set(payment_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("writing the credit ledger"))
}

/// The balance after an adjustment, or the refusal that keeps it from going below
/// zero.
pub fn after_adjustment(
    balance: Decimal,
    amount: Decimal,
    currency: &Currency,
    who: &str,
) -> Result<Decimal> {
    let after = balance + amount;
    if after < Decimal::ZERO {
        return Err(Error::Invalid(format!(
            "{who} has {} of credit; taking {} would leave {}, and credit never goes below zero (there is no overdraft)",
            currency.format(balance),
            currency.format(-amount),
            currency.format(after),
        )));
    }
    Ok(after)
}

/// A client's ledger, oldest entry first, with the balance in the client's currency.
pub async fn show(store: &Store, client_ref: &str) -> Result<Ledger> {
    let c: client::Model = lookup::get_client(store, client_ref).await?;
    let rows = credit_entry::Entity::find()
        .filter(credit_entry::Column::ClientId.eq(c.id))
        .order_by_asc(credit_entry::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading the credit ledger"))?;
    let mut sum = Decimal::ZERO;
    for r in rows.iter().filter(|r| r.currency == c.currency) {
        sum += money::from_db(&r.amount, &format!("credit entry #{}", r.id))?;
    }
    let balance = match currencies::find(store.db(), &c.currency).await? {
        Some(cur) => cur.text(sum),
        None => sum.to_string(),
    };
    Ok(Ledger {
        client_id: c.id,
        client: c.name,
        currency: c.currency,
        balance,
        entries: rows.iter().map(EntryView::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Rounding;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of adjustments, each refused when it would overdraw: the
        /// balance is always the sum of the accepted entries and never negative.
        #[test]
        fn balance_is_the_sum_and_never_negative(steps in prop::collection::vec(-50_000i64..50_000, 1..60)) {
            let eur = Currency {
                code: "EUR".into(),
                symbol: "€".into(),
                minor_units: 2,
                rate: Decimal::ONE,
                rounding: Rounding::HalfUp,
                is_default: true,
            };
            let mut entries: Vec<Decimal> = Vec::new();
            let mut balance = Decimal::ZERO;
            for s in steps {
                let amount = Decimal::new(s, 2);
                match after_adjustment(balance, amount, &eur, "client") {
                    Ok(after) => {
                        entries.push(amount);
                        balance = after;
                    }
                    Err(e) => {
                        prop_assert!(balance + amount < Decimal::ZERO);
                        prop_assert!(e.to_string().contains("no overdraft"));
                    }
                }
                prop_assert!(balance >= Decimal::ZERO);
                prop_assert_eq!(balance, entries.iter().copied().sum::<Decimal>());
            }
        }
    }
}
