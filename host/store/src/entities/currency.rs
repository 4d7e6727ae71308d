//! Currencies: one is the default (rate 1); every other rate says how many units of
//! it one unit of the default buys. Money in every billing table is decimal text.

use sea_orm::entity::prelude::*;

/// A currency (a row of `currencies`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "currencies")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// ISO 4217 code, upper case.
    #[sea_orm(unique)]
    pub code: String,
    /// What amounts are printed with (`€`, `$`).
    pub symbol: String,
    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub minor_units: i32,
    /// Decimal text: units of this currency per unit of the default currency.
    pub rate: String,
    /// half-up, half-even or down.
    pub rounding: String,
    /// Whether this is the default currency (one is; its rate is 1).
    pub is_default: bool,
    /// When it was added.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations: rows refer to a currency by its code.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
