//! `manual-task`: a processing module with no remote system. Every lifecycle call
//! answers "needs a human" with a form that fits the call, so the host opens a task for
//! the handler's department; what staff fill in is stored on the service as if a module
//! had returned it. Use it for services a person sets up (dedicated servers, custom
//! work) and as the simplest complete example of the contract.

use std::fmt::Write as _;

use provisor_module_api::serde_json::{json, Value};
use provisor_module_api::*;
use serde::Deserialize;

/// Handler settings: optional instructions shown on every task.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Shown at the top of every task (e.g. a link to the runbook).
    #[serde(default)]
    pub instructions: Option<String>,
}

/// The module.
pub struct ManualTask {
    settings: Settings,
}

fn field(
    name: &str,
    label: &str,
    kind: FieldKind,
    required: bool,
    help: Option<&str>,
) -> FormField {
    FormField {
        name: name.to_string(),
        label: label.to_string(),
        kind,
        required,
        help: help.map(str::to_string),
    }
}

fn notes() -> FormField {
    field(
        "notes",
        "Notes for the record",
        FieldKind::Text,
        false,
        None,
    )
}

impl ManualTask {
    fn who(service: &ServiceInfo) -> String {
        let client = &service.client;
        let mut who = if client.name.is_empty() {
            format!("client #{}", client.id)
        } else {
            client.name.clone()
        };
        if !client.email.is_empty() {
            let _ = write!(who, " <{}>", client.email);
        }
        who
    }

    fn task(&self, what: String, fields: Vec<FormField>) -> Outcome {
        let reason = match &self.settings.instructions {
            Some(instructions) => format!("{what}. {instructions}"),
            None => what,
        };
        Outcome::NeedsHuman { reason, fields }
    }

    fn subject(service: &ServiceInfo) -> String {
        let plan = if service.plan.name.is_empty() {
            "service".to_string()
        } else {
            format!("plan {}", service.plan.name)
        };
        let remote = service
            .remote_id
            .as_deref()
            .map(|id| format!(" (remote id {id})"))
            .unwrap_or_default();
        format!(
            "service #{} on {plan}{remote} for {}",
            service.id,
            Self::who(service)
        )
    }
}

impl Module for ManualTask {
    type Settings = Settings;

    fn manifest() -> Manifest {
        Manifest {
            name: "manual-task".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(),
            description: "No remote system: staff perform every operation from a task".to_string(),
            capabilities: vec![
                Capability::TestConnection,
                Capability::Create,
                Capability::Suspend,
                Capability::Unsuspend,
                Capability::Terminate,
                Capability::ChangePlan,
                Capability::Renew,
                Capability::Sso,
                Capability::ClientArea,
            ],
            settings_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "instructions": {"type": "string", "description": "Shown on every task"}
                }
            }),
            plan_schema: json!({
                "type": "object",
                "properties": {
                    "checklist": {"type": "string", "description": "What staff must set up for this plan"}
                }
            }),
        }
    }

    fn new(_host: Host, settings: Settings) -> Result<Self, ModuleError> {
        Ok(ManualTask { settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        Ok(ConnectionInfo {
            message: "manual-task has no remote system; every operation becomes a task".to_string(),
            details: Value::Null,
        })
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let s = &request.service;
        let mut what = format!("Set up {}", Self::subject(s));
        if let Some(checklist) = s.plan.settings.get("checklist").and_then(Value::as_str) {
            let _ = write!(what, ". Checklist: {checklist}");
        }
        if !s.plan.resources.is_empty() {
            let _ = write!(
                what,
                ". Resources: {}",
                Value::Object(s.plan.resources.clone())
            );
        }
        Ok(self.task(
            what,
            vec![
                field(
                    "remote_id",
                    "Account or server id",
                    FieldKind::Text,
                    true,
                    Some("How the service is known where it was set up"),
                ),
                field("username", "Login name", FieldKind::Text, false, None),
                field(
                    "password",
                    "Initial password",
                    FieldKind::Secret,
                    false,
                    None,
                ),
                field("ip", "IP address", FieldKind::Ip, false, None),
                field(
                    "login_url",
                    "Where the client logs in",
                    FieldKind::Url,
                    false,
                    Some("Used for the client's single-sign-on button"),
                ),
                notes(),
            ],
        ))
    }

    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        Ok(self.task(
            format!("Suspend {}", Self::subject(&request.service)),
            vec![notes()],
        ))
    }

    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        Ok(self.task(
            format!("Resume {}", Self::subject(&request.service)),
            vec![notes()],
        ))
    }

    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        Ok(self.task(
            format!(
                "Terminate {} and wipe its data",
                Self::subject(&request.service)
            ),
            vec![notes()],
        ))
    }

    fn change_plan(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let target = request
            .params
            .get("plan")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("the new plan")
            .to_string();
        Ok(self.task(
            format!("Move {} to {target}", Self::subject(&request.service)),
            vec![notes()],
        ))
    }

    fn renew(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        Ok(self.task(
            format!("Renew {}", Self::subject(&request.service)),
            vec![
                field(
                    "expires_on",
                    "New expiry date",
                    FieldKind::Date,
                    false,
                    None,
                ),
                notes(),
            ],
        ))
    }

    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        match request.service.attributes.get("login_url").and_then(Value::as_str) {
            Some(url) if !url.is_empty() => Ok(SsoLink {
                url: url.to_string(),
                expires_at: None,
            }),
            _ => Err(ModuleError::permanent(format!(
                "service #{} has no login URL: staff can record one as login_url when they complete its task",
                request.service.id
            ))),
        }
    }

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let s = &request.service;
        let mut rows = Vec::new();
        if let Some(id) = &s.remote_id {
            rows.push(PanelRow {
                label: "Reference".into(),
                value: id.clone(),
            });
        }
        for (key, label) in [("username", "Login"), ("ip", "IP address")] {
            if let Some(v) = s.attributes.get(key).and_then(Value::as_str) {
                rows.push(PanelRow {
                    label: label.into(),
                    value: v.to_string(),
                });
            }
        }
        let links = s
            .attributes
            .get("login_url")
            .and_then(Value::as_str)
            .map(|url| {
                vec![PanelLink {
                    label: "Log in".into(),
                    url: url.to_string(),
                }]
            })
            .unwrap_or_default();
        Ok(Panel {
            title: format!(
                "{} (managed by our staff)",
                if s.plan.name.is_empty() {
                    "Service"
                } else {
                    &s.plan.name
                }
            ),
            rows,
            links,
        })
    }
}

export_module!(ManualTask);
