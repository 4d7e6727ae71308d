//! `m0005_billing_recurring`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
