//! `computestacks`: one [ComputeStacks](https://computestacks.com) account per service,
//! through the controller's admin API (`https://{host}/api/admin/...`, HTTP Basic with an
//! admin's API key and secret, `Accept: application/json; api_version=80`).
//!
//! * **create** looks the user up by its external id (`provisor-<service id>`) on every
//!   attempt and adopts it when an earlier attempt made it (its reply may have been lost);
//!   otherwise it creates one (`POST /api/admin/users`) with that external id and the
//!   labels `{"provisor": {"client_id", "service_id"}}`. An "e-mail taken" answer is
//!   adopted when the user with that e-mail is ours (same external id or service label),
//!   and is a permanent error naming the other user otherwise.
//! * **suspend / unsuspend** use `POST` / `DELETE /api/admin/users/{id}/suspension`;
//!   doing either twice is success.
//! * **terminate suspends**: the controller keeps the user and its data, as the official
//!   WHMCS module does. Deleting is the admin action `delete_account`.
//! * **sso** mints a one-minute token (`POST .../user_sso`) on every call, for the
//!   client and for staff alike (staff enter the panel as the client's user).
//! * **`client_area`**, **`list_accounts`** (every page), **usage** (the user's
//!   `billing_usages` in the period, one item per row) and **`test_connection`**
//!   (`GET /api/admin/locations`).
//!
//! `docs/modules/computestacks.md` is the operator's and reviewer's description.

mod api;
mod lifecycle;
mod settings;
mod text;
mod usage;

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;

use api::*;
pub use lifecycle::external_id;
pub use settings::{
    PlanSettings, Settings, DECIMAL_PATTERN, DEFAULT_API_VERSION, DEFAULT_TIMEOUT_MS,
    MIN_API_VERSION,
};
pub use text::{decimal, format_time, money, parse_time};

/// The module: one instance per handler.
pub struct ComputeStacks {
    host: Host,
    settings: Settings,
    warned_deprecated: AtomicBool,
}

impl Module for ComputeStacks {
    type Settings = Settings;

    fn manifest() -> Manifest {
        settings::manifest()
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(ComputeStacks {
            host,
            settings,
            warned_deprecated: AtomicBool::new(false),
        })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        let what = format!(
            "test the connection to {} (GET /api/admin/locations)",
            self.settings.url
        );
        let reply = self.send(&what, &self.api("GET", "locations"))?;
        if reply.status == 404 {
            return Err(ModuleError::invalid_config(format!(
                "{what}: no ComputeStacks admin API there (404 {}): check url, which is the controller's base URL without /api",
                remote_errors(&reply.body)
            )));
        }
        let deprecated = reply.header("API-Deprecated") == Some("true");
        let reply = self.check(&what, reply)?;
        let locations = match serde_json::from_str::<Value>(&reply.body) {
            Ok(v) => v.get("locations").and_then(Value::as_array).cloned(),
            Err(_) => None,
        };
        let Some(locations) = locations else {
            return Err(ModuleError::invalid_config(format!(
                "{what}: the answer is not a ComputeStacks location list: check url"
            ))
            .with_detail(excerpt(&reply.body, 300)));
        };
        let names: Vec<String> = locations
            .iter()
            .filter_map(|l| l.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let mut message = format!(
            "connected to ComputeStacks at {} with API key {} (api_version {}; {} location{})",
            self.settings.url,
            self.settings.api_key,
            self.settings.api_version,
            locations.len(),
            if locations.len() == 1 { "" } else { "s" }
        );
        if deprecated {
            let _ = write!(
                message,
                "; api_version {} is deprecated, use {DEFAULT_API_VERSION}",
                self.settings.api_version
            );
        }
        Ok(ConnectionInfo {
            message,
            details: json!({
                "locations": names,
                "api_version": self.settings.api_version,
                "api_deprecated": deprecated,
            }),
        })
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        self.create_user(&request)
    }

    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let id = self.require_user_id(service)?;
        let what = format!("suspend ComputeStacks user {id} (service #{})", service.id);
        if !self.suspension(&what, id, true)? {
            return Err(Self::gone(service, id));
        }
        Ok(Self::state_done(
            "suspended",
            &[],
            format!("ComputeStacks user {id} suspended"),
        ))
    }

    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let id = self.require_user_id(service)?;
        let what = format!("resume ComputeStacks user {id} (service #{})", service.id);
        if !self.suspension(&what, id, false)? {
            return Err(Self::gone(service, id));
        }
        Ok(Self::state_done(
            "active",
            &[],
            format!("ComputeStacks user {id} resumed"),
        ))
    }

    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let Some(id) = self.user_id(service)? else {
            return Ok(Self::state_done(
                "none",
                &[("cs_deleted", json!(false))],
                format!(
                    "service #{} has no ComputeStacks user (none was made, or it is gone): nothing to suspend",
                    service.id
                ),
            ));
        };
        let what = format!(
            "terminate (suspend) ComputeStacks user {id} (service #{})",
            service.id
        );
        if !self.suspension(&what, id, true)? {
            return Ok(Self::state_done(
                "deleted",
                &[("cs_deleted", json!(true))],
                format!("ComputeStacks user {id} is already gone"),
            ));
        }
        Ok(Self::state_done(
            "suspended",
            &[("cs_deleted", json!(false))],
            format!(
                "ComputeStacks user {id} suspended, not deleted: the controller keeps the user and its data; run the admin action delete_account to delete it"
            ),
        ))
    }

    fn usage(&self, request: UsageRequest) -> Result<UsageReport, ModuleError> {
        self.usage_report(&request)
    }

    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        let service = &request.service;
        let id = self.require_user_id(service)?;
        // ASSUMPTION: the admin variant is the same user sign-on (staff see the panel
        // as the client does, like the WHMCS module's "Login" button): the controller
        // has no API that signs staff into their own admin session.
        let who = match request.audience {
            Audience::Client => "the client",
            Audience::Admin => "staff (as the client's user)",
        };
        let what = format!("mint a sign-on token for ComputeStacks user {id} for {who}");
        let reply = self.send(
            &what,
            // The token is a login for a minute: kept out of the module log.
            &self
                .api("POST", &format!("users/{id}/user_sso"))
                .secret_response(),
        )?;
        if record_missing(&reply) {
            return Err(Self::gone(service, id));
        }
        let reply = self.check(&what, reply)?;
        let token: SsoToken = decode(&what, &reply)?;
        if request.audience == Audience::Admin {
            self.host.info(&format!(
                "sso: staff sign-on into ComputeStacks as user {id} ({})",
                token.username
            ));
        }
        let expires_at = token.expires.as_ref().and_then(sso_expiry).map(format_time);
        Ok(SsoLink {
            url: format!(
                "{}/?username={}&token={}",
                self.settings.url,
                url_encode(&token.username),
                url_encode(&token.token)
            ),
            expires_at,
        })
    }

    fn list_accounts(&self, request: ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        // The controller decides the page size (30 unless its admin changed it); the
        // host's per_page is not sent, so pages are the controller's own.
        let page = request.page.max(1);
        let what = format!("list ComputeStacks users (GET /api/admin/users page {page})");
        let reply = self.send(&what, &self.api("GET", &format!("users?page={page}")))?;
        let reply = self.check(&what, reply)?;
        let rows = Self::user_rows(&what, &reply, "users")?;
        let mut accounts = Vec::new();
        for row in &rows {
            let user: CsUser = serde_json::from_value(row.clone()).map_err(|e| {
                ModuleError::transient(format!("{what}: a user this module cannot read ({e})"))
                    .with_detail(excerpt(&row.to_string(), 300))
            })?;
            // Admins are staff, not customers (as the WHMCS ListAccounts skips them).
            if user.is_admin == Some(true) {
                continue;
            }
            let mut attributes = user.attributes();
            if let Some(name) = user.user_group.as_ref().and_then(|g| g.name.clone()) {
                attributes.insert("user_group".into(), json!(name));
            }
            accounts.push(RemoteAccount {
                remote_id: user.id.to_string(),
                email: user.email().to_string(),
                name: user.name(),
                status: match user.active {
                    Some(true) => RemoteStatus::Active,
                    Some(false) => RemoteStatus::Suspended,
                    None => RemoteStatus::Unknown,
                },
                plan_hint: user.group_id().map(|g| g.to_string()),
                attributes,
            });
        }
        Ok(AccountPage {
            accounts,
            next_page: next_page(&reply, page, rows.len()),
            total: header_number(&reply, "Total"),
        })
    }

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let service = &request.service;
        let id = self.require_user_id(service)?;
        let what = format!("read ComputeStacks user {id} for the client area");
        let reply = self.send(
            &what,
            &self.api("GET", &format!("users/{id}?include=balance")),
        )?;
        if record_missing(&reply) {
            return Err(Self::gone(service, id));
        }
        let reply = self.check(&what, reply)?;
        let user = decode_user(&what, &reply)?;
        let symbol = user.currency_symbol.clone().unwrap_or_default();
        let row = |label: &str, value: String| PanelRow {
            label: label.to_string(),
            value,
        };
        let mut rows = vec![
            row("Account", user.email().to_string()),
            row(
                "State",
                match user.active {
                    Some(true) => "Active".to_string(),
                    Some(false) => "Suspended".to_string(),
                    None => "Unknown".to_string(),
                },
            ),
        ];
        if let Some(group) = user.user_group.as_ref().and_then(|g| g.name.clone()) {
            rows.push(row("Plan", group));
        }
        if let Some(rate) = decimal(&user.run_rate) {
            rows.push(row(
                "Run rate",
                format!("{symbol}{} per month", money(&rate)),
            ));
        }
        if let Some(balance) = decimal(&user.unprocessed_usage) {
            rows.push(row(
                "Usage not yet billed",
                format!("{symbol}{}", money(&balance)),
            ));
        }
        if let Some(n) = user.services.get("deployments").and_then(Value::as_u64) {
            rows.push(row("Projects", n.to_string()));
        }
        Ok(Panel {
            title: "ComputeStacks account".to_string(),
            rows,
            links: vec![PanelLink {
                label: "Control panel".to_string(),
                url: format!("{}/", self.settings.url),
            }],
        })
    }

    fn admin_actions(&self, request: ServiceRequest) -> Result<Vec<AdminAction>, ModuleError> {
        let target = request
            .service
            .remote_id
            .as_deref()
            .map(|id| format!("ComputeStacks user {id}"))
            .unwrap_or_else(|| "the ComputeStacks user".to_string());
        Ok(vec![AdminAction {
            name: "delete_account".to_string(),
            label: "Delete the ComputeStacks account".to_string(),
            confirm: Some(format!(
                "Delete {target} and everything it owns on the controller? This cannot be undone."
            )),
        }])
    }

    fn run_action(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        match request.action.as_deref() {
            Some("delete_account") => {}
            other => {
                return Err(ModuleError::permanent(format!(
                    "unknown action {other:?} for the computestacks module: the only action is delete_account"
                )))
            }
        }
        let Some(id) = self.user_id(service)? else {
            return Ok(Self::state_done(
                "deleted",
                &[("cs_deleted", json!(true))],
                format!(
                    "service #{} has no ComputeStacks user: nothing to delete",
                    service.id
                ),
            ));
        };
        let what = format!("delete ComputeStacks user {id} (service #{})", service.id);
        let reply = self.send(&what, &self.api("DELETE", &format!("users/{id}")))?;
        if record_missing(&reply) {
            return Ok(Self::state_done(
                "deleted",
                &[("cs_deleted", json!(true))],
                format!("ComputeStacks user {id} is already gone"),
            ));
        }
        self.check(&what, reply)?;
        self.host
            .warn(&format!("delete_account: ComputeStacks user {id} deleted"));
        Ok(Self::state_done(
            "deleted",
            &[("cs_deleted", json!(true))],
            format!("ComputeStacks user {id} deleted"),
        ))
    }
}

export_module!(ComputeStacks);

#[cfg(test)]
mod tests;
