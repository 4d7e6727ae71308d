//! Emails waiting to be sent (delivery comes later).

use sea_orm::entity::prelude::*;

/// An email waiting to be sent (a row of `outbox`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What it is about: `welcome`, `invoice_created`, `invoice_paid`, `invoice_overdue` or
    /// `invoice_refunded`.
    pub kind: super::kinds::EmailKind,
    /// The address it goes to.
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The service it is about, if any.
    pub service_id: Option<i64>,
    /// Unique per email meant (`welcome-{service}`): a second queueing of the same one
    /// is skipped.
    #[sea_orm(unique)]
    pub dedupe_key: String,
    /// When it was queued.
    pub created_at: DateTimeUtc,
    /// When it was sent; `None` until then.
    pub sent_at: Option<DateTimeUtc>,
}

/// An email may belong to the service it is about.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service it is about (`service_id`).
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
