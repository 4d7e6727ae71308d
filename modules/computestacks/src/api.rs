//! The controller's admin API client: the shapes of its answers (users, SSO tokens),
//! the reading of its error bodies and pagination headers, and the calls that build,
//! send and check a request and look a user up.

use std::sync::atomic::Ordering;

use provisor_module_api::serde_json::Value;
use provisor_module_api::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::*;

/// A controller user as the module reads it (every view has these; extra fields are
/// ignored, missing ones default).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CsUser {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) fname: Option<String>,
    #[serde(default)]
    pub(crate) lname: Option<String>,
    #[serde(default)]
    pub(crate) active: Option<bool>,
    #[serde(default)]
    pub(crate) is_admin: Option<bool>,
    #[serde(default)]
    pub(crate) external_id: Option<String>,
    #[serde(default)]
    pub(crate) labels: Value,
    #[serde(default)]
    pub(crate) user_group: Option<Named>,
    #[serde(default)]
    pub(crate) user_group_id: Option<u64>,
    #[serde(default)]
    pub(crate) currency_symbol: Option<String>,
    #[serde(default)]
    pub(crate) run_rate: Value,
    #[serde(default)]
    pub(crate) unprocessed_usage: Value,
    #[serde(default)]
    pub(crate) services: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Named {
    pub(crate) id: Option<u64>,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

impl CsUser {
    pub(crate) fn email(&self) -> &str {
        self.email.as_deref().unwrap_or("")
    }

    pub(crate) fn name(&self) -> String {
        let parts = [self.fname.as_deref(), self.lname.as_deref()];
        parts
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn state(&self) -> &'static str {
        match self.active {
            Some(true) => "active",
            Some(false) => "suspended",
            None => "unknown",
        }
    }

    /// Whether this user is the one Provisor made for `service_id`.
    pub(crate) fn belongs_to(&self, service_id: i64) -> bool {
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
    pub(crate) fn group_id(&self) -> Option<u64> {
        self.user_group
            .as_ref()
            .and_then(|g| g.id)
            .or(self.user_group_id)
    }

    /// The attributes every view of the user gives the host: its login, external id,
    /// user group and state.
    pub(crate) fn attributes(&self) -> Map<String, Value> {
        let mut attributes = Map::new();
        attributes.insert("username".into(), json!(self.email()));
        if let Some(ext) = &self.external_id {
            attributes.insert("external_id".into(), json!(ext));
        }
        if let Some(group) = self.group_id() {
            attributes.insert("user_group_id".into(), json!(group));
        }
        attributes.insert("cs_state".into(), json!(self.state()));
        attributes
    }
}

/// `POST .../user_sso`'s answer.
#[derive(Debug, Deserialize)]
pub(crate) struct SsoToken {
    pub(crate) username: String,
    pub(crate) token: String,
    /// RFC 3339 text or Unix seconds (the record does not say which).
    #[serde(default)]
    pub(crate) expires: Option<Value>,
}

/// The SSO token's expiry in Unix seconds, from RFC 3339 text (`"2026-11-30T12:01:00Z"`)
/// or Unix seconds (`1796040060` or `"1796040060"`); `None` when it is neither.
pub(crate) fn sso_expiry(expires: &Value) -> Option<i64> {
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
pub(crate) fn unknown_route(reply: &HttpResponse) -> bool {
    reply.status == 404
        && remote_errors(&reply.body)
            .to_ascii_lowercase()
            .contains("unknown api call")
}

/// A 404 that means the record (the user) is not there, not that the call is unknown.
pub(crate) fn record_missing(reply: &HttpResponse) -> bool {
    reply.status == 404 && !unknown_route(reply)
}

/// The `errors` array of a controller error body, joined; else the start of the body.
pub(crate) fn remote_errors(body: &str) -> String {
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

pub(crate) fn excerpt(body: &str, n: usize) -> String {
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
pub(crate) fn decode<T: DeserializeOwned>(
    what: &str,
    reply: &HttpResponse,
) -> Result<T, ModuleError> {
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
pub(crate) fn decode_user(what: &str, reply: &HttpResponse) -> Result<CsUser, ModuleError> {
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

pub(crate) fn header_number(reply: &HttpResponse, name: &str) -> Option<u64> {
    reply.header(name).and_then(|v| v.trim().parse().ok())
}

/// The page after `page`, from the `Total` and `Per-Page` headers; without them, the
/// next page is asked for until one comes back empty.
pub(crate) fn next_page(reply: &HttpResponse, page: u32, items_on_page: usize) -> Option<u32> {
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
    pub(crate) fn api(&self, method: &str, path: &str) -> HttpRequest {
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
    pub(crate) fn send(
        &self,
        what: &str,
        request: &HttpRequest,
    ) -> Result<HttpResponse, ModuleError> {
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
    pub(crate) fn check(
        &self,
        what: &str,
        reply: HttpResponse,
    ) -> Result<HttpResponse, ModuleError> {
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

    pub(crate) fn find_by_external_id(&self, ext: &str) -> Result<Option<CsUser>, ModuleError> {
        self.find_user(
            &format!("look up the user with external id {ext}"),
            ext,
            "?find_by_external_id=true",
        )
    }

    pub(crate) fn find_by_email(&self, email: &str) -> Result<Option<CsUser>, ModuleError> {
        let key = base64(email.trim().to_lowercase().as_bytes());
        self.find_user(
            &format!("look up the user with e-mail {email}"),
            &key,
            "?find_by_email=true",
        )
    }
}
