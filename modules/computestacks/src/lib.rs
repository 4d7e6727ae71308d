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

mod text;

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use text::{decimal, format_time, money, parse_time};

/// Canonical decimal text for money: digits, optionally a point and more digits.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// The API version sent in the `Accept` header when the settings name none (the current
/// one, and the controller's default).
pub const DEFAULT_API_VERSION: u32 = 80;

/// The oldest API version the controller still serves (40 and 50 answer 422).
pub const MIN_API_VERSION: u32 = 51;

/// The per-request timeout when the settings name none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The external id the module gives the user of service `id`.
pub fn external_id(service_id: i64) -> String {
    format!("provisor-{service_id}")
}

/// Usage rows asked for per page (the controller's default is 30).
const USAGE_PER_PAGE: u32 = 100;
/// A bound on usage pages read for one period, against a reply that never ends.
const MAX_USAGE_PAGES: u32 = 1_000;

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

/// A controller user as the module reads it (every view has these; extra fields are
/// ignored, missing ones default).
#[derive(Debug, Clone, Default, Deserialize)]
struct CsUser {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    fname: Option<String>,
    #[serde(default)]
    lname: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    is_admin: Option<bool>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    labels: Value,
    #[serde(default)]
    user_group: Option<Named>,
    #[serde(default)]
    user_group_id: Option<u64>,
    #[serde(default)]
    currency_symbol: Option<String>,
    #[serde(default)]
    run_rate: Value,
    #[serde(default)]
    unprocessed_usage: Value,
    #[serde(default)]
    services: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Named {
    id: Option<u64>,
    #[serde(default)]
    name: Option<String>,
}

impl CsUser {
    fn email(&self) -> &str {
        self.email.as_deref().unwrap_or("")
    }

    fn name(&self) -> String {
        let parts = [self.fname.as_deref(), self.lname.as_deref()];
        parts
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn state(&self) -> &'static str {
        match self.active {
            Some(true) => "active",
            Some(false) => "suspended",
            None => "unknown",
        }
    }

    /// Whether this user is the one Provisor made for `service_id`.
    fn belongs_to(&self, service_id: i64) -> bool {
        if self.external_id.as_deref() == Some(external_id(service_id).as_str()) {
            return true;
        }
        match self.labels.pointer("/provisor/service_id") {
            Some(Value::Number(n)) => n.as_i64() == Some(service_id),
            Some(Value::String(s)) => s.trim() == service_id.to_string(),
            _ => false,
        }
    }

    /// The user group's id: `user_group.id` in list and show views, `user_group_id` in
    /// the create view.
    fn group_id(&self) -> Option<u64> {
        self.user_group
            .as_ref()
            .and_then(|g| g.id)
            .or(self.user_group_id)
    }
}

/// `POST .../user_sso`'s answer.
#[derive(Debug, Deserialize)]
struct SsoToken {
    username: String,
    token: String,
    /// RFC 3339 text or Unix seconds (the record does not say which).
    #[serde(default)]
    expires: Option<Value>,
}

/// The SSO token's expiry in Unix seconds, from RFC 3339 text (`"2026-11-30T12:01:00Z"`)
/// or Unix seconds (`1796040060` or `"1796040060"`); `None` when it is neither.
fn sso_expiry(expires: &Value) -> Option<i64> {
    match expires {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        Value::String(s) => {
            let t = s.trim();
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                text::parse_time(t)
            }
        }
        _ => None,
    }
}

/// The controller's answer to a route it does not know: 404 with
/// `{"errors":["Unknown API Call..."]}` (`api_missing_route.rb`). A missing record is a
/// 404 too, with an empty body (`head :not_found`) or its own words.
fn unknown_route(reply: &HttpResponse) -> bool {
    reply.status == 404
        && remote_errors(&reply.body)
            .to_ascii_lowercase()
            .contains("unknown api call")
}

/// A 404 that means the record (the user) is not there, not that the call is unknown.
fn record_missing(reply: &HttpResponse) -> bool {
    reply.status == 404 && !unknown_route(reply)
}

/// The module: one instance per handler.
pub struct ComputeStacks {
    host: Host,
    settings: Settings,
    warned_deprecated: AtomicBool,
}

/// The `errors` array of a controller error body, joined; else the start of the body.
fn remote_errors(body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .and_then(|e| match e {
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
            ),
            Value::String(s) => Some(vec![s]),
            _ => None,
        });
    match parsed {
        Some(list) if !list.is_empty() => list.join("; "),
        _ => excerpt(body, 200),
    }
}

fn excerpt(body: &str, n: usize) -> String {
    let t = body.trim();
    let mut s: String = t.chars().take(n).collect();
    if t.chars().count() > n {
        s.push('…');
    }
    s
}

/// Prefixes an error's message with what was being done.
fn context(what: &str, err: ModuleError) -> ModuleError {
    ModuleError {
        message: format!("{what}: {}", err.message),
        ..err
    }
}

/// Decodes a JSON body; garbage is a transient error naming the call.
fn decode<T: DeserializeOwned>(what: &str, reply: &HttpResponse) -> Result<T, ModuleError> {
    serde_json::from_str(&reply.body).map_err(|e| {
        ModuleError::transient(format!(
            "{what}: ComputeStacks answered {} with a body that is not the expected JSON ({e})",
            reply.status
        ))
        .with_detail(excerpt(&reply.body, 300))
    })
}

/// A user from a body that is `{"user": {...}}` (show, create) or the bare object.
/// ASSUMPTION: the create view's root is not documented; both shapes are read.
fn decode_user(what: &str, reply: &HttpResponse) -> Result<CsUser, ModuleError> {
    let value: Value = decode(what, reply)?;
    let inner = match value.get("user") {
        Some(u) if u.is_object() => u.clone(),
        _ => value,
    };
    serde_json::from_value(inner).map_err(|e| {
        ModuleError::transient(format!(
            "{what}: ComputeStacks answered {} with a user object this module cannot read ({e})",
            reply.status
        ))
        .with_detail(excerpt(&reply.body, 300))
    })
}

fn header_number(reply: &HttpResponse, name: &str) -> Option<u64> {
    reply.header(name).and_then(|v| v.trim().parse().ok())
}

/// The page after `page`, from the `Total` and `Per-Page` headers; without them, the
/// next page is asked for until one comes back empty.
fn next_page(reply: &HttpResponse, page: u32, items_on_page: usize) -> Option<u32> {
    if items_on_page == 0 {
        return None;
    }
    match (
        header_number(reply, "Total"),
        header_number(reply, "Per-Page"),
    ) {
        (Some(total), Some(per)) if per > 0 => (u64::from(page) * per < total).then_some(page + 1),
        _ => Some(page + 1),
    }
}

impl ComputeStacks {
    /// A request to `/api/admin/{path}` with the credentials, the API version and the
    /// timeout.
    fn api(&self, method: &str, path: &str) -> HttpRequest {
        HttpRequest::new(method, format!("{}/api/admin/{path}", self.settings.url))
            .basic_auth(&self.settings.api_key, &self.settings.api_secret)
            .header(
                "Accept",
                format!(
                    "application/json; api_version={}",
                    self.settings.api_version
                ),
            )
            .timeout_ms(self.settings.timeout_ms)
    }

    /// Sends a request; transport failures (transient) name `what`.
    fn send(&self, what: &str, request: &HttpRequest) -> Result<HttpResponse, ModuleError> {
        let reply = self.host.http(request).map_err(|e| context(what, e))?;
        if reply.header("API-Deprecated") == Some("true")
            && !self.warned_deprecated.swap(true, Ordering::Relaxed)
        {
            self.host.warn(&format!(
                "ComputeStacks says api_version {} is deprecated: set api_version to {DEFAULT_API_VERSION} in handler settings",
                self.settings.api_version
            ));
        }
        Ok(reply)
    }

    /// Maps a non-2xx answer to an error of the right kind.
    fn check(&self, what: &str, reply: HttpResponse) -> Result<HttpResponse, ModuleError> {
        let status = reply.status;
        if (200..300).contains(&status) {
            return Ok(reply);
        }
        let said = remote_errors(&reply.body);
        let err = match status {
            401 | 403 => ModuleError::invalid_config(format!(
                "{what}: ComputeStacks refused the API credentials ({status} {said}): check api_key and api_secret in the handler settings, and that the credential belongs to an admin user"
            )),
            404 if unknown_route(&reply) => ModuleError::invalid_config(format!(
                "{what}: ComputeStacks does not know this API call (404 {said}): check url (the controller's base URL, without /api) and api_version in the handler settings; the controller may lack this endpoint. Nothing is known about the user from this answer"
            )),
            422 if said.contains("unsupported version") => ModuleError::invalid_config(format!(
                "{what}: ComputeStacks does not serve api_version {} ({said}): set api_version to {DEFAULT_API_VERSION} or leave it out",
                self.settings.api_version
            )),
            429 => {
                let limit = reply
                    .header("RateLimit-Limit")
                    .map(|l| format!(", limit {l} requests per window"))
                    .unwrap_or_default();
                let reset = header_number(&reply, "RateLimit-Reset")
                    .and_then(|r| i64::try_from(r).ok())
                    .map(|r| format!(", window resets at {}", format_time(r)))
                    .unwrap_or_default();
                ModuleError::transient(format!(
                    "{what}: ComputeStacks throttled the request (429{limit}{reset}); a later attempt may succeed"
                ))
            }
            408 | 500..=599 => ModuleError::transient(format!(
                "{what}: ComputeStacks answered {status} ({said}); a later attempt may succeed"
            )),
            _ => ModuleError::permanent(format!(
                "{what}: ComputeStacks answered {status}: {said}"
            )),
        };
        Err(err.with_detail(format!("HTTP {status}: {}", excerpt(&reply.body, 500))))
    }

    /// `GET /api/admin/users/{key}[?flags]`: `None` on 404.
    fn find_user(&self, what: &str, key: &str, query: &str) -> Result<Option<CsUser>, ModuleError> {
        let path = format!("users/{}{query}", url_encode(key));
        let reply = self.send(what, &self.api("GET", &path))?;
        if record_missing(&reply) {
            return Ok(None);
        }
        let reply = self.check(what, reply)?;
        decode_user(what, &reply).map(Some)
    }

    fn find_by_external_id(&self, ext: &str) -> Result<Option<CsUser>, ModuleError> {
        self.find_user(
            &format!("look up the user with external id {ext}"),
            ext,
            "?find_by_external_id=true",
        )
    }

    fn find_by_email(&self, email: &str) -> Result<Option<CsUser>, ModuleError> {
        let key = base64(email.trim().to_lowercase().as_bytes());
        self.find_user(
            &format!("look up the user with e-mail {email}"),
            &key,
            "?find_by_email=true",
        )
    }

    /// The controller's user id for a service: its remote id, or (for a service whose
    /// remote id was never stored) the user with its external id.
    fn user_id(&self, service: &ServiceInfo) -> Result<Option<u64>, ModuleError> {
        if let Some(remote) = service.remote_id.as_deref() {
            return match remote.trim().parse::<u64>() {
                Ok(id) => Ok(Some(id)),
                Err(_) => Err(ModuleError::permanent(format!(
                    "service #{} has remote id {remote:?}, which is not a ComputeStacks user id: correct it to the user's numeric id",
                    service.id
                ))),
            };
        }
        Ok(self
            .find_by_external_id(&external_id(service.id))?
            .map(|u| u.id))
    }

    fn require_user_id(&self, service: &ServiceInfo) -> Result<u64, ModuleError> {
        self.user_id(service)?.ok_or_else(|| {
            ModuleError::permanent(format!(
                "service #{} has no ComputeStacks user: no remote id, and no user with external id {}",
                service.id,
                external_id(service.id)
            ))
        })
    }

    /// The user group a new account joins, if any is configured.
    fn user_group(&self, plan: &PlanInfo) -> Result<Option<u64>, ModuleError> {
        let settings: PlanSettings = if plan.settings.is_null() {
            PlanSettings::default()
        } else {
            serde_json::from_value(plan.settings.clone()).map_err(|e| {
                ModuleError::invalid_config(format!(
                    "plan {:?}: its settings do not fit the computestacks plan schema ({e})",
                    plan.name
                ))
            })?
        };
        let template = match plan.template.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(t.parse::<u64>().map_err(|_| {
                ModuleError::invalid_config(format!(
                    "plan {:?} has template {t:?}: for ComputeStacks the template is a user group id (a number), or leave it empty",
                    plan.name
                ))
            })?),
        };
        Ok(settings
            .user_group_id
            .or(template)
            .or(self.settings.user_group_id))
    }

    fn done(&self, user: &CsUser, message: String) -> Outcome {
        let mut attributes = Map::new();
        attributes.insert("username".into(), json!(user.email()));
        if let Some(ext) = &user.external_id {
            attributes.insert("external_id".into(), json!(ext));
        }
        if let Some(group) = user.group_id() {
            attributes.insert("user_group_id".into(), json!(group));
        }
        attributes.insert("cs_state".into(), json!(user.state()));
        attributes.insert("panel_url".into(), json!(format!("{}/", self.settings.url)));
        Outcome::Done {
            remote_id: Some(user.id.to_string()),
            attributes,
            message: Some(message),
        }
    }

    fn state_done(state: &str, extra: &[(&str, Value)], message: String) -> Outcome {
        let mut attributes = Map::new();
        attributes.insert("cs_state".into(), json!(state));
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        Outcome::Done {
            remote_id: None,
            attributes,
            message: Some(message),
        }
    }

    fn create_user(&self, request: &LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let ext = external_id(service.id);
        // Every attempt looks first: an earlier one may have made the user and lost
        // the reply.
        if let Some(user) = self.find_by_external_id(&ext)? {
            self.host.info(&format!(
                "create: adopting ComputeStacks user {} ({}), made earlier for {ext}",
                user.id,
                user.email()
            ));
            return Ok(self.done(
                &user,
                format!(
                    "adopted ComputeStacks user {} ({}) made by an earlier attempt",
                    user.id,
                    user.email()
                ),
            ));
        }
        let client = &service.client;
        let email = client.email.trim().to_lowercase();
        if email.is_empty() {
            return Err(ModuleError::permanent(format!(
                "client #{} has no e-mail address, and every ComputeStacks user needs a unique one: add it to the client and retry",
                client.id
            )));
        }
        let name = client.name.trim();
        // ASSUMPTION: the controller requires both names; a one-word name fills both,
        // no name at all uses the e-mail.
        let (fname, lname) = match name.split_once(char::is_whitespace) {
            Some((f, l)) if !l.trim().is_empty() => (f.to_string(), l.trim().to_string()),
            _ if !name.is_empty() => (name.to_string(), name.to_string()),
            _ => (email.clone(), email.clone()),
        };
        let mut user = json!({
            "fname": fname,
            "lname": lname,
            "email": email,
            "external_id": ext,
            "skip_email_confirm": true,
            "merge_labels": {"provisor": {"client_id": client.id, "service_id": service.id}},
        });
        let currency = client.currency.trim();
        if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            user["currency"] = json!(currency.to_uppercase());
        }
        let country = client.country.trim();
        if country.len() == 2 && country != "ZZ" {
            user["country"] = json!(country.to_uppercase());
        }
        if let Some(group) = self.user_group(&service.plan)? {
            user["user_group_id"] = json!(group);
        }
        let what = format!("create the ComputeStacks user for service #{}", service.id);
        let reply = self.send(
            &what,
            // The create view carries the user's sign-on `auth_token`: the host keeps
            // the body out of the module log and redacts its values from this call's
            // later log lines and errors.
            &self
                .api("POST", "users")
                .json(&json!({ "user": user }))?
                .secret_response(),
        )?;
        if reply.status == 422 {
            let said = remote_errors(&reply.body);
            if said.contains("Email has already been taken") {
                return self.adopt_taken(service, &email, &said, &reply);
            }
            if said.contains("User group") {
                return Err(ModuleError::invalid_config(format!(
                    "{what}: ComputeStacks refused user group {} ({said}): correct user_group_id in the plan or handler settings (or the plan's template)",
                    user["user_group_id"]
                ))
                .with_detail(excerpt(&reply.body, 500)));
            }
        }
        let reply = self.check(&what, reply)?;
        let created = decode_user(&what, &reply)?;
        self.host.info(&format!(
            "create: made ComputeStacks user {} ({}) with external id {ext}",
            created.id,
            created.email()
        ));
        Ok(self.done(
            &created,
            format!(
                "created ComputeStacks user {} ({})",
                created.id,
                created.email()
            ),
        ))
    }

    /// "Email has already been taken": adopt the user if it is ours, else say whose it is.
    fn adopt_taken(
        &self,
        service: &ServiceInfo,
        email: &str,
        said: &str,
        reply: &HttpResponse,
    ) -> Result<Outcome, ModuleError> {
        let ext = external_id(service.id);
        if let Some(user) = self.find_by_external_id(&ext)? {
            return Ok(self.done(
                &user,
                format!(
                    "adopted ComputeStacks user {} ({}) after \"{said}\"",
                    user.id,
                    user.email()
                ),
            ));
        }
        match self.find_by_email(email)? {
            Some(user) if user.belongs_to(service.id) => {
                self.host.info(&format!(
                    "create: e-mail {email} is taken by our own user {}; adopting it",
                    user.id
                ));
                Ok(self.done(
                    &user,
                    format!("adopted ComputeStacks user {} ({email}), which carries this service's label", user.id),
                ))
            }
            Some(user) => {
                let whose = match (&user.external_id, user.labels.pointer("/provisor/service_id")) {
                    (_, Some(sid)) => format!("Provisor service #{sid}"),
                    (Some(x), None) if !x.is_empty() => format!("external id {x}"),
                    _ => "no external id".to_string(),
                };
                Err(ModuleError::permanent(format!(
                    "e-mail {email} is already used by ComputeStacks user {} ({}, {whose}), which is not this service's: ComputeStacks needs a unique e-mail per user and Provisor makes one user per service. Change the client's e-mail, or adopt that user by completing this task with remote_id = {}",
                    user.id,
                    user.name(),
                    user.id
                ))
                .with_detail(excerpt(&reply.body, 500)))
            }
            None => Err(ModuleError::permanent(format!(
                "e-mail {email} is taken on ComputeStacks by a user the admin API cannot see (a support admin?): change the client's e-mail"
            ))
            .with_detail(excerpt(&reply.body, 500))),
        }
    }

    /// `POST` (suspend) or `DELETE` (resume) `.../suspension`: `false` when the user is gone.
    fn suspension(&self, what: &str, id: u64, suspend: bool) -> Result<bool, ModuleError> {
        let method = if suspend { "POST" } else { "DELETE" };
        let reply = self.send(what, &self.api(method, &format!("users/{id}/suspension")))?;
        if record_missing(&reply) {
            return Ok(false);
        }
        self.check(what, reply)?;
        Ok(true)
    }

    fn gone(service: &ServiceInfo, id: u64) -> ModuleError {
        ModuleError::permanent(format!(
            "ComputeStacks user {id} of service #{} no longer exists (deleted on the controller?): terminate the service, or correct its remote id",
            service.id
        ))
    }

    fn user_rows(what: &str, reply: &HttpResponse, root: &str) -> Result<Vec<Value>, ModuleError> {
        let body: Value = decode(what, reply)?;
        match body.get(root) {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(ModuleError::transient(format!(
                "{what}: ComputeStacks answered {} without a \"{root}\" list",
                reply.status
            ))
            .with_detail(excerpt(&reply.body, 300))),
        }
    }
}

impl Module for ComputeStacks {
    type Settings = Settings;

    fn manifest() -> Manifest {
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
        let service = &request.service;
        let period = |text: &str, which: &str| {
            text::parse_time(text).ok_or_else(|| {
                ModuleError::permanent(format!(
                    "usage for service #{}: the host sent {which} {text:?}, not a YYYY-MM-DD date",
                    service.id
                ))
            })
        };
        let start = period(&request.period_start, "period_start")?;
        let end = period(&request.period_end, "period_end")?;
        let id = self.require_user_id(service)?;
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let what = format!(
                "read usage of ComputeStacks user {id} (GET /api/admin/users/{id}/billing_usages page {page})"
            );
            let path = format!("users/{id}/billing_usages?page={page}&per_page={USAGE_PER_PAGE}");
            let reply = self.send(&what, &self.api("GET", &path))?;
            if record_missing(&reply) {
                return Err(Self::gone(service, id));
            }
            let reply = self.check(&what, reply)?;
            let rows = Self::user_rows(&what, &reply, "billing_usages")?;
            // ASSUMPTION: rows come newest first (`order(created_at: :desc)`) and are
            // recorded after their period starts, so once a whole page was created
            // before the period, no later page holds a row of it.
            let mut all_older = !rows.is_empty();
            for row in &rows {
                let bad = |field: &str| {
                    ModuleError::transient(format!("{what}: a usage row has no readable {field}"))
                        .with_detail(excerpt(&row.to_string(), 300))
                };
                let row_id = match row.get("id") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(bad("id")),
                };
                let ps = row
                    .get("period_start")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time)
                    .ok_or_else(|| bad("period_start"))?;
                let created = row
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time);
                if created.is_none_or(|c| c >= start) {
                    all_older = false;
                }
                if ps < start || ps >= end {
                    continue;
                }
                let pe = row
                    .get("period_end")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time)
                    .ok_or_else(|| bad("period_end"))?;
                let quantity = row.get("qty").and_then(decimal).ok_or_else(|| bad("qty"))?;
                let rate = row.get("rate").and_then(decimal);
                let amount = row.get("total").and_then(decimal);
                let product = row
                    .pointer("/subscription_product/product")
                    .or_else(|| row.get("product"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let product_name = ["name", "label"]
                    .iter()
                    .find_map(|k| product.get(*k).and_then(Value::as_str))
                    .unwrap_or("ComputeStacks usage")
                    .to_string();
                items.push(UsageItem {
                    key: row_id,
                    description: format!(
                        "{product_name}, {} to {}",
                        text::short_time(ps),
                        text::short_time(pe)
                    ),
                    unit: "hour".into(),
                    quantity,
                    rate,
                    amount,
                    details: json!({
                        "period_start": format_time(ps),
                        "period_end": format_time(pe),
                        "rate_period": row.get("rate_period").cloned().unwrap_or(Value::Null),
                        "qty_total": row.get("qty_total").and_then(decimal),
                        "processed": row.get("processed").cloned().unwrap_or(Value::Null),
                        "external_id": row.get("external_id").cloned().unwrap_or(Value::Null),
                        "product_id": product.get("id").cloned().unwrap_or(Value::Null),
                        "subscription_product_id": row.pointer("/subscription_product/id").cloned().unwrap_or(Value::Null),
                        "cs_user_id": id,
                    }),
                });
            }
            match next_page(&reply, page, rows.len()) {
                Some(next) if !all_older && next <= MAX_USAGE_PAGES => page = next,
                Some(_) if !all_older => {
                    return Err(ModuleError::permanent(format!(
                        "read usage of ComputeStacks user {id}: more than {MAX_USAGE_PAGES} pages of usage rows; ask the controller's admin to prune them"
                    )))
                }
                _ => break,
            }
        }
        // Oldest first, as an invoice reads.
        items.reverse();
        Ok(UsageReport { items })
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
            let mut attributes = Map::new();
            attributes.insert("username".into(), json!(user.email()));
            if let Some(ext) = &user.external_id {
                attributes.insert("external_id".into(), json!(ext));
            }
            if let Some(group) = user.group_id() {
                attributes.insert("user_group_id".into(), json!(group));
            }
            if let Some(name) = user.user_group.as_ref().and_then(|g| g.name.clone()) {
                attributes.insert("user_group".into(), json!(name));
            }
            attributes.insert("cs_state".into(), json!(user.state()));
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
            "user_group_id": 3,
            "timeout_ms": 10000
        })
    }

    #[test]
    fn manifest_lists_what_is_implemented() {
        let m = ComputeStacks::manifest();
        assert_eq!(m.name, "computestacks");
        for c in [
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
        ] {
            assert!(m.capabilities.contains(&c), "{c:?}");
        }
        for c in [Capability::ChangePlan, Capability::Renew, Capability::Daily] {
            assert!(!m.capabilities.contains(&c), "{c:?} is not implemented");
        }
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
        assert_eq!(s.timeout_ms, 10_000);

        let minimal = json!({"url": "https://cs.example.com", "api_key": "k", "api_secret": "s"});
        assert!(fits(&schema, &minimal));
        let s = settings(minimal).unwrap();
        assert_eq!(s.api_version, DEFAULT_API_VERSION);
        assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
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
        let mut too_quick = full();
        too_quick["timeout_ms"] = json!(10);
        for bad in [missing_secret, unknown, obsolete, not_a_url, too_quick] {
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

    #[test]
    fn paging_follows_total_and_per_page() {
        let reply = |total: &str, per: &str| HttpResponse {
            status: 200,
            headers: vec![
                ("total".into(), total.into()),
                ("per-page".into(), per.into()),
            ],
            body: String::new(),
        };
        assert_eq!(next_page(&reply("96", "30"), 1, 30), Some(2));
        assert_eq!(next_page(&reply("96", "30"), 3, 30), Some(4));
        assert_eq!(next_page(&reply("96", "30"), 4, 6), None);
        assert_eq!(next_page(&reply("90", "30"), 3, 30), None);
        assert_eq!(
            next_page(&reply("x", "30"), 3, 30),
            Some(4),
            "no usable headers"
        );
        assert_eq!(
            next_page(&reply("96", "30"), 9, 0),
            None,
            "an empty page ends"
        );
    }

    #[test]
    fn a_user_is_ours_by_external_id_or_by_service_label() {
        let mut u = CsUser {
            id: 5,
            ..Default::default()
        };
        assert!(!u.belongs_to(42));
        u.external_id = Some("provisor-42".into());
        assert!(u.belongs_to(42));
        u.external_id = Some("whmcs-9".into());
        u.labels = json!({"provisor": {"service_id": 42}});
        assert!(u.belongs_to(42));
        assert!(!u.belongs_to(43));
        u.labels = json!({"provisor": {"service_id": "42"}});
        assert!(u.belongs_to(42));
    }

    #[test]
    fn garbage_replies_are_transient_errors_that_name_the_call() {
        let reply = |body: &str| HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        };
        for body in [
            "<html>maintenance</html>",
            "{\"user\": {\"id\": \"x\"}}",
            "",
        ] {
            let err = decode_user("look up the user", &reply(body)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Transient, "{body}");
            assert!(
                err.message.starts_with("look up the user: "),
                "{}",
                err.message
            );
        }
        let user = decode_user("x", &reply(r#"{"id": 7, "email": "a@b.c"}"#)).unwrap();
        assert_eq!(
            (user.id, user.email()),
            (7, "a@b.c"),
            "a bare object is read too"
        );
    }

    #[test]
    fn sso_expiry_reads_rfc3339_text_and_unix_seconds() {
        let at = text::parse_time("2026-11-30T12:01:00Z").unwrap();
        for v in [
            json!("2026-11-30T12:01:00Z"),
            json!("2026-11-30T12:01:00.000Z"),
            json!(at),
            json!(at.to_string()),
            json!(at as f64 + 0.5),
        ] {
            assert_eq!(sso_expiry(&v), Some(at), "{v}");
        }
        for v in [json!(""), json!("soon"), json!(null), json!(true)] {
            assert_eq!(sso_expiry(&v), None, "{v}");
        }
    }

    #[test]
    fn a_missing_route_is_not_a_missing_user() {
        let reply = |status: u16, body: &str| HttpResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        };
        let route = reply(
            404,
            r#"{"errors":["Unknown API Call. Please check the documentation."]}"#,
        );
        assert!(unknown_route(&route) && !record_missing(&route));
        for missing in [reply(404, ""), reply(404, r#"{"errors":["Unknown User"]}"#)] {
            assert!(record_missing(&missing) && !unknown_route(&missing));
        }
        assert!(!record_missing(&reply(200, "{}")));
    }

    #[test]
    fn controller_error_bodies_are_read() {
        assert_eq!(
            remote_errors(r#"{"errors":["Email has already been taken","Fname can't be blank"]}"#),
            "Email has already been taken; Fname can't be blank"
        );
        assert_eq!(remote_errors("Throttled\n"), "Throttled");
        assert_eq!(remote_errors(""), "");
    }
}
