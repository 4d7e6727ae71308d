//! The days `serve` has performed the daily run for (so a restart runs no day twice).

use sea_orm::entity::prelude::*;

/// A day the daily run was done for (a row of `daily_runs`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "daily_runs")]
pub struct Model {
    /// The day run for, in the billing time zone.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// When it finished.
    pub ran_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
