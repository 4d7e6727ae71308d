//! A month-end billable item: one per (service, product, period).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billable_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub client_id: i64,
    pub service_id: i64,
    pub product: String,
    pub period_start: Date,
    pub period_end: Date,
    pub unit: String,
    pub quantity: String,
    pub amount: String,
    pub currency: String,
    pub invoice_id: Option<i64>,
    pub collected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    #[sea_orm(has_many = "super::usage_item::Entity")]
    UsageItem,
}

related!(client => Client, service => Service, invoice => Invoice, usage_item => UsageItem);

impl ActiveModelBehavior for ActiveModel {}
