//! Services: one sold thing, processed by one handler.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "services")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub client_id: i64,
    pub plan_id: i64,
    pub handler_id: i64,
    pub parent_id: Option<i64>,
    /// pending, provisioning, active, suspended, terminated, failed, manual.
    pub status: super::status::ServiceStatus,
    pub remote_id: Option<String>,
    /// JSON object of what modules and staff returned.
    pub attributes: String,
    /// JSON object of the configurable options chosen at order time.
    pub options: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    #[sea_orm(
        belongs_to = "super::plan::Entity",
        from = "Column::PlanId",
        to = "super::plan::Column::Id",
        on_delete = "Restrict"
    )]
    Plan,
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ParentId",
        to = "Column::Id",
        on_delete = "Restrict"
    )]
    Parent,
    #[sea_orm(has_many = "super::module_log::Entity")]
    ModuleLog,
    #[sea_orm(has_many = "Entity", via_rel = "Relation::Parent")]
    Addon,
    #[sea_orm(has_many = "super::operation::Entity")]
    Operation,
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
    #[sea_orm(has_many = "super::outbox::Entity")]
    Outbox,
    #[sea_orm(has_many = "super::invoice::Entity")]
    Invoice,
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    #[sea_orm(has_many = "super::usage_item::Entity")]
    UsageItem,
    #[sea_orm(has_many = "super::usage_charge::Entity")]
    UsageCharge,
    #[sea_orm(has_one = "super::billing_term::Entity")]
    BillingTerm,
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
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
