//! `m0001_module_host`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The module host: module files and their load history, handlers, the
/// handler-scoped key-value store and the module log.
pub(crate) struct M0001ModuleHost;

impl MigrationName for M0001ModuleHost {
    fn name(&self) -> &str {
        "m0001_module_host"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001ModuleHost {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("module_files")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("file"))
                .col(text("sha256"))
                .col(text_null("name"))
                .col(text_null("version"))
                .col(text_null("api_version"))
                .col(text("status"))
                .col(text_null("reason"))
                .col(text_null("loaded_path"))
                .col(text_null("manifest"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("module_events")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("at"))
                .col(text("file"))
                .col(text("sha256"))
                .col(text_null("name"))
                .col(text_null("version"))
                .col(text("event"))
                .col(text_null("reason"))
                .col(text("process"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("handlers")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("name"))
                .col(text("module"))
                .col(text("settings"))
                .col(boolean("enabled"))
                .col(text_null("department"))
                .col(text_null("label"))
                .col(integer_null("max_concurrent"))
                .col(timestamp_with_time_zone_null("last_check_at"))
                .col(boolean_null("last_check_ok"))
                .col(text_null("last_check_message"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kv_entries")
                .if_not_exists()
                .col(big_integer("handler_id"))
                .col(text("key"))
                .col(text("value"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("handler_id").col("key"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("module_log")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("at"))
                .col(text("handler"))
                .col(text("module"))
                .col(text("module_version"))
                .col(big_integer_null("service_id"))
                .col(big_integer_null("operation_id"))
                .col(integer_null("attempt"))
                .col(text("kind"))
                .col(text("call"))
                .col(text("request"))
                .col(text("response"))
                .col(text("outcome"))
                .col(big_integer("duration_ms"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("module_log_service")
                .table("module_log")
                .col("service_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "module_log",
            "kv_entries",
            "handlers",
            "module_events",
            "module_files",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
