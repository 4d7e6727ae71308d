//! One renewal charged: unique per (service, period start).

use sea_orm::entity::prelude::*;

/// A renewal charged (a row of `renewals`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "renewals")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service renewed.
    pub service_id: i64,
    /// The service's client.
    pub client_id: i64,
    /// The billing period: `monthly`, `quarterly`, `semiannual` or `annual`.
    pub period: String,
    /// The first day of the period charged.
    pub period_start: Date,
    /// The last day of the period charged.
    pub period_end: Date,
    /// The invoice that charges it.
    pub invoice_id: i64,
    /// The date of the daily run that charged it.
    pub run_date: Date,
    /// When it was recorded.
    pub created_at: DateTimeUtc,
}

/// A renewal belongs to its service, client and invoice.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service renewed (`service_id`).
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
    /// The invoice that charges it (`invoice_id`).
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
