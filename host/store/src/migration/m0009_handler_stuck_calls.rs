//! `m0009_handler_stuck_calls`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// How many of a handler's module calls are stuck: abandoned past the call limit with
/// their threads still running in the module (written by the process that made them).
pub(crate) struct M0009HandlerStuckCalls;

impl MigrationName for M0009HandlerStuckCalls {
    fn name(&self) -> &str {
        "m0009_handler_stuck_calls"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009HandlerStuckCalls {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("handlers")
                .add_column(integer("stuck_calls").default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("handlers")
                .drop_column("stuck_calls")
                .to_owned(),
        )
        .await
    }
}
