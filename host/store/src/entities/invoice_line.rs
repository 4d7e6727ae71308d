//! One line of an invoice, with its rounded amounts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub position: i32,
    /// service, deposit, manual or usage.
    pub kind: super::kinds::InvoiceLineKind,
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    /// quantity × unit price, rounded.
    pub net: String,
    /// Percent.
    pub tax_rate: String,
    /// net × rate / 100, rounded.
    pub tax: String,
    /// net + tax.
    pub total: String,
    pub service_id: Option<i64>,
    pub period: Option<String>,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
}

related!(invoice => Invoice, service => Service);

impl ActiveModelBehavior for ActiveModel {}
