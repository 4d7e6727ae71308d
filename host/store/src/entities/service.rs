//! Services: one sold thing, processed by one handler.

use sea_orm::entity::prelude::*;

/// A service (a row of `services`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "services")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client who owns it.
    pub client_id: i64,
    /// The plan it is on.
    pub plan_id: i64,
    /// The handler that processes it.
    pub handler_id: i64,
    /// For an addon, the service it is attached to.
    pub parent_id: Option<i64>,
    /// pending, provisioning, active, suspended, terminated, failed, manual.
    pub status: super::status::ServiceStatus,
    /// The remote system's id for it (account, VM, license), once created.
    pub remote_id: Option<String>,
    /// JSON object of what modules and staff returned.
    pub attributes: String,
    /// JSON object of the configurable options chosen at order time.
    pub options: String,
    /// When it was ordered (or imported).
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A service belongs to a client, a plan, a handler and, for an addon, another service;
/// everything done or billed for it refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client who owns it (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// The plan it is on (`plan_id`).
    #[sea_orm(
        belongs_to = "super::plan::Entity",
        from = "Column::PlanId",
        to = "super::plan::Column::Id",
        on_delete = "Restrict"
    )]
    Plan,
    /// The handler that processes it (`handler_id`).
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
    /// The service an addon is attached to (`parent_id`).
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ParentId",
        to = "Column::Id",
        on_delete = "Restrict"
    )]
    Parent,
    /// Module log rows of calls for it.
    #[sea_orm(has_many = "super::module_log::Entity")]
    ModuleLog,
    /// Its addons (the other side of `Parent`).
    #[sea_orm(has_many = "Entity", via_rel = "Relation::Parent")]
    Addon,
    /// Its operations.
    #[sea_orm(has_many = "super::operation::Entity")]
    Operation,
    /// Its tasks.
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
    /// Emails about it.
    #[sea_orm(has_many = "super::outbox::Entity")]
    Outbox,
    /// The invoices of its order.
    #[sea_orm(has_many = "super::invoice::Entity")]
    Invoice,
    /// Invoice lines that bill it.
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
    /// Usage imported for it.
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    /// Its month-end billable items.
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    /// Its module usage rows collected.
    #[sea_orm(has_many = "super::usage_item::Entity")]
    UsageItem,
    /// Its post-paid usage charged.
    #[sea_orm(has_many = "super::usage_charge::Entity")]
    UsageCharge,
    /// Its prepaid billing term, if it has one.
    #[sea_orm(has_one = "super::billing_term::Entity")]
    BillingTerm,
    /// Its renewals.
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
    /// Suspends and terminates for non-payment.
    #[sea_orm(has_many = "super::billing_action::Entity")]
    BillingAction,
}

related!(
    client => Client, plan => Plan, handler => Handler, module_log => ModuleLog,
    operation => Operation, task => Task, outbox => Outbox, invoice => Invoice,
    invoice_line => InvoiceLine, usage_record => UsageRecord,
    billable_item => BillableItem, usage_item => UsageItem, usage_charge => UsageCharge,
    billing_term => BillingTerm, renewal => Renewal, billing_action => BillingAction,
);

impl ActiveModelBehavior for ActiveModel {}
