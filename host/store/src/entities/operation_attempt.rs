//! One attempt of an operation, with its outcome and error text.

use sea_orm::entity::prelude::*;

/// One attempt of an operation (a row of `operation_attempts`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_attempts")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The operation attempted.
    pub operation_id: i64,
    /// Its number, from 1.
    pub attempt: i32,
    /// The id of the worker that ran it.
    pub worker: String,
    /// When the module call began.
    pub started_at: DateTimeUtc,
    /// When its outcome was recorded.
    pub finished_at: DateTimeUtc,
    /// `done`, `in_progress`, `retry` or `manual`.
    pub outcome: super::kinds::AttemptOutcome,
    /// The error text of a failed attempt.
    pub error: Option<String>,
    /// What the module said on a done or in-progress call.
    pub message: Option<String>,
}

/// An attempt belongs to its operation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The operation attempted (`operation_id`).
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
