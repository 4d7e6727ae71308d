//! `m0003_handler_load`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;

/// An index for routing: a handler's unfinished and recently failed operations.
pub(crate) struct M0003HandlerLoad;

impl MigrationName for M0003HandlerLoad {
    fn name(&self) -> &str {
        "m0003_handler_load"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003HandlerLoad {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("operations_handler_status")
                .table("operations")
                .col("handler_id")
                .col("status")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("operations_handler_status")
                .table("operations")
                .to_owned(),
        )
        .await
    }
}
