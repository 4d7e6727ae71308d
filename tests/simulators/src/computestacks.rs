//! A ComputeStacks controller's admin API (`/api/admin/...`), as far as the
//! `computestacks` module and the month-end usage push use it.
//!
//! Faithful to `reference/remote-apis.md` §1 and to the controller's source it cites:
//! * **Auth**: HTTP Basic `api_key:api_secret` of an admin's API credential; anything else
//!   is 401 `{"errors":["Not Authorized"]}`.
//! * **Versions**: `Accept: application/json; api_version=N`. No version means 80 (the
//!   current one); 51–71 are served with `API-Deprecated: true`; 40 and 50 (and any other
//!   number) answer 422 `{"errors":["You requested an unsupported version (N)"]}` with
//!   `API-Version-Supported: false`.
//! * **Users**: create (201, `create.rabl` fields incl. `auth_token`, `auth_token_exp`,
//!   `labels`; `merge_labels` deep-merged into `labels`; e-mail unique and stored
//!   lower-case as Devise does; a blank password is generated), list (paged, `users`
//!   root), show/update/delete (body wrapped in `"user"`; `?include=balance` adds
//!   `unprocessed_usage`; show adds `run_rate` and `services.deployments`), suspension
//!   (POST/DELETE → 202 `{}`), `user_sso` (201 `{"username","token","expires"}`, the token
//!   valid 60 s of simulator time; a new token replaces the old one, as the controller
//!   keeps one `auth_token` per user), `billing_usages` (paged, newest first).
//! * **Finding a user** (`api_admin_find_user.rb`): `{id}` is the user id, or with
//!   `?find_by_external_id=true` the `external_id`, or with `?find_by_email=true` the
//!   Base64 of the e-mail (URL-encoded by the caller). `?find_by_label=NS_KEY` matches
//!   `labels` containing `{"NS":{"KEY": <{id} as an integer>}}`: the controller knows
//!   `whmcs_service_id` and `whmcs_client_id`; ASSUMPTION: this simulator also accepts
//!   `provisor_service_id` and `provisor_client_id` (a controller would need the same
//!   two-line patch). A label look-up whose `{id}` is not a positive integer falls back to
//!   the id look-up, as the controller's does. Support admins are never found (404).
//!   A user that is not found is a 404 with an empty body (`head :not_found`).
//! * **Collections**: `page`/`per_page` (`will_paginate`, 30 by default), `Total` and
//!   `Per-Page` headers, and a `Link` header as api-pagination writes it.
//! * **Errors**: `{"errors":[...]}`; unknown routes 404
//!   `{"errors":["Unknown API Call. Please check the documentation."]}`.
//! * **Rate limit** (`Rack::Attack`): 2500 requests per 5 minutes per client, then 429
//!   `Throttled` with `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//!   Windows follow the simulator's clock; limit and period are settable so a test can
//!   reach the limit cheaply.
//! * **Month-end usage**: [`ComputeStacksApi::aggregate_usage`] is
//!   `AggregateUsageService`: unprocessed rows grouped by `subscription_product_id`,
//!   groups under 0.01 skipped, one object per group with the documented fields, then
//!   every unprocessed row of each billed user marked processed. It is not delivered
//!   anywhere: the caller gets the array (and `POST /__sim/aggregate` answers it).
//!
//! ASSUMPTIONS beyond the record: the browser sign-in page `GET /?username=&token=`
//! answers 200 once per valid token and 401 otherwise (a suspended user cannot sign in);
//! support admins are hidden from the user list too; `DELETE /users/{id}` also removes the
//! user's usage rows; decimals of usage rows are rendered as strings (Rails renders
//! `BigDecimal` so), `run_rate` and `unprocessed_usage` as numbers; usage rows carry
//! `rate_period` although the controller's view leaves it out.
//!
//! Control endpoints (besides the shared `/__sim/faults`, `/__sim/stats`, `/__sim/seed`):
//! `POST /__sim/users/seed {"count","suspended_every"?,"user_group_id"?}`,
//! `POST /__sim/users {...user fields, "is_admin"?, "is_support_admin"?}`,
//! `GET /__sim/users` (every user, hidden ones too), `GET /__sim/users/count`,
//! `POST /__sim/usage {"user_id", "rows": [UsageSeed…]}`,
//! `GET|POST /__sim/clock {"now": RFC 3339 | null} | {"advance_secs": N}`,
//! `POST /__sim/rate_limit {"limit","period_secs"?,"exhaust"?}`,
//! `POST /__sim/aggregate {"enforce_day"?}`, `GET /__sim/state`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::server::{base64_decode, Api, Reply, Request, Simulator};
use crate::state::Persisted;

/// The API key of the admin's credential the simulator accepts.
pub const API_KEY: &str = "cs-admin-key";
/// Its secret.
pub const API_SECRET: &str = "cs-admin-secret-5f2c9a";
/// The e-mail of the admin who owns that credential (user 1, listed like any user).
pub const ADMIN_EMAIL: &str = "api-admin@cs.example.test";
/// The e-mail of the hidden support admin (user 2, never found nor listed).
pub const SUPPORT_EMAIL: &str = "support@computestacks.example.test";
/// `will_paginate`'s default page size.
pub const DEFAULT_PER_PAGE: usize = 30;
/// `Rack::Attack`'s `req/ip` limit…
pub const RATE_LIMIT: u32 = 2500;
/// …per this many seconds.
pub const RATE_PERIOD_SECS: i64 = 300;
/// How long a `user_sso` token is valid (`1.minute.from_now`).
pub const SSO_TOKEN_SECS: i64 = 60;
/// The current API version, used when the `Accept` header names none.
pub const CURRENT_API_VERSION: u32 = 80;
/// The user group new users join when they name none (`default`).
pub const DEFAULT_USER_GROUP: u64 = 1;

const UNKNOWN_CALL: &str = "Unknown API Call. Please check the documentation.";

/// A controller user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "the fields are ComputeStacks' own user JSON"
)]
pub struct User {
    pub id: u64,
    pub fname: String,
    pub lname: String,
    /// Lower-case, unique.
    pub email: String,
    pub active: bool,
    pub is_admin: bool,
    /// Hidden from every admin API call.
    #[serde(default)]
    pub is_support_admin: bool,
    pub external_id: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub locale: String,
    pub user_group_id: u64,
    #[serde(default)]
    pub bypass_billing: bool,
    /// A JSON object.
    pub labels: Value,
    /// Monthly run rate shown by `show` (settable through `/__sim/users`).
    #[serde(default)]
    pub run_rate: f64,
    /// Deployments (projects) the user has, for `services.deployments`.
    #[serde(default)]
    pub deployments: u64,
    pub auth_token: Option<String>,
    pub auth_token_exp: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One `BillingUsage` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub id: u64,
    pub user_id: u64,
    pub subscription_id: u64,
    pub subscription_product_id: u64,
    pub product_id: u64,
    pub product_name: String,
    pub period_start: i64,
    pub period_end: i64,
    /// Decimal text.
    pub rate: String,
    /// 1 = hourly, 730 = a monthly rate.
    pub rate_period: u32,
    pub qty: String,
    pub qty_total: String,
    pub total: String,
    pub processed: bool,
    pub processed_on: Option<i64>,
    pub external_id: Option<String>,
    pub created_at: i64,
}

/// A usage row to add (`POST /__sim/usage`); times are RFC 3339 or `YYYY-MM-DD`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageSeed {
    pub period_start: String,
    pub period_end: String,
    /// Product name (`"Small Container"`); one product id per name.
    #[serde(default = "default_product")]
    pub product: String,
    pub rate: String,
    #[serde(default = "one_u32")]
    pub rate_period: u32,
    pub qty: String,
    #[serde(default)]
    pub qty_total: Option<String>,
    /// Defaults to rate × qty.
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub processed: bool,
    #[serde(default)]
    pub external_id: Option<String>,
    /// Defaults to `period_end`.
    #[serde(default)]
    pub created_at: Option<String>,
}

fn default_product() -> String {
    "Container Small".to_string()
}

fn one_u32() -> u32 {
    1
}

/// Everything the controller keeps, saved after every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub next_user_id: u64,
    pub next_usage_id: u64,
    pub users: BTreeMap<u64, User>,
    pub usages: BTreeMap<u64, Usage>,
    /// Product name → id.
    pub products: BTreeMap<String, u64>,
    /// `"user_id/product_id"` → subscription product id.
    pub subscription_products: BTreeMap<String, u64>,
    /// `(id, name)` of each user group; a group's billing plan has the same id and name.
    pub user_groups: Vec<(u64, String)>,
    /// The pinned simulator clock (Unix seconds); `None` follows the system clock.
    pub clock: Option<i64>,
    pub rate_limit: u32,
    pub rate_period_secs: i64,
}

impl Default for State {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        let t = 1_600_000_000;
        for (id, email, support) in [(1, ADMIN_EMAIL, false), (2, SUPPORT_EMAIL, true)] {
            users.insert(
                id,
                User {
                    id,
                    fname: if support { "Support" } else { "API" }.into(),
                    lname: "Admin".into(),
                    email: email.into(),
                    active: true,
                    is_admin: true,
                    is_support_admin: support,
                    external_id: None,
                    currency: "USD".into(),
                    country: "US".into(),
                    phone: String::new(),
                    company_name: String::new(),
                    locale: "en".into(),
                    user_group_id: DEFAULT_USER_GROUP,
                    bypass_billing: true,
                    labels: json!({}),
                    run_rate: 0.0,
                    deployments: 0,
                    auth_token: None,
                    auth_token_exp: None,
                    created_at: t,
                    updated_at: t,
                },
            );
        }
        State {
            next_user_id: 3,
            next_usage_id: 1,
            users,
            usages: BTreeMap::new(),
            products: BTreeMap::new(),
            subscription_products: BTreeMap::new(),
            user_groups: vec![(1, "default".into()), (2, "premium".into())],
            clock: None,
            rate_limit: RATE_LIMIT,
            rate_period_secs: RATE_PERIOD_SECS,
        }
    }
}

/// The rate-limit counter of the current window (not persisted: `Rack::Attack` keeps it
/// in a cache).
#[derive(Default)]
struct RateWindow {
    window: i64,
    count: u32,
}

/// The simulated controller. Shared between the server and the test that started it.
pub struct ComputeStacksApi {
    state: Persisted<State>,
    rate: Mutex<RateWindow>,
}

/// Starts a simulator on `127.0.0.1:port` (0: any free port) whose state lives in
/// `state_dir/computestacks.json` (or only in memory with `None`).
pub fn start(state_dir: Option<&Path>, port: u16) -> io::Result<Simulator> {
    start_with_api(state_dir, port).map(|(sim, _)| sim)
}

/// [`start`], also returning the typed API for seeding and inspection.
pub fn start_with_api(
    state_dir: Option<&Path>,
    port: u16,
) -> io::Result<(Simulator, Arc<ComputeStacksApi>)> {
    let api = Arc::new(ComputeStacksApi::open(state_dir)?);
    let sim = Simulator::start(api.clone(), port)?;
    Ok((sim, api))
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------
// Time: civil dates without a date crate.

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-30T23:00:00.000Z`, as Rails renders times in JSON.
pub fn format_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DD` or RFC 3339 (`Z` or `±HH:MM`, fractions ignored) to Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (num(t.get(0..4)?)?, num(t.get(5..7)?)?, num(t.get(8..10)?)?);
    if t.get(4..5)? != "-"
        || t.get(7..8)? != "-"
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let day = days_from_civil(y, m as u32, d as u32) * 86_400;
    if t.len() == 10 {
        return Some(day);
    }
    if !matches!(t.get(10..11)?, "T" | "t" | " ") || t.get(13..14)? != ":" || t.get(16..17)? != ":"
    {
        return None;
    }
    let (h, mi, s) = (
        num(t.get(11..13)?)?,
        num(t.get(14..16)?)?,
        num(t.get(17..19)?)?,
    );
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.get(3..4)? != ":" {
                return None;
            }
            sign * (num(rest.get(1..3)?)? * 3600 + num(rest.get(4..6)?)? * 60)
        }
    };
    Some(day + h * 3600 + mi * 60 + s - offset)
}

// ---------------------------------------------------------------------------------
// Small helpers.

fn errors(status: u16, messages: &[&str]) -> Reply {
    Reply::json(status, &json!({ "errors": messages }))
}

/// Ruby's `String#to_i`: leading digits, else 0.
fn ruby_to_i(text: &str) -> i64 {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// PostgreSQL's jsonb `@>` for objects and scalars.
fn json_contains(hay: &Value, needle: &Value) -> bool {
    match (hay, needle) {
        (Value::Object(h), Value::Object(n)) => n
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| json_contains(hv, v))),
        (Value::Array(h), Value::Array(n)) => {
            n.iter().all(|v| h.iter().any(|hv| json_contains(hv, v)))
        }
        (h, n) => h == n,
    }
}

fn deep_merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v);
                    }
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (into, from) => *into = from.clone(),
    }
}

fn currency_symbol(code: &str) -> &'static str {
    match code {
        "USD" | "CAD" | "AUD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "¤",
    }
}

/// A decimal from text; usage decimals are simulated with `f64`, as the controller's
/// aggregation does (`to_f`).
fn dec(text: &str) -> f64 {
    text.trim().parse().unwrap_or(0.0)
}

/// `f64` as decimal text without exponent, trimmed (`0.5`, `12`, `0.000125`).
fn dec_text(v: f64) -> String {
    let s = format!("{v:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn token() -> String {
    const URLSAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..32)
        .map(|_| URLSAFE[fastrand::usize(..64)] as char)
        .collect()
}

/// The `api_version` of an `Accept` header (`application/json; api_version=60`).
fn requested_version(req: &Request) -> Option<String> {
    let accept = req.header("accept")?;
    accept.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.trim() == "api_version").then(|| v.trim().to_string())
    })
}

/// `page`/`per_page` as `will_paginate` reads them.
fn paging(req: &Request) -> (usize, usize) {
    let page = req
        .query("page")
        .map(|p| ruby_to_i(p).max(1) as usize)
        .unwrap_or(1);
    let per_page = req
        .query("per_page")
        .map(ruby_to_i)
        .filter(|n| *n > 0)
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_PER_PAGE);
    (page, per_page)
}

/// One page of `items` under `root`, with api-pagination's headers.
fn paged(req: &Request, root: &str, items: Vec<Value>) -> Reply {
    let (page, per_page) = paging(req);
    let total = items.len();
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let last = total.div_ceil(per_page).max(1);
    let link =
        |p: usize, rel: &str| format!("<{}?page={p}&per_page={per_page}>; rel=\"{rel}\"", req.path);
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(last, "last"));
        links.push(link(page + 1, "next"));
    }
    let mut reply = Reply::json(200, &json!({ root: body }))
        .with_header("Total", total.to_string())
        .with_header("Per-Page", per_page.to_string());
    if !links.is_empty() {
        reply = reply.with_header("Link", links.join(", "));
    }
    reply
}

// ---------------------------------------------------------------------------------
// Rendering (the rabl views).

impl State {
    fn group_name(&self, id: u64) -> String {
        self.user_groups
            .iter()
            .find(|(g, _)| *g == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| "default".into())
    }

    fn unprocessed_usage(&self, user_id: u64) -> f64 {
        self.usages
            .values()
            .filter(|u| u.user_id == user_id && !u.processed)
            .map(|u| dec(&u.total))
            .sum()
    }

    /// The attributes every user view shares (`index.v51.rabl`).
    fn user_common(&self, u: &User) -> Map<String, Value> {
        let group = self.group_name(u.user_group_id);
        let created = format_time(u.created_at);
        let v = json!({
            "id": u.id,
            "fname": u.fname,
            "lname": u.lname,
            "email": u.email,
            "active": u.active,
            "is_admin": u.is_admin,
            "api_key": null,
            "api_version": CURRENT_API_VERSION,
            "external_id": u.external_id,
            "billing_plan_id": u.user_group_id,
            "currency": u.currency,
            "confirmed_at": created,
            "confirmation_sent_at": null,
            "last_request_at": null,
            "last_sign_in_at": null,
            "current_sign_in_at": null,
            "sign_in_count": 0,
            "reset_password_sent_at": null,
            "locked_at": null,
            "failed_attempts": 0,
            "address1": "",
            "address2": "",
            "city": "",
            "state": "",
            "zip": "",
            "country": u.country,
            "vat": "",
            "labels": u.labels,
            "created_at": created,
            "updated_at": format_time(u.updated_at),
            "currency_symbol": currency_symbol(&u.currency),
            "current_sign_in_ip": "",
            "last_sign_in_ip": "",
            "security_keys": [],
            "billing_plan": {"id": u.user_group_id, "name": group},
            "user_group": {"id": u.user_group_id, "name": group},
            "external_integrations": [],
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn user_index(&self, u: &User, balance: bool) -> Value {
        let mut m = self.user_common(u);
        if balance {
            m.insert(
                "unprocessed_usage".into(),
                json!(self.unprocessed_usage(u.id)),
            );
        }
        Value::Object(m)
    }

    fn user_show(&self, u: &User, balance: bool) -> Value {
        let mut m = self.user_common(u);
        m.insert("phone".into(), json!(u.phone));
        m.insert("company_name".into(), json!(u.company_name));
        m.insert("run_rate".into(), json!(u.run_rate));
        if balance {
            m.insert(
                "unprocessed_usage".into(),
                json!(self.unprocessed_usage(u.id)),
            );
        }
        m.insert(
            "services".into(),
            json!({
                "deployments": u.deployments,
                "containers": 0,
                "container_services": 0,
                "container_images": 0,
                "container_registries": 0,
                "dns_zones": 0
            }),
        );
        json!({ "user": Value::Object(m) })
    }

    fn user_created(&self, u: &User) -> Value {
        let mut m = self.user_common(u);
        for k in [
            "security_keys",
            "billing_plan",
            "user_group",
            "external_integrations",
        ] {
            m.remove(k);
        }
        m.insert("user_group_id".into(), json!(u.user_group_id));
        m.insert("auth_token".into(), json!(u.auth_token));
        m.insert(
            "auth_token_exp".into(),
            json!(u.auth_token_exp.map(format_time)),
        );
        json!({ "user": Value::Object(m) })
    }

    fn usage_row(&self, r: &Usage) -> Value {
        let user = self.users.get(&r.user_id);
        json!({
            "id": r.id,
            "period_start": format_time(r.period_start),
            "period_end": format_time(r.period_end),
            "external_id": r.external_id,
            "rate": r.rate,
            "rate_period": r.rate_period,
            "qty": r.qty,
            "qty_total": r.qty_total,
            "total": r.total,
            "processed": r.processed,
            "processed_on": r.processed_on.map(format_time),
            "created_at": format_time(r.created_at),
            "updated_at": format_time(r.processed_on.unwrap_or(r.created_at)),
            "subscription_product": {
                "id": r.subscription_product_id,
                "external_id": null,
                "start_on": format_time(r.period_start),
                "active": true,
                "phase_type": "final",
                "created_at": format_time(r.created_at),
                "updated_at": format_time(r.created_at),
                "product": {
                    "id": r.product_id,
                    "name": r.product_name,
                    "label": r.product_name,
                    "resource_kind": "package",
                    "unit": "hour",
                    "unit_type": "hours",
                    "external_id": null,
                    "package": null
                }
            },
            "user": user.map(|u| json!({
                "id": u.id,
                "full_name": format!("{} {}", u.fname, u.lname),
                "email": u.email,
                "external_id": u.external_id,
                "labels": u.labels,
            })),
        })
    }

    /// A user the admin API may see (`locate_user`).
    fn visible(&self, id: u64) -> Option<&User> {
        self.users.get(&id).filter(|u| !u.is_support_admin)
    }

    /// `locate_user`: the visible user `{id}` names under the request's flags.
    fn locate(&self, req: &Request, pid: &str) -> Option<u64> {
        let label = req.query("find_by_label").and_then(|name| {
            let n = ruby_to_i(pid);
            if n == 0 {
                return None;
            }
            let (ns, key) = match name {
                "whmcs_service_id" => ("whmcs", "service_id"),
                "whmcs_client_id" => ("whmcs", "client_id"),
                "provisor_service_id" => ("provisor", "service_id"),
                "provisor_client_id" => ("provisor", "client_id"),
                _ => return None,
            };
            Some(json!({ ns: { key: n } }))
        });
        let flag = |name: &str| req.query(name).is_some_and(|v| !v.is_empty());
        let found = if let Some(needle) = label {
            self.users
                .values()
                .find(|u| json_contains(&u.labels, &needle))
        } else if flag("find_by_external_id") {
            self.users
                .values()
                .find(|u| u.external_id.as_deref() == Some(pid))
        } else if flag("find_by_email") {
            let email = base64_decode(pid).and_then(|b| String::from_utf8(b).ok())?;
            self.users.values().find(|u| u.email == email)
        } else {
            pid.parse::<u64>().ok().and_then(|id| self.users.get(&id))
        };
        found.filter(|u| !u.is_support_admin).map(|u| u.id)
    }

    fn subscription_product(&mut self, user_id: u64, product: &str) -> (u64, u64) {
        let next = self.products.len() as u64 + 1;
        let product_id = *self.products.entry(product.to_string()).or_insert(next);
        let key = format!("{user_id}/{product_id}");
        let next = 5000 + self.subscription_products.len() as u64 + 1;
        let sp = *self.subscription_products.entry(key).or_insert(next);
        (product_id, sp)
    }
}

/// A user as `POST /api/admin/users` (or a control call) describes it.
#[derive(Debug, Default, Deserialize)]
struct UserParams {
    fname: Option<String>,
    lname: Option<String>,
    email: Option<String>,
    password: Option<String>,
    password_confirmation: Option<String>,
    external_id: Option<String>,
    currency: Option<String>,
    country: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
    locale: Option<String>,
    user_group_id: Option<Value>,
    active: Option<Value>,
    is_admin: Option<Value>,
    bypass_billing: Option<Value>,
    merge_labels: Option<Value>,
    // Control calls only.
    #[serde(default)]
    is_support_admin: bool,
    #[serde(default)]
    run_rate: Option<f64>,
    #[serde(default)]
    deployments: Option<u64>,
}

/// Rails' boolean cast of a JSON parameter.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() != Some(0),
        Value::String(s) => !matches!(
            s.to_ascii_lowercase().as_str(),
            "" | "0" | "f" | "false" | "off" | "no"
        ),
        _ => false,
    }
}

impl State {
    /// Validates and applies `p` to `user` (new or existing), as `User#save` would.
    fn apply(&self, user: &mut User, p: &UserParams, creating: bool) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if let Some(v) = &p.fname {
            user.fname = v.trim().to_string();
        }
        if let Some(v) = &p.lname {
            user.lname = v.trim().to_string();
        }
        if let Some(v) = &p.email {
            user.email = v.trim().to_lowercase();
        }
        if let Some(v) = &p.external_id {
            user.external_id = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = &p.currency {
            user.currency = v.trim().to_uppercase();
        }
        if let Some(v) = &p.country {
            user.country.clone_from(v);
        }
        if let Some(v) = &p.phone {
            user.phone.clone_from(v);
        }
        if let Some(v) = &p.company_name {
            user.company_name.clone_from(v);
        }
        if let Some(v) = &p.locale {
            user.locale.clone_from(v);
        }
        if let Some(v) = &p.active {
            user.active = truthy(v);
        }
        if let Some(v) = &p.is_admin {
            user.is_admin = truthy(v);
        }
        if let Some(v) = &p.bypass_billing {
            user.bypass_billing = truthy(v);
        }
        if let Some(v) = p.run_rate {
            user.run_rate = v;
        }
        if let Some(v) = p.deployments {
            user.deployments = v;
        }
        user.is_support_admin |= p.is_support_admin;
        match &p.user_group_id {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => {
                let id = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                match id.filter(|id| self.user_groups.iter().any(|(g, _)| g == id)) {
                    Some(id) => user.user_group_id = id,
                    None => errs.push("User group must exist".to_string()),
                }
            }
        }
        if let Some(labels) = &p.merge_labels {
            if labels.is_object() {
                if !user.labels.is_object() {
                    user.labels = json!({});
                }
                deep_merge(&mut user.labels, labels);
            } else if !labels.is_null() {
                errs.push("Merge labels must be a hash".to_string());
            }
        }
        if user.fname.is_empty() {
            errs.push("Fname can't be blank".to_string());
        }
        if user.lname.is_empty() {
            errs.push("Lname can't be blank".to_string());
        }
        if user.email.is_empty() {
            errs.push("Email can't be blank".to_string());
        } else if !user.email.contains('@') || user.email.contains(char::is_whitespace) {
            errs.push("Email is invalid".to_string());
        } else if self
            .users
            .values()
            .any(|o| o.id != user.id && o.email == user.email)
        {
            errs.push("Email has already been taken".to_string());
        }
        if user.currency.len() != 3 || !user.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            errs.push("Currency is invalid".to_string());
        }
        if let Some(pw) = p.password.as_deref().filter(|pw| !pw.is_empty()) {
            if pw.chars().count() < 6 {
                errs.push("Password is too short (minimum is 6 characters)".to_string());
            }
            if let Some(c) = &p.password_confirmation {
                if c != pw {
                    errs.push("Password confirmation doesn't match Password".to_string());
                }
            }
        } else if creating {
            // The controller generates one (`SecureRandom.base64(12)`); it is not shown.
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    fn new_user(&mut self, p: &UserParams, now: i64) -> Result<u64, Vec<String>> {
        let mut user = User {
            id: self.next_user_id,
            fname: String::new(),
            lname: String::new(),
            email: String::new(),
            active: true,
            is_admin: false,
            is_support_admin: false,
            external_id: None,
            currency: "USD".into(),
            country: String::new(),
            phone: String::new(),
            company_name: String::new(),
            locale: "en".into(),
            user_group_id: DEFAULT_USER_GROUP,
            bypass_billing: false,
            labels: json!({}),
            run_rate: 0.0,
            deployments: 0,
            // `gen_sso_creds = true`: a fresh user comes with a sign-on token.
            auth_token: Some(token()),
            auth_token_exp: Some(now + SSO_TOKEN_SECS),
            created_at: now,
            updated_at: now,
        };
        self.apply(&mut user, p, true)?;
        if user.locale.is_empty() {
            user.locale = "en".into();
        }
        self.next_user_id += 1;
        let id = user.id;
        self.users.insert(id, user);
        Ok(id)
    }
}

// ---------------------------------------------------------------------------------
// The API.

/// A parsed admin route.
enum Route {
    Users,
    User(String),
    Suspension(String),
    UserSso(String),
    BillingUsages(String),
    Locations,
    UserGroups,
    SignIn,
    Unknown,
}

fn route(req: &Request) -> Route {
    if req.path == "/" {
        return Route::SignIn;
    }
    let Some(rest) = req.path.strip_prefix("/api/admin/") else {
        return Route::Unknown;
    };
    let rest = rest.trim_end_matches('/');
    match rest {
        "users" => return Route::Users,
        "locations" => return Route::Locations,
        "user_groups" => return Route::UserGroups,
        _ => {}
    }
    let Some(rest) = rest.strip_prefix("users/") else {
        return Route::Unknown;
    };
    // The id comes decoded: the Base64 of an e-mail may contain `/`, so the known
    // suffixes are cut from the end rather than splitting on `/`.
    let by_email = req.query("find_by_email").is_some_and(|v| !v.is_empty());
    let (id, make): (&str, fn(String) -> Route) = if let Some(id) = rest.strip_suffix("/suspension")
    {
        (id, Route::Suspension)
    } else if let Some(id) = rest.strip_suffix("/user_sso") {
        (id, Route::UserSso)
    } else if let Some(id) = rest.strip_suffix("/billing_usages") {
        (id, Route::BillingUsages)
    } else {
        (rest, Route::User)
    };
    if id.is_empty() || (id.contains('/') && !by_email) {
        return Route::Unknown;
    }
    make(id.to_string())
}

impl ComputeStacksApi {
    /// Opens (or starts) the state in `state_dir/computestacks.json`.
    pub fn open(state_dir: Option<&Path>) -> io::Result<ComputeStacksApi> {
        let path = state_dir.map(|d| d.join("computestacks.json"));
        Ok(ComputeStacksApi {
            state: Persisted::open(path.as_deref())?,
            rate: Mutex::new(RateWindow::default()),
        })
    }

    /// The simulator's clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.state.read(|s| s.clock).unwrap_or_else(system_now)
    }

    /// The simulator's clock as RFC 3339.
    pub fn now_rfc3339(&self) -> String {
        format_time(self.now())
    }

    /// Pins the clock at `at` (RFC 3339 or `YYYY-MM-DD`), or follows the system clock
    /// again with `None`.
    pub fn set_clock(&self, at: Option<&str>) -> Result<(), String> {
        let secs = match at {
            Some(text) => {
                Some(parse_time(text).ok_or_else(|| format!("{text:?} is not RFC 3339"))?)
            }
            None => None,
        };
        self.state.update(|s| s.clock = secs);
        Ok(())
    }

    /// Moves the clock forward (pinning it where it was first).
    pub fn advance_clock(&self, secs: i64) {
        let now = self.now();
        self.state.update(|s| s.clock = Some(now + secs));
    }

    /// Sets the rate limit: `limit` requests per `period_secs`.
    pub fn set_rate_limit(&self, limit: u32, period_secs: i64) {
        self.state.update(|s| {
            s.rate_limit = limit;
            s.rate_period_secs = period_secs.max(1);
        });
    }

    /// Uses up the current window, so the next request is throttled.
    pub fn exhaust_rate_limit(&self) {
        let (limit, period) = self.state.read(|s| (s.rate_limit, s.rate_period_secs));
        let window = self.now().div_euclid(period);
        let mut w = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        *w = RateWindow {
            window,
            count: limit,
        };
    }

    /// Creates `count` ordinary users (`seed-N@cs.example.test`, external id
    /// `legacy-N`); every `suspended_every`-th one is suspended. Returns their ids.
    pub fn seed_users(
        &self,
        count: usize,
        suspended_every: Option<usize>,
        user_group_id: Option<u64>,
    ) -> Vec<u64> {
        let now = self.now();
        self.state.update(|s| {
            let mut ids = Vec::with_capacity(count);
            for i in 1..=count {
                let n = s.next_user_id;
                let p = UserParams {
                    fname: Some("Seeded".into()),
                    lname: Some(format!("User {n}")),
                    email: Some(format!("seed-{n}@cs.example.test")),
                    external_id: Some(format!("legacy-{n}")),
                    user_group_id: user_group_id.map(|g| json!(g)),
                    active: Some(json!(suspended_every.is_none_or(|k| k == 0 || i % k != 0))),
                    ..Default::default()
                };
                if let Ok(id) = s.new_user(&p, now) {
                    if let Some(u) = s.users.get_mut(&id) {
                        u.auth_token = None;
                        u.auth_token_exp = None;
                    }
                    ids.push(id);
                }
            }
            ids
        })
    }

    /// Creates one user from `POST /api/admin/users`-style fields (plus `is_admin`,
    /// `is_support_admin`, `run_rate`, `deployments`), bypassing the API.
    pub fn add_user(&self, fields: Value) -> Result<User, String> {
        let p: UserParams = serde_json::from_value(fields).map_err(|e| e.to_string())?;
        let now = self.now();
        self.state.update(|s| {
            let id = s.new_user(&p, now).map_err(|e| e.join("; "))?;
            Ok(s.users[&id].clone())
        })
    }

    /// Changes a user's simulator-only figures (run rate, deployments).
    pub fn set_user_figures(&self, id: u64, run_rate: f64, deployments: u64) -> bool {
        self.state.update(|s| match s.users.get_mut(&id) {
            Some(u) => {
                u.run_rate = run_rate;
                u.deployments = deployments;
                true
            }
            None => false,
        })
    }

    /// Every user, hidden ones included, by id.
    pub fn users(&self) -> Vec<User> {
        self.state.read(|s| s.users.values().cloned().collect())
    }

    /// One user by id.
    pub fn user(&self, id: u64) -> Option<User> {
        self.state.read(|s| s.users.get(&id).cloned())
    }

    /// The user with this external id.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<User> {
        self.state.read(|s| {
            s.users
                .values()
                .find(|u| u.external_id.as_deref() == Some(external_id))
                .cloned()
        })
    }

    /// Customer users (neither admins nor support admins).
    pub fn count_users(&self) -> usize {
        self.state
            .read(|s| s.users.values().filter(|u| !u.is_admin).count())
    }

    /// Adds usage rows for a user; returns their ids.
    pub fn add_usage(&self, user_id: u64, rows: &[UsageSeed]) -> Result<Vec<u64>, String> {
        let mut parsed = Vec::new();
        for r in rows {
            let start = parse_time(&r.period_start)
                .ok_or_else(|| format!("period_start {:?} is not a time", r.period_start))?;
            let end = parse_time(&r.period_end)
                .ok_or_else(|| format!("period_end {:?} is not a time", r.period_end))?;
            let created = match &r.created_at {
                Some(t) => {
                    parse_time(t).ok_or_else(|| format!("created_at {t:?} is not a time"))?
                }
                None => end,
            };
            parsed.push((r, start, end, created));
        }
        self.state.update(|s| {
            if !s.users.contains_key(&user_id) {
                return Err(format!("no user {user_id}"));
            }
            let mut ids = Vec::new();
            for (r, start, end, created) in parsed {
                let (product_id, sp) = s.subscription_product(user_id, &r.product);
                let id = s.next_usage_id;
                s.next_usage_id += 1;
                let total = r
                    .total
                    .clone()
                    .unwrap_or_else(|| dec_text(dec(&r.rate) * dec(&r.qty)));
                s.usages.insert(
                    id,
                    Usage {
                        id,
                        user_id,
                        subscription_id: 9000 + user_id,
                        subscription_product_id: sp,
                        product_id,
                        product_name: r.product.clone(),
                        period_start: start,
                        period_end: end,
                        rate: r.rate.clone(),
                        rate_period: r.rate_period,
                        qty: r.qty.clone(),
                        qty_total: r.qty_total.clone().unwrap_or_else(|| r.qty.clone()),
                        total,
                        processed: r.processed,
                        processed_on: r.processed.then_some(created),
                        external_id: r.external_id.clone(),
                        created_at: created,
                    },
                );
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Every usage row, oldest first.
    pub fn usages(&self) -> Vec<Usage> {
        self.state.read(|s| s.usages.values().cloned().collect())
    }

    /// Whether `GET /?username=&token=` would sign in: the user's id, or why not. A
    /// successful sign-in uses the token up.
    pub fn check_login(&self, username: &str, token: &str) -> Result<u64, String> {
        let now = self.now();
        self.state.update(|s| {
            let email = username.trim().to_lowercase();
            let user = s
                .users
                .values_mut()
                .find(|u| u.email == email && !u.is_support_admin)
                .ok_or_else(|| format!("no user {email}"))?;
            if user.auth_token.as_deref() != Some(token) || token.is_empty() {
                return Err("the token is not the user's current sign-on token".into());
            }
            if user.auth_token_exp.is_none_or(|exp| exp < now) {
                return Err("the token has expired".into());
            }
            if !user.active {
                return Err("the account is suspended".into());
            }
            user.auth_token = None;
            user.auth_token_exp = None;
            Ok(user.id)
        })
    }

    /// `AggregateUsageService#perform`: the aggregated month-end objects, every
    /// unprocessed row of each billed user marked processed. With `enforce_day`, it
    /// only runs on the last day of the month (by the simulator's clock) and answers
    /// `None` on other days.
    pub fn aggregate_usage(&self, enforce_day: bool) -> Option<Vec<Value>> {
        let now = self.now();
        if enforce_day {
            let (y, m, d) = civil_from_days(now.div_euclid(86_400));
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let last = days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1);
            if i64::from(d) != last {
                return None;
            }
        }
        Some(self.state.update(|s| {
            // clean_bypassed_users
            let bypass: Vec<u64> = s
                .users
                .values()
                .filter(|u| u.bypass_billing)
                .map(|u| u.id)
                .collect();
            for r in s.usages.values_mut() {
                if !r.processed && bypass.contains(&r.user_id) {
                    r.processed = true;
                    r.processed_on = Some(now);
                }
            }
            let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for r in s.usages.values().filter(|r| !r.processed) {
                groups.entry(r.subscription_product_id).or_default().push(r.id);
            }
            let mut aggregated = Vec::new();
            let mut billed_users: Vec<u64> = Vec::new();
            for (sp, ids) in groups {
                let rows: Vec<&Usage> = ids.iter().filter_map(|id| s.usages.get(id)).collect();
                let total: f64 = rows.iter().map(|r| dec(&r.total)).sum();
                let qty: f64 = rows.iter().map(|r| dec(&r.qty)).sum();
                if total < 0.01 {
                    continue;
                }
                let first = rows[0];
                let Some(user) = s.users.get(&first.user_id) else {
                    continue;
                };
                if !billed_users.contains(&user.id) {
                    billed_users.push(user.id);
                }
                let pstart = rows.iter().map(|r| r.period_start).min().unwrap_or(0);
                let pend = rows.iter().map(|r| r.period_end).max().unwrap_or(0);
                let ext_id = rows.iter().find_map(|r| r.external_id.clone());
                let items: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "rate": dec(&r.rate),
                            "rate_period": r.rate_period,
                            "qty": dec(&r.qty),
                            "total": dec(&r.total),
                            "period_start": format_time(r.period_start),
                            "period_end": format_time(r.period_end),
                        })
                    })
                    .collect();
                aggregated.push(json!({
                    "subscription_id": first.subscription_id,
                    "subscription_product_id": sp,
                    "product": {"id": first.product_id, "name": first.product_name, "external_id": null},
                    "billing_resource": {"id": first.product_id, "external_id": null, "billing_plan_id": user.user_group_id},
                    "container_service_id": null,
                    "container_id": null,
                    "user": {
                        "id": user.id,
                        "external_id": user.external_id,
                        "email": user.email,
                        "labels": user.labels,
                    },
                    "external_id": ext_id,
                    "total": total,
                    "qty": qty,
                    "period_start": format_time(pstart),
                    "period_end": format_time(pend),
                    "usage_items": items,
                }));
            }
            for r in s.usages.values_mut() {
                if !r.processed && billed_users.contains(&r.user_id) {
                    r.processed = true;
                    r.processed_on = Some(now);
                }
            }
            aggregated
        }))
    }

    /// Counts the request against the rate limit; `Some(reply)` when throttled.
    fn throttle(&self) -> Option<Reply> {
        let (limit, period) = self.state.read(|s| (s.rate_limit, s.rate_period_secs));
        let now = self.now();
        let window = now.div_euclid(period);
        let mut w = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        if w.window != window {
            *w = RateWindow { window, count: 0 };
        }
        w.count = w.count.saturating_add(1);
        if w.count <= limit {
            return None;
        }
        let reset = now + (period - now.rem_euclid(period));
        let mut reply = Reply::text(429, "Throttled\n")
            .with_header("RateLimit-Limit", limit.to_string())
            .with_header("RateLimit-Remaining", "0")
            .with_header("RateLimit-Reset", reset.to_string());
        reply.headers[0].1 = "text/plain; charset=utf-8".into();
        Some(reply)
    }

    fn authorised(req: &Request) -> bool {
        match req.basic_auth() {
            Some((key, secret)) => key == API_KEY && secret == API_SECRET,
            None => false,
        }
    }

    fn sign_in(&self, req: &Request) -> Reply {
        let username = req.query("username").unwrap_or_default();
        let token = req.query("token").unwrap_or_default();
        match self.check_login(username, token) {
            Ok(_) => Reply::text(
                200,
                format!("<html><body>Signed in as {username}</body></html>"),
            ),
            Err(why) => Reply::text(
                401,
                format!("<html><body>Sign-in refused: {why}</body></html>"),
            ),
        }
    }

    fn users_index(&self, req: &Request) -> Reply {
        let balance = req.query("include") == Some("balance");
        let items = self.state.read(|s| {
            s.users
                .values()
                .filter(|u| !u.is_support_admin)
                .map(|u| s.user_index(u, balance))
                .collect()
        });
        paged(req, "users", items)
    }

    fn users_create(&self, req: &Request) -> Reply {
        let Ok(body) = req.json() else {
            return errors(422, &["Bad Request. Please check the documentation."]);
        };
        let Some(user) = body.get("user").filter(|u| u.is_object()) else {
            return errors(422, &["Missing User Object"]);
        };
        // Control-only fields are not permitted through the API.
        let mut user = user.clone();
        if let Some(m) = user.as_object_mut() {
            for k in ["is_support_admin", "run_rate", "deployments"] {
                m.remove(k);
            }
        }
        let p: UserParams = match serde_json::from_value(user) {
            Ok(p) => p,
            Err(e) => return errors(422, &[&format!("Bad Request: {e}")]),
        };
        let now = self.now();
        self.state.update(|s| match s.new_user(&p, now) {
            Ok(id) => Reply::json(201, &s.user_created(&s.users[&id])),
            Err(errs) => {
                let refs: Vec<&str> = errs.iter().map(String::as_str).collect();
                errors(422, &refs)
            }
        })
    }

    fn user_call(&self, req: &Request, pid: &str) -> Reply {
        let balance = req.query("include") == Some("balance");
        let now = self.now();
        self.state.update(|s| {
            let Some(id) = s.locate(req, pid) else {
                return Reply::empty(404);
            };
            match req.method.as_str() {
                "GET" => Reply::json(200, &s.user_show(&s.users[&id], balance)),
                "PATCH" | "PUT" => {
                    let body = req.json().unwrap_or(Value::Null);
                    let Some(fields) = body.get("user").filter(|u| u.is_object()) else {
                        return errors(422, &["param is missing or the value is empty: user"]);
                    };
                    let p: UserParams = match serde_json::from_value(fields.clone()) {
                        Ok(p) => p,
                        Err(e) => return errors(422, &[&format!("Bad Request: {e}")]),
                    };
                    let mut user = s.users[&id].clone();
                    if let Err(errs) = s.apply(&mut user, &p, false) {
                        let refs: Vec<&str> = errs.iter().map(String::as_str).collect();
                        return errors(422, &refs);
                    }
                    user.updated_at = now;
                    s.users.insert(id, user);
                    Reply::json(200, &s.user_show(&s.users[&id], false))
                }
                "DELETE" => {
                    s.users.remove(&id);
                    s.usages.retain(|_, r| r.user_id != id);
                    Reply::empty(204)
                }
                _ => errors(404, &[UNKNOWN_CALL]),
            }
        })
    }

    fn suspension(&self, req: &Request, pid: &str) -> Reply {
        let now = self.now();
        let active = match req.method.as_str() {
            "POST" => false,
            "DELETE" => true,
            _ => return errors(404, &[UNKNOWN_CALL]),
        };
        self.state.update(|s| {
            let Some(id) = s.locate(req, pid) else {
                return Reply::empty(404);
            };
            if let Some(u) = s.users.get_mut(&id) {
                u.active = active;
                u.updated_at = now;
            }
            Reply::json(202, &json!({}))
        })
    }

    fn user_sso(&self, req: &Request, pid: &str) -> Reply {
        if req.method != "POST" {
            return errors(404, &[UNKNOWN_CALL]);
        }
        let now = self.now();
        self.state.update(|s| {
            let Some(id) = s.locate(req, pid) else {
                return Reply::empty(404);
            };
            let Some(u) = s.users.get_mut(&id) else {
                return Reply::empty(404);
            };
            let t = token();
            u.auth_token = Some(t.clone());
            u.auth_token_exp = Some(now + SSO_TOKEN_SECS);
            Reply::json(
                201,
                &json!({
                    "username": u.email,
                    "token": t,
                    "expires": format_time(now + SSO_TOKEN_SECS),
                }),
            )
        })
    }

    fn billing_usages(&self, req: &Request, pid: &str) -> Reply {
        if req.method != "GET" {
            return errors(404, &[UNKNOWN_CALL]);
        }
        // `load_parent` looks the user up by id only.
        let rows = self.state.read(|s| {
            let id = pid.parse::<u64>().ok()?;
            s.visible(id)?;
            let mut rows: Vec<&Usage> = s.usages.values().filter(|r| r.user_id == id).collect();
            // `default_scope { order(created_at: :desc) }`
            rows.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            Some(rows.into_iter().map(|r| s.usage_row(r)).collect::<Vec<_>>())
        });
        match rows {
            Some(rows) => paged(req, "billing_usages", rows),
            None => errors(404, &["Unknown User"]),
        }
    }
}

impl Api for ComputeStacksApi {
    fn name(&self) -> &'static str {
        "computestacks"
    }

    fn endpoint(&self, req: &Request) -> String {
        let m = &req.method;
        match route(req) {
            Route::Users => format!("{m} /api/admin/users"),
            Route::User(_) => format!("{m} /api/admin/users/{{id}}"),
            Route::Suspension(_) => format!("{m} /api/admin/users/{{id}}/suspension"),
            Route::UserSso(_) => format!("{m} /api/admin/users/{{id}}/user_sso"),
            Route::BillingUsages(_) => format!("{m} /api/admin/users/{{id}}/billing_usages"),
            Route::Locations => format!("{m} /api/admin/locations"),
            Route::UserGroups => format!("{m} /api/admin/user_groups"),
            Route::SignIn => format!("{m} /"),
            Route::Unknown => format!("{m} {}", req.path),
        }
    }

    fn handle(&self, req: &Request) -> Reply {
        if let Some(throttled) = self.throttle() {
            return throttled;
        }
        let route = route(req);
        match route {
            Route::SignIn if req.method == "GET" => return self.sign_in(req),
            Route::Unknown | Route::SignIn => return errors(404, &[UNKNOWN_CALL]),
            _ => {}
        }
        if !Self::authorised(req) {
            return errors(401, &["Not Authorized"]);
        }
        let version = requested_version(req);
        let deprecated = match version.as_deref().map(str::parse::<u32>) {
            None | Some(Ok(CURRENT_API_VERSION)) => false,
            Some(Ok(v)) if (51..=71).contains(&v) => true,
            _ => {
                let shown = version.unwrap_or_default();
                return errors(
                    422,
                    &[&format!("You requested an unsupported version ({shown})")],
                )
                .with_header("API-Version-Supported", "false");
            }
        };
        let reply = match (&route, req.method.as_str()) {
            (Route::Users, "GET") => self.users_index(req),
            (Route::Users, "POST") => self.users_create(req),
            (Route::User(id), _) => self.user_call(req, id),
            (Route::Suspension(id), _) => self.suspension(req, id),
            (Route::UserSso(id), _) => self.user_sso(req, id),
            (Route::BillingUsages(id), _) => self.billing_usages(req, id),
            (Route::Locations, "GET") => paged(
                req,
                "locations",
                vec![json!({
                    "id": 1,
                    "name": "sim-dc1",
                    "active": true,
                    "fill_to": 10,
                    "overcommit_cpu": true,
                    "overcommit_memory": false,
                })],
            ),
            (Route::UserGroups, "GET") => {
                let groups = self.state.read(|s| {
                    s.user_groups
                        .iter()
                        .map(|(id, name)| {
                            json!({
                                "id": id,
                                "name": name,
                                "is_default": *id == DEFAULT_USER_GROUP,
                                "billing_plan_id": id,
                                "active": true,
                            })
                        })
                        .collect()
                });
                paged(req, "user_groups", groups)
            }
            _ => errors(404, &[UNKNOWN_CALL]),
        };
        if deprecated {
            reply.with_header("API-Deprecated", "true")
        } else {
            reply
        }
    }

    fn error_reply(&self, status: u16, message: &str) -> Reply {
        errors(status, &[message])
    }

    fn control(&self, req: &Request) -> Option<Reply> {
        let body = req.json().unwrap_or(Value::Null);
        let bad = |e: String| Reply::json(400, &json!({ "error": e }));
        let reply = match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/__sim/users/seed") => {
                let count = body["count"].as_u64().unwrap_or(0) as usize;
                let every = body["suspended_every"].as_u64().map(|n| n as usize);
                let group = body["user_group_id"].as_u64();
                let ids = self.seed_users(count, every, group);
                Reply::json(200, &json!({ "created": ids }))
            }
            ("POST", "/__sim/users") => match self.add_user(body) {
                Ok(u) => Reply::json(201, &u),
                Err(e) => bad(e),
            },
            ("GET", "/__sim/users") => Reply::json(200, &self.users()),
            ("GET", "/__sim/users/count") => {
                Reply::json(200, &json!({ "count": self.count_users() }))
            }
            ("POST", "/__sim/usage") => {
                let user = body["user_id"].as_u64().unwrap_or(0);
                match serde_json::from_value::<Vec<UsageSeed>>(body["rows"].clone()) {
                    Ok(rows) => match self.add_usage(user, &rows) {
                        Ok(ids) => Reply::json(201, &json!({ "ids": ids })),
                        Err(e) => bad(e),
                    },
                    Err(e) => bad(e.to_string()),
                }
            }
            ("GET", "/__sim/clock") => Reply::json(200, &json!({ "now": self.now_rfc3339() })),
            ("POST", "/__sim/clock") => {
                if let Some(secs) = body["advance_secs"].as_i64() {
                    self.advance_clock(secs);
                    Reply::json(200, &json!({ "now": self.now_rfc3339() }))
                } else {
                    match self.set_clock(body["now"].as_str()) {
                        Ok(()) => Reply::json(200, &json!({ "now": self.now_rfc3339() })),
                        Err(e) => bad(e),
                    }
                }
            }
            ("POST", "/__sim/rate_limit") => {
                let limit = body["limit"].as_u64().unwrap_or(u64::from(RATE_LIMIT)) as u32;
                let period = body["period_secs"].as_i64().unwrap_or(RATE_PERIOD_SECS);
                self.set_rate_limit(limit, period);
                if body["exhaust"].as_bool() == Some(true) {
                    self.exhaust_rate_limit();
                }
                Reply::json(200, &json!({ "limit": limit, "period_secs": period }))
            }
            ("POST", "/__sim/aggregate") => {
                let enforce = body["enforce_day"].as_bool().unwrap_or(false);
                match self.aggregate_usage(enforce) {
                    Some(items) => Reply::json(200, &items),
                    None => Reply::json(
                        409,
                        &json!({ "error": "not the last day of the month (simulator clock)" }),
                    ),
                }
            }
            ("GET", "/__sim/state") => Reply::json(200, &self.state.read(Clone::clone)),
            _ => return None,
        };
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::base64_encode;

    fn api() -> ComputeStacksApi {
        let api = ComputeStacksApi::open(None).unwrap();
        api.set_clock(Some("2026-11-30T12:00:00Z")).unwrap();
        api
    }

    fn request(method: &str, path_and_query: &str, body: Option<Value>) -> Request {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method: method.into(),
            path: crate::server::percent_decode(path),
            query: crate::server::parse_form(query),
            headers: vec![
                (
                    "authorization".into(),
                    format!(
                        "Basic {}",
                        base64_encode(format!("{API_KEY}:{API_SECRET}").as_bytes())
                    ),
                ),
                ("accept".into(), "application/json; api_version=80".into()),
            ],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    fn json_of(reply: &Reply) -> Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn create(api: &ComputeStacksApi, email: &str, external_id: &str) -> Reply {
        api.handle(&request(
            "POST",
            "/api/admin/users",
            Some(json!({"user": {
                "fname": "Ada", "lname": "Lovelace", "email": email,
                "external_id": external_id,
                "merge_labels": {"provisor": {"client_id": 7, "service_id": 42}}
            }})),
        ))
    }

    #[test]
    fn refuses_bad_credentials_and_unknown_routes_with_the_controller_bodies() {
        let api = api();
        let mut req = request("GET", "/api/admin/locations", None);
        req.headers[0].1 = format!("Basic {}", base64_encode(b"cs-admin-key:wrong"));
        let reply = api.handle(&req);
        assert_eq!(reply.status, 401);
        assert_eq!(json_of(&reply), json!({"errors": ["Not Authorized"]}));
        req.headers.remove(0);
        assert_eq!(api.handle(&req).status, 401);

        let reply = api.handle(&request("GET", "/api/admin/widgets", None));
        assert_eq!(reply.status, 404);
        assert_eq!(
            json_of(&reply),
            json!({"errors": ["Unknown API Call. Please check the documentation."]})
        );
    }

    #[test]
    fn api_versions_obsolete_deprecated_and_current() {
        let api = api();
        let mut req = request("GET", "/api/admin/locations", None);
        let reply = api.handle(&req);
        assert_eq!(reply.status, 200);
        assert_eq!(header(&reply, "API-Deprecated"), None);
        req.headers[1].1 = "application/json; api_version=60".into();
        let reply = api.handle(&req);
        assert_eq!(reply.status, 200);
        assert_eq!(header(&reply, "API-Deprecated"), Some("true"));
        for obsolete in ["40", "50"] {
            req.headers[1].1 = format!("application/json; api_version={obsolete}");
            let reply = api.handle(&req);
            assert_eq!(reply.status, 422);
            assert_eq!(
                json_of(&reply),
                json!({"errors": [format!("You requested an unsupported version ({obsolete})")]})
            );
        }
        req.headers[1].1 = "application/json".into();
        assert_eq!(
            api.handle(&req).status,
            200,
            "no version means the current one"
        );
    }

    #[test]
    fn create_merges_labels_refuses_a_taken_email_and_generates_credentials() {
        let api = api();
        let reply = create(&api, "Ada@Example.com", "provisor-42");
        assert_eq!(reply.status, 201);
        let user = &json_of(&reply)["user"];
        assert_eq!(
            user["email"], "ada@example.com",
            "Devise stores e-mails lower-case"
        );
        assert_eq!(user["labels"]["provisor"]["service_id"], 42);
        assert!(user["auth_token"].is_string() && user["auth_token_exp"].is_string());
        assert_eq!(user["user_group_id"], DEFAULT_USER_GROUP);

        let again = create(&api, "ada@example.com", "provisor-43");
        assert_eq!(again.status, 422);
        assert_eq!(
            json_of(&again),
            json!({"errors": ["Email has already been taken"]})
        );
        let reply = api.handle(&request("POST", "/api/admin/users", Some(json!({}))));
        assert_eq!(json_of(&reply), json!({"errors": ["Missing User Object"]}));
        assert_eq!(api.count_users(), 1);
    }

    #[test]
    fn users_are_found_by_id_external_id_email_and_label_but_never_the_support_admin() {
        let api = api();
        let id = json_of(&create(&api, "ada@example.com", "provisor-42"))["user"]["id"]
            .as_u64()
            .unwrap();
        let encoded: String = base64_encode(b"ada@example.com")
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        for path in [
            format!("/api/admin/users/{id}"),
            "/api/admin/users/provisor-42?find_by_external_id=true".to_string(),
            format!("/api/admin/users/{encoded}?find_by_email=true"),
            "/api/admin/users/42?find_by_label=provisor_service_id".to_string(),
            "/api/admin/users/7?find_by_label=provisor_client_id".to_string(),
        ] {
            let reply = api.handle(&request("GET", &path, None));
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(json_of(&reply)["user"]["id"], id, "{path}");
        }
        for path in [
            "/api/admin/users/provisor-41?find_by_external_id=true",
            "/api/admin/users/41?find_by_label=provisor_service_id",
            "/api/admin/users/2",
            "/api/admin/users/999",
        ] {
            let reply = api.handle(&request("GET", path, None));
            assert_eq!(reply.status, 404, "{path}");
            assert!(reply.body.is_empty(), "head :not_found has no body");
        }
        let show = json_of(&api.handle(&request(
            "GET",
            &format!("/api/admin/users/{id}?include=balance"),
            None,
        )));
        assert_eq!(show["user"]["unprocessed_usage"], 0.0);
        assert_eq!(show["user"]["services"]["deployments"], 0);
    }

    #[test]
    fn user_list_pages_with_total_and_per_page_headers() {
        let api = api();
        api.seed_users(95, Some(10), None);
        let reply = api.handle(&request("GET", "/api/admin/users", None));
        assert_eq!(
            header(&reply, "Total"),
            Some("96"),
            "95 seeded and the API admin"
        );
        assert_eq!(header(&reply, "Per-Page"), Some("30"));
        assert!(header(&reply, "Link").unwrap().contains("rel=\"next\""));
        let users = json_of(&reply)["users"].as_array().unwrap().clone();
        assert_eq!(users.len(), 30);
        assert_eq!(users[0]["email"], ADMIN_EMAIL);
        assert!(users.iter().all(|u| u["email"] != SUPPORT_EMAIL));
        assert!(users[1]["user_group"]["name"].is_string());
        let last = api.handle(&request("GET", "/api/admin/users?page=4", None));
        assert_eq!(json_of(&last)["users"].as_array().unwrap().len(), 6);
        let beyond = api.handle(&request("GET", "/api/admin/users?page=5", None));
        assert_eq!(json_of(&beyond)["users"], json!([]));
        let big = api.handle(&request("GET", "/api/admin/users?per_page=100", None));
        assert_eq!(json_of(&big)["users"].as_array().unwrap().len(), 96);
        let suspended = api
            .users()
            .iter()
            .filter(|u| !u.is_admin && !u.active)
            .count();
        assert_eq!(suspended, 9);
    }

    #[test]
    fn suspension_sso_and_sign_in_follow_the_simulator_clock() {
        let api = api();
        let id = json_of(&create(&api, "ada@example.com", "provisor-42"))["user"]["id"]
            .as_u64()
            .unwrap();
        let path = format!("/api/admin/users/{id}/suspension");
        let reply = api.handle(&request("POST", &path, None));
        assert_eq!((reply.status, json_of(&reply)), (202, json!({})));
        assert!(!api.user(id).unwrap().active);
        assert_eq!(
            api.handle(&request("POST", &path, None)).status,
            202,
            "twice is fine"
        );
        let reply = api.handle(&request("DELETE", &path, None));
        assert_eq!(reply.status, 202);
        assert!(api.user(id).unwrap().active);

        let sso = api.handle(&request(
            "POST",
            &format!("/api/admin/users/{id}/user_sso"),
            None,
        ));
        assert_eq!(sso.status, 201);
        let sso = json_of(&sso);
        assert_eq!(sso["username"], "ada@example.com");
        assert_eq!(sso["expires"], "2026-11-30T12:01:00.000Z");
        let token = sso["token"].as_str().unwrap();
        assert_eq!(api.check_login("ada@example.com", token), Ok(id));
        assert!(
            api.check_login("ada@example.com", token).is_err(),
            "single use"
        );

        let sso = json_of(&api.handle(&request(
            "POST",
            &format!("/api/admin/users/{id}/user_sso"),
            None,
        )));
        api.advance_clock(61);
        let err = api
            .check_login("ada@example.com", sso["token"].as_str().unwrap())
            .unwrap_err();
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn rate_limit_throttles_then_resets_with_the_window() {
        let api = api();
        api.set_rate_limit(2, 300);
        let req = request("GET", "/api/admin/locations", None);
        assert_eq!(api.handle(&req).status, 200);
        assert_eq!(api.handle(&req).status, 200);
        let reply = api.handle(&req);
        assert_eq!(reply.status, 429);
        assert_eq!(reply.body, b"Throttled\n");
        assert_eq!(header(&reply, "RateLimit-Limit"), Some("2"));
        assert_eq!(header(&reply, "RateLimit-Remaining"), Some("0"));
        let reset: i64 = header(&reply, "RateLimit-Reset").unwrap().parse().unwrap();
        assert_eq!(reset % 300, 0);
        assert!(reset > api.now());
        api.advance_clock(300);
        assert_eq!(api.handle(&req).status, 200);
        api.exhaust_rate_limit();
        assert_eq!(api.handle(&req).status, 429);
    }

    #[test]
    fn billing_usages_page_newest_first_and_month_end_aggregation_marks_them_processed() {
        let api = api();
        let ada = json_of(&create(&api, "ada@example.com", "provisor-42"))["user"]["id"]
            .as_u64()
            .unwrap();
        let bob = api
            .add_user(json!({"fname": "Bob", "lname": "B", "email": "bob@example.com"}))
            .unwrap()
            .id;
        let row = |start: &str, end: &str, product: &str, qty: &str, rate: &str| UsageSeed {
            period_start: start.into(),
            period_end: end.into(),
            product: product.into(),
            rate: rate.into(),
            rate_period: 1,
            qty: qty.into(),
            qty_total: None,
            total: None,
            processed: false,
            external_id: None,
            created_at: None,
        };
        api.add_usage(
            ada,
            &[
                row("2026-11-01", "2026-11-15", "Small", "336", "0.01"),
                row("2026-11-15", "2026-12-01", "Small", "384", "0.01"),
                row("2026-11-01", "2026-12-01", "Tiny", "1", "0.001"),
            ],
        )
        .unwrap();
        api.add_usage(
            bob,
            &[row("2026-11-01", "2026-12-01", "Small", "2", "0.002")],
        )
        .unwrap();
        let reply = api.handle(&request(
            "GET",
            &format!("/api/admin/users/{ada}/billing_usages?per_page=2"),
            None,
        ));
        assert_eq!(header(&reply, "Total"), Some("3"));
        let rows = json_of(&reply)["billing_usages"].clone();
        assert_eq!(rows.as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["period_end"], "2026-12-01T00:00:00.000Z");
        assert_eq!(
            rows[0]["subscription_product"]["product"]["name"], "Tiny",
            "newest first"
        );
        assert_eq!(rows[1]["total"], "3.84");
        assert_eq!(
            api.handle(&request("GET", "/api/admin/users/999/billing_usages", None))
                .status,
            404
        );

        assert_eq!(
            api.aggregate_usage(true).map(|a| a.len()),
            Some(1),
            "Nov 30 is month end"
        );
        let all = api.usages();
        // Ada's "Small" (3.36 + 3.84) is billed; her "Tiny" (0.001) is under a cent but
        // marked processed with the rest of her rows; Bob's 0.004 stays unprocessed.
        assert!(all.iter().filter(|r| r.user_id == ada).all(|r| r.processed));
        assert!(all
            .iter()
            .filter(|r| r.user_id == bob)
            .all(|r| !r.processed));
        api.set_clock(Some("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(api.aggregate_usage(true), None);
        api.set_clock(Some("2026-11-30T12:00:00Z")).unwrap();
        assert_eq!(api.aggregate_usage(false), Some(vec![]));
    }

    #[test]
    fn aggregated_objects_carry_the_documented_fields() {
        let api = api();
        let ada = json_of(&create(&api, "ada@example.com", "provisor-42"))["user"]["id"]
            .as_u64()
            .unwrap();
        api.add_usage(
            ada,
            &[UsageSeed {
                period_start: "2026-11-01T00:00:00Z".into(),
                period_end: "2026-12-01T00:00:00Z".into(),
                product: "Small".into(),
                rate: "0.5".into(),
                rate_period: 730,
                qty: "1".into(),
                qty_total: None,
                total: Some("0.5".into()),
                processed: false,
                external_id: Some("ext-1".into()),
                created_at: None,
            }],
        )
        .unwrap();
        let out = api.aggregate_usage(false).unwrap();
        let o = &out[0];
        for key in [
            "subscription_id",
            "subscription_product_id",
            "product",
            "billing_resource",
            "container_service_id",
            "container_id",
            "user",
            "external_id",
            "total",
            "qty",
            "period_start",
            "period_end",
            "usage_items",
        ] {
            assert!(o.get(key).is_some(), "{key} missing from {o:#}");
        }
        assert_eq!(o["user"]["labels"]["provisor"]["service_id"], 42);
        assert_eq!(o["usage_items"][0]["rate_period"], 730);
        assert_eq!(o["total"], 0.5);
    }

    #[test]
    fn state_survives_a_restart_on_the_same_directory() {
        let dir = std::env::temp_dir().join(format!("cs-sim-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let api = ComputeStacksApi::open(Some(&dir)).unwrap();
            api.seed_users(3, None, Some(2));
        }
        let api = ComputeStacksApi::open(Some(&dir)).unwrap();
        assert_eq!(api.count_users(), 3);
        assert_eq!(api.users().last().unwrap().user_group_id, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn update_and_delete_a_user() {
        let api = api();
        let id = json_of(&create(&api, "ada@example.com", "provisor-42"))["user"]["id"]
            .as_u64()
            .unwrap();
        api.add_user(json!({"fname": "B", "lname": "B", "email": "bob@example.com"}))
            .unwrap();
        let path = format!("/api/admin/users/{id}");
        let reply = api.handle(&request(
            "PATCH",
            &path,
            Some(json!({"user": {"active": false, "lname": "Byron"}})),
        ));
        assert_eq!(reply.status, 200);
        assert_eq!(json_of(&reply)["user"]["active"], false);
        assert_eq!(json_of(&reply)["user"]["lname"], "Byron");
        let reply = api.handle(&request(
            "PATCH",
            &path,
            Some(json!({"user": {"email": "BOB@example.com"}})),
        ));
        assert_eq!(reply.status, 422);
        assert_eq!(
            json_of(&reply),
            json!({"errors": ["Email has already been taken"]})
        );
        assert_eq!(api.handle(&request("DELETE", &path, None)).status, 204);
        assert_eq!(api.handle(&request("GET", &path, None)).status, 404);
        assert_eq!(api.handle(&request("DELETE", &path, None)).status, 404);
    }

    #[test]
    fn control_endpoints_seed_count_and_move_the_clock() {
        let api = api();
        let control = |method: &str, path: &str, body: Value| {
            let mut req = request(method, path, Some(body));
            req.headers.clear();
            api.control(&req).expect("a control endpoint")
        };
        let seeded = control("POST", "/__sim/users/seed", json!({"count": 3}));
        assert_eq!(json_of(&seeded)["created"], json!([3, 4, 5]));
        let count = control("GET", "/__sim/users/count", Value::Null);
        assert_eq!(json_of(&count)["count"], 3);
        let usage = control(
            "POST",
            "/__sim/usage",
            json!({"user_id": 3, "rows": [{"period_start": "2026-11-01", "period_end": "2026-11-02", "rate": "0.5", "qty": "2"}]}),
        );
        assert_eq!(usage.status, 201);
        assert_eq!(api.usages()[0].total, "1");
        let clock = control("POST", "/__sim/clock", json!({"advance_secs": 60}));
        assert_eq!(json_of(&clock)["now"], "2026-11-30T12:01:00.000Z");
        let limited = control(
            "POST",
            "/__sim/rate_limit",
            json!({"limit": 1, "exhaust": true}),
        );
        assert_eq!(limited.status, 200);
        assert_eq!(
            api.handle(&request("GET", "/api/admin/locations", None))
                .status,
            429
        );
        let out = control("POST", "/__sim/aggregate", json!({}));
        assert_eq!(json_of(&out).as_array().map(Vec::len), Some(1));
        assert!(api
            .control(&request("GET", "/__sim/nothing", None))
            .is_none());
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-11-30T23:00:00Z").unwrap();
        assert_eq!(format_time(t), "2026-11-30T23:00:00.000Z");
        assert_eq!(parse_time("2026-12-01T01:00:00.123+02:00"), Some(t));
        assert_eq!(parse_time("2026-11-30"), Some(t - 23 * 3600));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    }
}
