//! The configuration, read once at start into a typed [`Config`].
//!
//! Every setting has a default; `provisor.toml` in the home changes it; its environment
//! variable overrides the file; a command-line flag overrides both. The home itself
//! comes from `--home`, else `PROVISOR_HOME`, else `./provisor-home` (it is where the
//! file is). An unknown section or key, or a value out of range, is refused at start
//! naming the file and line or the variable, and the fix. [`keys::KEYS`] lists every
//! key with its variable, flag and default; `config show` prints each value in effect
//! and where it came from, secrets redacted.
//!
//! Owns: reading the environment and the file. Must not: be read again after start;
//! the rest of the host gets typed values (runtime `Limits`, `EngineConfig`, the API's
//! limits, the store's options, the secret key's source) from the [`Config`] the
//! context carries. Test-only hooks (`PROVISOR_TEST_*`) stay environment-only.

mod file;
pub mod keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use provisor_store::error::{Error, Result};
use provisor_store::secrets::KeySpec;

pub use keys::{KeyDoc, KEYS};

/// The file's name in the home.
pub const FILE_NAME: &str = "provisor.toml";

/// Where a value in effect came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// `provisor.toml`.
    File {
        /// The line the key is on.
        line: usize,
    },
    /// This environment variable.
    Env(&'static str),
    /// This command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File { line } => write!(f, "{FILE_NAME} line {line}"),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A secret value (the API token, the secret key): never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(set)")
    }
}

/// What the command line gave (each `None` when the flag was not used).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--home`.
    pub home: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--call-timeout`, in seconds.
    pub call_timeout: Option<u64>,
    /// `--max-stuck-calls`.
    pub max_stuck_calls: Option<u64>,
    /// `--retry-secs`.
    pub retry_secs: Option<u64>,
}

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `None`: the home's SQLite file.
    pub url: Option<String>,
    /// Connections in the SQLite pool.
    pub sqlite_pool: u32,
}

/// `[modules]`: module calls.
#[derive(Debug, Clone)]
pub struct ModulesConfig {
    /// How long one module call may run before it is abandoned (`call_timeout_secs`).
    pub call_timeout: Duration,
    /// Abandoned calls a handler may have stuck before the host stops calling it.
    pub max_stuck_calls: usize,
}

/// `[engine]`: the operations queue.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Delay before retrying a transient failure (`work` and `serve`).
    pub retry: Duration,
    /// Attempts a new operation gets before it turns manual.
    pub max_attempts: i32,
}

/// `[billing]`: the same keys as `provisor_billing`'s settings, checked here.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// The billing time zone as written: `UTC`, a fixed offset or an IANA name.
    pub time_zone: String,
    /// Days before a term ends that its renewal is invoiced.
    pub renew_days: u32,
    /// Days past the due date before an unpaid renewal invoice suspends its services.
    pub grace_days: u32,
    /// Days past the due date before an unpaid renewal invoice terminates its services.
    pub terminate_days: u32,
    /// Clients invoiced per transaction in the monthly usage run.
    pub chunk_clients: usize,
}

impl Config {
    /// Billing's settings from `[billing]` (and `engine.max_attempts` for the operations
    /// billing queues), checked like billing checks them.
    pub fn billing_settings(&self) -> Result<provisor_billing::Settings> {
        let b = &self.billing;
        let settings = provisor_billing::Settings {
            zone: provisor_billing::usage::BillingZone::parse(&b.time_zone)?,
            renew_days: b.renew_days,
            grace_days: b.grace_days,
            terminate_days: b.terminate_days,
            chunk: b.chunk_clients,
            max_attempts: self.engine.max_attempts,
        };
        settings.check()?;
        Ok(settings)
    }
}

/// `[api]`: `serve --listen`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bearer token clients must send; without one, nothing listens.
    pub token: Option<Secret>,
    /// The largest request body accepted, in bytes (`max_body_bytes`).
    pub max_body: usize,
    /// How long a connection may take to send a request's headers (also the idle time
    /// allowed between requests).
    pub header_timeout: Duration,
    /// How long a request body may pause between chunks.
    pub body_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// Connections open at once from one address, at most (`max_connections_per_ip`).
    pub max_per_ip: usize,
    /// The origins whose browser pages may call the API (CORS); empty: none.
    pub cors_origins: Vec<String>,
}

/// `[accounts]`: how long sessions last. A session ends at its absolute expiry, or
/// sooner when it goes unused for the idle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountsConfig {
    /// How long a staff session lasts at most (`staff_session_secs`, 12 hours).
    pub staff_session: Duration,
    /// How long a staff session may go unused (`staff_idle_secs`, 30 minutes).
    pub staff_idle: Duration,
    /// How long a client session lasts at most (`client_session_secs`, 30 days).
    pub client_session: Duration,
    /// How long a client session may go unused (`client_idle_secs`, 7 days).
    pub client_idle: Duration,
}

impl Default for AccountsConfig {
    fn default() -> AccountsConfig {
        AccountsConfig {
            staff_session: Duration::from_secs(12 * 3600),
            staff_idle: Duration::from_secs(30 * 60),
            client_session: Duration::from_secs(30 * 86_400),
            client_idle: Duration::from_secs(7 * 86_400),
        }
    }
}

/// `[secrets]`: the key handler secrets are sealed with.
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// The keys themselves (base64, comma-separated, newest first), if given.
    pub key: Option<Secret>,
    /// A key file, if given; with neither, the home's `secret.key`.
    pub key_file: Option<PathBuf>,
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `None`: `warn`, or `info` for `serve`.
    pub filter: Option<String>,
}

/// Every setting in effect, and where each came from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The home directory.
    pub home: PathBuf,
    /// Whether the home was named (`--home` or `PROVISOR_HOME`), not the default.
    pub home_given: bool,
    /// `provisor.toml` in the home, whether or not it exists.
    pub file: PathBuf,
    /// Whether that file exists (it was read).
    pub file_found: bool,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[modules]`.
    pub modules: ModulesConfig,
    /// `[engine]`.
    pub engine: EngineSettings,
    /// `[billing]`.
    pub billing: BillingConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[accounts]`.
    pub accounts: AccountsConfig,
    /// `[secrets]`.
    pub secrets: SecretsConfig,
    /// `[log]`.
    pub log: LogConfig,
    sources: BTreeMap<&'static str, Source>,
}

/// One row of `config show`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key, `section.name`.
    pub key: &'static str,
    /// The value as JSON (`"(set)"` / `"(not set)"` for a secret; `null` when unset).
    pub value: Value,
    /// Where the value came from.
    pub source: Source,
    /// The key's documentation: its variable, flag, default and what it takes.
    pub doc: &'static KeyDoc,
}

impl Config {
    /// Reads `provisor.toml` (if the home has one) and the environment, then applies
    /// `flags`. Nothing is created.
    pub fn load(flags: &Flags) -> Result<Config> {
        Config::load_with(flags, &|name| env_text(name))
    }

    /// [`Config::load`] with the environment given as a function (for tests).
    pub fn load_with(
        flags: &Flags,
        env: &dyn Fn(&str) -> Result<Option<String>>,
    ) -> Result<Config> {
        let (home, home_given) = match (&flags.home, env("PROVISOR_HOME")?) {
            (Some(h), _) => (h.clone(), true),
            (None, Some(h)) => (PathBuf::from(h), true),
            (None, None) => (PathBuf::from("provisor-home"), false),
        };
        // Absolute, as the home is used everywhere (`dlopen` needs absolute paths).
        let home = if home.is_absolute() {
            home
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", e))?
                .join(home)
        };
        let path = home.join(FILE_NAME);
        let (text, found) = match std::fs::read_to_string(&path) {
            Ok(t) => (t, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read {}: fix its permissions", path.display()),
                    e,
                ))
            }
        };
        let parsed = file::parse(&path, &text)?;
        let mut r = Resolver {
            path: &path,
            text: &text,
            env,
            sources: BTreeMap::new(),
        };
        let cfg = r.resolve(&parsed, flags, &home)?;
        if found {
            refuse_readable_secrets(&path, &parsed)?;
        }
        Ok(Config {
            home,
            home_given,
            file: path.clone(),
            file_found: found,
            sources: r.sources,
            ..cfg
        })
    }

    /// Where `key` (e.g. `modules.call_timeout_secs`) came from.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Where the secret key comes from: `secrets.key`, else `secrets.key_file`, else
    /// the home's `secret.key` (made when missing).
    pub fn key_spec(&self, home_key: &Path) -> KeySpec {
        if let Some(k) = &self.secrets.key {
            return KeySpec::Keys {
                text: k.expose().to_string(),
                from: self.named("secrets.key"),
            };
        }
        if let Some(p) = &self.secrets.key_file {
            return KeySpec::File {
                path: p.clone(),
                from: self.named("secrets.key_file"),
            };
        }
        KeySpec::Home(home_key.to_path_buf())
    }

    /// How a message names where `key`'s value was set: the variable, the flag or the
    /// file's key (the variable when it is the default).
    pub fn named(&self, key: &str) -> String {
        let env = keys::doc(key).map(|d| d.env).unwrap_or("");
        match self.source(key) {
            Source::Default | Source::Env(_) => env.to_string(),
            Source::Flag(f) => f.to_string(),
            Source::File { line } => format!("`{key}` ({} line {line})", self.file.display()),
        }
    }

    /// Every setting in effect, secrets redacted, in the order of [`KEYS`].
    pub fn entries(&self) -> Vec<Entry> {
        KEYS.iter()
            .map(|doc| Entry {
                key: doc.key,
                value: self.value_of(doc),
                source: self.source(doc.key),
                doc,
            })
            .collect()
    }

    fn value_of(&self, doc: &KeyDoc) -> Value {
        let secret = |s: &Option<Secret>| json!(if s.is_some() { "(set)" } else { "(not set)" });
        match doc.key {
            "database.url" => json!(self.database.url.as_deref().map(provisor_store::redact_url)),
            "database.sqlite_pool" => json!(self.database.sqlite_pool),
            "modules.call_timeout_secs" => json!(self.modules.call_timeout.as_secs()),
            "modules.max_stuck_calls" => json!(self.modules.max_stuck_calls),
            "engine.retry_secs" => json!(self.engine.retry.as_secs()),
            "engine.max_attempts" => json!(self.engine.max_attempts),
            "billing.time_zone" => json!(self.billing.time_zone),
            "billing.renew_days" => json!(self.billing.renew_days),
            "billing.grace_days" => json!(self.billing.grace_days),
            "billing.terminate_days" => json!(self.billing.terminate_days),
            "billing.chunk_clients" => json!(self.billing.chunk_clients),
            "api.token" => secret(&self.api.token),
            "api.max_body_bytes" => json!(self.api.max_body),
            "api.header_timeout_secs" => json!(self.api.header_timeout.as_secs()),
            "api.body_timeout_secs" => json!(self.api.body_timeout.as_secs()),
            "api.max_connections" => json!(self.api.max_connections),
            "api.max_connections_per_ip" => json!(self.api.max_per_ip),
            "api.cors_origins" => json!(self.api.cors_origins),
            "accounts.staff_session_secs" => json!(self.accounts.staff_session.as_secs()),
            "accounts.staff_idle_secs" => json!(self.accounts.staff_idle.as_secs()),
            "accounts.client_session_secs" => json!(self.accounts.client_session.as_secs()),
            "accounts.client_idle_secs" => json!(self.accounts.client_idle.as_secs()),
            "secrets.key" => secret(&self.secrets.key),
            "secrets.key_file" => json!(self.secrets.key_file),
            "log.filter" => json!(self.log.filter),
            _ => Value::Null,
        }
    }
}

/// The origins of `api.cors_origins`, comma-separated.
fn split_origins(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| o.trim_end_matches('/').to_string())
        .collect()
}

/// Each origin is `http://` or `https://` and a host, with no path: what a browser
/// sends in `Origin`.
fn origins(v: &str) -> std::result::Result<(), String> {
    for o in split_origins(v) {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') && !o.contains('*') => {}
            _ => return Err(format!("{o} is not an origin (scheme and host, like https://panel.example.com, no path and no wildcard)")),
        }
    }
    Ok(())
}

/// An environment variable's text; unset or empty is `None`.
fn env_text(name: &str) -> Result<Option<String>> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.into_string().map(Some).map_err(|_| {
            Error::Invalid(format!(
                "{name} is not valid UTF-8 text: fix it or unset it; nothing was done"
            ))
        }),
    }
}

/// A file that holds a secret must not be readable by group or others.
fn refuse_readable_secrets(path: &Path, parsed: &file::FileConfig) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let held: Vec<&str> = [
        ("api.token", parsed.api.token.is_some()),
        ("secrets.key", parsed.secrets.key.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if held.is_empty() {
        return Ok(());
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Invalid(format!(
            "{} holds {} but group or others can read it (mode {:o}): run `chmod 600 {}`, or set {} in the environment instead",
            path.display(),
            held.join(" and "),
            mode & 0o777,
            path.display(),
            held.iter()
                .filter_map(|k| keys::doc(k).map(|d| d.env))
                .collect::<Vec<_>>()
                .join(" / ")
        )));
    }
    Ok(())
}

/// Layers default, file, environment and flag, one key at a time.
struct Resolver<'a> {
    path: &'a Path,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Result<Option<String>>,
    sources: BTreeMap<&'static str, Source>,
}

impl Resolver<'_> {
    fn doc(key: &str) -> Result<&'static KeyDoc> {
        keys::doc(key).ok_or_else(|| Error::Io(format!("no configuration key {key}")))
    }

    fn line(&self, span: std::ops::Range<usize>) -> usize {
        file::line_of(self.text, span.start)
    }

    /// A whole number in `min..=max`.
    fn number(
        &mut self,
        key: &'static str,
        file: &file::Num,
        flag: Option<u64>,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64> {
        let doc = Self::doc(key)?;
        let ok = |n: u64| (min..=max).contains(&n);
        if let (Some(n), Some(f)) = (flag, doc.flag) {
            if !ok(n) {
                return Err(Error::Invalid(format!(
                    "{f} {n} is refused: it takes {}",
                    doc.takes
                )));
            }
            self.sources.insert(key, Source::Flag(f));
            return Ok(n);
        }
        if let Some(raw) = (self.env)(doc.env)? {
            return match raw.trim().parse::<u64>() {
                Ok(n) if ok(n) => {
                    self.sources.insert(key, Source::Env(doc.env));
                    Ok(n)
                }
                _ => Err(Error::Invalid(format!(
                    "{}={raw:?} is not {} (default {default}): fix it or unset it; nothing was done",
                    doc.env, doc.takes
                ))),
            };
        }
        if let Some(v) = file {
            let line = self.line(v.span());
            let n = *v.get_ref();
            return match u64::try_from(n) {
                Ok(n) if ok(n) => {
                    self.sources.insert(key, Source::File { line });
                    Ok(n)
                }
                _ => Err(Error::Invalid(format!(
                    "{} line {line}: `{key} = {n}` is refused: it takes {} (default {default}); fix the line or remove it",
                    self.path.display(),
                    doc.takes
                ))),
            };
        }
        Ok(default)
    }

    /// A string; `check` refuses a bad one with what is wrong.
    fn text(
        &mut self,
        key: &'static str,
        file: &file::Text,
        flag: Option<&str>,
        check: &dyn Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<Option<String>> {
        let doc = Self::doc(key)?;
        let (value, source) = if let (Some(v), Some(f)) = (flag, doc.flag) {
            (v.to_string(), Source::Flag(f))
        } else if let Some(v) = (self.env)(doc.env)? {
            (v, Source::Env(doc.env))
        } else if let Some(v) = file {
            let line = self.line(v.span());
            (v.get_ref().clone(), Source::File { line })
        } else {
            return Ok(None);
        };
        if let Err(why) = check(&value) {
            let shown = if doc.secret {
                "(hidden)".to_string()
            } else {
                format!("{value:?}")
            };
            let at = match &source {
                Source::Flag(f) => format!("{f} {shown}"),
                Source::Env(e) => format!("{e}={shown}"),
                Source::File { line } => {
                    format!("{} line {line}: `{key} = {shown}`", self.path.display())
                }
                Source::Default => key.to_string(),
            };
            return Err(Error::Invalid(format!(
                "{at} is refused: {why}; it takes {}",
                doc.takes
            )));
        }
        self.sources.insert(key, source);
        Ok(Some(value))
    }

    fn secs(
        &mut self,
        key: &'static str,
        file: &file::Num,
        default: u64,
        r: (u64, u64),
    ) -> Result<Duration> {
        Ok(Duration::from_secs(
            self.number(key, file, None, default, r)?,
        ))
    }

    fn resolve(&mut self, f: &file::FileConfig, flags: &Flags, home: &Path) -> Result<Config> {
        let any = |_: &str| Ok(());
        let database = DatabaseConfig {
            url: self.text(
                "database.url",
                &f.database.url,
                flags.database_url.as_deref(),
                &|u| {
                    if u.contains("://") || u.starts_with("sqlite:") {
                        Ok(())
                    } else {
                        Err("not a database URL".into())
                    }
                },
            )?,
            sqlite_pool: self.number(
                "database.sqlite_pool",
                &f.database.sqlite_pool,
                None,
                8,
                (1, 64),
            )? as u32,
        };
        let modules = ModulesConfig {
            call_timeout: Duration::from_secs(self.number(
                "modules.call_timeout_secs",
                &f.modules.call_timeout_secs,
                flags.call_timeout,
                60,
                (1, 86_400),
            )?),
            max_stuck_calls: self.number(
                "modules.max_stuck_calls",
                &f.modules.max_stuck_calls,
                flags.max_stuck_calls,
                4,
                (1, 10_000),
            )? as usize,
        };
        let engine = EngineSettings {
            retry: Duration::from_secs(self.number(
                "engine.retry_secs",
                &f.engine.retry_secs,
                flags.retry_secs,
                300,
                (0, 604_800),
            )?),
            max_attempts: self.number(
                "engine.max_attempts",
                &f.engine.max_attempts,
                None,
                5,
                (1, 1000),
            )? as i32,
        };
        let billing = self.billing(&f.billing)?;
        let api = self.api(&f.api)?;
        let accounts = self.accounts(&f.accounts)?;
        let secrets = self.secrets(&f.secrets, home)?;
        let log = LogConfig {
            filter: self.text("log.filter", &f.log.filter, None, &any)?,
        };
        Ok(Config {
            home: PathBuf::new(),
            home_given: false,
            file: PathBuf::new(),
            file_found: false,
            database,
            modules,
            engine,
            billing,
            api,
            accounts,
            secrets,
            log,
            sources: BTreeMap::new(),
        })
    }

    fn api(&mut self, f: &file::Api) -> Result<ApiConfig> {
        let any = |_: &str| Ok(());
        Ok(ApiConfig {
            token: self.text("api.token", &f.token, None, &any)?.map(Secret),
            max_body: self.number(
                "api.max_body_bytes",
                &f.max_body_bytes,
                None,
                32 * 1024 * 1024,
                (1, 1024 * 1024 * 1024),
            )? as usize,
            header_timeout: self.secs(
                "api.header_timeout_secs",
                &f.header_timeout_secs,
                10,
                (1, 3600),
            )?,
            body_timeout: self.secs(
                "api.body_timeout_secs",
                &f.body_timeout_secs,
                15,
                (1, 3600),
            )?,
            max_connections: self.number(
                "api.max_connections",
                &f.max_connections,
                None,
                512,
                (1, 100_000),
            )? as usize,
            max_per_ip: self.number(
                "api.max_connections_per_ip",
                &f.max_connections_per_ip,
                None,
                128,
                (1, 100_000),
            )? as usize,
            cors_origins: self
                .text("api.cors_origins", &f.cors_origins, None, &origins)?
                .map(|v| split_origins(&v))
                .unwrap_or_default(),
        })
    }

    fn accounts(&mut self, f: &file::Accounts) -> Result<AccountsConfig> {
        let d = AccountsConfig::default();
        let range = (60, 366 * 86_400);
        Ok(AccountsConfig {
            staff_session: self.secs(
                "accounts.staff_session_secs",
                &f.staff_session_secs,
                d.staff_session.as_secs(),
                range,
            )?,
            staff_idle: self.secs(
                "accounts.staff_idle_secs",
                &f.staff_idle_secs,
                d.staff_idle.as_secs(),
                range,
            )?,
            client_session: self.secs(
                "accounts.client_session_secs",
                &f.client_session_secs,
                d.client_session.as_secs(),
                range,
            )?,
            client_idle: self.secs(
                "accounts.client_idle_secs",
                &f.client_idle_secs,
                d.client_idle.as_secs(),
                range,
            )?,
        })
    }

    fn secrets(&mut self, f: &file::Secrets, home: &Path) -> Result<SecretsConfig> {
        let any = |_: &str| Ok(());
        let key_file = self
            .text("secrets.key_file", &f.key_file, None, &any)?
            .map(|p| {
                // A relative path in the file is relative to the home, where the file is.
                let in_file = matches!(
                    self.sources.get("secrets.key_file"),
                    Some(Source::File { .. })
                );
                if in_file && Path::new(&p).is_relative() {
                    home.join(p)
                } else {
                    PathBuf::from(p)
                }
            });
        Ok(SecretsConfig {
            key: self.text("secrets.key", &f.key, None, &any)?.map(Secret),
            key_file,
        })
    }

    fn billing(&mut self, f: &file::Billing) -> Result<BillingConfig> {
        let zone = |z: &str| {
            provisor_billing::usage::BillingZone::parse(z)
                .map(|_| ())
                .map_err(|_| "not a time zone".to_string())
        };
        let days = (0, 366);
        let b = BillingConfig {
            time_zone: self
                .text("billing.time_zone", &f.time_zone, None, &zone)?
                .unwrap_or_else(|| "UTC".to_string()),
            renew_days: self.number("billing.renew_days", &f.renew_days, None, 7, days)? as u32,
            grace_days: self.number("billing.grace_days", &f.grace_days, None, 3, days)? as u32,
            terminate_days: self.number(
                "billing.terminate_days",
                &f.terminate_days,
                None,
                14,
                days,
            )? as u32,
            chunk_clients: self.number(
                "billing.chunk_clients",
                &f.chunk_clients,
                None,
                500,
                (1, 1_000_000),
            )? as usize,
        };
        if b.terminate_days <= b.grace_days {
            let name = |key: &'static str| match self.sources.get(key) {
                Some(Source::File { line }) => {
                    format!("{key} ({} line {line})", self.path.display())
                }
                Some(s) => format!("{key} ({s})"),
                None => format!("{key} (default)"),
            };
            return Err(Error::Invalid(format!(
                "{} = {} must be more than {} = {}: a service is suspended before it is terminated; raise the one or lower the other",
                name("billing.terminate_days"),
                b.terminate_days,
                name("billing.grace_days"),
                b.grace_days
            )));
        }
        Ok(b)
    }
}

/// Writes the commented template as the home's `provisor.toml` (0600) unless it has
/// one. Answers whether it wrote it.
pub fn write_template(home: &Path) -> Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.join(FILE_NAME);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(Error::io(format!("cannot create {}", path.display()), e)),
    };
    f.write_all(keys::template().as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests;
