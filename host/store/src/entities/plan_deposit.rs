//! The deposit a plan requires at sign-up, per currency; paid, it becomes credit.

use sea_orm::entity::prelude::*;

/// A plan's deposit in one currency (a row of `plan_deposits`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_deposits")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The plan.
    pub plan_id: i64,
    /// The currency code.
    pub currency: String,
    /// The deposit, decimal text in `currency`.
    pub amount: String,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A deposit belongs to its plan.
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
}

related!(plan => Plan);

impl ActiveModelBehavior for ActiveModel {}
