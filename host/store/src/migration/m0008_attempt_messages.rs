//! `m0008_attempt_messages`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The module's message on a done or in-progress attempt (`operations show`).
pub(crate) struct M0008AttemptMessages;

impl MigrationName for M0008AttemptMessages {
    fn name(&self) -> &str {
        "m0008_attempt_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008AttemptMessages {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("operation_attempts")
                .add_column(text_null("message"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("operation_attempts")
                .drop_column("message")
                .to_owned(),
        )
        .await
    }
}
