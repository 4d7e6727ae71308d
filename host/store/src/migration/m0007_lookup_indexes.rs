//! `m0007_lookup_indexes`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;

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
