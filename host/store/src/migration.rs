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
            Box::new(M0004Billing),
            Box::new(M0005BillingRecurring),
            Box::new(M0006BillingUsage),
            Box::new(M0007LookupIndexes),
            Box::new(M0008AttemptMessages),
            Box::new(M0009HandlerStuckCalls),
            Box::new(M0010SecretKey),
            Box::new(M0011ClientEmailLower),
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

/// Billing foundations: currencies, tax rates, plan prices and deposits, invoices with
/// their lines, gapless per-year invoice numbers, payments and the client credit
/// ledger. Money is canonical decimal text (`12.10`), never a float.
pub(crate) struct M0004Billing;

impl MigrationName for M0004Billing {
    fn name(&self) -> &str {
        "m0004_billing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004Billing {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("currencies")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("code"))
                .col(text("symbol"))
                .col(integer("minor_units"))
                .col(text("rate"))
                .col(text("rounding"))
                .col(boolean("is_default"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tax_rates")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text_uniq("country"))
                .col(text("rate"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("plan_prices")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("plan_id"))
                .col(text("currency"))
                .col(text("period"))
                .col(text("amount"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("plan_prices_key")
                .table("plan_prices")
                .col("plan_id")
                .col("currency")
                .col("period")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("plan_deposits")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("plan_id"))
                .col(text("currency"))
                .col(text("amount"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("plan_deposits_key")
                .table("plan_deposits")
                .col("plan_id")
                .col("currency")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("invoices")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("client_id"))
                .col(big_integer_null("service_id"))
                .col(text_null("number"))
                .col(integer_null("number_year"))
                .col(big_integer_null("number_seq"))
                .col(text("status"))
                .col(text("currency"))
                .col(text("subtotal"))
                .col(text("tax_total"))
                .col(text("total"))
                .col(text("amount_paid"))
                .col(date_null("issue_date"))
                .col(date_null("due_date"))
                .col(timestamp_with_time_zone_null("paid_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invoices_number")
                .table("invoices")
                .col("number")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invoices_client_status")
                .table("invoices")
                .col("client_id")
                .col("status")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("invoice_lines")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("invoice_id"))
                .col(integer("position"))
                .col(text("kind"))
                .col(text("description"))
                .col(text("quantity"))
                .col(text("unit_price"))
                .col(text("net"))
                .col(text("tax_rate"))
                .col(text("tax"))
                .col(text("total"))
                .col(big_integer_null("service_id"))
                .col(text_null("period"))
                .col(date_null("period_start"))
                .col(date_null("period_end"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invoice_lines_invoice")
                .table("invoice_lines")
                .col("invoice_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("invoice_sequences")
                .if_not_exists()
                .col(integer("year").primary_key())
                .col(big_integer("last"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("payments")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("invoice_id"))
                .col(big_integer("client_id"))
                .col(text("method"))
                .col(text_null("reference"))
                .col(text("currency"))
                .col(text("amount"))
                .col(text("received"))
                .col(date("received_on"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("payments_reference")
                .table("payments")
                .col("reference")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("payments_invoice")
                .table("payments")
                .col("invoice_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("credit_entries")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("client_id"))
                .col(text("currency"))
                .col(text("amount"))
                .col(text("reason"))
                .col(big_integer_null("invoice_id"))
                .col(big_integer_null("payment_id"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("credit_entries_client")
                .table("credit_entries")
                .col("client_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "credit_entries",
            "payments",
            "invoice_sequences",
            "invoice_lines",
            "invoices",
            "plan_deposits",
            "plan_prices",
            "tax_rates",
            "currencies",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Usage billing: which plans bill usage and how, per-unit prices, imported usage
/// records, month-end billable items with their usage items, and the keys that make
/// every usage charge once per (service, period) and one invoice per (client, period).
pub(crate) struct M0006BillingUsage;

impl MigrationName for M0006BillingUsage {
    fn name(&self) -> &str {
        "m0006_billing_usage"
    }
}

async fn unique_index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&str],
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name)
        .table(table.to_string())
        .unique()
        .if_not_exists();
    for c in cols {
        idx.col(ToString::to_string(c));
    }
    m.create_index(idx.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for M0006BillingUsage {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("usage_plans")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("plan_id"))
                .col(text("mode"))
                .col(integer("due_days"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("usage_prices")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("plan_id"))
                .col(text("currency"))
                .col(text("unit"))
                .col(text("amount"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "usage_prices_key",
            "usage_prices",
            &["plan_id", "currency", "unit"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("usage_records")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("transaction_id"))
                .col(big_integer("service_id"))
                .col(big_integer("client_id"))
                .col(text("unit"))
                .col(text("quantity"))
                .col(date("period_start"))
                .col(text_null("description"))
                .col(boolean("late"))
                .col(big_integer_null("invoice_id"))
                .col(timestamp_with_time_zone("imported_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "usage_records_transaction",
            "usage_records",
            &["transaction_id"],
        )
        .await?;
        m.create_index(
            Index::create()
                .name("usage_records_open")
                .table("usage_records")
                .col("client_id")
                .col("invoice_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("billable_items")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("client_id"))
                .col(big_integer("service_id"))
                .col(text("product"))
                .col(date("period_start"))
                .col(date("period_end"))
                .col(text("unit"))
                .col(text("quantity"))
                .col(text("amount"))
                .col(text("currency"))
                .col(big_integer_null("invoice_id"))
                .col(timestamp_with_time_zone("collected_at"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "billable_items_key",
            "billable_items",
            &["service_id", "product", "period_start"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("usage_items")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("service_id"))
                .col(text("key"))
                .col(big_integer("billable_item_id"))
                .col(text("description"))
                .col(text("unit"))
                .col(text("quantity"))
                .col(text("amount"))
                .col(text_null("started_at"))
                .col(text("details"))
                .to_owned(),
        )
        .await?;
        unique_index(m, "usage_items_key", "usage_items", &["service_id", "key"]).await?;
        m.create_table(
            Table::create()
                .table("usage_charges")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("service_id"))
                .col(date("period_start"))
                .col(big_integer("invoice_id"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "usage_charges_key",
            "usage_charges",
            &["service_id", "period_start"],
        )
        .await?;
        m.create_table(
            Table::create()
                .table("usage_invoices")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("client_id"))
                .col(date("period_start"))
                .col(big_integer("invoice_id"))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "usage_invoices_key",
            "usage_invoices",
            &["client_id", "period_start"],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "usage_invoices",
            "usage_charges",
            "usage_items",
            "billable_items",
            "usage_records",
            "usage_prices",
            "usage_plans",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Prepaid recurring billing: each service's billing term (period, anchor, what is
/// invoiced and paid up to), the renewals charged (one per service and period start,
/// unique), the suspends, unsuspends and terminates queued for non-payment (one per
/// invoice, service and action, unique), and the days the daemon's daily run has done.
pub(crate) struct M0005BillingRecurring;

impl MigrationName for M0005BillingRecurring {
    fn name(&self) -> &str {
        "m0005_billing_recurring"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005BillingRecurring {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("billing_terms")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("service_id"))
                .col(big_integer("client_id"))
                .col(text("period"))
                .col(date("anchor"))
                .col(date("invoiced_until"))
                .col(date("next_due"))
                .col(date_null("ended_on"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("billing_terms_client")
                .table("billing_terms")
                .col("client_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("renewals")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("service_id"))
                .col(big_integer("client_id"))
                .col(text("period"))
                .col(date("period_start"))
                .col(date("period_end"))
                .col(big_integer("invoice_id"))
                .col(date("run_date"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("renewals_key")
                .table("renewals")
                .col("service_id")
                .col("period_start")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("renewals_invoice")
                .table("renewals")
                .col("invoice_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("billing_actions")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("service_id"))
                .col(big_integer("invoice_id"))
                .col(text("action"))
                .col(big_integer_null("operation_id"))
                .col(date("run_date"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("billing_actions_key")
                .table("billing_actions")
                .col("invoice_id")
                .col("service_id")
                .col("action")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("daily_runs")
                .if_not_exists()
                .col(date("day").primary_key())
                .col(timestamp_with_time_zone("ran_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["daily_runs", "billing_actions", "renewals", "billing_terms"] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Indexes for lookups that scanned whole tables: a client's services (every billing
/// chunk, every order), invoices by year and sequence number (read back after a
/// batched issue), and a client's billable items and usage records not yet invoiced
/// (partial indexes, replacing `usage_records_open`). Without them the
/// monthly run's chunks each scanned every service and invoice, so the run grew with
/// the square of the number of clients.
pub(crate) struct M0007LookupIndexes;

impl MigrationName for M0007LookupIndexes {
    fn name(&self) -> &str {
        "m0007_lookup_indexes"
    }
}

/// (name, table, columns, partial-index condition).
const M0007_INDEXES: [(&str, &str, &str, &str); 4] = [
    ("services_client", "services", "client_id", ""),
    (
        "invoices_year_seq",
        "invoices",
        "number_year, number_seq",
        "",
    ),
    // Partial: marking a row invoiced removes its entry instead of moving it.
    (
        "billable_items_unbilled",
        "billable_items",
        "client_id",
        "invoice_id IS NULL",
    ),
    (
        "usage_records_unbilled",
        "usage_records",
        "client_id",
        "invoice_id IS NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for M0007LookupIndexes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Same SQL on both backends (partial indexes are not in sea-query's builder).
        for (name, table, cols, cond) in M0007_INDEXES {
            let cond = if cond.is_empty() {
                String::new()
            } else {
                format!(" WHERE {cond}")
            };
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols}){cond}"
            ))
            .await?;
        }
        // Replaced by usage_records_unbilled.
        db.execute_unprepared("DROP INDEX IF EXISTS usage_records_open")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, ..) in M0007_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS usage_records_open ON usage_records (client_id, invoice_id)",
        )
        .await?;
        Ok(())
    }
}

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

/// Emails are looked up case-insensitively (`lower(email)`); rows written before emails
/// were stored in lower case keep theirs, so the lookup needs an index on the
/// expression, or every lookup (one per account on import) scans the clients.
pub(crate) struct M0011ClientEmailLower;

impl MigrationName for M0011ClientEmailLower {
    fn name(&self) -> &str {
        "m0011_client_email_lower"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0011ClientEmailLower {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Both backends index an expression with the same statement.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS clients_email_lower ON clients (lower(email))",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS clients_email_lower")
            .await
            .map(|_| ())
    }
}
