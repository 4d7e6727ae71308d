//! The handler's and the plan's settings: the API version and timeout defaults, the
//! parsing and validation of the controller's address, and the manifest that describes
//! the settings to the host as JSON Schema.

use std::fmt;

use provisor_module_api::serde_json::json;
use provisor_module_api::*;
use serde::Deserialize;

/// Canonical decimal text for money: digits, optionally a point and more digits.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// The API version sent in the `Accept` header when the settings name none (the current
/// one, and the controller's default).
pub const DEFAULT_API_VERSION: u32 = 80;

/// The oldest API version the controller still serves (40 and 50 answer 422).
pub const MIN_API_VERSION: u32 = 51;

/// The per-request timeout when the settings name none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

fn default_api_version() -> u32 {
    DEFAULT_API_VERSION
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// A handler's connection settings: where the controller is and the admin API
/// credentials.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The controller's base URL (`https://cs.example.com`); the module appends `/api/...`.
    pub url: String,
    /// The API key of an admin user's API credential.
    pub api_key: String,
    /// The API secret of that credential (a secret: `writeOnly` in the schema).
    pub api_secret: String,
    /// The `api_version` sent in the `Accept` header.
    #[serde(default = "default_api_version")]
    pub api_version: u32,
    /// The user group new accounts join when the plan names none.
    #[serde(default)]
    pub user_group_id: Option<u64>,
    /// How long one request to the controller may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"[redacted]")
            .field("api_version", &self.api_version)
            .field("user_group_id", &self.user_group_id)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and drops a trailing `/` from the URL.
    pub fn validate(mut self) -> Result<Self, ModuleError> {
        self.url = check_base_url(&self.url)?;
        if self.api_key.trim().is_empty() || self.api_secret.trim().is_empty() {
            return Err(ModuleError::invalid_config(
                "api_key and api_secret must not be empty: create an API credential for an admin user in ComputeStacks",
            ));
        }
        if self.api_version < MIN_API_VERSION {
            return Err(ModuleError::invalid_config(format!(
                "api_version {} is obsolete (ComputeStacks answers 422 below {MIN_API_VERSION}): use {DEFAULT_API_VERSION} or leave it out",
                self.api_version
            )));
        }
        if !(1_000..=300_000).contains(&self.timeout_ms) {
            return Err(ModuleError::invalid_config(format!(
                "timeout_ms {} is out of range: give 1000 to 300000 milliseconds (default {DEFAULT_TIMEOUT_MS})",
                self.timeout_ms
            )));
        }
        Ok(self)
    }
}

/// A plan's settings for this module.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The ComputeStacks user group the account joins (its billing plan and quotas);
    /// falls back to the plan's numeric template, the handler's `user_group_id`, then
    /// to the controller's default group.
    #[serde(default)]
    pub user_group_id: Option<u64>,
    /// Credit the client pays at sign-up, in the plan's currency, as decimal text. The
    /// host's billing reads it; the module sends nothing for it.
    #[serde(default)]
    pub initial_deposit: Option<String>,
}

/// Accepts `http(s)://host[...]` and returns it without a trailing `/`.
fn check_base_url(url: &str) -> Result<String, ModuleError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !url.contains(char::is_whitespace) =>
        {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(ModuleError::invalid_config(format!(
            "url {url:?} is not an http(s) address: give the controller's base URL, e.g. https://cs.example.com"
        ))),
    }
}

/// The module's manifest: its name, calls and the schemas of its settings.
pub(crate) fn manifest() -> Manifest {
    Manifest {
        name: "computestacks".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: String::new(), // filled in by the SDK
        description:
            "ComputeStacks accounts: one controller user per service (terminate suspends; delete is an admin action)"
                .to_string(),
        capabilities: vec![
            Capability::TestConnection,
            Capability::Create,
            Capability::Suspend,
            Capability::Unsuspend,
            Capability::Terminate,
            Capability::Usage,
            Capability::Sso,
            Capability::ListAccounts,
            Capability::ClientArea,
            Capability::AdminActions,
        ],
        settings_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["url", "api_key", "api_secret"],
            "properties": {
                "url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": "^https?://[^/\\s]",
                    "description": "The controller's base URL, e.g. https://cs.example.com (the module appends /api/...)"
                },
                "api_key": {
                    "type": "string",
                    "minLength": 1,
                    "description": "API key of an admin user's API credential"
                },
                "api_secret": {
                    "type": "string",
                    "minLength": 1,
                    "writeOnly": true,
                    "description": "API secret of that credential"
                },
                "api_version": {
                    "type": "integer",
                    "minimum": MIN_API_VERSION,
                    "default": DEFAULT_API_VERSION,
                    "description": "api_version sent in the Accept header (80 is current; 51-71 are deprecated; below 51 is obsolete)"
                },
                "user_group_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "User group for new accounts when the plan names none"
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1000,
                    "maximum": 300_000,
                    "default": DEFAULT_TIMEOUT_MS,
                    "description": "How long one request to the controller may take, in milliseconds"
                }
            }
        }),
        plan_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "user_group_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "ComputeStacks user group the account joins (falls back to the plan's numeric template, then the handler's user_group_id)"
                },
                "initial_deposit": {
                    "type": "string",
                    "pattern": DECIMAL_PATTERN,
                    "description": "Credit paid at sign-up, in the plan's currency, as decimal text (\"10.00\")"
                }
            }
        }),
    }
}
