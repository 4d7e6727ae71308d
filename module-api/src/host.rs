//! [`Host`]: the typed face of the services the host lends a module instance.
//!
//! A module has no tokio, no reqwest and no clock of its own: it logs, reads the time,
//! keeps small state and talks HTTP through this handle. The host adds the handler,
//! service and operation to every log line, records every HTTP exchange in the module
//! log with secrets redacted, and applies timeouts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use abi_stable::std_types::{RResult, RStr, RString};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use crate::abi::HostServicesBox;
use crate::error::ModuleError;

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// The services the host lends one module instance. Cheap to share by reference;
/// every method may be called from any thread.
pub struct Host {
    inner: HostServicesBox,
}

impl Host {
    /// Wraps the ABI object (the SDK does this for you in `export_module!`).
    pub fn from_abi(inner: HostServicesBox) -> Self {
        Host { inner }
    }

    /// Logs a line with structured fields (a JSON object).
    #[allow(
        clippy::needless_pass_by_value,
        reason = "stable API: callers pass `json!({...})` inline"
    )]
    pub fn log(&self, level: Level, message: &str, fields: Value) {
        let fields = if fields.is_null() {
            String::new()
        } else {
            fields.to_string()
        };
        self.inner.log(
            level as u8,
            RStr::from_str(message),
            RStr::from_str(&fields),
        );
    }
    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message, Value::Null);
    }
    /// Logs at warn level.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message, Value::Null);
    }
    /// Logs at error level.
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message, Value::Null);
    }
    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message, Value::Null);
    }

    /// The host clock as RFC 3339 UTC text (`2026-11-21T23:00:00Z`). Use it instead of
    /// the system clock: billing and daily runs are performed for any date.
    pub fn now(&self) -> String {
        self.inner.now().into_string()
    }

    /// The host's current date, `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        self.now().chars().take(10).collect()
    }

    /// Reads a value from the handler's key-value store.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, ModuleError> {
        match self.inner.kv_get(RStr::from_str(key)) {
            RResult::ROk(v) => Ok(v.into_option().map(RString::into_string)),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }
    /// Reads and decodes a JSON value from the key-value store.
    pub fn kv_get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ModuleError> {
        match self.kv_get(key)? {
            Some(text) => Ok(Some(serde_json::from_str(&text)?)),
            None => Ok(None),
        }
    }
    /// Writes a value durably to the handler's key-value store.
    pub fn kv_put(&self, key: &str, value: &str) -> Result<(), ModuleError> {
        match self
            .inner
            .kv_put(RStr::from_str(key), RStr::from_str(value))
        {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }
    /// Encodes and writes a JSON value to the key-value store.
    pub fn kv_put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), ModuleError> {
        self.kv_put(key, &serde_json::to_string(value)?)
    }
    /// Removes a key (a missing key is fine).
    pub fn kv_delete(&self, key: &str) -> Result<(), ModuleError> {
        match self.inner.kv_delete(RStr::from_str(key)) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }
    /// Every key starting with `prefix`, with its value, in key order.
    pub fn kv_list(&self, prefix: &str) -> Result<BTreeMap<String, String>, ModuleError> {
        match self.inner.kv_list(RStr::from_str(prefix)) {
            RResult::ROk(json) => Ok(serde_json::from_str(&json)?),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }

    /// Atomically replaces the value of `key` with `new` if it is still `expected`
    /// (`None`: absent; a `new` of `None` removes the key). `true` when it swapped.
    /// Two instances racing for the same pooled item cannot both win:
    ///
    /// ```no_run
    /// # fn f(host: &provisor_module_api::Host) -> Result<(), provisor_module_api::ModuleError> {
    /// for (key, value) in host.kv_list("pool/")? {
    ///     if host.kv_swap(&key, Some(&value), None)? {
    ///         // this call, and no other, took the pooled item
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn kv_swap(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, ModuleError> {
        match self.inner.kv_swap(
            RStr::from_str(key),
            expected.map(RStr::from_str).into(),
            new.map(RStr::from_str).into(),
        ) {
            RResult::ROk(swapped) => Ok(swapped),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }

    /// Performs an HTTP request through the host. Any status is a response; only
    /// transport failures (connect, timeout, TLS) are errors, of kind transient.
    pub fn http(&self, request: &HttpRequest) -> Result<HttpResponse, ModuleError> {
        let json = serde_json::to_string(request)?;
        match self.inner.http(RStr::from_str(&json)) {
            RResult::ROk(text) => Ok(serde_json::from_str(&text)?),
            RResult::RErr(e) => Err(ModuleError::from_abi(e)),
        }
    }
}

/// An HTTP request the host performs for a module.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The full URL, query string included.
    pub url: String,
    /// Request headers in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    #[serde(default)]
    pub body: Option<String>,
    /// Overrides the host's default timeout (milliseconds).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Values the host redacts from the module log for this exchange, besides the
    /// handler's secret settings: a password the module generated, a one-time key
    /// (plain, URL-encoded or JSON-escaped; in the URL, headers and both bodies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The response body is a credential (a login token): the module log keeps its
    /// status and headers but not its body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret_response: bool,
}

impl HttpRequest {
    /// A request with a method and URL.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.to_string(),
            url: url.into(),
            ..Default::default()
        }
    }
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }
    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }
    /// `PUT url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }
    /// `PATCH url`.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new("PATCH", url)
    }
    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }
    /// Marks a value as secret: the module log shows `[redacted]` in its place.
    #[must_use]
    pub fn secret(mut self, value: impl Into<String>) -> Self {
        self.secrets.push(value.into());
        self
    }
    /// Keeps the response body out of the module log (it carries a login token).
    #[must_use]
    pub fn secret_response(mut self) -> Self {
        self.secret_response = true;
        self
    }
    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    /// Adds `Authorization: Bearer token`.
    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }
    /// Adds `Authorization: Basic base64(user:password)`.
    #[must_use]
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let encoded = base64(format!("{user}:{password}").as_bytes());
        self.header("Authorization", format!("Basic {encoded}"))
    }
    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json<T: Serialize>(mut self, body: &T) -> Result<Self, ModuleError> {
        self.body = Some(serde_json::to_string(body)?);
        Ok(self.header("Content-Type", "application/json"))
    }
    /// Sets a form body (`application/x-www-form-urlencoded`).
    #[must_use]
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        self.body = Some(form_encode(fields));
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }
    /// Sets the timeout in milliseconds.
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

/// The host's answer to an [`HttpRequest`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers in order (names lowercase).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    #[serde(default)]
    pub body: String,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Decodes the body as JSON; garbage from the remote is a transient error that
    /// names what came back.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ModuleError> {
        serde_json::from_str(&self.body).map_err(|e| {
            let shown: String = self.body.chars().take(200).collect();
            ModuleError::transient(format!(
                "remote answered {} with a body that is not the expected JSON: {e}",
                self.status
            ))
            .with_detail(shown)
        })
    }
}

/// Percent-encodes a query or form value (RFC 3986 unreserved characters kept).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Encodes `k=v&k=v` with [`url_encode`].
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard base64 with padding.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn url_encode_keeps_unreserved_only() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            form_encode(&[("func", "soft.edit"), ("ip", "0.0.0.0")]),
            "func=soft.edit&ip=0.0.0.0"
        );
    }
}
