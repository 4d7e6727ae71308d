//! `solusvm`: SolusVM 2 post-pay, through the panel's REST API (`{url}/api/v1/`, an
//! admin's API token as `Authorization: Bearer`).
//!
//! One SolusVM **user** per client, no order needed: the client creates and removes VMs
//! in the panel and pays afterwards for what ran. The service's `remote_id` is the
//! SolusVM user id; its attributes carry `email` and `user_id`.
//!
//! * `create` looks the client up by e-mail (`GET users?filter[search]=`, exact match)
//!   and reuses the match, otherwise creates the user (`POST users`, `billing_user_id` =
//!   the client id); a 422 "e-mail taken" is looked up again and adopted. This is also
//!   how a retried create, or one whose reply was lost, adopts what the first attempt made.
//! * Several services of one client share the user. The handler's key-value store keeps,
//!   per user, which services hold it and in what state (`users/{id}`, changed with
//!   compare-and-swap), and every lifecycle call brings the panel to what they add up to:
//!   **active** while any service is active, **suspended** while the rest are suspended,
//!   **locked** when none is left. Suspended and locked also suspend every VM of the user
//!   (`POST servers/{id}/suspend`), recording which ones, so that unsuspend resumes
//!   exactly those and not a VM an admin suspended by hand.
//! * `terminate` locks the user and suspends its VMs: nothing is deleted, so the last
//!   month can still be billed. Deleting is the admin action `delete_user`, refused while
//!   the user has VMs or another service holds it.
//! * `usage` reads per-VM uptime hours for each calendar month of the period and bills
//!   `min(started hours × tokens_per_hour, tokens_per_month)` tokens per VM and month at
//!   the handler's `token_price` in the client's currency (the SolusVM docs' example: 7
//!   tokens/h, cap 5000, 700 h → 4900 tokens).
//!
//! ASSUMPTION (the public record is silent; see `docs/modules/solusvm.md`): the usage
//! endpoint ([`USAGE_PATH`]), the browser login URL built from a one-time token
//! ([`DEFAULT_SSO_URL`]) and the admin page of a user ([`DEFAULT_ADMIN_URL`]). The two
//! URLs are settings; the usage path is one constant.

mod api;
mod lifecycle;
mod record;
mod settings;
mod usage;

use std::fmt::Write as _;

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;

use api::*;
pub use record::{UserRecord, Wanted};
pub use settings::{
    PlanSettings, Settings, CURRENCY_PATTERN, DECIMAL_PATTERN, DEFAULT_ADMIN_URL, DEFAULT_SSO_URL,
    DEFAULT_TIMEOUT_MS, USAGE_PATH,
};
pub use usage::{month_chunks, multiply, tokens_for, Date};

/// The module: one instance per handler.
pub struct SolusVm {
    host: Host,
    settings: Settings,
}

impl Module for SolusVm {
    type Settings = Settings;

    fn manifest() -> Manifest {
        settings::manifest()
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(SolusVm { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        let projects: Page<Value> = self.call("test the connection", "GET", "projects", None)?;
        let total = projects
            .meta
            .and_then(|m| m.total)
            .unwrap_or(projects.data.len() as u64);
        Ok(ConnectionInfo {
            message: format!(
                "connected to SolusVM at {} ({total} project(s) visible)",
                self.settings.url
            ),
            details: json!({"url": self.settings.url, "projects": total}),
        })
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let (user, made) = self.find_or_create_user(&request)?;
        let sid = request.service.id.to_string();
        // A user this module never recorded (new, or adopted) starts with no VMs of
        // ours: VMs someone else suspended stay suspended.
        let record = self.update_record(user.id, |r| {
            r.services.insert(sid.clone(), "active".into());
            r.suspended_vms.get_or_insert_with(Vec::new);
        })?;
        let what = format!("create: activate SolusVM user #{}", user.id);
        let summary = self.reconcile(&what, &user, &record)?;
        let message = if made {
            format!("made SolusVM user #{} for {}", user.id, user.email)
        } else {
            format!(
                "adopted SolusVM user #{} ({}); {summary}",
                user.id, user.email
            )
        };
        Ok(Self::done(&user, message))
    }

    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        self.lifecycle("suspend", &request, |r, sid| {
            r.services.insert(sid, "suspended".into());
        })
    }

    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        self.lifecycle("unsuspend", &request, |r, sid| {
            r.services.insert(sid, "active".into());
        })
    }

    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        self.lifecycle("terminate", &request, |r, sid| {
            r.services.remove(&sid);
        })
    }

    fn usage(&self, request: UsageRequest) -> Result<UsageReport, ModuleError> {
        self.usage_report(&request)
    }

    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        let user_id = Self::require_user_id(&request.service, "single sign-on")?;
        match request.audience {
            Audience::Admin => {
                // No token: the link opens the user in the admin area, where the staff
                // member's own SolusVM login applies. Nothing is written to the panel.
                let template = self
                    .settings
                    .admin_url
                    .as_deref()
                    .unwrap_or(DEFAULT_ADMIN_URL);
                Ok(SsoLink {
                    url: template
                        .replace("{url}", &self.settings.url)
                        .replace("{user_id}", &user_id.to_string()),
                    expires_at: None,
                })
            }
            Audience::Client => {
                let what = format!("mint a login token for SolusVM user #{user_id}");
                let path = format!("users/{user_id}/tokens");
                let reply = self.send(&what, "POST", &path, Some(&json!({"is_one_time": true})))?;
                if reply.status == 404 {
                    return Err(ModuleError::permanent(format!(
                        "{what}: the user no longer exists in SolusVM"
                    )));
                }
                let endpoint = Self::endpoint("POST", &path);
                let minted: Data<MintedToken> =
                    decode(&what, &endpoint, &check(&what, &endpoint, reply)?)?;
                let template = self.settings.sso_url.as_deref().unwrap_or(DEFAULT_SSO_URL);
                Ok(SsoLink {
                    url: template
                        .replace("{url}", &self.settings.url)
                        .replace("{token}", &url_encode(&minted.data.access_token)),
                    expires_at: None,
                })
            }
        }
    }

    fn list_accounts(&self, request: ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        let page = request.page.max(1);
        let got: Page<User> = self.call(
            "list SolusVM users",
            "GET",
            &format!("users?page={page}"),
            None,
        )?;
        let last = got
            .meta
            .as_ref()
            .and_then(|m| m.last_page)
            .unwrap_or(u64::from(page));
        let current = got
            .meta
            .as_ref()
            .and_then(|m| m.current_page)
            .unwrap_or(u64::from(page));
        let accounts = got
            .data
            .into_iter()
            .filter(|u| !u.is_admin())
            .map(|u| {
                let status = match u.status.as_str() {
                    "active" => RemoteStatus::Active,
                    "suspended" => RemoteStatus::Suspended,
                    "locked" => RemoteStatus::Terminated,
                    _ => RemoteStatus::Unknown,
                };
                let mut attributes = Map::new();
                attributes.insert("email".into(), json!(u.email));
                attributes.insert("user_id".into(), json!(u.id));
                RemoteAccount {
                    remote_id: u.id.to_string(),
                    email: u.email.clone(),
                    name: u.email,
                    status,
                    plan_hint: None,
                    attributes,
                }
            })
            .collect();
        Ok(AccountPage {
            accounts,
            next_page: (current < last && u64::from(page) < MAX_PAGES).then(|| page + 1),
            // Admin users are left out, so the panel's total would overcount.
            total: None,
        })
    }

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let user_id = Self::require_user_id(&request.service, "client area")?;
        let what = format!("show SolusVM user #{user_id}");
        let Some(user) = self.get_user(&what, user_id)? else {
            return Ok(Panel {
                title: "SolusVM".into(),
                rows: vec![PanelRow {
                    label: "Account".into(),
                    value: format!("SolusVM user #{user_id} no longer exists"),
                }],
                links: Vec::new(),
            });
        };
        let servers = self.servers_of(&what, user_id)?;
        let mut rows = vec![
            PanelRow {
                label: "Account".into(),
                value: user.email.clone(),
            },
            PanelRow {
                label: "Status".into(),
                value: user.status.clone(),
            },
            PanelRow {
                label: "Servers".into(),
                value: servers.len().to_string(),
            },
        ];
        for s in &servers {
            let state = if s.is_suspended {
                "suspended".to_string()
            } else if s.status.is_empty() {
                "unknown".to_string()
            } else {
                s.status.clone()
            };
            let mut value = format!("{state}, {}", s.ip().unwrap_or("no IPv4"));
            if let Some(plan) = s.plan.as_ref().filter(|p| !p.name.is_empty()) {
                let _ = write!(value, ", plan {}", plan.name);
            }
            rows.push(PanelRow {
                label: if s.name.is_empty() {
                    format!("Server #{}", s.id)
                } else {
                    s.name.clone()
                },
                value,
            });
        }
        Ok(Panel {
            title: "SolusVM cloud".into(),
            rows,
            links: vec![PanelLink {
                label: "SolusVM panel".into(),
                url: self.settings.url.clone(),
            }],
        })
    }

    fn admin_actions(&self, request: ServiceRequest) -> Result<Vec<AdminAction>, ModuleError> {
        let who = Self::user_id(&request.service)
            .map(|id| format!("SolusVM user #{id}"))
            .unwrap_or_else(|| "the SolusVM user".into());
        Ok(vec![AdminAction {
            name: "delete_user".into(),
            label: "Delete the SolusVM user".into(),
            confirm: Some(format!(
                "Delete {who} from SolusVM for good? Only possible once the service is terminated, \
                 the user has no VMs and its last month is billed."
            )),
        }])
    }

    fn run_action(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        match request.action.as_deref() {
            Some("delete_user") => {}
            other => {
                return Err(ModuleError::not_supported(&format!(
                    "the admin action {other:?} (this module has delete_user)"
                )))
            }
        }
        let service = &request.service;
        let user_id = Self::require_user_id(service, "delete_user")?;
        let what = format!("delete SolusVM user #{user_id}");
        if matches!(service.status.as_str(), "active" | "suspended") {
            return Err(ModuleError::permanent(format!(
                "{what}: service #{} is {}; terminate it first",
                service.id, service.status
            )));
        }
        if let Some(record) = self.read_record(user_id)? {
            let others = record.others(service.id);
            if !others.is_empty() {
                return Err(ModuleError::permanent(format!(
                    "{what}: service {} still uses it; terminate those first",
                    others.join(", ")
                )));
            }
        }
        let servers = self.servers_of(&what, user_id)?;
        if !servers.is_empty() {
            let names: Vec<String> = servers
                .iter()
                .map(|s| format!("{} (#{})", s.name, s.id))
                .collect();
            return Err(ModuleError::permanent(format!(
                "{what}: the user still has {} VM(s): {}; delete them in SolusVM first (after their last month is billed)",
                servers.len(),
                names.join(", ")
            )));
        }
        let path = format!("users/{user_id}");
        let reply = self.send(&what, "DELETE", &path, None)?;
        let message = if reply.status == 404 {
            format!("SolusVM user #{user_id} was already gone")
        } else {
            check(&what, &Self::endpoint("DELETE", &path), reply)?;
            format!("deleted SolusVM user #{user_id}")
        };
        self.host.kv_delete(&Self::record_key(user_id))?;
        self.host.info(&format!("delete_user: {message}"));
        let mut attributes = Map::new();
        attributes.insert("deleted".into(), json!(true));
        Ok(Outcome::Done {
            remote_id: None,
            attributes,
            message: Some(message),
        })
    }
}

export_module!(SolusVm);

#[cfg(test)]
mod tests;
