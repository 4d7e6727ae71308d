//! `billmanager-noc-addon`: ISPmanager 6 / VMmanager 6 licenses from ISPsystem's billing,
//! sold as an **addon** to another service (a VPS or a dedicated server), with a license
//! type and a lifetime in months (empty = unlimited).
//!
//! What the module will do (DESIGN.md, "The five shipped modules"): the same license
//! calls as `ispsystem-noc`, with the same reseller credentials, but the license is named
//! after the parent service (its domain + `_addon`) and bound to the parent's IP
//! (`ServiceInfo::parent`); suspend, resume and terminate follow the addon; the daily run
//! asks the host to terminate the addon once its lifetime has passed.
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

fn default_url() -> String {
    DEFAULT_URL.to_string()
}

/// A handler's connection settings: the reseller account at ISPsystem (the same fields
/// as `ispsystem-noc`'s).
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

/// The license sold by an addon plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LicenseType {
    /// ISPmanager 6 Lite.
    #[serde(rename = "ispmanager6-lite")]
    Ispmanager6Lite,
    /// ISPmanager 6 Pro.
    #[serde(rename = "ispmanager6-pro")]
    Ispmanager6Pro,
    /// ISPmanager 6 Host.
    #[serde(rename = "ispmanager6-host")]
    Ispmanager6Host,
    /// ISPmanager 6 Business.
    #[serde(rename = "ispmanager6-business")]
    Ispmanager6Business,
    /// VMmanager 6.
    #[serde(rename = "vmmanager6")]
    Vmmanager6,
}

impl LicenseType {
    /// Every license type, in the order of the schema's `enum`.
    pub const ALL: [LicenseType; 5] = [
        LicenseType::Ispmanager6Lite,
        LicenseType::Ispmanager6Pro,
        LicenseType::Ispmanager6Host,
        LicenseType::Ispmanager6Business,
        LicenseType::Vmmanager6,
    ];

    /// The name used in plan settings.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Ispmanager6Lite => "ispmanager6-lite",
            LicenseType::Ispmanager6Pro => "ispmanager6-pro",
            LicenseType::Ispmanager6Host => "ispmanager6-host",
            LicenseType::Ispmanager6Business => "ispmanager6-business",
            LicenseType::Vmmanager6 => "vmmanager6",
        }
    }

    /// The ISPsystem pricelist the license is ordered from.
    pub fn pricelist(self) -> u64 {
        match self {
            LicenseType::Ispmanager6Lite => 55227,
            LicenseType::Ispmanager6Pro => 55228,
            LicenseType::Ispmanager6Host => 55229,
            LicenseType::Ispmanager6Business => 55230,
            LicenseType::Vmmanager6 => 55163,
        }
    }
}

/// A plan's settings for this module.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Which license the addon is.
    pub license_type: LicenseType,
    /// How many months the addon lives; `None` (null or absent) is unlimited.
    #[serde(default)]
    pub lifetime_months: Option<u32>,
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
pub struct BillmanagerNocAddon {
    host: Host,
    settings: Settings,
}

impl Module for BillmanagerNocAddon {
    type Settings = Settings;

    fn manifest() -> Manifest {
        let types: Vec<&str> = LicenseType::ALL.iter().map(|t| t.as_str()).collect();
        Manifest {
            name: "billmanager-noc-addon".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description: "ISPsystem licenses sold as an addon (skeleton: validates settings, no remote calls yet)".to_string(),
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
                "required": ["license_type"],
                "properties": {
                    "license_type": {
                        "type": "string",
                        "enum": types,
                        "description": "The license the addon is (ISPmanager 6 Lite/Pro/Host/Business, VMmanager 6)"
                    },
                    "lifetime_months": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "default": null,
                        "description": "Months the addon lives before it is terminated; empty (null) is unlimited"
                    }
                }
            }),
        }
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(BillmanagerNocAddon { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.host.log(
            Level::Debug,
            "test_connection: no request sent (skeleton module)",
            json!({"url": self.settings.url}),
        );
        Err(ModuleError::not_supported(
            "test_connection (the BILLmanager NOC addon module is a skeleton; its remote calls arrive with issue 4)",
        ))
    }
}

export_module!(BillmanagerNocAddon);

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
            "url": "https://api.ispsystem.com/manager/billmgr",
            "username": "reseller",
            "password": "hunter2",
            "project": 1
        })
    }

    #[test]
    fn manifest_is_honest_about_a_skeleton() {
        let m = BillmanagerNocAddon::manifest();
        assert_eq!(m.name, "billmanager-noc-addon");
        assert_eq!(m.version, "0.1.0");
        assert!(m.capabilities.is_empty());
    }

    #[test]
    fn only_the_password_is_write_only_and_required_names_real_properties() {
        let m = BillmanagerNocAddon::manifest();
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
        let schema = BillmanagerNocAddon::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        assert_eq!(settings(full()).unwrap().project, Some(1));
        let minimal = json!({"username": "reseller", "password": "p"});
        assert!(fits(&schema, &minimal));
        assert_eq!(settings(minimal).unwrap().url, DEFAULT_URL);
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = BillmanagerNocAddon::manifest().settings_schema;
        let mut no_username = full();
        no_username.as_object_mut().unwrap().remove("username");
        let mut unknown = full();
        unknown["license_type"] = json!("vmmanager6");
        let mut colon = full();
        colon["username"] = json!("a:b");
        for bad in [no_username, unknown, colon] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree_on_every_license_type_and_lifetime() {
        let schema = BillmanagerNocAddon::manifest().plan_schema;
        for t in LicenseType::ALL {
            for lifetime in [json!(null), json!(12)] {
                let plan = json!({"license_type": t.as_str(), "lifetime_months": lifetime});
                assert!(fits(&schema, &plan), "{plan}");
                let parsed: PlanSettings = serde_json::from_value(plan).unwrap();
                assert_eq!(parsed.license_type, t);
                assert_eq!(parsed.lifetime_months, lifetime.as_u64().map(|m| m as u32));
            }
        }
        let unlimited: PlanSettings =
            serde_json::from_value(json!({"license_type": "vmmanager6"})).unwrap();
        assert_eq!(
            (
                unlimited.lifetime_months,
                unlimited.license_type.pricelist()
            ),
            (None, 55163)
        );
        for bad in [
            json!({}),
            json!({"license_type": "ispmanager5-lite"}),
            json!({"license_type": "vmmanager6", "lifetime_months": 0}),
            json!({"license_type": "vmmanager6", "lifetime_months": "12"}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
