//! A suspend, unsuspend or terminate queued for non-payment: unique per (invoice,
//! service, action).

use sea_orm::entity::prelude::*;

/// A suspend or terminate for non-payment, or the unsuspend once paid (a row of
/// `billing_actions`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_actions")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service acted on.
    pub service_id: i64,
    /// The invoice behind it: overdue for a suspend or terminate, paid for an unsuspend.
    pub invoice_id: i64,
    /// suspend, unsuspend or terminate.
    pub action: String,
    /// The operation queued; `None` when none was needed (the service was already in
    /// that state, or the suspend was still queued and was cancelled instead).
    pub operation_id: Option<i64>,
    /// The day it was decided: the daily run's date, or the payment's for an unsuspend.
    pub run_date: Date,
    /// When it was recorded.
    pub created_at: DateTimeUtc,
}

/// A billing action belongs to a service, the invoice behind it and the operation it
/// queued.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service acted on (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The invoice behind it (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    /// The operation queued (`operation_id`).
    #[sea_orm(
        belongs_to = "super::operation::Entity",
        from = "Column::OperationId",
        to = "super::operation::Column::Id",
        on_delete = "Restrict"
    )]
    Operation,
}

related!(service => Service, invoice => Invoice, operation => Operation);

impl ActiveModelBehavior for ActiveModel {}
