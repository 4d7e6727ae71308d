//! Storage: the database connection, migrations and the row types.
//!
//! SQLite (`$PROVISOR_HOME/provisor.db`, WAL, a busy timeout) is the embedded default;
//! PostgreSQL is used when a `postgres://` URL is given. Every pragma is set in the
//! connect options so each pooled connection gets it.
//!
//! Owns: the schema. Must not: hold business rules; callers in `registry`, `handlers`
//! and the engine decide what to write.

pub mod entities;
mod migration;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

use crate::error::{Error, Result};

pub use migration::Migrator;

/// A connected, migrated database.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    url_shown: String,
    /// SQLite has one writer: the engine's writers take turns here instead of meeting
    /// in SQLite's busy handler, which sleeps for milliseconds at a time.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies pending
    /// migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let shown = redact_url(url);
        let mut opts = ConnectOptions::new(url.to_string());
        opts.sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            opts.max_connections(sqlite_pool_size())
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true)
                        .create_if_missing(true)
                });
        } else {
            opts.max_connections(16).min_connections(1);
        }
        let db = Database::connect(opts).await.map_err(|e| {
            Error::Storage(format!(
                "cannot open the database {shown}: {e}; check the URL (--database-url or DATABASE_URL) and that the server is running"
            ))
        })?;
        Migrator::up(&db, None)
            .await
            .map_err(|e| Error::Storage(format!("cannot migrate the database {shown}: {e}")))?;
        let writer = url
            .starts_with("sqlite:")
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Store {
            db,
            url_shown: shown,
            writer,
        })
    }

    /// The connection pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Waits for this process's turn to write (SQLite only; PostgreSQL has row locks and
    /// answers `None` at once). Hold the guard across the whole write transaction. Other
    /// processes on the same file still meet in SQLite's busy timeout.
    pub async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writer {
            Some(m) => Some(Arc::clone(m).lock_owned().await),
            None => None,
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The URL with any password removed, for messages.
    pub fn url_shown(&self) -> &str {
        &self.url_shown
    }
}

/// Removes the password from a database URL.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// Maps a database error to ours, naming what we were doing.
pub fn db_err(doing: &str) -> impl Fn(sea_orm::DbErr) -> Error + '_ {
    move |e| Error::Storage(format!("{doing}: {e}"))
}

/// Connections in the SQLite pool (`PROVISOR_SQLITE_POOL`, default 8). SQLite has one
/// writer either way; one connection avoids contention for its lock under a bulk load
/// (`bench ops` measured 496 against 265–405 ops/s) but makes every task of the daemon
/// wait behind any slow statement, so the default keeps several for responsiveness.
fn sqlite_pool_size() -> u32 {
    std::env::var("PROVISOR_SQLITE_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(8)
}
