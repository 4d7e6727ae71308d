//! Tax rates by country (percent, exclusive); a country without a row pays none.

use sea_orm::entity::prelude::*;

/// A country's tax rate (a row of `tax_rates`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tax_rates")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// ISO 3166 alpha-2, upper case.
    #[sea_orm(unique)]
    pub country: String,
    /// Decimal text, percent (`21` is 21 %).
    pub rate: String,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations: clients refer to a rate by country.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
