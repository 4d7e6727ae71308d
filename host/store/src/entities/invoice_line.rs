//! One line of an invoice, with its rounded amounts.

use sea_orm::entity::prelude::*;

/// An invoice line (a row of `invoice_lines`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_lines")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The invoice it is on.
    pub invoice_id: i64,
    /// Its place on the invoice, from 1.
    pub position: i32,
    /// `service`, `deposit`, `manual` or `usage`.
    pub kind: super::kinds::InvoiceLineKind,
    /// What is billed, as printed.
    pub description: String,
    /// How many, decimal text.
    pub quantity: String,
    /// The price of one, decimal text in the invoice's currency.
    pub unit_price: String,
    /// quantity × unit price, rounded.
    pub net: String,
    /// Percent.
    pub tax_rate: String,
    /// net × rate / 100, rounded.
    pub tax: String,
    /// net + tax.
    pub total: String,
    /// The service billed, for service and usage lines.
    pub service_id: Option<i64>,
    /// The billing period (`monthly` … `annual`) of a service or usage line; `None` for
    /// the others.
    pub period: Option<String>,
    /// The first day of the period billed, if the line bills one.
    pub period_start: Option<Date>,
    /// The last day of the period billed, if the line bills one.
    pub period_end: Option<Date>,
}

/// A line belongs to its invoice and, for a service or usage line, its service.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The invoice it is on (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    /// The service billed (`service_id`).
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
