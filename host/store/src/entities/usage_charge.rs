//! A post-paid service's usage charged for a period (unique per service and period).

use sea_orm::entity::prelude::*;

/// Post-paid usage charged (a row of `usage_charges`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_charges")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service charged.
    pub service_id: i64,
    /// The first day of the month charged.
    pub period_start: Date,
    /// The invoice that charges it.
    pub invoice_id: i64,
}

/// A charge belongs to its service and invoice.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service charged (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The invoice that charges it (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
}

related!(service => Service, invoice => Invoice);

impl ActiveModelBehavior for ActiveModel {}
