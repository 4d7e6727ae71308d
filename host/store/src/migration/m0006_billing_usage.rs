//! `m0006_billing_usage`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
