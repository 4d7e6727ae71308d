//! A month-end billable item: one per (service, product, period).

use sea_orm::entity::prelude::*;

/// A month-end billable item (a row of `billable_items`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billable_items")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client billed.
    pub client_id: i64,
    /// The service the usage is of.
    pub service_id: i64,
    /// What was used: the usage rows' description up to its first ", " (`Container
    /// Small`).
    pub product: String,
    /// The first day of the month the usage belongs to.
    pub period_start: Date,
    /// The last day of that month.
    pub period_end: Date,
    /// The unit of `quantity` (`hour`, `GB`).
    pub unit: String,
    /// Units used in the month, decimal text.
    pub quantity: String,
    /// What it costs, rounded, decimal text in `currency`.
    pub amount: String,
    /// The client's currency code.
    pub currency: String,
    /// The invoice it was billed on; `None` until then.
    pub invoice_id: Option<i64>,
    /// When the run collected it.
    pub collected_at: DateTimeUtc,
}

/// A billable item belongs to a client, a service and, once invoiced, an invoice; its
/// usage items refer to it.
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
    /// The service the usage is of (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The invoice it was billed on (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    /// The module usage rows collected into it.
    #[sea_orm(has_many = "super::usage_item::Entity")]
    UsageItem,
}

related!(client => Client, service => Service, invoice => Invoice, usage_item => UsageItem);

impl ActiveModelBehavior for ActiveModel {}
