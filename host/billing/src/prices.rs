//! Plan prices (per currency, per period) and sign-up deposits (per currency).
//!
//! A plan with neither is not billed at order time: its create is queued at once, as
//! before billing existed. A plan with either is invoiced first (see `orders`).

use chrono::{DateTime, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::currencies;
use provisor_store::entities::{plan_deposit, plan_price};
use provisor_store::error::{Error, Message, Name, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// A billing period of a recurring price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One month.
    Monthly,
    /// Three months.
    Quarterly,
    /// Six months.
    Semiannual,
    /// Twelve months.
    Annual,
}

impl Period {
    /// Every period, shortest first.
    pub const ALL: [Period; 4] = [
        Period::Monthly,
        Period::Quarterly,
        Period::Semiannual,
        Period::Annual,
    ];

    /// Parses `monthly`, `quarterly`, `semiannual` (or `semi-annual`), `annual`.
    pub fn parse(text: &str) -> Result<Period> {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "monthly" => Ok(Period::Monthly),
            "quarterly" => Ok(Period::Quarterly),
            "semiannual" | "semiannually" => Ok(Period::Semiannual),
            "annual" | "annually" | "yearly" => Ok(Period::Annual),
            _ => Err(Error::Invalid(format!(
                "period {text:?} is not known: use monthly, quarterly, semiannual or annual"
            ))),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Monthly => "monthly",
            Period::Quarterly => "quarterly",
            Period::Semiannual => "semiannual",
            Period::Annual => "annual",
        }
    }

    /// Months in the period.
    pub fn months(self) -> u32 {
        match self {
            Period::Monthly => 1,
            Period::Quarterly => 3,
            Period::Semiannual => 6,
            Period::Annual => 12,
        }
    }

    /// The first day after the period that starts on `start`. Months are calendar
    /// months, clamped to the month's end: Jan 31 + 1 month = Feb 29 in a leap year.
    pub fn next_start(self, start: NaiveDate) -> NaiveDate {
        start
            .checked_add_months(Months::new(self.months()))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The last day of the period that starts on `start`.
    pub fn last_day(self, start: NaiveDate) -> NaiveDate {
        self.next_start(start).pred_opt().unwrap_or(start)
    }
}

/// What a plan costs, as shown to admins.
#[derive(Debug, Clone, Serialize)]
pub struct PlanPrices {
    /// The plan's name.
    pub plan: String,
    /// Its recurring prices.
    pub prices: Vec<PriceRow>,
    /// Its deposits.
    pub deposits: Vec<DepositRow>,
}

/// One price.
#[derive(Debug, Clone, Serialize)]
pub struct PriceRow {
    /// The currency code.
    pub currency: String,
    /// `monthly`, `quarterly`, `semiannual` or `annual`.
    pub period: String,
    /// The price per period, decimal text.
    pub amount: String,
}

/// One deposit.
#[derive(Debug, Clone, Serialize)]
pub struct DepositRow {
    /// The currency code.
    pub currency: String,
    /// The deposit, decimal text.
    pub amount: String,
}

/// Sets (`Some(amount)`) or removes (`None`) a plan's price for a currency and period.
pub async fn set_price(
    store: &Store,
    plan_ref: &str,
    currency: &str,
    period: &str,
    amount: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PlanPrices> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    let period = Period::parse(period)?;
    let cur = currencies::require(store.db(), currency).await?;
    let turn = store.write_turn().await;
    match amount {
        Some(text) => {
            let amount = cur.parse_amount(text, Name::Field("amount"))?;
            if amount < Decimal::ZERO {
                return Err(Error::invalid(Message::about(
                    "amount",
                    format!("{text} is negative: a price is 0 or more"),
                )));
            }
            plan_price::Entity::insert(plan_price::ActiveModel {
                plan_id: Set(plan.id),
                currency: Set(cur.code.clone()),
                period: Set(period.as_str().to_string()),
                amount: Set(cur.text(amount)),
                updated_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    plan_price::Column::PlanId,
                    plan_price::Column::Currency,
                    plan_price::Column::Period,
                ])
                .update_columns([plan_price::Column::Amount, plan_price::Column::UpdatedAt])
                .to_owned(),
            )
            .exec_without_returning(store.db())
            .await
            .map_err(db_err("storing the price"))?;
        }
        None => {
            let r = plan_price::Entity::delete_many()
                .filter(plan_price::Column::PlanId.eq(plan.id))
                .filter(plan_price::Column::Currency.eq(&cur.code))
                .filter(plan_price::Column::Period.eq(period.as_str()))
                .exec(store.db())
                .await
                .map_err(db_err("removing the price"))?;
            if r.rows_affected == 0 {
                return Err(Error::NotFound(format!(
                    "plan {} has no {} price in {}",
                    plan.name,
                    period.as_str(),
                    cur.code
                )));
            }
        }
    }
    drop(turn);
    list(store, &plan.name).await
}

/// Sets (`Some(amount)`) or removes (`None`) a plan's sign-up deposit in a currency.
pub async fn set_deposit(
    store: &Store,
    plan_ref: &str,
    currency: &str,
    amount: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PlanPrices> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    let cur = currencies::require(store.db(), currency).await?;
    let turn = store.write_turn().await;
    match amount {
        Some(text) => {
            let amount = cur.parse_amount(text, Name::Field("amount"))?;
            if amount <= Decimal::ZERO {
                return Err(Error::invalid(
                    Message::about(
                        "amount",
                        format!(
                            "{text} is not positive: a deposit is more than 0 (remove one with "
                        ),
                    )
                    .field("remove")
                    .text(")"),
                ));
            }
            plan_deposit::Entity::insert(plan_deposit::ActiveModel {
                plan_id: Set(plan.id),
                currency: Set(cur.code.clone()),
                amount: Set(cur.text(amount)),
                updated_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([plan_deposit::Column::PlanId, plan_deposit::Column::Currency])
                    .update_columns([
                        plan_deposit::Column::Amount,
                        plan_deposit::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(store.db())
            .await
            .map_err(db_err("storing the deposit"))?;
        }
        None => {
            let r = plan_deposit::Entity::delete_many()
                .filter(plan_deposit::Column::PlanId.eq(plan.id))
                .filter(plan_deposit::Column::Currency.eq(&cur.code))
                .exec(store.db())
                .await
                .map_err(db_err("removing the deposit"))?;
            if r.rows_affected == 0 {
                return Err(Error::NotFound(format!(
                    "plan {} has no deposit in {}",
                    plan.name, cur.code
                )));
            }
        }
    }
    drop(turn);
    list(store, &plan.name).await
}

/// A plan's prices and deposits.
pub async fn list(store: &Store, plan_ref: &str) -> Result<PlanPrices> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    let (prices, deposits) = rows(store.db(), plan.id).await?;
    let mut prices: Vec<PriceRow> = prices
        .into_iter()
        .map(|p| PriceRow {
            currency: p.currency,
            period: p.period,
            amount: p.amount,
        })
        .collect();
    prices.sort_by_key(|p| {
        (
            p.currency.clone(),
            Period::parse(&p.period).map(|x| x as u8).unwrap_or(9),
        )
    });
    Ok(PlanPrices {
        plan: plan.name,
        prices,
        deposits: deposits
            .into_iter()
            .map(|d| DepositRow {
                currency: d.currency,
                amount: d.amount,
            })
            .collect(),
    })
}

/// A plan's stored price and deposit rows.
pub(crate) async fn rows<C: ConnectionTrait>(
    db: &C,
    plan_id: i64,
) -> Result<(Vec<plan_price::Model>, Vec<plan_deposit::Model>)> {
    let prices = plan_price::Entity::find()
        .filter(plan_price::Column::PlanId.eq(plan_id))
        .order_by_asc(plan_price::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading plan prices"))?;
    let deposits = plan_deposit::Entity::find()
        .filter(plan_deposit::Column::PlanId.eq(plan_id))
        .order_by_asc(plan_deposit::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading plan deposits"))?;
    Ok((prices, deposits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_follow_the_calendar() {
        assert_eq!(
            Period::Monthly.last_day(day("2024-01-31")),
            day("2024-02-28")
        );
        assert_eq!(
            Period::Monthly.next_start(day("2024-01-31")),
            day("2024-02-29")
        );
        assert_eq!(
            Period::Monthly.last_day(day("2025-03-01")),
            day("2025-03-31")
        );
        assert_eq!(
            Period::Quarterly.last_day(day("2025-11-15")),
            day("2026-02-14")
        );
        assert_eq!(
            Period::Semiannual.next_start(day("2025-08-31")),
            day("2026-02-28")
        );
        assert_eq!(
            Period::Annual.next_start(day("2024-02-29")),
            day("2025-02-28")
        );
        assert_eq!(Period::parse("Semi-Annual").unwrap(), Period::Semiannual);
        assert!(Period::parse("weekly").is_err());
    }
}
