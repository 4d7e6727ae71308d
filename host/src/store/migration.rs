//! Schema migrations, applied at every open. Append new migrations, each with an
//! explicit unique name; never edit one that has shipped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001ModuleHost),
            Box::new(M0002ServiceProcessing),
            Box::new(M0003HandlerLoad),
        ]
    }
}

struct M0001ModuleHost;

// Explicit names: the derive takes the file name, which every migration here shares.
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

/// Service processing: departments, clients, plans and their handlers, services,
/// the operation queue, tasks and the email outbox.
pub(crate) struct M0002ServiceProcessing;

impl MigrationName for M0002ServiceProcessing {
    fn name(&self) -> &str {
        "m0002_service_processing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002ServiceProcessing {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("departments")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("name"))
                .col(text_null("email"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("clients")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name"))
                .col(text_uniq("email"))
                .col(text("currency"))
                .col(text("country"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("plans")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("name"))
                .col(text("module"))
                .col(text_null("template"))
                .col(text("resources"))
                .col(text("settings"))
                .col(text("options"))
                .col(boolean("is_addon"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("plan_handlers")
                .if_not_exists()
                .col(big_integer("plan_id"))
                .col(big_integer("handler_id"))
                .col(integer("priority"))
                .primary_key(Index::create().col("plan_id").col("handler_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("services")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("client_id"))
                .col(big_integer("plan_id"))
                .col(big_integer("handler_id"))
                .col(big_integer_null("parent_id"))
                .col(text("status"))
                .col(text_null("remote_id"))
                .col(text("attributes"))
                .col(text("options"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("operations")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("service_id"))
                .col(big_integer("handler_id"))
                .col(text("kind"))
                .col(text("status"))
                .col(text_uniq("operation_key"))
                .col(integer("attempts"))
                .col(integer("max_attempts"))
                .col(timestamp_with_time_zone("next_run_at"))
                .col(text_null("lease_owner"))
                .col(timestamp_with_time_zone_null("lease_expires_at"))
                .col(text("params"))
                .col(text_null("state"))
                .col(text_null("last_error"))
                .col(text_null("last_error_kind"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("operations_due")
                .table("operations")
                .col("status")
                .col("next_run_at")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("operations_service")
                .table("operations")
                .col("service_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("operation_attempts")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("operation_id"))
                .col(integer("attempt"))
                .col(text("worker"))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone("finished_at"))
                .col(text("outcome"))
                .col(text_null("error"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tasks")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("operation_id"))
                .col(big_integer("service_id"))
                .col(text("department"))
                .col(text("status"))
                .col(text("reason"))
                .col(text("fields"))
                .col(text_null("taken_by"))
                .col(text_null("values"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("outbox")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("kind"))
                .col(text("recipient"))
                .col(text("subject"))
                .col(text("body"))
                .col(big_integer_null("service_id"))
                .col(text_uniq("dedupe_key"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "outbox",
            "tasks",
            "operation_attempts",
            "operations",
            "services",
            "plan_handlers",
            "plans",
            "clients",
            "departments",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

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
