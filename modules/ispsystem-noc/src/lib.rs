//! `ispsystem-noc`: ISPmanager 6 and VMmanager 6 licenses ordered from ISPsystem's
//! billing (BILLmanager's API: `{url}?authinfo=user:pass&func=...&out=xml`), one license
//! per service, renewed monthly.
//!
//! What the module will do (DESIGN.md, "The five shipped modules"): order a license
//! (`soft.order.param`, or `platform.order.param` for VMmanager 6) and wait, with a
//! limit, for its key; suspend and resume it; terminate **frees** it into a pool kept in
//! the handler's key-value store (renamed `free.lic`, IP `0.0.0.0`) and the next order
//! with the same pricelist and nodes reuses a pooled license before buying one; the
//! daily run extends attached licenses (`service.prolong`) and drops pooled ones a month
//! past expiry. Ordering debits the reseller balance at once, so a retried order must
//! adopt the license an earlier attempt bought instead of buying a second one.
//!
//! **This version is a skeleton.** It loads, declares its settings and plan schemas,
//! checks the settings when a handler is configured, and answers `NotSupported` to every
//! call: its manifest lists no capabilities. The remote calls arrive with issue 4.

use std::fmt;

use provisor_module_api::serde_json::json;
use provisor_module_api::*;
use serde::Deserialize;

/// ISPsystem's billing API, as preset by ISPsystem's own WHMCS partner addon.
pub const DEFAULT_URL: &str = "https://api.ispsystem.com/manager/billmgr";

/// The pricelists this module orders: id, product, and the order function it uses.
/// (VMmanager 6 is 55163 and DCImanager 6, not sold here, 55161, per ISPsystem's v6
/// reselling docs.)
pub const PRICELISTS: [(u64, &str, &str); 5] = [
    (55227, "ISPmanager 6 Lite", "soft.order.param"),
    (55228, "ISPmanager 6 Pro", "soft.order.param"),
    (55229, "ISPmanager 6 Host", "soft.order.param"),
    (55230, "ISPmanager 6 Business", "soft.order.param"),
    (55163, "VMmanager 6", "platform.order.param"),
];

fn default_url() -> String {
    DEFAULT_URL.to_string()
}

/// A handler's connection settings: the reseller account at ISPsystem.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The billing API's URL.
    #[serde(default = "default_url")]
    pub url: String,
    /// The reseller account's user name (`authinfo=username:password`).
    pub username: String,
    /// The reseller account's password (a secret: `writeOnly` in the schema).
    pub password: String,
    /// The BILLmanager project id sent with orders, if any.
    #[serde(default)]
    pub project: Option<u64>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("project", &self.project)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and drops a trailing `/` from the URL.
    pub fn validate(mut self) -> Result<Self, ModuleError> {
        self.url = check_base_url(&self.url)?;
        if self.username.trim().is_empty() || self.password.is_empty() {
            return Err(ModuleError::invalid_config(
                "username and password must not be empty: use your ISPsystem reseller account",
            ));
        }
        if self.username.contains(':') {
            return Err(ModuleError::invalid_config(format!(
                "username {:?} contains ':', which the API's authinfo=user:password cannot carry",
                self.username
            )));
        }
        Ok(self)
    }
}

fn default_period() -> i64 {
    1
}

/// A plan's settings for this module: which license to order and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// One of the [`PRICELISTS`] ids.
    pub pricelist: u64,
    /// Extra nodes ordered with the license (VMmanager 6's node addon); 0 orders none.
    #[serde(default)]
    pub addon_nodes: u32,
    /// Months bought per order and per renewal.
    #[serde(default = "default_period")]
    pub period: i64,
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
            "url {url:?} is not an http(s) address: leave it out for {DEFAULT_URL}, or give the billing API's URL"
        ))),
    }
}

/// The module: one instance per handler.
pub struct IspsystemNoc {
    host: Host,
    settings: Settings,
}

impl Module for IspsystemNoc {
    type Settings = Settings;

    fn manifest() -> Manifest {
        let pricelists: Vec<u64> = PRICELISTS.iter().map(|(id, _, _)| *id).collect();
        let names: Vec<String> = PRICELISTS
            .iter()
            .map(|(id, name, _)| format!("{id} {name}"))
            .collect();
        Manifest {
            name: "ispsystem-noc".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description: "ISPmanager / VMmanager licenses from ISPsystem (skeleton: validates settings, no remote calls yet)".to_string(),
            // Honest: nothing is implemented yet, so every call answers NotSupported.
            capabilities: Vec::new(),
            settings_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["username", "password"],
                "properties": {
                    "url": {
                        "type": "string",
                        "format": "uri",
                        "pattern": "^https?://[^/\\s]",
                        "default": DEFAULT_URL,
                        "description": "ISPsystem's billing API"
                    },
                    "username": {
                        "type": "string",
                        "minLength": 1,
                        "pattern": "^[^:]*$",
                        "description": "Your ISPsystem reseller account's user name"
                    },
                    "password": {
                        "type": "string",
                        "minLength": 1,
                        "writeOnly": true,
                        "description": "That account's password"
                    },
                    "project": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "BILLmanager project id sent with orders (left out when empty)"
                    }
                }
            }),
            plan_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["pricelist"],
                "properties": {
                    "pricelist": {
                        "type": "integer",
                        "enum": pricelists,
                        "description": format!("The license to order: {}", names.join(", "))
                    },
                    "addon_nodes": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "Extra nodes ordered with the license (VMmanager 6's node addon, addon_55165); a pooled license is reused only for the same pricelist and addon_nodes"
                    },
                    "period": {
                        "type": "integer",
                        "enum": [1, 12],
                        "default": 1,
                        "description": "Months bought per order and per renewal"
                    }
                }
            }),
        }
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(IspsystemNoc { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.host.log(
            Level::Debug,
            "test_connection: no request sent (skeleton module)",
            json!({"url": self.settings.url}),
        );
        Err(ModuleError::not_supported(
            "test_connection (the ISPsystem NOC module is a skeleton; its remote calls arrive with issue 4)",
        ))
    }
}

export_module!(IspsystemNoc);

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
            "url": "https://api-eu.ispmanager.com/billmgr",
            "username": "reseller",
            "password": "hunter2",
            "project": 1
        })
    }

    #[test]
    fn manifest_is_honest_about_a_skeleton() {
        let m = IspsystemNoc::manifest();
        assert_eq!(m.name, "ispsystem-noc");
        assert_eq!(m.version, "0.1.0");
        assert!(m.capabilities.is_empty());
    }

    #[test]
    fn only_the_password_is_write_only_and_required_names_real_properties() {
        let m = IspsystemNoc::manifest();
        let props = m.settings_schema["properties"].as_object().unwrap();
        let secrets: Vec<&str> = props
            .iter()
            .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(secrets, ["password"]);
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
        let schema = IspsystemNoc::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        assert_eq!(settings(full()).unwrap().project, Some(1));

        let minimal = json!({"username": "reseller", "password": "p"});
        assert!(fits(&schema, &minimal));
        let s = settings(minimal).unwrap();
        assert_eq!(s.url, DEFAULT_URL);
        assert_eq!(schema["properties"]["url"]["default"], json!(DEFAULT_URL));
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = IspsystemNoc::manifest().settings_schema;
        let mut no_password = full();
        no_password.as_object_mut().unwrap().remove("password");
        let mut unknown = full();
        unknown["api_key"] = json!("x");
        let mut colon = full();
        colon["username"] = json!("a:b");
        let mut not_a_url = full();
        not_a_url["url"] = json!("api.ispsystem.com");
        for bad in [no_password, unknown, colon, not_a_url] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree() {
        let schema = IspsystemNoc::manifest().plan_schema;
        let lite = json!({"pricelist": 55227});
        assert!(fits(&schema, &lite));
        let plan: PlanSettings = serde_json::from_value(lite).unwrap();
        assert_eq!(
            (plan.pricelist, plan.addon_nodes, plan.period),
            (55227, 0, 1)
        );

        let vm = json!({"pricelist": 55163, "addon_nodes": 2, "period": 12});
        assert!(fits(&schema, &vm));
        for bad in [
            json!({}),
            json!({"pricelist": 3541}),
            json!({"pricelist": 55227, "period": 3}),
            json!({"pricelist": 55227, "nodes": 1}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
        assert!(
            serde_json::from_value::<PlanSettings>(json!({"pricelist": 55227, "nodes": 1}))
                .is_err()
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
