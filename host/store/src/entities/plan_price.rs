//! A plan's recurring price in one currency for one period.

use sea_orm::entity::prelude::*;

/// A plan's price for one currency and period (a row of `plan_prices`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_prices")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The plan.
    pub plan_id: i64,
    /// The currency code.
    pub currency: String,
    /// monthly, quarterly, semiannual or annual.
    pub period: String,
    /// Decimal text in the currency's minor units.
    pub amount: String,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A price belongs to its plan.
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
