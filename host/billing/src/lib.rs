//! Billing: money, currencies, tax rates, plan prices and deposits, the client credit
//! ledger, invoices with gapless numbers, payments, and the payment gate on orders.
//!
//! Owns: every amount (exact `rust_decimal`, stored as canonical decimal text), the
//! rules that turn prices into invoice lines, invoice numbers, and what a payment or
//! a credit does. Every write that concerns a client's money runs in one transaction
//! that first takes that client's lock (the row lock on PostgreSQL, `BEGIN IMMEDIATE`
//! on SQLite), so balances and invoice totals never race.
//! Must not: call modules, or change a service except for the one step the engine
//! hands it: a `create` held as `awaiting_payment` by an order is queued when its
//! invoice is paid (or cancelled with the invoice), in the same transaction.

#![warn(missing_docs)]

pub mod credit;
pub mod currencies;
pub mod event;
pub mod invoices;
pub mod ledger;
pub mod money;
pub mod orders;
pub mod prices;
pub mod recurring;
pub mod refunds;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod taxes;
pub mod usage;
pub mod zone;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

use provisor_store::entities::kinds::{EmailKind, OperationKind};
use provisor_store::entities::outbox;
use provisor_store::error::Result;
use provisor_store::{db_err, Store};

pub use money::{Currency, Rounding};
pub use settings::Settings;

/// What billing needs done outside billing, provided by the application layer (which
/// does it with the engine and the modules). Billing decides what must happen; the
/// driver does it, so this crate cannot reach a module or the operation engine (the
/// crate graph proves it: `provisor-billing` depends on the store only).
#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    /// The store billing reads and writes.
    fn store(&self) -> &Store;
    /// The host clock: billing's only "now".
    fn clock(&self) -> &provisor_store::clock::Clock;
    /// Billing's settings (time zone, renewal days, chunk size, attempts).
    fn settings(&self) -> &Settings;
    /// Reads a service's usage (the module's `usage` call with `request`, which holds
    /// the period's `from` and `to`).
    async fn read_usage(
        &self,
        service_id: i64,
        request: serde_json::Map<String, serde_json::Value>,
    ) -> Result<provisor_module_api::UsageReport>;
    /// Queues `action` (`suspend`, `terminate`) on a service under the engine's checks;
    /// the queued operation's id. `Error::Invalid` when the action cannot be queued now.
    async fn request(&self, service_id: i64, action: OperationKind) -> Result<i64>;
}

/// This process's write turn (SQLite) held for the life of a billing transaction.
pub(crate) type Turn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Begins a write transaction for `client_id`'s money and takes the client's lock
/// before anything is read, so two processes paying, crediting or issuing for one
/// client take turns. SQLite: `BEGIN IMMEDIATE` (the database write lock, waited for
/// through the busy timeout). PostgreSQL: `SELECT … FOR UPDATE` on the client row.
pub(crate) async fn begin_for_client(
    store: &Store,
    client_id: i64,
) -> Result<(DatabaseTransaction, Turn)> {
    let (tx, turn) = begin_write(store).await?;
    lock_client(&tx, client_id).await?;
    Ok((tx, turn))
}

/// Begins a transaction that will write: on SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so reading first and writing later cannot fail with a stale
/// snapshot when another process wrote in between.
pub(crate) async fn begin_write(store: &Store) -> Result<(DatabaseTransaction, Turn)> {
    let turn = store.write_turn().await;
    let tx = store
        .db()
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .map_err(db_err("starting a billing transaction"))?;
    Ok((tx, turn))
}

/// Takes the client's row lock inside a transaction that already writes (PostgreSQL;
/// SQLite's single writer already excludes everyone else).
pub(crate) async fn lock_client<C: ConnectionTrait>(db: &C, client_id: i64) -> Result<()> {
    // PostgreSQL only: SQLite has no row locks (its write lock is the database's).
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM clients WHERE id = $1 FOR UPDATE",
            [client_id.into()],
        ))
        .await
        .map_err(db_err("locking the client for billing"))?;
    }
    Ok(())
}

/// The billing day of an instant (UTC until a billing time zone exists).
pub fn day_of(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// One email for the outbox, in the engine's row shape.
pub(crate) struct Email {
    pub kind: EmailKind,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub service_id: Option<i64>,
    /// `invoice-<id>-<kind>`: the same email is queued once.
    pub dedupe_key: String,
}

/// Queues an email once (a second insert with the same dedupe key does nothing).
pub(crate) async fn queue_email<C: ConnectionTrait>(
    db: &C,
    email: Email,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = outbox::ActiveModel {
        kind: Set(email.kind),
        recipient: Set(email.recipient),
        subject: Set(email.subject),
        body: Set(email.body),
        service_id: Set(email.service_id),
        dedupe_key: Set(email.dedupe_key),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    };
    provisor_store::queue::queue_emails(db, vec![row]).await
}

/// What paying an invoice in full sets off beyond the invoice, wired here once so that
/// `invoices` does not import the modules that issue invoices: the order's held create
/// is queued (`orders::release`), and billing terms start or advance, a service
/// suspended for the invoice being unsuspended (`recurring::on_paid`). Answers the
/// create's operation when one was released.
pub(crate) async fn on_invoice_paid<C: ConnectionTrait>(
    db: &C,
    inv: &provisor_store::entities::invoice::Model,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<i64>> {
    let released = match inv.service_id {
        Some(s) => orders::release(db, s, now).await?,
        None => None,
    };
    recurring::on_paid(db, inv, now, settings).await?;
    Ok(released)
}

/// What cancelling an invoice sets off: the order it held is dropped.
pub(crate) async fn on_invoice_cancelled<C: ConnectionTrait>(
    db: &C,
    inv: &provisor_store::entities::invoice::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(s) = inv.service_id {
        orders::drop_order(db, s, now).await?;
    }
    Ok(())
}
