//! The last invoice number given per year.

use sea_orm::entity::prelude::*;

/// The invoice number counter of one year (a row of `invoice_sequences`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_sequences")]
pub struct Model {
    /// The year numbers are given in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    /// The last sequence number given that year (numbers are gapless).
    pub last: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
