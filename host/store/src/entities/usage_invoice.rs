//! The usage invoice of a client for a period (unique per client and period).

use sea_orm::entity::prelude::*;

/// A client's usage invoice for a month (a row of `usage_invoices`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_invoices")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client billed.
    pub client_id: i64,
    /// The first day of the month billed.
    pub period_start: Date,
    /// The invoice.
    pub invoice_id: i64,
}

/// It belongs to its client and invoice.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client billed (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// The invoice (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
}

related!(client => Client, invoice => Invoice);

impl ActiveModelBehavior for ActiveModel {}
