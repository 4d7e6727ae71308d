//! Schema migrations, applied at every open, one file each, in order. Append new ones;
//! never edit one that has shipped. Each names itself explicitly (`MigrationName`, not
//! the derive): the names are recorded in every database's `seaql_migrations`, so they
//! never change.
//!
//! On SQLite the migrations run on a connection of their own with `PRAGMA foreign_keys`
//! off (`Store::connect`): SQLite ignores that pragma inside a transaction, and
//! rebuilding a table that others refer to (m0012) needs it off.

use sea_orm_migration::prelude::*;

// Shipped migrations are frozen, so the pedantic lints that fire in them are allowed
// here rather than fixed there: `name()` returns a literal as `&str`
// (unnecessary_literal_bound), three `up()`s create many tables in one go
// (too_many_lines), and m0006 clones an index statement with `to_owned()`
// (implicit_clone). A new migration is written clean.
#[allow(clippy::unnecessary_literal_bound)]
mod m0001_module_host;
#[allow(clippy::unnecessary_literal_bound, clippy::too_many_lines)]
mod m0002_service_processing;
#[allow(clippy::unnecessary_literal_bound)]
mod m0003_handler_load;
#[allow(clippy::unnecessary_literal_bound, clippy::too_many_lines)]
mod m0004_billing;
#[allow(clippy::unnecessary_literal_bound)]
mod m0005_billing_recurring;
#[allow(
    clippy::unnecessary_literal_bound,
    clippy::too_many_lines,
    clippy::implicit_clone
)]
mod m0006_billing_usage;
#[allow(clippy::unnecessary_literal_bound)]
mod m0007_lookup_indexes;
#[allow(clippy::unnecessary_literal_bound)]
mod m0008_attempt_messages;
#[allow(clippy::unnecessary_literal_bound)]
mod m0009_handler_stuck_calls;
#[allow(clippy::unnecessary_literal_bound)]
mod m0010_secret_key;
#[allow(clippy::unnecessary_literal_bound)]
mod m0011_client_email_lower;
#[allow(clippy::unnecessary_literal_bound)]
mod m0012_foreign_keys;
mod m0013_accounts;

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_module_host::M0001ModuleHost),
            Box::new(m0002_service_processing::M0002ServiceProcessing),
            Box::new(m0003_handler_load::M0003HandlerLoad),
            Box::new(m0004_billing::M0004Billing),
            Box::new(m0005_billing_recurring::M0005BillingRecurring),
            Box::new(m0006_billing_usage::M0006BillingUsage),
            Box::new(m0007_lookup_indexes::M0007LookupIndexes),
            Box::new(m0008_attempt_messages::M0008AttemptMessages),
            Box::new(m0009_handler_stuck_calls::M0009HandlerStuckCalls),
            Box::new(m0010_secret_key::M0010SecretKey),
            Box::new(m0011_client_email_lower::M0011ClientEmailLower),
            Box::new(m0012_foreign_keys::M0012ForeignKeys),
            Box::new(m0013_accounts::M0013Accounts),
        ]
    }
}

/// Every foreign key m0012 adds and m0013 declares, as (table, column, referenced
/// table): the entities' relations are tested against it.
#[cfg(test)]
pub(crate) fn foreign_keys() -> Vec<(&'static str, &'static str, &'static str)> {
    m0012_foreign_keys::FKS
        .iter()
        .map(|f| (f.table, f.column, f.parent))
        .chain(m0013_accounts::FKS)
        .collect()
}
