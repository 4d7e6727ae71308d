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

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;
use serde::{Deserialize, Serialize};

/// Canonical decimal text for money: digits, optionally a point and more digits.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// An ISO 4217 currency code.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// ASSUMPTION: the post-paid usage endpoint (path under `/api/v1/`, `{id}` the user id),
/// asked with `?period_start=YYYY-MM-DD&period_end=YYYY-MM-DD` (end exclusive) and
/// answering `{"data":[{"server_id","server_uuid","name","hours","tokens_per_hour",
/// "tokens_per_month"}]}` with `hours` in started hours. Change it here if the real
/// panel differs.
pub const USAGE_PATH: &str = "users/{id}/usage";

/// ASSUMPTION: where a browser logs in with a one-time token (`{url}` is the panel's
/// base URL, `{token}` the token). The `sso_url` setting overrides it.
pub const DEFAULT_SSO_URL: &str = "{url}/auth/by-token?token={token}";

/// ASSUMPTION: the admin area's page of one user (`{user_id}`). The `admin_url` setting
/// overrides it.
pub const DEFAULT_ADMIN_URL: &str = "{url}/admin/users/{user_id}";

/// The per-request timeout when the settings name none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The most list pages read in one call: a bound, not an expectation.
const MAX_PAGES: u64 = 10_000;

/// A handler's connection settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The panel's base URL (`https://solus.example.com`); the module appends `/api/v1/`.
    pub url: String,
    /// An admin's API token (a secret: `writeOnly` in the schema).
    pub api_token: String,
    /// The price of one token per currency code, as decimal text (`{"EUR": "0.01"}`).
    pub token_price: BTreeMap<String, String>,
    /// Milliseconds one request to the panel may take.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// The limit group new users are put in, if any (a plan's setting wins).
    #[serde(default)]
    pub limit_group_id: Option<u64>,
    /// The role ids new users get (the panel's default role when absent).
    #[serde(default)]
    pub roles: Option<Vec<u64>>,
    /// The language id new users get, if any.
    #[serde(default)]
    pub language_id: Option<u64>,
    /// The client's login URL template (`{url}`, `{token}`).
    #[serde(default)]
    pub sso_url: Option<String>,
    /// The admin's link template (`{url}`, `{user_id}`).
    #[serde(default)]
    pub admin_url: Option<String>,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("api_token", &"[redacted]")
            .field("token_price", &self.token_price)
            .field("timeout_ms", &self.timeout_ms)
            .field("limit_group_id", &self.limit_group_id)
            .field("roles", &self.roles)
            .field("language_id", &self.language_id)
            .field("sso_url", &self.sso_url)
            .field("admin_url", &self.admin_url)
            .finish()
    }
}

impl Settings {
    /// Checks what the JSON Schema cannot, and normalises the URL (no trailing `/`, no
    /// `/api/v1`).
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
            if !is_decimal(price) || price.len() > 30 {
                return Err(ModuleError::invalid_config(format!(
                    "token_price.{currency}: {price:?} is not decimal text (write e.g. \"0.01\")"
                )));
            }
        }
        if !(1_000..=300_000).contains(&self.timeout_ms) {
            return Err(ModuleError::invalid_config(format!(
                "timeout_ms {} is out of range: give 1000 to 300000 milliseconds",
                self.timeout_ms
            )));
        }
        if let Some(t) = &self.sso_url {
            if !t.contains("{token}") {
                return Err(ModuleError::invalid_config(format!(
                    "sso_url {t:?} has no {{token}}: write e.g. \"{DEFAULT_SSO_URL}\""
                )));
            }
        }
        if let Some(t) = &self.admin_url {
            if !t.contains("{user_id}") {
                return Err(ModuleError::invalid_config(format!(
                    "admin_url {t:?} has no {{user_id}}: write e.g. \"{DEFAULT_ADMIN_URL}\""
                )));
            }
        }
        if self.roles.as_ref().is_some_and(Vec::is_empty) {
            return Err(ModuleError::invalid_config(
                "roles is empty: leave it out for the panel's default role, or list role ids",
            ));
        }
        Ok(self)
    }
}

/// A plan's settings for this module (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// The limit group new users of this plan are put in (overrides the handler's).
    #[serde(default)]
    pub limit_group_id: Option<u64>,
}

fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
}

/// Accepts `http(s)://host[...]` and returns it without a trailing `/` or `/api/v1`.
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
            let trimmed = url.trim_end_matches('/');
            let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
            Ok(trimmed.trim_end_matches('/').to_string())
        }
        _ => Err(ModuleError::invalid_config(format!(
            "url {url:?} is not an http(s) address: give the panel's base URL, e.g. https://solus.example.com"
        ))),
    }
}

/// `tokens × price` as decimal text with the price's number of decimals.
pub fn multiply(tokens: u64, price: &str) -> Option<String> {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let product = digits.checked_mul(u128::from(tokens))?.to_string();
    if fraction.is_empty() {
        return Some(product);
    }
    let scale = fraction.len();
    let padded = format!("{product:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Some(format!("{int}.{frac}"))
}

/// Tokens for one VM and month: every started hour at the rate, capped by the monthly
/// price (a cap of 0 means the plan has no monthly price, so no cap).
pub fn tokens_for(hours: u64, tokens_per_hour: u64, tokens_per_month: u64) -> (u64, bool) {
    let hourly = hours.saturating_mul(tokens_per_hour);
    if tokens_per_month > 0 && hourly > tokens_per_month {
        (tokens_per_month, true)
    } else {
        (hourly, false)
    }
}

/// A `YYYY-MM-DD` date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
        let date = Date {
            year: n(0..4)?,
            month: n(5..7)?,
            day: n(8..10)?,
        };
        ((1..=12).contains(&date.month) && (1..=31).contains(&date.day)).then_some(date)
    }

    fn first_of_next_month(self) -> Date {
        if self.month == 12 {
            Date {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        } else {
            Date {
                year: self.year,
                month: self.month + 1,
                day: 1,
            }
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Splits `[start, end)` at calendar-month boundaries: the monthly cap applies per month.
pub fn month_chunks(start: Date, end: Date) -> Vec<(Date, Date)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = from.first_of_next_month().min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// What the handler's store keeps about one SolusVM user (`users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Service id → `active` or `suspended`: the services holding the user.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// The VMs this module suspended (and unsuspend resumes). `None`: never recorded
    /// (an imported service), so unsuspend resumes every suspended VM.
    #[serde(default)]
    pub suspended_vms: Option<Vec<u64>>,
}

/// The state the panel should show for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Some service is active.
    Active,
    /// Services hold the user, all suspended.
    Suspended,
    /// No service holds the user any more.
    Locked,
}

impl Wanted {
    fn status(self) -> &'static str {
        match self {
            Wanted::Active => "active",
            Wanted::Suspended => "suspended",
            Wanted::Locked => "locked",
        }
    }
}

impl UserRecord {
    /// Active while any service is active; suspended while the rest are suspended;
    /// locked when none is left.
    pub fn wanted(&self) -> Wanted {
        if self.services.values().any(|s| s == "active") {
            Wanted::Active
        } else if self.services.is_empty() {
            Wanted::Locked
        } else {
            Wanted::Suspended
        }
    }

    /// The service that bills the user's VMs: the lowest-numbered holder, or `me` when
    /// no service holds the user any more.
    pub fn biller(&self, me: i64) -> i64 {
        self.services
            .keys()
            .filter_map(|k| k.parse::<i64>().ok())
            .min()
            .unwrap_or(me)
    }

    fn others(&self, me: i64) -> Vec<String> {
        let me = me.to_string();
        self.services
            .keys()
            .filter(|k| **k != me)
            .map(|k| format!("#{k}"))
            .collect()
    }
}

/// A random password for a new user. Clients log in through single sign-on and never
/// need it; it only has to be unguessable. (std's `RandomState` is seeded from the
/// operating system's random source; no extra crate needed.)
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(28);
    let mut round = 0u64;
    while out.len() < 24 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(round);
        let mut n = h.finish();
        for _ in 0..8 {
            out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
            n /= ALPHABET.len() as u64;
        }
        round += 1;
    }
    out.truncate(24);
    // Satisfies the usual complexity rules (upper, lower, digit, symbol).
    out.push_str("#7aK");
    out
}

// ---------------------------------------------------------------------------------
// Remote shapes (lenient: unknown fields are ignored, missing ones default).

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    current_page: Option<u64>,
    #[serde(default)]
    last_page: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
struct User {
    id: u64,
    email: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    billing_user_id: Option<u64>,
    #[serde(default)]
    roles: Vec<Value>,
}

impl User {
    fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| {
            r.get("name")
                .and_then(Value::as_str)
                .or_else(|| r.as_str())
                .is_some_and(|n| n.eq_ignore_ascii_case("admin"))
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct PlanRef {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Ip {
    ip: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Ips {
    #[serde(default)]
    ipv4: Vec<Ip>,
}

#[derive(Debug, Clone, Deserialize)]
struct Server {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    is_suspended: bool,
    #[serde(default)]
    plan: Option<PlanRef>,
    #[serde(default)]
    ip_addresses: Option<Ips>,
}

impl Server {
    fn ip(&self) -> Option<&str> {
        self.ip_addresses
            .as_ref()
            .and_then(|i| i.ipv4.first())
            .map(|i| i.ip.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
struct UsageRow {
    server_id: u64,
    #[serde(default)]
    server_uuid: String,
    #[serde(default)]
    name: String,
    hours: u64,
    tokens_per_hour: u64,
    tokens_per_month: u64,
}

#[derive(Deserialize)]
struct MintedToken {
    access_token: String,
}

/// Maps a panel answer to an error kind, with the panel's `message` in the text and
/// its body in `detail`. 2xx passes.
fn check(what: &str, endpoint: &str, reply: HttpResponse) -> Result<HttpResponse, ModuleError> {
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
fn decode<T: serde::de::DeserializeOwned>(
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

/// The module: one instance per handler.
pub struct SolusVm {
    host: Host,
    settings: Settings,
}

impl SolusVm {
    fn endpoint(method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or(path);
        format!("{method} /api/v1/{path}")
    }

    /// Sends `method path` to the API with the token, JSON and the timeout; a transport
    /// failure names the endpoint.
    fn send(
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
    fn call<T: serde::de::DeserializeOwned>(
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

    fn find_user_by_email(&self, email: &str) -> Result<Option<User>, ModuleError> {
        let path = format!("users?filter%5Bsearch%5D={}", url_encode(email));
        let same = |u: &User| u.email.eq_ignore_ascii_case(email);
        let users = self.all_pages("look up the client's SolusVM user", &path, same)?;
        Ok(users.into_iter().find(|u| same(u)))
    }

    fn get_user(&self, what: &str, id: u64) -> Result<Option<User>, ModuleError> {
        let path = format!("users/{id}");
        let reply = self.send(what, "GET", &path, None)?;
        if reply.status == 404 {
            return Ok(None);
        }
        let endpoint = Self::endpoint("GET", &path);
        let got: Data<User> = decode(what, &endpoint, &check(what, &endpoint, reply)?)?;
        Ok(Some(got.data))
    }

    fn servers_of(&self, what: &str, user_id: u64) -> Result<Vec<Server>, ModuleError> {
        let path = format!("servers?filter%5Buser_id%5D={user_id}");
        self.all_pages(what, &path, |_: &Server| false)
    }

    /// The SolusVM user id of a service: its remote id, or the `user_id` attribute.
    fn user_id(service: &ServiceInfo) -> Option<u64> {
        service
            .remote_id
            .as_deref()
            .and_then(|r| r.trim().parse().ok())
            .or_else(|| service.attributes.get("user_id").and_then(Value::as_u64))
    }

    fn no_user_id(service: &ServiceInfo, call: &str) -> ModuleError {
        ModuleError::permanent(format!(
            "{call}: service #{} has no SolusVM user id (remote id {:?}); create it first, \
             or set its remote id to the SolusVM user id",
            service.id, service.remote_id
        ))
    }

    fn require_user_id(service: &ServiceInfo, call: &str) -> Result<u64, ModuleError> {
        Self::user_id(service).ok_or_else(|| Self::no_user_id(service, call))
    }

    // --- the handler's record of each user --------------------------------------------

    fn record_key(user_id: u64) -> String {
        format!("users/{user_id}")
    }

    fn read_record(&self, user_id: u64) -> Result<Option<UserRecord>, ModuleError> {
        let Some(text) = self.host.kv_get(&Self::record_key(user_id))? else {
            return Ok(None);
        };
        match serde_json::from_str(&text) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                self.host.warn(&format!(
                    "the record of SolusVM user #{user_id} is unreadable ({e}); starting it afresh"
                ));
                Ok(None)
            }
        }
    }

    /// Changes the record of a user atomically (compare-and-swap, retried while other
    /// calls change it at the same time) and returns the new record.
    fn update_record(
        &self,
        user_id: u64,
        change: impl Fn(&mut UserRecord),
    ) -> Result<UserRecord, ModuleError> {
        let key = Self::record_key(user_id);
        for _ in 0..50 {
            let current = self.host.kv_get(&key)?;
            let mut record: UserRecord = current
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            change(&mut record);
            let new = serde_json::to_string(&record)?;
            if current.as_deref() == Some(new.as_str())
                || self.host.kv_swap(&key, current.as_deref(), Some(&new))?
            {
                return Ok(record);
            }
        }
        Err(ModuleError::transient(format!(
            "the handler's record of SolusVM user #{user_id} kept changing under this call; it will be retried"
        )))
    }

    /// Brings the panel to what the record asks for: the user's status, and its VMs
    /// suspended (recording which) or resumed (those recorded). Returns a summary.
    fn reconcile(
        &self,
        what: &str,
        user: &User,
        record: &UserRecord,
    ) -> Result<String, ModuleError> {
        let wanted = record.wanted();
        let mut done = Vec::new();
        if user.status != wanted.status() {
            let _: Value = self.call(
                what,
                "PUT",
                &format!("users/{}", user.id),
                Some(&json!({"status": wanted.status()})),
            )?;
            done.push(format!("user {}", wanted.status()));
        }
        let servers = self.servers_of(what, user.id)?;
        match wanted {
            Wanted::Active => {
                let resume: Vec<&Server> = servers
                    .iter()
                    .filter(|s| {
                        s.is_suspended
                            && record
                                .suspended_vms
                                .as_ref()
                                .is_none_or(|ours| ours.contains(&s.id))
                    })
                    .collect();
                for s in &resume {
                    let _: Value =
                        self.call(what, "POST", &format!("servers/{}/resume", s.id), None)?;
                }
                if !resume.is_empty() {
                    done.push(format!("{} VM(s) resumed", resume.len()));
                }
                if record.suspended_vms.as_ref().is_none_or(|v| !v.is_empty()) {
                    self.update_record(user.id, |r| r.suspended_vms = Some(Vec::new()))?;
                }
            }
            Wanted::Suspended | Wanted::Locked => {
                let suspend: Vec<u64> = servers
                    .iter()
                    .filter(|s| !s.is_suspended)
                    .map(|s| s.id)
                    .collect();
                if !suspend.is_empty() {
                    // Recorded first: a retry after a crash still knows which are ours.
                    self.update_record(user.id, |r| {
                        let ours = r.suspended_vms.get_or_insert_with(Vec::new);
                        for id in &suspend {
                            if !ours.contains(id) {
                                ours.push(*id);
                            }
                        }
                    })?;
                    for id in &suspend {
                        let _: Value =
                            self.call(what, "POST", &format!("servers/{id}/suspend"), None)?;
                    }
                    done.push(format!("{} VM(s) suspended", suspend.len()));
                }
            }
        }
        Ok(if done.is_empty() {
            format!("SolusVM user #{} already {}", user.id, wanted.status())
        } else {
            format!("SolusVM user #{}: {}", user.id, done.join(", "))
        })
    }

    fn done(user: &User, message: String) -> Outcome {
        let mut attributes = Map::new();
        attributes.insert("email".into(), json!(user.email));
        attributes.insert("user_id".into(), json!(user.id));
        Outcome::Done {
            remote_id: Some(user.id.to_string()),
            attributes,
            message: Some(message),
        }
    }

    /// Refuses to adopt an admin, or a user another billing client owns.
    fn may_adopt(user: &User, client: &ClientInfo) -> Result<(), ModuleError> {
        if user.is_admin() {
            return Err(ModuleError::permanent(format!(
                "create: the e-mail {} belongs to SolusVM admin user #{}; give client #{} another e-mail",
                user.email, user.id, client.id
            )));
        }
        if let Some(other) = user.billing_user_id.filter(|b| *b != client.id as u64) {
            return Err(ModuleError::permanent(format!(
                "create: SolusVM user #{} ({}) belongs to billing client #{other}, not client #{}; \
                 change its billing_user_id in SolusVM if it is this client's, or give the client another e-mail",
                user.id, user.email, client.id
            )));
        }
        Ok(())
    }

    fn find_or_create_user(&self, request: &LifecycleRequest) -> Result<(User, bool), ModuleError> {
        let client = &request.service.client;
        let email = client.email.trim();
        if email.is_empty() {
            return Err(ModuleError::permanent(format!(
                "create: client #{} has no e-mail; SolusVM users are found by e-mail, so give the client one",
                client.id
            )));
        }
        if let Some(user) = self.find_user_by_email(email)? {
            Self::may_adopt(&user, client)?;
            self.host.info(&format!(
                "create: adopting SolusVM user #{} ({}) for client #{}",
                user.id, user.email, client.id
            ));
            return Ok((user, false));
        }
        let plan: PlanSettings = if request.service.plan.settings.is_null() {
            PlanSettings::default()
        } else {
            serde_json::from_value(request.service.plan.settings.clone()).map_err(|e| {
                ModuleError::invalid_config(format!(
                    "plan {}: its settings do not fit the solusvm module: {e}",
                    request.service.plan.name
                ))
            })?
        };
        let mut body = json!({
            "email": email,
            "password": random_password(),
            "status": "active",
            "billing_user_id": client.id,
        });
        if let Some(g) = plan.limit_group_id.or(self.settings.limit_group_id) {
            body["limit_group_id"] = json!(g);
        }
        if let Some(roles) = &self.settings.roles {
            body["roles"] = json!(roles);
        }
        if let Some(l) = self.settings.language_id {
            body["language_id"] = json!(l);
        }
        let what = "create the client's SolusVM user";
        let reply = self.send(what, "POST", "users", Some(&body))?;
        if reply.status == 422 {
            let taken = serde_json::from_str::<Value>(&reply.body)
                .ok()
                .and_then(|v| v.pointer("/errors/email").cloned())
                .is_some_and(|e| !e.is_null());
            if taken {
                // Made by an earlier attempt whose reply was lost, or by a concurrent
                // create for another service of the same client: adopt it.
                if let Some(user) = self.find_user_by_email(email)? {
                    Self::may_adopt(&user, client)?;
                    self.host.info(&format!(
                        "create: e-mail taken; adopting SolusVM user #{} ({})",
                        user.id, user.email
                    ));
                    return Ok((user, false));
                }
            }
        }
        let endpoint = Self::endpoint("POST", "users");
        let created: Data<User> = decode(what, &endpoint, &check(what, &endpoint, reply)?)?;
        self.host.info(&format!(
            "create: made SolusVM user #{} ({}) for client #{}",
            created.data.id, created.data.email, client.id
        ));
        Ok((created.data, true))
    }

    /// Suspend, unsuspend and terminate: change this service's part in the record, then
    /// bring the panel to what the record adds up to.
    fn lifecycle(
        &self,
        call: &str,
        request: &LifecycleRequest,
        change: impl Fn(&mut UserRecord, String),
    ) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let Some(user_id) = Self::user_id(service) else {
            if call == "terminate" {
                return Ok(Outcome::Done {
                    remote_id: None,
                    attributes: Map::new(),
                    message: Some("no SolusVM user was ever made for this service".into()),
                });
            }
            return Err(Self::no_user_id(service, call));
        };
        let what = format!("{call} SolusVM user #{user_id}");
        let Some(user) = self.get_user(&what, user_id)? else {
            if call == "terminate" {
                self.update_record(user_id, |r| {
                    r.services.remove(&service.id.to_string());
                })?;
                return Ok(Outcome::Done {
                    remote_id: None,
                    attributes: Map::new(),
                    message: Some(format!("SolusVM user #{user_id} is already gone")),
                });
            }
            return Err(ModuleError::permanent(format!(
                "{what}: the user no longer exists in SolusVM; terminate the service, or set its remote id to the right user"
            )));
        };
        let sid = service.id.to_string();
        let record = self.update_record(user_id, |r| change(r, sid.clone()))?;
        let mut message = self.reconcile(&what, &user, &record)?;
        let others = record.others(service.id);
        if !others.is_empty() {
            let _ = write!(message, " (shared with service {})", others.join(", "));
        }
        self.host.info(&format!("{call}: {message}"));
        Ok(Self::done(&user, message))
    }

    fn price(&self, currency: &str) -> Result<&str, ModuleError> {
        self.settings
            .token_price
            .get(currency)
            .map(String::as_str)
            .ok_or_else(|| {
                ModuleError::invalid_config(format!(
                    "token_price has no price for {currency:?} (the client's currency): add it to the handler's settings, e.g. \"{currency}\": \"0.01\""
                ))
            })
    }
}

fn month_name(date: Date) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES[(date.month as usize).saturating_sub(1) % 12]
}

impl Module for SolusVm {
    type Settings = Settings;

    fn manifest() -> Manifest {
        Manifest {
            name: "solusvm".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description:
                "SolusVM 2 post-pay: one panel user per client, billed for VM uptime in tokens"
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
                    "token_price": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"pattern": CURRENCY_PATTERN},
                        "additionalProperties": {"type": "string", "pattern": DECIMAL_PATTERN},
                        "description": "Price of one token per currency code, as decimal text, e.g. {\"EUR\": \"0.01\", \"USD\": \"0.011\"}"
                    },
                    "timeout_ms": {
                        "type": "integer",
                        "minimum": 1000,
                        "maximum": 300_000,
                        "default": DEFAULT_TIMEOUT_MS,
                        "description": "Milliseconds one request to the panel may take"
                    },
                    "limit_group_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Limit group new users are put in (a plan's limit_group_id wins)"
                    },
                    "roles": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "integer", "minimum": 1},
                        "description": "Role ids new users get (default: the panel's client role)"
                    },
                    "language_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Language id new users get"
                    },
                    "sso_url": {
                        "type": "string",
                        "pattern": "\\{token\\}",
                        "default": DEFAULT_SSO_URL,
                        "description": "Where a client's browser logs in with a one-time token: {url} is the panel's base URL, {token} the token"
                    },
                    "admin_url": {
                        "type": "string",
                        "pattern": "\\{user_id\\}",
                        "default": DEFAULT_ADMIN_URL,
                        "description": "The admin's link to a user in the panel: {url} is the panel's base URL, {user_id} the SolusVM user id"
                    }
                }
            }),
            plan_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "limit_group_id": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Limit group new users of this plan are put in (overrides the handler's)"
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
        let service = &request.service;
        let user_id = Self::require_user_id(service, "usage")?;
        let (Some(start), Some(end)) = (
            Date::parse(&request.period_start),
            Date::parse(&request.period_end),
        ) else {
            return Err(ModuleError::permanent(format!(
                "usage: the period {} to {} is not two YYYY-MM-DD dates",
                request.period_start, request.period_end
            )));
        };
        if start >= end {
            return Err(ModuleError::permanent(format!(
                "usage: the period {start} to {end} is empty (the end is exclusive)"
            )));
        }
        if let Some(record) = self.read_record(user_id)? {
            let biller = record.biller(service.id);
            if biller != service.id {
                self.host.info(&format!(
                    "usage: SolusVM user #{user_id} is shared; service #{biller} bills its VMs"
                ));
                return Ok(UsageReport { items: Vec::new() });
            }
        }
        let currency = service.client.currency.as_str();
        let price = self.price(currency)?;
        let mut items = Vec::new();
        for (from, to) in month_chunks(start, end) {
            let path = format!(
                "{}?period_start={from}&period_end={to}",
                USAGE_PATH.replace("{id}", &user_id.to_string())
            );
            let what = format!("usage of SolusVM user #{user_id} from {from} to {to}");
            let rows: Data<Vec<UsageRow>> = self.call(&what, "GET", &path, None)?;
            for row in rows.data.into_iter().filter(|r| r.hours > 0) {
                let (tokens, capped) =
                    tokens_for(row.hours, row.tokens_per_hour, row.tokens_per_month);
                let amount = multiply(tokens, price).ok_or_else(|| {
                    ModuleError::permanent(format!(
                        "usage: {tokens} tokens × {price} {currency} does not fit in a number"
                    ))
                })?;
                let working = if capped {
                    format!(
                        "{} h × {} tokens/h = {}, capped at {} tokens/month",
                        row.hours,
                        row.tokens_per_hour,
                        row.hours.saturating_mul(row.tokens_per_hour),
                        row.tokens_per_month
                    )
                } else {
                    format!("{} h × {} tokens/h", row.hours, row.tokens_per_hour)
                };
                let name = if row.name.is_empty() {
                    format!("#{}", row.server_id)
                } else {
                    row.name.clone()
                };
                items.push(UsageItem {
                    key: format!("server/{}/{from}", row.server_id),
                    description: format!(
                        "VM {name}, {} {}{}: {working}",
                        month_name(from),
                        from.year,
                        if from.day != 1 || to != from.first_of_next_month() {
                            format!(" ({from} to {to})")
                        } else {
                            String::new()
                        }
                    ),
                    unit: "token".into(),
                    quantity: tokens.to_string(),
                    rate: Some(price.to_string()),
                    amount: Some(amount),
                    details: json!({
                        "server_id": row.server_id,
                        "server_uuid": row.server_uuid,
                        "name": row.name,
                        "period_start": from.to_string(),
                        "period_end": to.to_string(),
                        "hours": row.hours,
                        "tokens_per_hour": row.tokens_per_hour,
                        "tokens_per_month": row.tokens_per_month,
                        "tokens": tokens,
                        "capped": capped,
                        "token_price": price,
                        "currency": currency,
                    }),
                });
            }
        }
        Ok(UsageReport { items })
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
mod tests {
    use super::*;

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
            "url": "https://solus.example.com/api/v1/",
            "api_token": "hunter2",
            "token_price": {"EUR": "0.01", "USD": "0.011"},
            "timeout_ms": 5000,
            "limit_group_id": 4,
            "roles": [2],
            "language_id": 1,
            "sso_url": "{url}/sso?t={token}",
            "admin_url": "{url}/admin/users/{user_id}"
        })
    }

    #[test]
    fn manifest_lists_what_is_implemented() {
        let m = SolusVm::manifest();
        assert_eq!(m.name, "solusvm");
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
        assert!(!m.capabilities.contains(&Capability::ChangePlan));
        assert!(!m.capabilities.contains(&Capability::Daily));
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
        assert_eq!(s.timeout_ms, 5000);

        let minimal =
            json!({"url": "http://10.0.0.5", "api_token": "t", "token_price": {"EUR": "1"}});
        assert!(fits(&schema, &minimal));
        let s = settings(minimal).unwrap();
        assert_eq!((s.limit_group_id, s.timeout_ms), (None, DEFAULT_TIMEOUT_MS));
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = SolusVm::manifest().settings_schema;
        let mut bad = Vec::new();
        for (key, value) in [
            ("token_price", json!({})),
            ("token_price", json!({"EUR": 0.01})),
            ("token_price", json!({"EUR": "1,5"})),
            ("token_price", json!({"euro": "0.01"})),
            ("password", json!("x")),
            ("timeout_ms", json!(10)),
            ("roles", json!([])),
            ("sso_url", json!("{url}/login")),
            ("admin_url", json!("{url}/admin")),
        ] {
            let mut s = full();
            s[key] = value;
            bad.push(s);
        }
        let mut missing_token = full();
        missing_token.as_object_mut().unwrap().remove("api_token");
        bad.push(missing_token);
        for bad in bad {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree() {
        let schema = SolusVm::manifest().plan_schema;
        for good in [json!({}), json!({"limit_group_id": 2})] {
            assert!(fits(&schema, &good));
            serde_json::from_value::<PlanSettings>(good).unwrap();
        }
        for bad in [json!({"limit_group_id": 0}), json!({"plan_id": 3})] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
        assert!(serde_json::from_value::<PlanSettings>(json!({"plan_id": 3})).is_err());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn tokens_are_capped_per_month_as_in_the_solusvm_docs() {
        assert_eq!(tokens_for(700, 7, 5000), (4900, false));
        assert_eq!(tokens_for(744, 7, 5000), (5000, true));
        assert_eq!(tokens_for(1, 7, 5000), (7, false));
        assert_eq!(
            tokens_for(10, 7, 0),
            (70, false),
            "no monthly price, no cap"
        );
    }

    #[test]
    fn money_is_decimal_text() {
        assert_eq!(multiply(4900, "0.01").as_deref(), Some("49.00"));
        assert_eq!(multiply(7, "0.011").as_deref(), Some("0.077"));
        assert_eq!(multiply(0, "0.5").as_deref(), Some("0.0"));
        assert_eq!(multiply(3, "2").as_deref(), Some("6"));
        assert_eq!(multiply(u64::MAX, "99999999999999999999999"), None);
    }

    #[test]
    fn periods_split_at_month_boundaries() {
        let d = |t: &str| Date::parse(t).unwrap();
        let shown = |v: Vec<(Date, Date)>| -> Vec<String> {
            v.into_iter().map(|(a, b)| format!("{a}..{b}")).collect()
        };
        assert_eq!(
            shown(month_chunks(d("2026-01-01"), d("2026-02-01"))),
            ["2026-01-01..2026-02-01"]
        );
        assert_eq!(
            shown(month_chunks(d("2025-12-15"), d("2026-02-10"))),
            [
                "2025-12-15..2026-01-01",
                "2026-01-01..2026-02-01",
                "2026-02-01..2026-02-10"
            ]
        );
        assert!(month_chunks(d("2026-02-01"), d("2026-01-01")).is_empty());
        assert!(Date::parse("2026-13-01").is_none());
        assert!(Date::parse("2026-1-01").is_none());
    }

    #[test]
    fn the_record_adds_up_services_to_one_state() {
        let mut r = UserRecord::default();
        assert_eq!(r.wanted(), Wanted::Locked);
        r.services.insert("12".into(), "suspended".into());
        assert_eq!(r.wanted(), Wanted::Suspended);
        r.services.insert("9".into(), "active".into());
        assert_eq!(r.wanted(), Wanted::Active);
        assert_eq!(r.biller(12), 9);
        assert_eq!(r.others(12), ["#9"]);
        r.services.clear();
        assert_eq!(r.biller(12), 12, "no holder left: the asking service bills");
    }

    #[test]
    fn passwords_are_long_and_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 28);
        assert_ne!(a, b);
    }

    #[test]
    fn urls_lose_the_api_suffix() {
        assert_eq!(
            check_base_url("https://s.example/api/v1").unwrap(),
            "https://s.example"
        );
        assert_eq!(
            check_base_url("https://s.example/panel/").unwrap(),
            "https://s.example/panel"
        );
        assert!(check_base_url("ftp://s.example").is_err());
    }
}
