//! One imported usage record (`usage import`), unique by transaction id.

use sea_orm::entity::prelude::*;

/// An imported usage record (a row of `usage_records`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The sender's id for the record, unique: a record sent twice is imported once.
    #[sea_orm(unique)]
    pub transaction_id: String,
    /// The service it is of.
    pub service_id: i64,
    /// The service's client.
    pub client_id: i64,
    /// The unit of `quantity`.
    pub unit: String,
    /// Units used, decimal text.
    pub quantity: String,
    /// The first day of the month the usage belongs to.
    pub period_start: Date,
    /// A description for the invoice line, if the sender gave one.
    pub description: Option<String>,
    /// Arrived after its period was invoiced.
    pub late: bool,
    /// The invoice it was billed on; `None` until then.
    pub invoice_id: Option<i64>,
    /// When it was imported.
    pub imported_at: DateTimeUtc,
}

/// A usage record belongs to its service, the service's client and, once billed, an
/// invoice.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service it is of (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The service's client (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// The invoice it was billed on (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
}

related!(service => Service, client => Client, invoice => Invoice);

impl ActiveModelBehavior for ActiveModel {}
