//! Tariff plans: what a client buys and how it is provisioned.

use sea_orm::entity::prelude::*;

/// A tariff plan (a row of `plans`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The plan's name, unique; orders refer to it by name.
    #[sea_orm(unique)]
    pub name: String,
    /// The module every handler of the plan must use.
    pub module: String,
    /// The remote account template (package, user group, pricelist) the module uses, if
    /// any.
    pub template: Option<String>,
    /// JSON object: the resources passed to the module.
    pub resources: String,
    /// JSON object: plan settings, validated against the module's plan schema.
    pub settings: String,
    /// JSON object: configurable options `{name: {value: {resource: amount}}}`.
    pub options: String,
    /// Whether it is an addon, ordered for an existing service.
    pub is_addon: bool,
    /// When it was created.
    pub created_at: DateTimeUtc,
}

/// A plan's handlers, services, prices, deposits and usage settings refer to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Its handlers (through `plan_handlers`).
    #[sea_orm(has_many = "super::plan_handler::Entity")]
    PlanHandler,
    /// Services on the plan.
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    /// Its recurring prices.
    #[sea_orm(has_many = "super::plan_price::Entity")]
    PlanPrice,
    /// Its deposits.
    #[sea_orm(has_many = "super::plan_deposit::Entity")]
    PlanDeposit,
    /// How it bills usage, if it does.
    #[sea_orm(has_one = "super::usage_plan::Entity")]
    UsagePlan,
    /// Its usage unit prices.
    #[sea_orm(has_many = "super::usage_price::Entity")]
    UsagePrice,
}

related!(
    plan_handler => PlanHandler, service => Service, plan_price => PlanPrice,
    plan_deposit => PlanDeposit, usage_plan => UsagePlan, usage_price => UsagePrice,
);

/// The handlers of a plan, through `plan_handlers`.
impl Related<super::handler::Entity> for Entity {
    fn to() -> RelationDef {
        super::plan_handler::Relation::Handler.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::plan_handler::Relation::Plan.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
