//! A service's prepaid billing term: its period, the day its first paid period began
//! (periods are counted from it, clamped to month ends), what has been invoiced and
//! what has been paid up to.

use sea_orm::entity::prelude::*;

/// A service's prepaid billing term (a row of `billing_terms`, one per service).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_terms")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service billed (unique: one term per service).
    #[sea_orm(unique)]
    pub service_id: i64,
    /// The service's client.
    pub client_id: i64,
    /// monthly, quarterly, semiannual or annual.
    pub period: String,
    /// The day the first paid period began; every period is counted from it.
    pub anchor: Date,
    /// The first day not yet invoiced.
    pub invoiced_until: Date,
    /// The first day not yet paid: the next due date.
    pub next_due: Date,
    /// When billing ended (the service or the one it is attached to terminated).
    pub ended_on: Option<Date>,
    /// When the term was created.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A billing term belongs to its service and the service's client.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service billed (`service_id`).
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
}

related!(service => Service, client => Client);

impl ActiveModelBehavior for ActiveModel {}
