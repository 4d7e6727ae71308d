//! `m0010_secret_key`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Which key the database's secret settings are sealed with (one row, `id` 1), so a
/// process with another key is refused at open even before it reads a sealed value.
pub(crate) struct M0010SecretKey;

impl MigrationName for M0010SecretKey {
    fn name(&self) -> &str {
        "m0010_secret_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010SecretKey {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("secret_key")
                .if_not_exists()
                .col(big_integer("id").primary_key())
                .col(text("key_id"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("secret_key").to_owned())
            .await
    }
}
