//! One attempt of an operation, with its outcome and error text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub operation_id: i64,
    pub attempt: i32,
    pub worker: String,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    /// done, in_progress, retry, manual.
    pub outcome: super::kinds::AttemptOutcome,
    pub error: Option<String>,
    /// What the module said on a done or in-progress call.
    pub message: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::operation::Entity",
        from = "Column::OperationId",
        to = "super::operation::Column::Id",
        on_delete = "Restrict"
    )]
    Operation,
}

related!(operation => Operation);

impl ActiveModelBehavior for ActiveModel {}
