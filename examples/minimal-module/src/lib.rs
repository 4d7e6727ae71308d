//! `example-minimal`: the smallest complete Provisor processing module. Copy this crate
//! to start your own (see README.md beside Cargo.toml).
//!
//! It talks to no panel: "creating an account" invents the id `ex-<service id>`. Every
//! place where a real module would call its panel says so; do that with
//! `self.host.http(...)`, never with an HTTP client of your own.

use provisor_module_api::*;
use serde::Deserialize;

/// The handler's settings. The host checks the JSON against `settings_schema` (in the
/// manifest below) before it calls [`Module::new`]; serde then decodes it into this
/// struct. Keep the two in step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Shown by `provisor handlers test` and as the client-area panel's title.
    pub greeting: String,
}

/// One instance per handler (a module plus its settings). Calls may arrive on several
/// threads at once, so keep per-call state in locals, not in `self`.
pub struct ExampleMinimal {
    host: Host,
    settings: Settings,
}

/// The remote account of a service, or an error a person must look at.
fn account(service: &ServiceInfo) -> Result<&str, ModuleError> {
    service.remote_id.as_deref().ok_or_else(|| {
        ModuleError::permanent(format!("service #{} has no remote account yet", service.id))
    })
}

impl Module for ExampleMinimal {
    type Settings = Settings;

    fn manifest() -> Manifest {
        Manifest {
            // Handlers refer to the module by this name: lowercase letters, digits, '-'.
            name: "example-minimal".into(),
            // A higher version replaces a lower one when installed.
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: String::new(), // the SDK fills this in
            description: "Example: invents accounts, talks to no panel".into(),
            // Exactly the calls implemented below; every other call answers NotSupported.
            capabilities: vec![
                Capability::TestConnection,
                Capability::Create,
                Capability::Suspend,
                Capability::Unsuspend,
                Capability::Terminate,
                Capability::Sso,
                Capability::ClientArea,
            ],
            // JSON Schema of the handler's settings. A secret (a password, an API token)
            // gets "writeOnly": true and the host then never shows or logs its value:
            //   "api_token": {"type": "string", "writeOnly": true}
            settings_schema: serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["greeting"],
                "properties": {
                    "greeting": {"type": "string", "description": "Shown on test and in the client area"}
                }
            }),
            // JSON Schema of a plan's settings for this module (none here).
            plan_schema: empty_object_schema(),
        }
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        // Keep this quick and offline: the host calls test_connection to reach the panel.
        Ok(ExampleMinimal { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        // A real module makes one cheap authenticated request here: wrong credentials
        // are `ModuleError::invalid_config`, a timeout or a 5xx is `transient`.
        Ok(ConnectionInfo {
            message: format!(
                "{} (example-minimal talks to no panel)",
                self.settings.greeting
            ),
            details: serde_json::json!({ "host_time": self.host.now() }),
        })
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        // Every retry of this operation carries the same operation_key. Remember what we
        // made under it and answer the same again instead of making a second account.
        let key = format!("create/{}", request.operation_key);
        let remote_id = match self.host.kv_get(&key)? {
            Some(made_earlier) => {
                self.host.info(&format!(
                    "create: adopting {made_earlier} from an earlier attempt"
                ));
                made_earlier
            }
            None => {
                // A real module first looks the account up on the panel (by external id,
                // label or email: an earlier attempt may have made it and then lost the
                // reply), and only creates it when the panel has none.
                let made = format!("ex-{}", request.service.id);
                self.host.kv_put(&key, &made)?;
                made
            }
        };
        // The host stores remote_id on the service and merges the attributes into it.
        let mut attributes = serde_json::Map::new();
        attributes.insert("username".into(), remote_id.clone().into());
        Ok(Outcome::Done {
            remote_id: Some(remote_id),
            attributes,
            message: None,
        })
    }

    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let account = account(&request.service)?;
        // A real module asks the panel to suspend `account`; "already suspended" is success.
        self.host.info(&format!("suspended {account}"));
        Ok(Outcome::done())
    }

    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let account = account(&request.service)?;
        // "Already active" is success too.
        self.host.info(&format!("resumed {account}"));
        Ok(Outcome::done())
    }

    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        // "Already gone" is success: a service whose create never finished has nothing
        // to remove, and neither has a retry after the panel answered 404.
        match request.service.remote_id.as_deref() {
            Some(account) => self.host.info(&format!("terminated {account}")),
            None => self
                .host
                .info("terminate: no remote account, nothing to do"),
        }
        Ok(Outcome::done())
    }

    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        // A real module mints a short-lived login token here, on every call (the host
        // calls sso when the person clicks); request.audience says client or admin.
        let account = account(&request.service)?;
        Ok(SsoLink {
            url: format!(
                "https://panel.example.invalid/login?user={}",
                url_encode(account)
            ),
            expires_at: None,
        })
    }

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let service = &request.service;
        let account = service
            .remote_id
            .clone()
            .unwrap_or_else(|| "not created yet".into());
        Ok(Panel {
            title: self.settings.greeting.clone(),
            rows: vec![
                PanelRow {
                    label: "Account".into(),
                    value: account,
                },
                PanelRow {
                    label: "Status".into(),
                    value: service.status.clone(),
                },
            ],
            // Static links only: logging in goes through sso, minted on click.
            links: vec![PanelLink {
                label: "Documentation".into(),
                url: "https://panel.example.invalid/docs".into(),
            }],
        })
    }
}

// The one line that turns the crate into a module Provisor can load.
export_module!(ExampleMinimal);

#[cfg(test)]
mod tests;
