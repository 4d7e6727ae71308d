//! Which handlers process a plan, in order of preference.

use sea_orm::entity::prelude::*;

/// One handler of a plan (a row of `plan_handlers`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_handlers")]
pub struct Model {
    /// The plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan_id: i64,
    /// The handler.
    #[sea_orm(primary_key, auto_increment = false)]
    pub handler_id: i64,
    /// Order of preference, from 0: among the enabled handlers, routing takes the first
    /// that is neither at its limit nor failing.
    pub priority: i32,
}

/// It joins a plan and a handler.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The plan (`plan_id`).
    #[sea_orm(
        belongs_to = "super::plan::Entity",
        from = "Column::PlanId",
        to = "super::plan::Column::Id",
        on_delete = "Restrict"
    )]
    Plan,
    /// The handler (`handler_id`).
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
}

related!(plan => Plan, handler => Handler);

impl ActiveModelBehavior for ActiveModel {}
