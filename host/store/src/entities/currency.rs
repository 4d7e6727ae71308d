//! Currencies: one is the default (rate 1); every other rate says how many units of
//! it one unit of the default buys. Money in every billing table is decimal text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "currencies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// ISO 4217 code, upper case.
    #[sea_orm(unique)]
    pub code: String,
    pub symbol: String,
    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub minor_units: i32,
    /// Decimal text: units of this currency per unit of the default currency.
    pub rate: String,
    /// half-up, half-even or down.
    pub rounding: String,
    pub is_default: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
