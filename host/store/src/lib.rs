//! Storage: the database connection, migrations and the row types.
//!
//! SQLite (`$PROVISOR_HOME/provisor.db`, WAL, a busy timeout) is the embedded default;
//! PostgreSQL is used when a `postgres://` URL is given. Every pragma is set in the
//! connect options so each pooled connection gets it; each enforces foreign keys. The
//! migrations run before the pool opens, on one connection with foreign keys off (see
//! `migration`).
//!
//! Owns: the schema. Must not: hold business rules; callers in `registry`, `handlers`
//! and the engine decide what to write.

#![warn(missing_docs)]

pub mod clock;
pub mod entities;
pub mod error;
pub mod fix;
pub mod home;
pub mod input;
pub mod lookup;
pub mod message;
mod migration;
pub mod progress;
pub mod queue;
pub mod schema;
pub mod secrets;

pub use error::{Error, ErrorKind, Result};

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

pub use migration::Migrator;
pub use secrets::KeyRing;

/// How the store connects (from the configuration's `[database]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections in the SQLite pool (default 8). SQLite has one writer either way;
    /// one connection avoids contention for its lock under a bulk load (`bench ops`
    /// measured 496 against 265–405 ops/s) but makes every task of the daemon wait
    /// behind any slow statement, so the default keeps several for responsiveness.
    pub sqlite_pool: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { sqlite_pool: 8 }
    }
}

/// A connected, migrated database.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    url_shown: String,
    /// SQLite has one writer: the engine's writers take turns here instead of meeting
    /// in SQLite's busy handler, which sleeps for milliseconds at a time.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The key handler secrets are sealed with; `None` for tools that never read or
    /// write a handler's settings.
    secrets: Option<Arc<KeyRing>>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies pending
    /// migrations, without a secret key: a handler's sealed settings cannot be read or
    /// written through this store.
    pub async fn open(url: &str) -> Result<Store> {
        Store::connect(url, StoreOptions::default()).await
    }

    /// Like [`Store::open`], with the key handler secrets are sealed with. At open the
    /// key is checked against the database (a wrong key is refused, naming the handler
    /// and the fix) and plain secrets an older version stored are sealed.
    pub async fn open_with_secrets(url: &str, ring: KeyRing) -> Result<Store> {
        Store::open_with(url, ring, StoreOptions::default()).await
    }

    /// [`Store::open_with_secrets`] with the configuration's options.
    pub async fn open_with(url: &str, ring: KeyRing, options: StoreOptions) -> Result<Store> {
        let mut store = Store::connect(url, options).await?;
        secrets::secure(&store.db, &ring).await?;
        store.secrets = Some(Arc::new(ring));
        Ok(store)
    }

    /// The secret key ring, if this store has one.
    pub fn secrets(&self) -> Option<&KeyRing> {
        self.secrets.as_deref()
    }

    async fn connect(url: &str, options: StoreOptions) -> Result<Store> {
        let shown = redact_url(url);
        let sqlite = url.starts_with("sqlite:");
        let db = if sqlite {
            if let Some(path) = sqlite_path(url) {
                make_private(&path)?;
            }
            connect_sqlite(url, &shown, options.sqlite_pool.max(1)).await?
        } else {
            let mut opts = base_options(url);
            opts.max_connections(16).min_connections(1);
            let db = open(opts, &shown).await?;
            migrate(&db, &shown).await?;
            db
        };
        let writer = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Store {
            db,
            url_shown: shown,
            writer,
            secrets: None,
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

/// Opens a SQLite database and migrates it. The migrations run first, on one
/// connection of their own with foreign keys off: SQLite ignores `PRAGMA foreign_keys`
/// inside a transaction, and m0012 rebuilds tables that others refer to, which its
/// documented procedure does with them off. Every connection of the pool the store
/// then uses enforces them.
async fn connect_sqlite(url: &str, shown: &str, pool: u32) -> Result<DatabaseConnection> {
    let migrator = open(sqlite_options(url, 1, false), shown).await?;
    migrate(&migrator, shown).await?;
    if sqlite_path(url).is_none() {
        // An in-memory database lives in its connection: keep that one, enforcing.
        migrator
            .execute_unprepared("PRAGMA foreign_keys = ON")
            .await
            .map_err(db_err("turning foreign keys on"))?;
        return Ok(migrator);
    }
    migrator
        .close()
        .await
        .map_err(db_err("closing the migration connection"))?;
    open(sqlite_options(url, pool, true), shown).await
}

/// The options every connection shares: no statement logging, bounded waits.
fn base_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10));
    opts
}

/// A SQLite pool of `size` connections, each with the pragmas set (WAL,
/// `synchronous=NORMAL`, a busy timeout, `foreign_keys`).
fn sqlite_options(url: &str, size: u32, foreign_keys: bool) -> ConnectOptions {
    let mut opts = base_options(url);
    opts.max_connections(size)
        .min_connections(1)
        .map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(foreign_keys)
                .create_if_missing(true)
        });
    opts
}

async fn open(opts: ConnectOptions, shown: &str) -> Result<DatabaseConnection> {
    Database::connect(opts).await.map_err(|e| {
        Error::Storage(format!(
            "cannot open the database {shown}: {e}; check the database URL and that the server is running"
        ))
    })
}

async fn migrate(db: &DatabaseConnection, shown: &str) -> Result<()> {
    Migrator::up(db, None)
        .await
        .map_err(|e| Error::Storage(format!("cannot migrate the database {shown}: {e}")))
}

/// The file of a `sqlite://PATH?…` URL (not `:memory:`).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the SQLite file 0600 (SQLite gives its `-wal` and `-shm` files the same
/// mode), or takes group and other access away from an existing one and its WAL files:
/// the database holds the module log and customer data.
fn make_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io(format!("cannot create the database {}", path.display()), e))?;
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        files.push(p.into());
    }
    for f in files {
        if let Ok(meta) = std::fs::metadata(&f) {
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).map_err(
                    |e| {
                        Error::io(
                            format!("cannot make {} private (chmod 600)", f.display()),
                            e,
                        )
                    },
                )?;
            }
        }
    }
    Ok(())
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
