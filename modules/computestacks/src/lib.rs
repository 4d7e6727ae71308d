//! `computestacks`: one [ComputeStacks](https://computestacks.com) account per service,
//! through the controller's admin API (`https://{host}/api/admin/...`, HTTP Basic with an
//! API key and secret, `Accept: application/json; api_version=80`).
//!
//! What the module will do (DESIGN.md, "The five shipped modules"): create, suspend and
//! unsuspend the account; terminate **suspends** it (the panel keeps the user, deleting is
//! an explicit admin action); single sign-on for the client and for admins; a client-area
//! panel; a paged import of existing accounts; month-end usage as billable items; an
//! initial deposit on sign-up. A retried create adopts the user an earlier attempt made
//! (looked up by `external_id` or by label) instead of making a second one.
//!
//! **This version is a skeleton.** It loads, declares its settings and plan schemas,
//! checks the settings when a handler is configured, and answers `NotSupported` to every
//! call: its manifest lists no capabilities. The remote calls arrive with issue 4.

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

fn default_api_version() -> u32 {
    DEFAULT_API_VERSION
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
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"[redacted]")
            .field("api_version", &self.api_version)
            .field("user_group_id", &self.user_group_id)
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
        Ok(self)
    }
}

/// A plan's settings for this module.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The ComputeStacks user group the account joins (its billing plan and quotas);
    /// falls back to the handler's `user_group_id`, then to the controller's default.
    #[serde(default)]
    pub user_group_id: Option<u64>,
    /// Credit the client pays at sign-up, in the plan's currency, as decimal text.
    #[serde(default)]
    pub initial_deposit: Option<String>,
}

/// Accepts `http(s)://host[...]` and returns it without a trailing `/`.
fn check_base_url(url: &str) -> Result<String, ModuleError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) => {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(ModuleError::invalid_config(format!(
            "url {url:?} is not an http(s) address: give the controller's base URL, e.g. https://cs.example.com"
        ))),
    }
}

/// The module: one instance per handler.
pub struct ComputeStacks {
    host: Host,
    settings: Settings,
}

impl Module for ComputeStacks {
    type Settings = Settings;

    fn manifest() -> Manifest {
        Manifest {
            name: "computestacks".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description:
                "ComputeStacks accounts (skeleton: validates settings, no remote calls yet)"
                    .to_string(),
            // Honest: nothing is implemented yet, so every call answers NotSupported.
            capabilities: Vec::new(),
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
                        "description": "api_version sent in the Accept header (80 is current; below 51 is obsolete)"
                    },
                    "user_group_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "User group for new accounts when the plan names none"
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
                        "description": "ComputeStacks user group the account joins (falls back to the handler's user_group_id)"
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

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(ComputeStacks { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.host.log(
            Level::Debug,
            "test_connection: no request sent (skeleton module)",
            json!({"url": self.settings.url}),
        );
        Err(ModuleError::not_supported(
            "test_connection (the ComputeStacks module is a skeleton; its remote calls arrive with issue 4)",
        ))
    }
}

export_module!(ComputeStacks);

#[cfg(test)]
mod tests {
    use super::*;
    use provisor_module_api::serde_json::Value;

    fn fits(schema: &Value, instance: &Value) -> bool {
        jsonschema::validator_for(schema)
            .expect("the manifest's schema is valid JSON Schema")
            .is_valid(instance)
    }

    fn settings(value: Value) -> Result<Settings, String> {
        serde_json::from_value::<Settings>(value)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map_err(|e| e.to_string()))
    }

    fn full() -> Value {
        json!({
            "url": "https://cs.example.com/",
            "api_key": "key",
            "api_secret": "hunter2",
            "api_version": 80,
            "user_group_id": 3
        })
    }

    #[test]
    fn manifest_is_honest_about_a_skeleton() {
        let m = ComputeStacks::manifest();
        assert_eq!(m.name, "computestacks");
        assert_eq!(m.version, "0.1.0");
        assert!(m.capabilities.is_empty());
    }

    #[test]
    fn only_the_secret_is_write_only_and_required_names_real_properties() {
        let m = ComputeStacks::manifest();
        let props = m.settings_schema["properties"].as_object().unwrap();
        let secrets: Vec<&str> = props
            .iter()
            .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(secrets, ["api_secret"]);
        for schema in [&m.settings_schema, &m.plan_schema] {
            for name in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    schema["properties"].get(name.as_str().unwrap()).is_some(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn schema_and_struct_accept_full_and_minimal_settings() {
        let schema = ComputeStacks::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        let s = settings(full()).unwrap();
        assert_eq!(s.url, "https://cs.example.com");
        assert_eq!(s.user_group_id, Some(3));

        let minimal = json!({"url": "https://cs.example.com", "api_key": "k", "api_secret": "s"});
        assert!(fits(&schema, &minimal));
        assert_eq!(settings(minimal).unwrap().api_version, DEFAULT_API_VERSION);
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = ComputeStacks::manifest().settings_schema;
        let mut missing_secret = full();
        missing_secret.as_object_mut().unwrap().remove("api_secret");
        let mut unknown = full();
        unknown["api_token"] = json!("x");
        let mut obsolete = full();
        obsolete["api_version"] = json!(50);
        let mut not_a_url = full();
        not_a_url["url"] = json!("cs.example.com");
        for bad in [missing_secret, unknown, obsolete, not_a_url] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree() {
        let schema = ComputeStacks::manifest().plan_schema;
        let good = json!({"user_group_id": 2, "initial_deposit": "10.00"});
        assert!(fits(&schema, &good));
        let plan: PlanSettings = serde_json::from_value(good).unwrap();
        assert_eq!(plan.initial_deposit.as_deref(), Some("10.00"));
        assert!(fits(&schema, &json!({})));
        for bad in [
            json!({"initial_deposit": 10}),
            json!({"initial_deposit": "1e3"}),
            json!({"group": 1}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
        assert!(serde_json::from_value::<PlanSettings>(json!({"group": 1})).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let s = settings(full()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
