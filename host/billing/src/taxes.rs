//! Tax: one exclusive rate per country, in percent. A country without a rate pays
//! none. Invoices copy the rate onto each line when they are made, so changing a
//! rate later never changes an issued invoice.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::money;
use provisor_store::entities::tax_rate;
use provisor_store::error::{Error, Result};
use provisor_store::{db_err, Store};

/// A country's rate.
#[derive(Debug, Clone, Serialize)]
pub struct TaxRate {
    /// ISO 3166 alpha-2 country code, upper case.
    pub country: String,
    /// Percent, as text (`21`, `8.1`).
    pub rate: String,
}

fn check_country(country: &str) -> Result<String> {
    let c = country.trim().to_ascii_uppercase();
    if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(Error::Invalid(format!(
            "country {country:?} is not a 2-letter ISO 3166 code (like NL)"
        )))
    }
}

/// Parses a rate in percent: `21`, `8.1` or `21%`, from 0 to 100, at most 4 decimals.
pub fn parse_rate(text: &str) -> Result<Decimal> {
    let t = text.trim();
    let t = t.strip_suffix('%').unwrap_or(t);
    money::parse_bounded(t, "tax rate", Decimal::ZERO, true, Decimal::ONE_HUNDRED, 4)
}

/// Sets (or, with 0, clears in effect) a country's rate.
pub async fn set(store: &Store, country: &str, rate: &str, now: DateTime<Utc>) -> Result<TaxRate> {
    let country = check_country(country)?;
    let rate = parse_rate(rate)?;
    let _turn = store.write_turn().await;
    tax_rate::Entity::insert(tax_rate::ActiveModel {
        country: Set(country.clone()),
        rate: Set(rate.to_string()),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(tax_rate::Column::Country)
            .update_columns([tax_rate::Column::Rate, tax_rate::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(store.db())
    .await
    .map_err(db_err("storing the tax rate"))?;
    Ok(TaxRate {
        country,
        rate: rate.to_string(),
    })
}

/// Every rate, by country.
pub async fn list(store: &Store) -> Result<Vec<TaxRate>> {
    Ok(tax_rate::Entity::find()
        .order_by_asc(tax_rate::Column::Country)
        .all(store.db())
        .await
        .map_err(db_err("reading tax rates"))?
        .into_iter()
        .map(|r| TaxRate {
            country: r.country,
            rate: r.rate,
        })
        .collect())
}

/// The rate for a country in percent; zero where none is set.
pub async fn rate_for<C: ConnectionTrait>(db: &C, country: &str) -> Result<Decimal> {
    match tax_rate::Entity::find()
        .filter(tax_rate::Column::Country.eq(country.to_ascii_uppercase()))
        .one(db)
        .await
        .map_err(db_err("reading tax rates"))?
    {
        Some(r) => money::from_db(&r.rate, &format!("the tax rate of {country}")),
        None => Ok(Decimal::ZERO),
    }
}
