//! `solusvm`: SolusVM 2 post-pay, through the panel's REST API (`{url}/api/v1/`, an
//! admin's API token as `Authorization: Bearer`).
//!
//! What the module will do (DESIGN.md, "The five shipped modules"): one SolusVM user
//! account per client, no order needed (the client creates VMs in the panel); a retried
//! create adopts the user an earlier attempt made (`GET users?filter[search]={email}`)
//! instead of making a second one; suspend and resume the user; single sign-on into the
//! panel; and post-paid usage: VM uptime hours × the plan's `tokens_per_hour`, capped by
//! `tokens_per_month`, then tokens × the handler's `token_price` in the client's currency.
//!
//! **This version is a skeleton.** It loads, declares its settings and plan schemas,
//! checks the settings when a handler is configured, and answers `NotSupported` to every
//! call: its manifest lists no capabilities. The remote calls arrive with issue 4.

use std::collections::BTreeMap;
use std::fmt;

use provisor_module_api::serde_json::json;
use provisor_module_api::*;
use serde::Deserialize;

/// Canonical decimal text for money: digits, optionally a point and more digits.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// An ISO 4217 currency code.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// A handler's connection settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The panel's base URL (`https://solus.example.com`); the module appends `/api/v1/`.
    pub url: String,
    /// An admin's API token (a secret: `writeOnly` in the schema).
    pub api_token: String,
    /// The limit group new users are put in, if any.
    #[serde(default)]
    pub limit_group_id: Option<u64>,
    /// The price of one token per currency code, as decimal text (`{"EUR": "0.01"}`).
    pub token_price: BTreeMap<String, String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("api_token", &"[redacted]")
            .field("limit_group_id", &self.limit_group_id)
            .field("token_price", &self.token_price)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and drops a trailing `/` from the URL.
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
            if !is_decimal(price) {
                return Err(ModuleError::invalid_config(format!(
                    "token_price.{currency}: {price:?} is not decimal text (write e.g. \"0.01\")"
                )));
            }
        }
        Ok(self)
    }
}

/// A plan's settings for this module: which SolusVM plan it bills and at what rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The SolusVM plan whose VMs this plan bills.
    pub plan_id: u64,
    /// Tokens charged per started hour of VM uptime.
    pub tokens_per_hour: u64,
    /// Tokens charged at most per VM and month (the monthly cap).
    pub tokens_per_month: u64,
}

fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
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
            "url {url:?} is not an http(s) address: give the panel's base URL, e.g. https://solus.example.com"
        ))),
    }
}

/// The module: one instance per handler.
pub struct SolusVm {
    host: Host,
    settings: Settings,
}

impl Module for SolusVm {
    type Settings = Settings;

    fn manifest() -> Manifest {
        Manifest {
            name: "solusvm".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description:
                "SolusVM 2 post-pay users (skeleton: validates settings, no remote calls yet)"
                    .to_string(),
            // Honest: nothing is implemented yet, so every call answers NotSupported.
            capabilities: Vec::new(),
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
                    "limit_group_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Limit group new users are put in"
                    },
                    "token_price": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"pattern": CURRENCY_PATTERN},
                        "additionalProperties": {"type": "string", "pattern": DECIMAL_PATTERN},
                        "description": "Price of one token per currency code, as decimal text, e.g. {\"EUR\": \"0.01\", \"USD\": \"0.011\"}"
                    }
                }
            }),
            plan_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["plan_id", "tokens_per_hour", "tokens_per_month"],
                "properties": {
                    "plan_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "The SolusVM plan whose VMs this plan bills"
                    },
                    "tokens_per_hour": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Tokens per started hour of VM uptime"
                    },
                    "tokens_per_month": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Monthly cap in tokens per VM (the cheaper of hourly and monthly is charged)"
                    }
                }
            }),
        }
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(SolusVm { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.host.log(
            Level::Debug,
            "test_connection: no request sent (skeleton module)",
            json!({"url": self.settings.url}),
        );
        Err(ModuleError::not_supported(
            "test_connection (the SolusVM module is a skeleton; its remote calls arrive with issue 4)",
        ))
    }
}

export_module!(SolusVm);

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
            "url": "https://solus.example.com/",
            "api_token": "hunter2",
            "limit_group_id": 4,
            "token_price": {"EUR": "0.01", "USD": "0.011"}
        })
    }

    #[test]
    fn manifest_is_honest_about_a_skeleton() {
        let m = SolusVm::manifest();
        assert_eq!(m.name, "solusvm");
        assert_eq!(m.version, "0.1.0");
        assert!(m.capabilities.is_empty());
    }

    #[test]
    fn only_the_token_is_write_only_and_required_names_real_properties() {
        let m = SolusVm::manifest();
        let props = m.settings_schema["properties"].as_object().unwrap();
        let secrets: Vec<&str> = props
            .iter()
            .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(secrets, ["api_token"]);
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
        let schema = SolusVm::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        let s = settings(full()).unwrap();
        assert_eq!(s.url, "https://solus.example.com");
        assert_eq!(s.token_price["USD"], "0.011");

        let minimal =
            json!({"url": "http://10.0.0.5", "api_token": "t", "token_price": {"EUR": "1"}});
        assert!(fits(&schema, &minimal));
        assert_eq!(settings(minimal).unwrap().limit_group_id, None);
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = SolusVm::manifest().settings_schema;
        let mut no_prices = full();
        no_prices["token_price"] = json!({});
        let mut float_price = full();
        float_price["token_price"] = json!({"EUR": 0.01});
        let mut text_not_decimal = full();
        text_not_decimal["token_price"] = json!({"EUR": "1,5"});
        let mut bad_currency = full();
        bad_currency["token_price"] = json!({"euro": "0.01"});
        let mut unknown = full();
        unknown["password"] = json!("x");
        let mut missing_token = full();
        missing_token.as_object_mut().unwrap().remove("api_token");
        for bad in [
            no_prices,
            float_price,
            text_not_decimal,
            bad_currency,
            unknown,
            missing_token,
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree() {
        let schema = SolusVm::manifest().plan_schema;
        let good = json!({"plan_id": 3, "tokens_per_hour": 7, "tokens_per_month": 5000});
        assert!(fits(&schema, &good));
        let plan: PlanSettings = serde_json::from_value(good).unwrap();
        assert_eq!(
            (plan.plan_id, plan.tokens_per_hour, plan.tokens_per_month),
            (3, 7, 5000)
        );
        for bad in [
            json!({"plan_id": 3, "tokens_per_hour": 7}),
            json!({"plan_id": 3, "tokens_per_hour": -1, "tokens_per_month": 5000}),
            json!({"plan_id": 3, "tokens_per_hour": 7, "tokens_per_month": 5000, "price": "1"}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(
                serde_json::from_value::<PlanSettings>(bad.clone()).is_err(),
                "struct accepted {bad}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
