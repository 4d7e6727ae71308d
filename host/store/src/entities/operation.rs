//! The operation queue: every lifecycle step, durable.

use sea_orm::entity::prelude::*;

/// A queued operation (a row of `operations`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service it acts on.
    pub service_id: i64,
    /// The handler whose module carries it out.
    pub handler_id: i64,
    /// `create`, `suspend`, `unsuspend`, `terminate`, `change_plan`, `renew` or `action`.
    pub kind: super::kinds::OperationKind,
    /// `queued`, `running`, `done`, `manual`, `cancelled` or `awaiting_payment`.
    pub status: super::status::OperationStatus,
    /// The idempotency key the module gets on every attempt
    /// (`{kind}-s{service}-{uuid}`).
    #[sea_orm(unique)]
    pub operation_key: String,
    /// Attempts started so far (an in-progress or waiting answer gives its attempt
    /// back).
    pub attempts: i32,
    /// After this many failed attempts it turns manual.
    pub max_attempts: i32,
    /// When it is due (again).
    pub next_run_at: DateTimeUtc,
    /// The id of the worker running it; `None` unless running.
    pub lease_owner: Option<String>,
    /// When that worker's lease runs out (it is then reaped and retried).
    pub lease_expires_at: Option<DateTimeUtc>,
    /// JSON object of the call's parameters (the new plan, an action's form).
    pub params: String,
    /// JSON the module returned with an in-progress answer, handed back on the next
    /// attempt.
    pub state: Option<String>,
    /// The last failure's message (or why it waits), for staff.
    pub last_error: Option<String>,
    /// That failure's kind (`transient`, `permanent` …, or `waiting`).
    pub last_error_kind: Option<String>,
    /// When it was queued.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
    /// When it finished (done, manual or cancelled); `None` until then.
    pub finished_at: Option<DateTimeUtc>,
}

/// An operation belongs to its service and handler; its attempts, tasks, log rows and
/// billing actions refer to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service it acts on (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The handler that carries it out (`handler_id`).
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
    /// The module log rows of its calls.
    #[sea_orm(has_many = "super::module_log::Entity")]
    ModuleLog,
    /// Its attempts.
    #[sea_orm(has_many = "super::operation_attempt::Entity")]
    OperationAttempt,
    /// The task opened when it turned manual.
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
    /// The billing action that queued it.
    #[sea_orm(has_many = "super::billing_action::Entity")]
    BillingAction,
}

related!(
    service => Service, handler => Handler, module_log => ModuleLog,
    operation_attempt => OperationAttempt, task => Task, billing_action => BillingAction,
);

impl ActiveModelBehavior for ActiveModel {}
