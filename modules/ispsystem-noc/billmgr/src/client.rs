//! The handler's settings and the billmgr client: one POST per call with
//! `authinfo=user:pass&func=...&out=xml`, the reply read as XML, failures mapped to the
//! error kinds the host acts on.

use std::fmt;

use provisor_module_api::serde_json::{json, Value};
use provisor_module_api::{Host, HttpRequest, ModuleError};
use serde::Deserialize;

use crate::xml::Elem;

/// ISPsystem's billing API, as preset by ISPsystem's own WHMCS partner addon.
pub const DEFAULT_URL: &str = "https://api.ispsystem.com/manager/billmgr";
/// Where an admin's browser logs in with a `session.newkey` key.
pub const DEFAULT_SSO_URL: &str = "https://my.ispsystem.com/billmgr";

fn default_url() -> String {
    DEFAULT_URL.to_string()
}
fn default_sso_url() -> String {
    DEFAULT_SSO_URL.to_string()
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_key_poll_secs() -> u32 {
    30
}
fn default_key_max_polls() -> u32 {
    20
}

/// A handler's connection settings: the reseller account at ISPsystem (the same for
/// `ispsystem-noc` and `billmanager-noc-addon`).
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
    /// Per-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Seconds between two reads of a license that has no key yet.
    #[serde(default = "default_key_poll_secs")]
    pub key_poll_secs: u32,
    /// Reads of a keyless license before a person is asked to look.
    #[serde(default = "default_key_max_polls")]
    pub key_max_polls: u32,
    /// The browser login page admin SSO links point to.
    #[serde(default = "default_sso_url")]
    pub sso_url: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("project", &self.project)
            .field("timeout_ms", &self.timeout_ms)
            .field("key_poll_secs", &self.key_poll_secs)
            .field("key_max_polls", &self.key_max_polls)
            .field("sso_url", &self.sso_url)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and drops a trailing `/` from the URLs.
    pub fn validate(mut self) -> Result<Self, ModuleError> {
        self.url = check_base_url("url", &self.url, DEFAULT_URL)?;
        self.sso_url = check_base_url("sso_url", &self.sso_url, DEFAULT_SSO_URL)?;
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
        if self.timeout_ms < 1000 || self.key_poll_secs == 0 || self.key_max_polls == 0 {
            return Err(ModuleError::invalid_config(
                "timeout_ms must be at least 1000, key_poll_secs and key_max_polls at least 1",
            ));
        }
        Ok(self)
    }

    /// The JSON Schema of these settings (for a module's manifest).
    pub fn schema() -> Value {
        json!({
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
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1000,
                    "default": 30000,
                    "description": "Per-request timeout (milliseconds)"
                },
                "key_poll_secs": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 30,
                    "description": "Seconds between two reads of a new license that has no key yet"
                },
                "key_max_polls": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 20,
                    "description": "Reads of a keyless license before the order becomes a task for staff"
                },
                "sso_url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": "^https?://[^/\\s]",
                    "default": DEFAULT_SSO_URL,
                    "description": "The billing's browser login page that admin SSO links open"
                }
            }
        })
    }
}

/// Accepts `http(s)://host[...]` and returns it without a trailing `/`.
fn check_base_url(field: &str, url: &str, default: &str) -> Result<String, ModuleError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(ModuleError::invalid_config(format!(
            "{field} {url:?} is not an http(s) address: leave it out for {default}, or give the full URL"
        ))),
    }
}

/// An error document from billmgr: `<doc><error type=".." object=".."><msg>..</msg></error></doc>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// `error@type` (`auth`, `balance`, `missing`, `value`, `access`, …).
    pub kind: String,
    /// `error@object`.
    pub object: String,
    /// `<msg>`.
    pub msg: String,
}

impl RemoteError {
    /// The remote's words, for `ModuleError::detail`.
    pub fn detail(&self) -> String {
        format!(
            "error type={} object={}: {}",
            self.kind, self.object, self.msg
        )
    }

    /// The module error for a call that failed this way (`what` names the call).
    pub fn into_module_error(self, what: &str, username: &str) -> ModuleError {
        let detail = self.detail();
        let err = match self.kind.as_str() {
            "auth" => ModuleError::invalid_config(format!(
                "{what}: ISPsystem refused the reseller account {username:?}: check the handler's username and password"
            )),
            "balance" => ModuleError::permanent(format!(
                "{what}: the reseller balance at ISPsystem is too low ({}): top it up, then retry",
                self.msg
            )),
            _ => ModuleError::permanent(format!("{what}: ISPsystem answered: {}", self.msg)),
        };
        err.with_detail(detail)
    }
}

/// The billmgr API, through the host's HTTP service.
pub struct Client<'a> {
    host: &'a Host,
    settings: &'a Settings,
}

impl<'a> Client<'a> {
    /// A client for these settings.
    pub fn new(host: &'a Host, settings: &'a Settings) -> Self {
        Client { host, settings }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        self.settings
    }

    /// Calls `func` and returns the reply's `<doc>`, or the error document billmgr
    /// answered. Transport failures, HTTP errors and garbage are `Err`.
    pub fn call_raw(
        &self,
        what: &str,
        func: &str,
        params: &[(&str, &str)],
    ) -> Result<Result<Elem, RemoteError>, ModuleError> {
        let authinfo = format!("{}:{}", self.settings.username, self.settings.password);
        let mut fields: Vec<(&str, &str)> =
            vec![("authinfo", &authinfo), ("func", func), ("out", "xml")];
        fields.extend_from_slice(params);
        let mut request = HttpRequest::post(self.settings.url.clone())
            .form(&fields)
            .header("Accept", "text/xml")
            .timeout_ms(self.settings.timeout_ms);
        // A one-time login key (`session.newkey`) never reaches the module log.
        for (name, value) in params {
            if *name == "key" {
                request = request.secret(*value);
            }
        }
        let reply = self.host.http(&request).map_err(|e| {
            ModuleError::transient(format!(
                "{what}: ISPsystem's billing ({} func={func}) did not answer: {}",
                self.settings.url, e.message
            ))
        })?;
        let shown = || reply.body.chars().take(300).collect::<String>();
        match reply.status {
            200..=299 => {}
            401 | 403 => {
                return Err(ModuleError::invalid_config(format!(
                    "{what}: {} answered HTTP {} to func={func}: check the handler's url and credentials",
                    self.settings.url, reply.status
                ))
                .with_detail(shown()))
            }
            404 => {
                return Err(ModuleError::invalid_config(format!(
                    "{what}: {} answered HTTP 404 to func={func}: the handler's url is not ISPsystem's billing API",
                    self.settings.url
                ))
                .with_detail(shown()))
            }
            408 | 429 | 500..=599 => {
                return Err(ModuleError::transient(format!(
                    "{what}: ISPsystem's billing answered HTTP {} to func={func}",
                    reply.status
                ))
                .with_detail(shown()))
            }
            other => {
                return Err(ModuleError::permanent(format!(
                    "{what}: ISPsystem's billing answered HTTP {other} to func={func}"
                ))
                .with_detail(shown()))
            }
        }
        let doc = match Elem::parse(&reply.body) {
            Ok(doc) if doc.name == "doc" => doc,
            Ok(other) => {
                return Err(ModuleError::transient(format!(
                    "{what}: ISPsystem's billing answered func={func} with <{}>, not a billmgr <doc>",
                    other.name
                ))
                .with_detail(shown()))
            }
            Err(e) => {
                return Err(ModuleError::transient(format!(
                    "{what}: ISPsystem's billing answered func={func} with something that is not XML ({e})"
                ))
                .with_detail(shown()))
            }
        };
        if let Some(error) = doc.child("error") {
            return Ok(Err(RemoteError {
                kind: error.attr("type").unwrap_or_default().to_string(),
                object: error.attr("object").unwrap_or_default().to_string(),
                msg: error
                    .text_of("msg")
                    .filter(|m| !m.is_empty())
                    .unwrap_or(error.text.as_str())
                    .to_string(),
            }));
        }
        Ok(Ok(doc))
    }

    /// Calls `func`; an error document becomes a [`ModuleError`] (see
    /// [`RemoteError::into_module_error`]).
    pub fn call(
        &self,
        what: &str,
        func: &str,
        params: &[(&str, &str)],
    ) -> Result<Elem, ModuleError> {
        self.call_raw(what, func, params)?
            .map_err(|e| e.into_module_error(what, &self.settings.username))
    }
}
