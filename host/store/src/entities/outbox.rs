//! Emails waiting to be sent (delivery comes later).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// welcome, invoice_created, invoice_paid, invoice_overdue, invoice_refunded.
    pub kind: super::kinds::EmailKind,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub service_id: Option<i64>,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
}

related!(service => Service);

impl ActiveModelBehavior for ActiveModel {}
