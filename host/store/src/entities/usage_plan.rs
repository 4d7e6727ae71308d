//! Usage billing (m0006): how a plan bills usage.

use sea_orm::entity::prelude::*;

/// How a plan bills usage (a row of `usage_plans`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_plans")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The plan (unique: one per plan).
    #[sea_orm(unique)]
    pub plan_id: i64,
    /// postpaid, month-end or pushed.
    pub mode: String,
    /// Days from the 1st's invoice to its due date.
    pub due_days: i32,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// It belongs to its plan.
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
