//! A plan's price of one unit of usage in one currency.

use sea_orm::entity::prelude::*;

/// A plan's price per unit of usage (a row of `usage_prices`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_prices")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The plan.
    pub plan_id: i64,
    /// The currency code.
    pub currency: String,
    /// The unit priced (`hour`, `GB`).
    pub unit: String,
    /// Decimal text (may have more places than the currency's minor units).
    pub amount: String,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A usage price belongs to its plan.
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
