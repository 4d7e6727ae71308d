//! The operation queue: every lifecycle step, durable.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub service_id: i64,
    pub handler_id: i64,
    /// `create`, `suspend`, `unsuspend`, `terminate`, `change_plan`, `renew`.
    pub kind: String,
    /// queued, running, done, manual, cancelled.
    pub status: super::status::OperationStatus,
    #[sea_orm(unique)]
    pub operation_key: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_run_at: DateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub params: String,
    pub state: Option<String>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
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
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
    #[sea_orm(has_many = "super::module_log::Entity")]
    ModuleLog,
    #[sea_orm(has_many = "super::operation_attempt::Entity")]
    OperationAttempt,
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
    #[sea_orm(has_many = "super::billing_action::Entity")]
    BillingAction,
}

related!(
    service => Service, handler => Handler, module_log => ModuleLog,
    operation_attempt => OperationAttempt, task => Task, billing_action => BillingAction,
);

impl ActiveModelBehavior for ActiveModel {}
