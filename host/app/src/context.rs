//! The application context: the configuration one process read at start, the home and
//! the database and runtime limits it names, and how the store and the runtime are
//! opened from them.

use std::sync::Arc;

use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_runtime::{Limits, Runtime};
use provisor_store::clock::Clock;
use provisor_store::error::Result;
use provisor_store::home::Home;
use provisor_store::{Store, StoreOptions};

use crate::config::Config;

/// Everything a command may need, opened on demand.
pub struct Ctx {
    /// The home directory the configuration names (`home`).
    pub home: Home,
    /// Every setting in effect (see `config`); nothing reads the environment again.
    pub config: Config,
    /// Billing's settings, from the configuration's `[billing]` and `[engine]`.
    pub billing: provisor_billing::Settings,
    /// The one clock of this process: the runtime's, and what every command reads
    /// "now" from.
    pub clock: Clock,
}

impl Ctx {
    /// The context the configuration describes.
    pub fn new(config: Config) -> Result<Ctx> {
        Ok(Ctx {
            home: Home::new(&config.home)?,
            billing: config.billing_settings()?,
            clock: Clock::system(),
            config,
        })
    }

    /// Whether the home was named (`--home` or `PROVISOR_HOME`), not the default.
    pub fn home_given(&self) -> bool {
        self.config.home_given
    }

    /// The module-call limits of `[modules]`.
    pub fn limits(&self) -> Limits {
        Limits {
            call_timeout: self.config.modules.call_timeout,
            max_stuck_calls: self.config.modules.max_stuck_calls,
            ..Limits::default()
        }
    }

    /// Opens (and migrates) the database, with the secret key (see `store::secrets`).
    pub async fn store(&self) -> Result<Store> {
        self.home.ensure()?;
        let url = self
            .config
            .database
            .url
            .clone()
            .unwrap_or_else(|| self.home.sqlite_url());
        let ring =
            provisor_store::KeyRing::from_spec(&self.config.key_spec(&self.home.secret_key()))?;
        let options = StoreOptions {
            sqlite_pool: self.config.database.sqlite_pool,
        };
        Store::open_with(&url, ring, options).await
    }

    /// The runtime without loading modules: for commands that only write the queue
    /// (orders, requests, task completion) and never call a module.
    pub async fn runtime_without_modules(&self) -> Result<Arc<Runtime>> {
        let store = self.store().await?;
        let registry = Arc::new(Registry::new(
            self.home.clone(),
            store.clone(),
            LoadPolicy::standard(),
            false,
            "cli",
        ));
        Ok(Arc::new(Runtime::new(
            self.home.clone(),
            store,
            registry,
            self.clock.clone(),
            self.limits(),
        )?))
    }

    /// Opens the database and the registry, and scans the modules directory. When a
    /// daemon runs, it owns the recorded module state and this process only reads.
    pub async fn runtime(&self) -> Result<Arc<Runtime>> {
        let store = self.store().await?;
        let record = !crate::lock::is_running(&self.home);
        let registry = Arc::new(Registry::new(
            self.home.clone(),
            store.clone(),
            LoadPolicy::standard(),
            record,
            "cli",
        ));
        registry.learn_proven().await?;
        registry.scan().await?;
        Ok(Arc::new(Runtime::new(
            self.home.clone(),
            store,
            registry,
            self.clock.clone(),
            self.limits(),
        )?))
    }
}
