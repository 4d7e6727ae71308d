//! Tariff plans: what a client buys and how it is provisioned.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// The module every handler of the plan must use.
    pub module: String,
    pub template: Option<String>,
    /// JSON object: the resources passed to the module.
    pub resources: String,
    /// JSON object: plan settings, validated against the module's plan schema.
    pub settings: String,
    /// JSON object: configurable options `{name: {value: {resource: amount}}}`.
    pub options: String,
    pub is_addon: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::plan_handler::Entity")]
    PlanHandler,
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    #[sea_orm(has_many = "super::plan_price::Entity")]
    PlanPrice,
    #[sea_orm(has_many = "super::plan_deposit::Entity")]
    PlanDeposit,
    #[sea_orm(has_one = "super::usage_plan::Entity")]
    UsagePlan,
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
