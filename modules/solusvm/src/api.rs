//! The SolusVM REST client: the shapes of the panel's answers, the mapping of its
//! status codes to error kinds, and the calls that send, decode and page through them.

use provisor_module_api::serde_json::Value;
use provisor_module_api::*;
use serde::Deserialize;

use crate::*;

/// The most list pages read in one call: a bound, not an expectation.
pub(crate) const MAX_PAGES: u64 = 10_000;

// ---------------------------------------------------------------------------------
// Remote shapes (lenient: unknown fields are ignored, missing ones default).

#[derive(Deserialize)]
pub(crate) struct Data<T> {
    pub(crate) data: T,
}

#[derive(Deserialize)]
pub(crate) struct Page<T> {
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) meta: Option<Meta>,
}

#[derive(Deserialize)]
pub(crate) struct Meta {
    #[serde(default)]
    pub(crate) current_page: Option<u64>,
    #[serde(default)]
    pub(crate) last_page: Option<u64>,
    #[serde(default)]
    pub(crate) total: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) billing_user_id: Option<u64>,
    #[serde(default)]
    pub(crate) roles: Vec<Value>,
}

impl User {
    pub(crate) fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| {
            r.get("name")
                .and_then(Value::as_str)
                .or_else(|| r.as_str())
                .is_some_and(|n| n.eq_ignore_ascii_case("admin"))
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PlanRef {
    #[serde(default)]
    pub(crate) name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Ip {
    pub(crate) ip: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Ips {
    #[serde(default)]
    ipv4: Vec<Ip>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Server {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) is_suspended: bool,
    #[serde(default)]
    pub(crate) plan: Option<PlanRef>,
    #[serde(default)]
    pub(crate) ip_addresses: Option<Ips>,
}

impl Server {
    pub(crate) fn ip(&self) -> Option<&str> {
        self.ip_addresses
            .as_ref()
            .and_then(|i| i.ipv4.first())
            .map(|i| i.ip.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UsageRow {
    pub(crate) server_id: u64,
    #[serde(default)]
    pub(crate) server_uuid: String,
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) hours: u64,
    pub(crate) tokens_per_hour: u64,
    pub(crate) tokens_per_month: u64,
}

#[derive(Deserialize)]
pub(crate) struct MintedToken {
    pub(crate) access_token: String,
}

/// Maps a panel answer to an error kind, with the panel's `message` in the text and
/// its body in `detail`. 2xx passes.
pub(crate) fn check(
    what: &str,
    endpoint: &str,
    reply: HttpResponse,
) -> Result<HttpResponse, ModuleError> {
    let kind = match reply.status {
        200..=299 => return Ok(reply),
        401 | 403 => ErrorKind::InvalidConfig,
        408 | 429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    };
    let said = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let fix = match reply.status {
        401 | 403 => " — check api_token (an admin's API token from SolusVM) and url in the handler's settings",
        429 => " — the panel is rate limiting; it will be retried",
        500..=599 => " — the panel failed; it will be retried",
        _ => "",
    };
    let body: String = reply.body.chars().take(500).collect();
    Err(ModuleError::new(
        kind,
        format!(
            "{what}: SolusVM answered {} to {endpoint}{said}{fix}",
            reply.status
        ),
    )
    .with_detail(body))
}

/// Decodes a 2xx body; garbage names the endpoint and is transient (a proxy's page or a
/// PHP warning in front of the JSON usually passes).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    endpoint: &str,
    reply: &HttpResponse,
) -> Result<T, ModuleError> {
    serde_json::from_str(&reply.body).map_err(|e| {
        let shown: String = reply.body.chars().take(300).collect();
        ModuleError::transient(format!(
            "{what}: SolusVM answered {} to {endpoint} with a body that is not the expected JSON ({e}); \
             check that url points at the SolusVM panel and not at a proxy or login page",
            reply.status
        ))
        .with_detail(shown)
    })
}

impl SolusVm {
    pub(crate) fn endpoint(method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or(path);
        format!("{method} /api/v1/{path}")
    }

    /// Sends `method path` to the API with the token, JSON and the timeout; a transport
    /// failure names the endpoint.
    pub(crate) fn send(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse, ModuleError> {
        let mut request = HttpRequest::new(method, format!("{}/api/v1/{path}", self.settings.url))
            .bearer(&self.settings.api_token)
            .header("Accept", "application/json")
            .timeout_ms(self.settings.timeout_ms);
        if let Some(body) = body {
            request = request.json(body)?;
            // The generated password of a new user never reaches the module log.
            if let Some(password) = body.get("password").and_then(Value::as_str) {
                request = request.secret(password);
            }
        }
        // Nor does a minted login token.
        if path.ends_with("/tokens") {
            request = request.secret_response();
        }
        self.host.http(&request).map_err(|e| ModuleError {
            message: format!(
                "{what}: no answer from SolusVM to {}: {}",
                Self::endpoint(method, path),
                e.message
            ),
            ..e
        })
    }

    /// Sends, checks the status and decodes the body.
    pub(crate) fn call<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ModuleError> {
        let endpoint = Self::endpoint(method, path);
        let reply = check(what, &endpoint, self.send(what, method, path, body)?)?;
        decode(what, &endpoint, &reply)
    }

    /// Every item of a paged list (`path` may carry a query), page by page until
    /// `meta.last_page`.
    fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        mut stop: impl FnMut(&T) -> bool,
    ) -> Result<Vec<T>, ModuleError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let got: Page<T> = self.call(what, "GET", &format!("{path}{sep}page={page}"), None)?;
            let found = got.data.iter().any(&mut stop);
            out.extend(got.data);
            let last = got.meta.as_ref().and_then(|m| m.last_page).unwrap_or(page);
            if found || page >= last || page >= MAX_PAGES {
                return Ok(out);
            }
            page += 1;
        }
    }

    pub(crate) fn find_user_by_email(&self, email: &str) -> Result<Option<User>, ModuleError> {
        let path = format!("users?filter%5Bsearch%5D={}", url_encode(email));
        let same = |u: &User| u.email.eq_ignore_ascii_case(email);
        let users = self.all_pages("look up the client's SolusVM user", &path, same)?;
        Ok(users.into_iter().find(|u| same(u)))
    }

    pub(crate) fn get_user(&self, what: &str, id: u64) -> Result<Option<User>, ModuleError> {
        let path = format!("users/{id}");
        let reply = self.send(what, "GET", &path, None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        let endpoint = Self::endpoint("GET", &path);
        let got: Data<User> = decode(what, &endpoint, &check(what, &endpoint, reply)?)?;
        Ok(Some(got.data))
    }

    pub(crate) fn servers_of(&self, what: &str, user_id: u64) -> Result<Vec<Server>, ModuleError> {
        let path = format!("servers?filter%5Buser_id%5D={user_id}");
        self.all_pages(what, &path, |_: &Server| false)
    }
}
