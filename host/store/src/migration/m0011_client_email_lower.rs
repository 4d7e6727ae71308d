//! `m0011_client_email_lower`: shipped; never edit what it does (append a new migration instead).

use sea_orm_migration::prelude::*;

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
