//! The handler's and the plan's settings: the constants the module's URLs and
//! patterns are built from, their parsing and validation, and the manifest that
//! describes them to the host as JSON Schema.

use std::collections::BTreeMap;
use std::fmt;

use provisor_module_api::serde_json::json;
use provisor_module_api::*;
use serde::Deserialize;

/// Canonical decimal text for money: digits, optionally a point and more digits.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// An ISO 4217 currency code.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// ASSUMPTION: the post-paid usage endpoint (path under `/api/v1/`, `{id}` the user id),
/// asked with `?period_start=YYYY-MM-DD&period_end=YYYY-MM-DD` (end exclusive) and
/// answering `{"data":[{"server_id","server_uuid","name","hours","tokens_per_hour",
/// "tokens_per_month"}]}` with `hours` in started hours. Change it here if the real
/// panel differs.
pub const USAGE_PATH: &str = "users/{id}/usage";

/// ASSUMPTION: where a browser logs in with a one-time token (`{url}` is the panel's
/// base URL, `{token}` the token). The `sso_url` setting overrides it.
pub const DEFAULT_SSO_URL: &str = "{url}/auth/by-token?token={token}";

/// ASSUMPTION: the admin area's page of one user (`{user_id}`). The `admin_url` setting
/// overrides it.
pub const DEFAULT_ADMIN_URL: &str = "{url}/admin/users/{user_id}";

/// The per-request timeout when the settings name none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// A handler's connection settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The panel's base URL (`https://solus.example.com`); the module appends `/api/v1/`.
    pub url: String,
    /// An admin's API token (a secret: `writeOnly` in the schema).
    pub api_token: String,
    /// The price of one token per currency code, as decimal text (`{"EUR": "0.01"}`).
    pub token_price: BTreeMap<String, String>,
    /// Milliseconds one request to the panel may take.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// The limit group new users are put in, if any (a plan's setting wins).
    #[serde(default)]
    pub limit_group_id: Option<u64>,
    /// The role ids new users get (the panel's default role when absent).
    #[serde(default)]
    pub roles: Option<Vec<u64>>,
    /// The language id new users get, if any.
    #[serde(default)]
    pub language_id: Option<u64>,
    /// The client's login URL template (`{url}`, `{token}`).
    #[serde(default)]
    pub sso_url: Option<String>,
    /// The admin's link template (`{url}`, `{user_id}`).
    #[serde(default)]
    pub admin_url: Option<String>,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("api_token", &"[redacted]")
            .field("token_price", &self.token_price)
            .field("timeout_ms", &self.timeout_ms)
            .field("limit_group_id", &self.limit_group_id)
            .field("roles", &self.roles)
            .field("language_id", &self.language_id)
            .field("sso_url", &self.sso_url)
            .field("admin_url", &self.admin_url)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and normalises the URL (no trailing `/`, no
    /// `/api/v1`).
    pub fn validate(mut self) -> Result<Self, ModuleError> {
        self.url = check_base_url(&self.url)?;
        if self.api_token.trim().is_empty() {
            return Err(ModuleError::invalid_config(
                "api_token must not be empty: create one on an admin's API tokens page in SolusVM",
            ));
        }
        if self.token_price.is_empty() {
            return Err(ModuleError::invalid_config(
                "token_price names no currency: give the price of one token per currency, e.g. {\"EUR\": \"0.01\"}",
            ));
        }
        for (currency, price) in &self.token_price {
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ModuleError::invalid_config(format!(
                    "token_price: {currency:?} is not a currency code (three capital letters, e.g. EUR)"
                )));
            }
            if !is_decimal(price) || price.len() > 30 {
                return Err(ModuleError::invalid_config(format!(
                    "token_price.{currency}: {price:?} is not decimal text (write e.g. \"0.01\")"
                )));
            }
        }
        if !(1_000..=300_000).contains(&self.timeout_ms) {
            return Err(ModuleError::invalid_config(format!(
                "timeout_ms {} is out of range: give 1000 to 300000 milliseconds",
                self.timeout_ms
            )));
        }
        if let Some(t) = &self.sso_url {
            if !t.contains("{token}") {
                return Err(ModuleError::invalid_config(format!(
                    "sso_url {t:?} has no {{token}}: write e.g. \"{DEFAULT_SSO_URL}\""
                )));
            }
        }
        if let Some(t) = &self.admin_url {
            if !t.contains("{user_id}") {
                return Err(ModuleError::invalid_config(format!(
                    "admin_url {t:?} has no {{user_id}}: write e.g. \"{DEFAULT_ADMIN_URL}\""
                )));
            }
        }
        if self.roles.as_ref().is_some_and(Vec::is_empty) {
            return Err(ModuleError::invalid_config(
                "roles is empty: leave it out for the panel's default role, or list role ids",
            ));
        }
        Ok(self)
    }
}

/// A plan's settings for this module (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The limit group new users of this plan are put in (overrides the handler's).
    #[serde(default)]
    pub limit_group_id: Option<u64>,
}

fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
}

/// Accepts `http(s)://host[...]` and returns it without a trailing `/` or `/api/v1`.
pub(crate) fn check_base_url(url: &str) -> Result<String, ModuleError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !url.contains(char::is_whitespace) =>
        {
            let trimmed = url.trim_end_matches('/');
            let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
            Ok(trimmed.trim_end_matches('/').to_string())
        }
        _ => Err(ModuleError::invalid_config(format!(
            "url {url:?} is not an http(s) address: give the panel's base URL, e.g. https://solus.example.com"
        ))),
    }
}

/// The module's manifest: its name, calls and the schemas of its settings.
pub(crate) fn manifest() -> Manifest {
    Manifest {
        name: "solusvm".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: String::new(), // filled in by the SDK
        description:
            "SolusVM 2 post-pay: one panel user per client, billed for VM uptime in tokens"
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
            "required": ["url", "api_token", "token_price"],
            "properties": {
                "url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": "^https?://[^/\\s]",
                    "description": "The panel's base URL, e.g. https://solus.example.com (the module appends /api/v1/)"
                },
                "api_token": {
                    "type": "string",
                    "minLength": 1,
                    "writeOnly": true,
                    "description": "An admin's API token (sent as a Bearer token)"
                },
                "token_price": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": CURRENCY_PATTERN},
                    "additionalProperties": {"type": "string", "pattern": DECIMAL_PATTERN},
                    "description": "Price of one token per currency code, as decimal text, e.g. {\"EUR\": \"0.01\", \"USD\": \"0.011\"}"
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1000,
                    "maximum": 300_000,
                    "default": DEFAULT_TIMEOUT_MS,
                    "description": "Milliseconds one request to the panel may take"
                },
                "limit_group_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Limit group new users are put in (a plan's limit_group_id wins)"
                },
                "roles": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer", "minimum": 1},
                    "description": "Role ids new users get (default: the panel's client role)"
                },
                "language_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Language id new users get"
                },
                "sso_url": {
                    "type": "string",
                    "pattern": "\\{token\\}",
                    "default": DEFAULT_SSO_URL,
                    "description": "Where a client's browser logs in with a one-time token: {url} is the panel's base URL, {token} the token"
                },
                "admin_url": {
                    "type": "string",
                    "pattern": "\\{user_id\\}",
                    "default": DEFAULT_ADMIN_URL,
                    "description": "The admin's link to a user in the panel: {url} is the panel's base URL, {user_id} the SolusVM user id"
                }
            }
        }),
        plan_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "limit_group_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Limit group new users of this plan are put in (overrides the handler's)"
                }
            }
        }),
    }
}
