//! Currencies: code, symbol, minor units, exchange rate and rounding rule.
//!
//! The first currency added is the default; its rate is 1. Every other rate is how
//! many units of that currency one unit of the default buys (WHMCS's convention:
//! EUR default, USD 1.0845 means €1 = $1.0845).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::money::{self, Currency, Rounding, MAX_MINOR_UNITS};
use provisor_store::entities::currency;
use provisor_store::error::{Error, Fix, Listing, Message, Name, Result};
use provisor_store::{db_err, Store};

/// What `currencies add` needs.
#[derive(Debug, Clone)]
pub struct NewCurrency {
    /// The ISO 4217 code (upper-cased on the way in).
    pub code: String,
    /// What amounts are printed with; `None`: the usual sign for the code (`€`), else
    /// the code.
    pub symbol: Option<String>,
    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub minor_units: u32,
    /// Required unless this is the first (default) currency.
    pub rate: Option<String>,
    /// The rounding rule: `half-up`, `half-even` or `down`.
    pub rounding: String,
}

/// An ISO 4217 code, upper-cased, or a clear refusal.
pub fn check_code(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(Error::Invalid(format!(
            "currency {code:?} is not a 3-letter ISO 4217 code (like EUR)"
        )))
    }
}

fn default_symbol(code: &str) -> String {
    match code {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        "JPY" => "¥",
        "RUB" => "₽",
        "INR" => "₹",
        other => other,
    }
    .to_string()
}

fn parse_rate(text: &str) -> Result<Decimal> {
    money::parse_bounded(
        text,
        Name::Field("rate"),
        Decimal::ZERO,
        false,
        Decimal::from(1_000_000),
        8,
    )
}

fn check_symbol(symbol: &str) -> Result<String> {
    let s = symbol.trim();
    if s.is_empty() || s.chars().count() > 8 || s.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "symbol {symbol:?} is not valid: use 1-8 printable characters, like €"
        )));
    }
    Ok(s.to_string())
}

/// A stored row as billing uses it.
pub(crate) fn from_row(m: &currency::Model) -> Result<Currency> {
    let what = format!("currency {}", m.code);
    Ok(Currency {
        code: m.code.clone(),
        symbol: m.symbol.clone(),
        minor_units: u32::try_from(m.minor_units)
            .ok()
            .filter(|u| *u <= MAX_MINOR_UNITS)
            .ok_or_else(|| Error::Storage(format!("{what}: minor units out of range")))?,
        rate: money::from_db(&m.rate, &what)?,
        rounding: Rounding::parse(&m.rounding)
            .map_err(|e| Error::Storage(format!("{what}: {e}")))?,
        is_default: m.is_default,
    })
}

/// Adds a currency. The first one becomes the default (rate 1).
pub async fn add(store: &Store, new: NewCurrency, now: DateTime<Utc>) -> Result<Currency> {
    let code = check_code(&new.code)?;
    if new.minor_units > MAX_MINOR_UNITS {
        return Err(Error::invalid(Message::about(
            "minor_units",
            format!(
                "{} is out of range: 0 to {MAX_MINOR_UNITS} (2 for EUR, 0 for JPY)",
                new.minor_units
            ),
        )));
    }
    let rounding = Rounding::parse(&new.rounding)?;
    let symbol = match &new.symbol {
        Some(s) => check_symbol(s)?,
        None => default_symbol(&code),
    };
    let rate = new.rate.as_deref().map(parse_rate).transpose()?;
    let (tx, _turn) = super::begin_write(store).await?;
    if find(&tx, &code).await?.is_some() {
        return Err(Error::invalid(
            Message::new(format!("currency {code} already exists; "))
                .fix(Fix::ChangeCurrency { code }),
        ));
    }
    let default = default_currency(&tx).await?;
    let rate = match (&default, rate) {
        (None, None) => Decimal::ONE,
        (None, Some(r)) if r == Decimal::ONE => Decimal::ONE,
        (None, Some(r)) => {
            return Err(Error::invalid(
                Message::new(format!(
                    "{code} is the first currency, so it becomes the default and its rate is 1 (not {r}); leave "
                ))
                .field("rate")
                .text(" out"),
            ))
        }
        (Some(d), None) => {
            return Err(Error::invalid(
                Message::new(format!("{code} needs "))
                    .field("rate")
                    .text(format!(": how many {code} one {} buys (like 1.0845)", d.code)),
            ))
        }
        (Some(_), Some(r)) => r,
    };
    let row = currency::ActiveModel {
        code: Set(code.clone()),
        symbol: Set(symbol),
        minor_units: Set(new.minor_units as i32),
        rate: Set(rate.normalize().to_string()),
        rounding: Set(rounding.as_str().to_string()),
        is_default: Set(default.is_none()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(db_err("storing the currency"))?;
    tx.commit().await.map_err(db_err("adding a currency"))?;
    from_row(&row)
}

/// Changes a currency's rate, rounding rule or symbol. Minor units never change:
/// stored amounts are written in them.
pub async fn update(
    store: &Store,
    code: &str,
    rate: Option<String>,
    rounding: Option<String>,
    symbol: Option<String>,
    now: DateTime<Utc>,
) -> Result<Currency> {
    let code = check_code(code)?;
    if rate.is_none() && rounding.is_none() && symbol.is_none() {
        return Err(Error::invalid(
            Message::new("nothing to change: give ")
                .field("rate")
                .text(", ")
                .field("rounding")
                .text(" or ")
                .field("symbol"),
        ));
    }
    let row = currency::Entity::find()
        .filter(currency::Column::Code.eq(&code))
        .one(store.db())
        .await
        .map_err(db_err("reading currencies"))?
        .ok_or_else(|| unknown(&code))?;
    let mut m: currency::ActiveModel = row.clone().into();
    if let Some(r) = rate {
        let r = parse_rate(&r)?;
        if row.is_default && r != Decimal::ONE {
            return Err(Error::Invalid(format!(
                "{code} is the default currency: its rate is always 1"
            )));
        }
        m.rate = Set(r.normalize().to_string());
    }
    if let Some(r) = rounding {
        m.rounding = Set(Rounding::parse(&r)?.as_str().to_string());
    }
    if let Some(s) = symbol {
        m.symbol = Set(check_symbol(&s)?);
    }
    m.updated_at = Set(now);
    let _turn = store.write_turn().await;
    let row = m
        .update(store.db())
        .await
        .map_err(db_err("updating the currency"))?;
    from_row(&row)
}

fn unknown(code: &str) -> Error {
    Error::invalid(
        Message::new(format!("currency {code} is not set up: "))
            .fix(Fix::AddCurrency {
                code: code.to_string(),
            })
            .text(" (")
            .fix(Fix::See {
                listing: Listing::Currencies,
            })
            .text(")"),
    )
}

/// Every currency, the default first.
pub async fn list(store: &Store) -> Result<Vec<Currency>> {
    currency::Entity::find()
        .order_by_desc(currency::Column::IsDefault)
        .order_by_asc(currency::Column::Code)
        .all(store.db())
        .await
        .map_err(db_err("reading currencies"))?
        .iter()
        .map(from_row)
        .collect()
}

/// The currency with this code, if set up.
pub async fn find<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<Currency>> {
    currency::Entity::find()
        .filter(currency::Column::Code.eq(code.to_ascii_uppercase()))
        .one(db)
        .await
        .map_err(db_err("reading currencies"))?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The currency with this code, or an error naming how to add it.
pub async fn require<C: ConnectionTrait>(db: &C, code: &str) -> Result<Currency> {
    let code = check_code(code)?;
    find(db, &code).await?.ok_or_else(|| unknown(&code))
}

/// The default currency, once one is set up.
pub async fn default_currency<C: ConnectionTrait>(db: &C) -> Result<Option<Currency>> {
    currency::Entity::find()
        .filter(currency::Column::IsDefault.eq(true))
        .one(db)
        .await
        .map_err(db_err("reading currencies"))?
        .as_ref()
        .map(from_row)
        .transpose()
}
