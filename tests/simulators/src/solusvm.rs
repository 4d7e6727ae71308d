//! A SolusVM 2 panel's REST API (`/api/v1/`), as far as the post-pay module uses it.
//!
//! Faithful to `reference/remote-apis.md` §2: `Authorization: Bearer {token}` (401
//! `{"message":"Unauthenticated.","errors":{}}` otherwise); Laravel-style JSON bodies
//! `{"data": …}`; error bodies `{"message": "…", "errors": {"field": ["…"]}}`; lists paged
//! with `links{first,last,prev,next}` and `meta{current_page,from,last_page,path,per_page,
//! to,total}`. Users (`POST/GET users`, `GET/PUT/DELETE users/{id}`, `filter[search]` on the
//! e-mail), one-time login tokens (`POST users/{id}/tokens`), servers (`GET servers`,
//! `filter[user_id]`, `GET servers/{id}`, `POST servers/{id}/suspend|resume`) and
//! `GET projects` (the connection test).
//!
//! Where the public record is silent the simulator defines a shape, marked `ASSUMPTION:`
//! below and listed in `docs/modules/solusvm.md`:
//! * the post-paid usage endpoint `GET users/{id}/usage?period_start=&period_end=`
//!   ([`USAGE_ASSUMPTION`]);
//! * the browser login URL built from a one-time token, `GET /auth/by-token?token=`,
//!   and the admin page of a user, `GET /admin/users/{id}`;
//! * `DELETE users/{id}` refusing (422) while the user still has servers.
//!
//! Test-only controls, as Rust methods on [`SolusVm`] and under `/__sim/`: create plans,
//! users and servers (`/__sim/plans`, `/__sim/users`, `/__sim/servers`), suspend or
//! delete a server by hand (`/__sim/server-state`), record uptime (`/__sim/uptime`), move
//! the clock (`/__sim/clock`), make an endpoint answer garbage (`/__sim/garbage`: the
//! request takes effect, then a PHP warning comes back before the JSON, status 200) and
//! read the whole state (`GET /__sim/state`).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::server::{Api, Reply, Request, Simulator};
use crate::state::Persisted;

/// The admin API token the simulator accepts.
pub const API_TOKEN: &str = "solusvm-sim-admin-token";
/// The API's path prefix.
pub const API_PREFIX: &str = "/api/v1/";
/// Page size when a list request names none (Laravel's default).
pub const DEFAULT_PER_PAGE: usize = 15;
/// The largest page a list request may ask for.
pub const MAX_PER_PAGE: usize = 100;
/// The e-mail of the admin user every fresh panel has (id 1).
pub const ADMIN_EMAIL: &str = "admin@solus.example";
/// The simulator's clock until [`SolusVm::set_now`] moves it.
pub const START_CLOCK: &str = "2026-01-01T00:00:00Z";
/// Role ids: 1 is the admin role, 2 the client role.
pub const ROLES: [(u64, &str); 2] = [(1, "admin"), (2, "client")];
/// Limit groups the panel knows.
pub const LIMIT_GROUPS: [(u64, &str); 2] = [(1, "Default"), (2, "Resellers")];
/// Plans every fresh panel has: (id, name, tokens per hour, tokens per month). The first
/// is the SolusVM docs' billing example (7 tokens per hour, capped at 5000 a month).
pub const DEFAULT_PLANS: [(u64, &str, u64, u64); 2] =
    [(1, "Small", 7, 5000), (2, "Large", 20, 12000)];

/// ASSUMPTION: the post-paid usage endpoint. The public record does not show the call
/// the WHMCS post-pay module reads per-VM hours from; this simulator (and the module)
/// use `GET users/{id}/usage?period_start=YYYY-MM-DD&period_end=YYYY-MM-DD` (end
/// exclusive) answering `{"data":[{"server_id","server_uuid","name","hours",
/// "tokens_per_hour","tokens_per_month"}]}`, one entry per server with uptime in the
/// period, where `hours` counts started hours (total uptime minutes / 60, rounded up).
pub const USAGE_ASSUMPTION: &str = "GET users/{id}/usage?period_start&period_end";

/// A SolusVM user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub email: String,
    /// Never shown by the API.
    pub password: String,
    /// `active`, `locked` or `suspended`.
    pub status: String,
    #[serde(default)]
    pub billing_user_id: Option<u64>,
    #[serde(default)]
    pub billing_token: Option<String>,
    #[serde(default)]
    pub limit_group_id: Option<u64>,
    #[serde(default)]
    pub language_id: Option<u64>,
    pub roles: Vec<u64>,
    pub created_at: String,
}

/// A plan (what a server is billed at).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: u64,
    pub name: String,
    pub tokens_per_hour: u64,
    pub tokens_per_month: u64,
}

/// A virtual server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: u64,
    pub uuid: String,
    pub name: String,
    pub user_id: u64,
    pub plan_id: u64,
    pub ip: String,
    /// Power state: `running` or `stopped`.
    pub status: String,
    pub is_suspended: bool,
    pub created_at: String,
}

/// Uptime of one server on one day, in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uptime {
    pub server_id: u64,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub minutes: u64,
}

/// A login token minted by `POST users/{id}/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u64,
    pub user_id: u64,
    pub access_token: String,
    pub is_one_time: bool,
    /// Visits of the login URL that logged in.
    pub used: u32,
    pub created_at: String,
}

/// Everything the panel knows, persisted after every change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub clock: Option<String>,
    #[serde(default)]
    pub next_id: u64,
    #[serde(default)]
    pub users: BTreeMap<u64, User>,
    #[serde(default)]
    pub plans: BTreeMap<u64, Plan>,
    #[serde(default)]
    pub servers: BTreeMap<u64, Server>,
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub uptime: Vec<Uptime>,
    /// Endpoint → how many more replies to garble.
    #[serde(default)]
    pub garbage: BTreeMap<String, u32>,
    /// Whether the defaults (admin user, plans) were put in.
    #[serde(default)]
    pub seeded: bool,
}

impl State {
    fn now(&self) -> String {
        self.clock
            .clone()
            .unwrap_or_else(|| START_CLOCK.to_string())
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn seed(&mut self) {
        if self.seeded {
            return;
        }
        self.seeded = true;
        self.next_id = self.next_id.max(100);
        self.users.insert(
            1,
            User {
                id: 1,
                email: ADMIN_EMAIL.to_string(),
                password: "admin-password".to_string(),
                status: "active".to_string(),
                billing_user_id: None,
                billing_token: None,
                limit_group_id: None,
                language_id: None,
                roles: vec![1],
                created_at: START_CLOCK.to_string(),
            },
        );
        for (id, name, tph, tpm) in DEFAULT_PLANS {
            self.plans.insert(
                id,
                Plan {
                    id,
                    name: name.to_string(),
                    tokens_per_hour: tph,
                    tokens_per_month: tpm,
                },
            );
        }
    }

    fn user_json(u: &User) -> Value {
        let group = u.limit_group_id.and_then(|g| {
            LIMIT_GROUPS
                .iter()
                .find(|(id, _)| *id == g)
                .map(|(id, name)| json!({"id": id, "name": name}))
        });
        let roles: Vec<Value> = u
            .roles
            .iter()
            .filter_map(|r| ROLES.iter().find(|(id, _)| id == r))
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        json!({
            "id": u.id,
            "email": u.email,
            "status": u.status,
            "billing_user_id": u.billing_user_id,
            "limit_group": group,
            "language_id": u.language_id,
            "roles": roles,
            "created_at": u.created_at,
        })
    }

    fn server_json(&self, s: &Server) -> Value {
        let user = self.users.get(&s.user_id);
        let plan = self.plans.get(&s.plan_id);
        json!({
            "id": s.id,
            "uuid": s.uuid,
            "name": s.name,
            "description": "",
            "status": s.status,
            "is_suspended": s.is_suspended,
            "user": user.map(|u| json!({"id": u.id, "email": u.email})),
            "plan": plan.map(|p| json!({
                "id": p.id,
                "name": p.name,
                "tokens_per_hour": p.tokens_per_hour,
                "tokens_per_month": p.tokens_per_month,
            })),
            "ip_addresses": {
                "ipv4": [{"id": s.id, "ip": s.ip, "gateway": "192.0.2.1", "netmask": "255.255.255.0"}],
                "ipv6": [],
            },
            "created_at": s.created_at,
        })
    }

    /// Started hours of each server of `user_id` with uptime in `[start, end)`.
    fn usage(&self, user_id: u64, start: &str, end: &str) -> Vec<Value> {
        let mut minutes: BTreeMap<u64, u64> = BTreeMap::new();
        for u in &self.uptime {
            if u.date.as_str() >= start && u.date.as_str() < end {
                *minutes.entry(u.server_id).or_default() += u.minutes;
            }
        }
        minutes
            .into_iter()
            .filter_map(|(server_id, m)| {
                let s = self.servers.get(&server_id)?;
                if s.user_id != user_id || m == 0 {
                    return None;
                }
                let plan = self.plans.get(&s.plan_id);
                Some(json!({
                    "server_id": s.id,
                    "server_uuid": s.uuid,
                    "name": s.name,
                    "hours": m.div_ceil(60),
                    "tokens_per_hour": plan.map(|p| p.tokens_per_hour).unwrap_or(0),
                    "tokens_per_month": plan.map(|p| p.tokens_per_month).unwrap_or(0),
                }))
            })
            .collect()
    }
}

/// The simulated panel. Start it with [`start`].
pub struct SolusVm {
    state: Persisted<State>,
}

/// Starts a SolusVM simulator on `127.0.0.1:port` (0: any free port), keeping its state
/// in `state_dir/solusvm.json` (or in memory). The second value is the typed handle for
/// seeding and inspecting it.
pub fn start(state_dir: Option<&Path>, port: u16) -> io::Result<(Simulator, Arc<SolusVm>)> {
    let api = Arc::new(SolusVm::open(state_dir)?);
    let sim = Simulator::start(api.clone(), port)?;
    Ok((sim, api))
}

fn error(status: u16, message: &str, errors: &Value) -> Reply {
    Reply::json(status, &json!({"message": message, "errors": errors}))
}

fn invalid(field: &str, message: &str) -> Reply {
    error(
        422,
        "The given data was invalid.",
        &json!({ field: [message] }),
    )
}

fn not_found() -> Reply {
    error(404, "Not Found.", &json!({}))
}

/// Reads a date `YYYY-MM-DD` (digits and dashes in the right places, month 1–12, day 1–31).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && matches!(text[5..7].parse::<u32>(), Ok(1..=12))
        && matches!(text[8..10].parse::<u32>(), Ok(1..=31))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

/// One page of `items` as Laravel paginates it.
fn page(req: &Request, resource: &str, items: Vec<Value>) -> Reply {
    let per_page = req
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let current = req
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let from = (current - 1) * per_page;
    let data: Vec<Value> = items.into_iter().skip(from).take(per_page).collect();
    let host = req.header("host").unwrap_or("127.0.0.1");
    let path = format!("http://{host}{API_PREFIX}{resource}");
    let link = |n: usize| Value::String(format!("{path}?page={n}"));
    let (from_n, to_n) = if data.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (json!(from + 1), json!(from + data.len()))
    };
    Reply::json(
        200,
        &json!({
            "data": data,
            "links": {
                "first": link(1),
                "last": link(last),
                "prev": if current > 1 { link(current - 1) } else { Value::Null },
                "next": if current < last { link(current + 1) } else { Value::Null },
            },
            "meta": {
                "current_page": current,
                "from": from_n,
                "last_page": last,
                "path": path,
                "per_page": per_page,
                "to": to_n,
                "total": total,
            }
        }),
    )
}

/// A 40-character random token.
fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..40)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

fn random_uuid() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect()
    };
    format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12))
}

impl SolusVm {
    /// Opens (or starts) the state in `state_dir/solusvm.json`, or in memory.
    pub fn open(state_dir: Option<&Path>) -> io::Result<SolusVm> {
        let path = state_dir.map(|d| d.join("solusvm.json"));
        let state = Persisted::open(path.as_deref())?;
        state.update(State::seed);
        Ok(SolusVm { state })
    }

    /// A copy of the whole state.
    pub fn state(&self) -> State {
        self.state.read(Clone::clone)
    }

    /// Sets the simulator's clock (RFC 3339), used for `created_at`.
    pub fn set_now(&self, now: &str) {
        self.state.update(|s| s.clock = Some(now.to_string()));
    }

    /// Adds a plan and returns its id.
    pub fn add_plan(&self, name: &str, tokens_per_hour: u64, tokens_per_month: u64) -> u64 {
        self.state.update(|s| {
            let id = s.next();
            s.plans.insert(
                id,
                Plan {
                    id,
                    name: name.to_string(),
                    tokens_per_hour,
                    tokens_per_month,
                },
            );
            id
        })
    }

    /// Adds a user directly (as an admin would in the panel) and returns its id.
    pub fn seed_user(&self, email: &str, status: &str, billing_user_id: Option<u64>) -> u64 {
        self.state.update(|s| {
            let id = s.next();
            let created_at = s.now();
            s.users.insert(
                id,
                User {
                    id,
                    email: email.to_string(),
                    password: "seeded-password".to_string(),
                    status: status.to_string(),
                    billing_user_id,
                    billing_token: None,
                    limit_group_id: None,
                    language_id: None,
                    roles: vec![2],
                    created_at,
                },
            );
            id
        })
    }

    /// Creates a running server for a user on a plan (as the client would in the panel).
    pub fn create_server(&self, user_id: u64, plan_id: u64, name: &str) -> Result<Server, String> {
        self.state.update(|s| {
            if !s.users.contains_key(&user_id) {
                return Err(format!("no user #{user_id}"));
            }
            if !s.plans.contains_key(&plan_id) {
                return Err(format!("no plan #{plan_id}"));
            }
            let id = s.next();
            let server = Server {
                id,
                uuid: random_uuid(),
                name: name.to_string(),
                user_id,
                plan_id,
                ip: format!("192.0.2.{}", 10 + id % 240),
                status: "running".to_string(),
                is_suspended: false,
                created_at: s.now(),
            };
            s.servers.insert(id, server.clone());
            Ok(server)
        })
    }

    /// Suspends or resumes a server by hand (as an admin would in the panel).
    pub fn set_server_suspended(&self, server_id: u64, suspended: bool) -> Result<(), String> {
        self.state.update(|s| match s.servers.get_mut(&server_id) {
            Some(v) => {
                v.is_suspended = suspended;
                v.status = if suspended { "stopped" } else { "running" }.to_string();
                Ok(())
            }
            None => Err(format!("no server #{server_id}")),
        })
    }

    /// Deletes a server (as the client would in the panel); its recorded uptime stays.
    pub fn remove_server(&self, server_id: u64) -> Result<(), String> {
        self.state.update(|s| match s.servers.remove(&server_id) {
            Some(_) => Ok(()),
            None => Err(format!("no server #{server_id}")),
        })
    }

    /// Records `minutes` of uptime for a server on one day (`YYYY-MM-DD`).
    pub fn record_uptime_minutes(
        &self,
        server_id: u64,
        date: &str,
        minutes: u64,
    ) -> Result<(), String> {
        if !is_date(date) {
            return Err(format!("{date:?} is not YYYY-MM-DD"));
        }
        self.state.update(|s| {
            if !s.servers.contains_key(&server_id) {
                return Err(format!("no server #{server_id}"));
            }
            s.uptime.push(Uptime {
                server_id,
                date: date.to_string(),
                minutes,
            });
            Ok(())
        })
    }

    /// Records `hours` of uptime for a server in a month (`YYYY-MM`), spread over its
    /// days from the 1st, at most 24 hours a day.
    pub fn record_uptime_hours(
        &self,
        server_id: u64,
        month: &str,
        hours: u64,
    ) -> Result<(), String> {
        let parsed = month
            .split_once('-')
            .and_then(|(y, m)| Some((y.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(y, m)| month.len() == 7 && *y >= 1970 && (1..=12).contains(m));
        let Some((year, mon)) = parsed else {
            return Err(format!("{month:?} is not YYYY-MM"));
        };
        let days = u64::from(days_in_month(year, mon));
        if hours > days * 24 {
            return Err(format!("{month} has only {} hours", days * 24));
        }
        let mut left = hours;
        let mut day = 1;
        while left > 0 {
            let today = left.min(24);
            self.record_uptime_minutes(server_id, &format!("{month}-{day:02}"), today * 60)?;
            left -= today;
            day += 1;
        }
        Ok(())
    }

    /// Makes the next `times` replies of `endpoint` (an [`Api::endpoint`] key such as
    /// `POST /api/v1/users`) garbage: the request takes effect, then a PHP warning comes
    /// back with status 200 in front of the JSON.
    pub fn garbage(&self, endpoint: &str, times: u32) {
        self.state.update(|s| {
            s.garbage.insert(endpoint.to_string(), times);
        });
    }

    /// A user by id.
    pub fn user(&self, id: u64) -> Option<User> {
        self.state.read(|s| s.users.get(&id).cloned())
    }

    /// Every user with exactly this e-mail (a correct module makes at most one).
    pub fn users_with_email(&self, email: &str) -> Vec<User> {
        self.state.read(|s| {
            s.users
                .values()
                .filter(|u| u.email.eq_ignore_ascii_case(email))
                .cloned()
                .collect()
        })
    }

    /// A server by id.
    pub fn server(&self, id: u64) -> Option<Server> {
        self.state.read(|s| s.servers.get(&id).cloned())
    }

    /// The servers of a user.
    pub fn servers_of(&self, user_id: u64) -> Vec<Server> {
        self.state.read(|s| {
            s.servers
                .values()
                .filter(|v| v.user_id == user_id)
                .cloned()
                .collect()
        })
    }

    /// The login tokens minted for a user.
    pub fn tokens_of(&self, user_id: u64) -> Vec<Token> {
        self.state.read(|s| {
            s.tokens
                .iter()
                .filter(|t| t.user_id == user_id)
                .cloned()
                .collect()
        })
    }

    fn api(&self, req: &Request) -> Reply {
        let Some(rest) = req.path.strip_prefix(API_PREFIX) else {
            return self.browser(req);
        };
        if req.bearer() != Some(API_TOKEN) {
            return error(401, "Unauthenticated.", &json!({}));
        }
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let id = |i: usize| segs.get(i).and_then(|s| s.parse::<u64>().ok());
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["projects"]) => {
                let now = self.state.read(State::now);
                page(
                    req,
                    "projects",
                    vec![
                        json!({"id": 1, "name": "Default Project", "description": "", "created_at": now}),
                    ],
                )
            }
            ("GET", ["users"]) => self.list_users(req),
            ("POST", ["users"]) => self.create_user(req),
            ("GET", ["users", _]) => match id(1)
                .and_then(|i| self.state.read(|s| s.users.get(&i).map(State::user_json)))
            {
                Some(u) => Reply::json(200, &json!({"data": u})),
                None => not_found(),
            },
            ("PUT", ["users", _]) => match id(1) {
                Some(i) => self.update_user(i, req),
                None => not_found(),
            },
            ("DELETE", ["users", _]) => match id(1) {
                Some(i) => self.delete_user(i),
                None => not_found(),
            },
            ("POST", ["users", _, "tokens"]) => match id(1) {
                Some(i) => self.mint_token(i, req),
                None => not_found(),
            },
            ("GET", ["users", _, "usage"]) => match id(1) {
                Some(i) => self.user_usage(i, req),
                None => not_found(),
            },
            ("GET", ["servers"]) => self.list_servers(req),
            ("GET", ["servers", _]) => match id(1).and_then(|i| {
                self.state
                    .read(|s| s.servers.get(&i).map(|v| s.server_json(v)))
            }) {
                Some(v) => Reply::json(200, &json!({"data": v})),
                None => not_found(),
            },
            ("POST", ["servers", _, action @ ("suspend" | "resume")]) => match id(1) {
                Some(i) => self.suspend_server(i, *action == "suspend"),
                None => not_found(),
            },
            _ => not_found(),
        }
    }

    fn list_users(&self, req: &Request) -> Reply {
        let search = req.query("filter[search]").map(str::to_lowercase);
        let items = self.state.read(|s| {
            s.users
                .values()
                .filter(|u| {
                    search
                        .as_deref()
                        .is_none_or(|q| u.email.to_lowercase().contains(q))
                })
                .map(State::user_json)
                .collect()
        });
        page(req, "users", items)
    }

    fn create_user(&self, req: &Request) -> Reply {
        let Ok(Value::Object(body)) = req.json() else {
            return error(400, "The request body is not a JSON object.", &json!({}));
        };
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |k: &str| body.get(k).and_then(Value::as_u64);
        let Some(email) = text("email").filter(|e| !e.is_empty()) else {
            return invalid("email", "The email field is required.");
        };
        if !email.contains('@') {
            return invalid("email", "The email must be a valid email address.");
        }
        let Some(password) = text("password") else {
            return invalid("password", "The password field is required.");
        };
        if password.chars().count() < 8 {
            return invalid("password", "The password must be at least 8 characters.");
        }
        let status = text("status").unwrap_or_else(|| "active".to_string());
        if !matches!(status.as_str(), "active" | "locked" | "suspended") {
            return invalid("status", "The selected status is invalid.");
        }
        let limit_group_id = number("limit_group_id");
        if limit_group_id.is_some_and(|g| !LIMIT_GROUPS.iter().any(|(id, _)| *id == g)) {
            return invalid("limit_group_id", "The selected limit group id is invalid.");
        }
        let roles = match body.get("roles") {
            None | Some(Value::Null) => vec![2],
            Some(Value::Array(r)) => {
                let ids: Vec<u64> = r.iter().filter_map(Value::as_u64).collect();
                if ids.len() != r.len() || ids.iter().any(|i| !ROLES.iter().any(|(id, _)| id == i))
                {
                    return invalid("roles", "The selected roles is invalid.");
                }
                ids
            }
            Some(_) => return invalid("roles", "The roles must be an array."),
        };
        self.state.update(|s| {
            if s.users
                .values()
                .any(|u| u.email.eq_ignore_ascii_case(&email))
            {
                return invalid("email", "The email has already been taken.");
            }
            let id = s.next();
            let user = User {
                id,
                email,
                password,
                status,
                billing_user_id: number("billing_user_id"),
                billing_token: text("billing_token"),
                limit_group_id,
                language_id: number("language_id"),
                roles,
                created_at: s.now(),
            };
            let shown = State::user_json(&user);
            s.users.insert(id, user);
            Reply::json(201, &json!({"data": shown}))
        })
    }

    fn update_user(&self, id: u64, req: &Request) -> Reply {
        let Ok(Value::Object(body)) = req.json() else {
            return error(400, "The request body is not a JSON object.", &json!({}));
        };
        if let Some(status) = body.get("status") {
            if !matches!(status.as_str(), Some("active" | "locked" | "suspended")) {
                return invalid("status", "The selected status is invalid.");
            }
        }
        if let Some(g) = body.get("limit_group_id").and_then(Value::as_u64) {
            if !LIMIT_GROUPS.iter().any(|(id, _)| *id == g) {
                return invalid("limit_group_id", "The selected limit group id is invalid.");
            }
        }
        self.state.update(|s| {
            let Some(user) = s.users.get_mut(&id) else {
                return not_found();
            };
            if let Some(v) = body.get("status").and_then(Value::as_str) {
                user.status = v.to_string();
            }
            if let Some(v) = body.get("password").and_then(Value::as_str) {
                user.password = v.to_string();
            }
            if let Some(v) = body.get("limit_group_id") {
                user.limit_group_id = v.as_u64();
            }
            if let Some(v) = body.get("billing_user_id") {
                user.billing_user_id = v.as_u64();
            }
            if let Some(v) = body.get("language_id") {
                user.language_id = v.as_u64();
            }
            let user = user.clone();
            Reply::json(200, &json!({"data": State::user_json(&user)}))
        })
    }

    fn delete_user(&self, id: u64) -> Reply {
        self.state.update(|s| {
            if !s.users.contains_key(&id) {
                return not_found();
            }
            // ASSUMPTION: the panel refuses to delete a user who still has servers.
            if s.servers.values().any(|v| v.user_id == id) {
                return error(
                    422,
                    "The user has servers; delete them first.",
                    &json!({"servers": ["The user has servers."]}),
                );
            }
            s.users.remove(&id);
            s.tokens.retain(|t| t.user_id != id);
            Reply::empty(204)
        })
    }

    fn mint_token(&self, user_id: u64, req: &Request) -> Reply {
        let one_time = req
            .json()
            .ok()
            .and_then(|b| b.get("is_one_time").and_then(Value::as_bool))
            .unwrap_or(false);
        self.state.update(|s| {
            if !s.users.contains_key(&user_id) {
                return not_found();
            }
            let id = s.next();
            let token = Token {
                id,
                user_id,
                access_token: random_token(),
                is_one_time: one_time,
                used: 0,
                created_at: s.now(),
            };
            let shown = json!({
                "id": token.id,
                "access_token": token.access_token,
                "token_type": "Bearer",
                "is_one_time": token.is_one_time,
                "created_at": token.created_at,
            });
            s.tokens.push(token);
            Reply::json(201, &json!({"data": shown}))
        })
    }

    fn user_usage(&self, user_id: u64, req: &Request) -> Reply {
        // ASSUMPTION: see USAGE_ASSUMPTION.
        let (Some(start), Some(end)) = (req.query("period_start"), req.query("period_end")) else {
            return invalid(
                "period_start",
                "The period start and period end fields are required.",
            );
        };
        if !is_date(start) {
            return invalid("period_start", "The period start is not a valid date.");
        }
        if !is_date(end) || end <= start {
            return invalid(
                "period_end",
                "The period end must be a date after period start.",
            );
        }
        self.state.read(|s| {
            if !s.users.contains_key(&user_id) {
                return not_found();
            }
            Reply::json(200, &json!({"data": s.usage(user_id, start, end)}))
        })
    }

    fn list_servers(&self, req: &Request) -> Reply {
        let user = req
            .query("filter[user_id]")
            .map(|u| u.parse::<u64>().unwrap_or(0));
        let items = self.state.read(|s| {
            s.servers
                .values()
                .filter(|v| user.is_none_or(|u| v.user_id == u))
                .map(|v| s.server_json(v))
                .collect()
        });
        page(req, "servers", items)
    }

    fn suspend_server(&self, id: u64, suspend: bool) -> Reply {
        self.state.update(|s| {
            let Some(server) = s.servers.get_mut(&id) else {
                return not_found();
            };
            // Suspending a suspended server (or resuming a running one) changes nothing.
            if server.is_suspended != suspend {
                server.is_suspended = suspend;
                server.status = if suspend { "stopped" } else { "running" }.to_string();
            }
            let server = server.clone();
            Reply::json(200, &json!({"data": s.server_json(&server)}))
        })
    }

    /// The pages a browser opens: the one-time login URL and the admin page of a user.
    fn browser(&self, req: &Request) -> Reply {
        let segs = req.segments();
        match (req.method.as_str(), segs.as_slice()) {
            // ASSUMPTION: the browser login URL for a one-time token.
            ("GET", ["auth", "by-token"]) => {
                let token = req.query("token").unwrap_or("");
                self.state.update(|s| {
                    let Some(t) = s.tokens.iter_mut().find(|t| t.access_token == token) else {
                        return Reply::text(401, "<html><body>This login link is not valid.</body></html>");
                    };
                    if t.is_one_time && t.used > 0 {
                        return Reply::text(
                            401,
                            "<html><body>This login link was already used; ask for a new one.</body></html>",
                        );
                    }
                    let user_id = t.user_id;
                    let (email, status) = match s.users.get(&user_id) {
                        Some(u) => (u.email.clone(), u.status.clone()),
                        None => return Reply::text(401, "<html><body>This login link is not valid.</body></html>"),
                    };
                    if status == "locked" {
                        return Reply::text(403, "<html><body>Your account is locked.</body></html>");
                    }
                    if let Some(t) = s.tokens.iter_mut().find(|t| t.access_token == token) {
                        t.used += 1;
                    }
                    Reply::text(200, format!("<html><body>Logged in as {email}</body></html>"))
                        .with_header("set-cookie", format!("solus_session=user-{user_id}; HttpOnly"))
                })
            }
            // ASSUMPTION: the admin area's page of one user (the staff member's own
            // panel login applies; nothing is minted).
            ("GET", ["admin", "users", id]) => {
                let found = id.parse::<u64>().ok().and_then(|i| {
                    self.state
                        .read(|s| s.users.get(&i).map(|u| u.email.clone()))
                });
                match found {
                    Some(email) => Reply::text(
                        200,
                        format!("<html><body>Admin: user {email}</body></html>"),
                    ),
                    None => Reply::text(404, "<html><body>Not found</body></html>"),
                }
            }
            _ => not_found(),
        }
    }

    fn control_reply(&self, req: &Request) -> Option<Reply> {
        let body = req.json().unwrap_or(Value::Null);
        let text = |k: &str| body.get(k).and_then(Value::as_str);
        let number = |k: &str| body.get(k).and_then(Value::as_u64);
        let bad = |e: String| Reply::json(400, &json!({"error": e}));
        Some(match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/__sim/state") => Reply::json(200, &self.state()),
            ("POST", "/__sim/clock") => match text("now") {
                Some(now) => {
                    self.set_now(now);
                    Reply::json(200, &json!({"now": now}))
                }
                None => bad("{\"now\": RFC 3339} is required".into()),
            },
            ("POST", "/__sim/plans") => match (
                text("name"),
                number("tokens_per_hour"),
                number("tokens_per_month"),
            ) {
                (Some(name), Some(tph), Some(tpm)) => {
                    Reply::json(201, &json!({"id": self.add_plan(name, tph, tpm)}))
                }
                _ => bad("name, tokens_per_hour and tokens_per_month are required".into()),
            },
            ("POST", "/__sim/users") => match text("email") {
                Some(email) => Reply::json(
                    201,
                    &json!({"id": self.seed_user(email, text("status").unwrap_or("active"), number("billing_user_id"))}),
                ),
                None => bad("email is required".into()),
            },
            ("POST", "/__sim/servers") => match (number("user_id"), number("plan_id")) {
                (Some(user), Some(plan)) => {
                    match self.create_server(user, plan, text("name").unwrap_or("vm")) {
                        Ok(server) => Reply::json(201, &server),
                        Err(e) => bad(e),
                    }
                }
                _ => bad("user_id and plan_id are required".into()),
            },
            ("POST", "/__sim/server-state") => {
                let Some(server) = number("server_id") else {
                    return Some(bad("server_id is required".into()));
                };
                let result = if body.get("deleted").and_then(Value::as_bool) == Some(true) {
                    self.remove_server(server)
                } else {
                    let suspended = body
                        .get("is_suspended")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    self.set_server_suspended(server, suspended)
                };
                match result {
                    Ok(()) => Reply::json(200, &json!({"server_id": server})),
                    Err(e) => bad(e),
                }
            }
            ("POST", "/__sim/uptime") => {
                let Some(server) = number("server_id") else {
                    return Some(bad("server_id is required".into()));
                };
                let result = match (
                    text("month"),
                    number("hours"),
                    text("date"),
                    number("minutes"),
                ) {
                    (Some(month), Some(hours), _, _) => {
                        self.record_uptime_hours(server, month, hours)
                    }
                    (_, _, Some(date), Some(minutes)) => {
                        self.record_uptime_minutes(server, date, minutes)
                    }
                    _ => Err("give month and hours, or date and minutes".into()),
                };
                match result {
                    Ok(()) => Reply::json(200, &json!({"recorded": true})),
                    Err(e) => bad(e),
                }
            }
            ("POST", "/__sim/garbage") => match text("endpoint") {
                Some(endpoint) => {
                    let times = number("times").unwrap_or(1).min(u64::from(u32::MAX)) as u32;
                    self.garbage(endpoint, times);
                    Reply::json(200, &json!({"endpoint": endpoint, "times": times}))
                }
                None => bad("endpoint is required".into()),
            },
            _ => return None,
        })
    }
}

impl Api for SolusVm {
    fn name(&self) -> &'static str {
        "solusvm"
    }

    /// `METHOD /path` with numeric segments as `{id}`: `PUT /api/v1/users/{id}`.
    fn endpoint(&self, req: &Request) -> String {
        let path: Vec<&str> = req
            .segments()
            .into_iter()
            .map(|s| {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    "{id}"
                } else {
                    s
                }
            })
            .collect();
        format!("{} /{}", req.method, path.join("/"))
    }

    fn handle(&self, req: &Request) -> Reply {
        let reply = self.api(req);
        let endpoint = self.endpoint(req);
        if self.state.read(|s| !s.garbage.contains_key(&endpoint)) {
            return reply;
        }
        let garble = self.state.update(|s| match s.garbage.get_mut(&endpoint) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    s.garbage.remove(&endpoint);
                }
                true
            }
            _ => false,
        });
        if !garble {
            return reply;
        }
        let mut body = b"<br />\n<b>Warning</b>:  Undefined array key \"locale\" in <b>/var/www/solus/app/Http/Middleware/Locale.php</b> on line <b>42</b><br />\n".to_vec();
        body.extend_from_slice(&reply.body);
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=UTF-8".into())],
            body,
        }
    }

    fn error_reply(&self, status: u16, message: &str) -> Reply {
        error(status, message, &json!({}))
    }

    fn control(&self, req: &Request) -> Option<Reply> {
        self.control_reply(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> SolusVm {
        SolusVm::open(None).unwrap()
    }

    fn request(method: &str, path_and_query: &str, body: &Value) -> Request {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: crate::server::parse_form(query),
            headers: vec![
                ("authorization".into(), format!("Bearer {API_TOKEN}")),
                ("host".into(), "127.0.0.1:9".into()),
            ],
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
        }
    }

    fn call(api: &SolusVm, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let reply = api.handle(&request(method, path, body));
        let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        (reply.status, value)
    }

    fn new_user(api: &SolusVm, email: &str) -> u64 {
        let (status, v) = call(
            api,
            "POST",
            "/api/v1/users",
            &json!({"email": email, "password": "long-enough", "status": "active", "billing_user_id": 7}),
        );
        assert_eq!(status, 201, "{v}");
        v["data"]["id"].as_u64().unwrap()
    }

    #[test]
    fn refuses_a_missing_or_wrong_token_with_the_laravel_body() {
        let api = sim();
        for auth in [None, Some("Bearer nope"), Some("Basic eDp5")] {
            let mut req = request("GET", "/api/v1/projects", &Value::Null);
            req.headers.retain(|(k, _)| k != "authorization");
            if let Some(a) = auth {
                req.headers.push(("authorization".into(), a.into()));
            }
            let reply = api.handle(&req);
            assert_eq!(reply.status, 401);
            let body: Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(body, json!({"message": "Unauthenticated.", "errors": {}}));
        }
        assert_eq!(call(&api, "GET", "/api/v1/projects", &Value::Null).0, 200);
    }

    #[test]
    fn creates_users_refuses_duplicates_and_finds_them_by_search() {
        let api = sim();
        let id = new_user(&api, "ann@example.com");
        let (status, v) = call(
            &api,
            "POST",
            "/api/v1/users",
            &json!({"email": "ANN@example.com", "password": "long-enough"}),
        );
        assert_eq!(status, 422);
        assert_eq!(
            v,
            json!({"message": "The given data was invalid.", "errors": {"email": ["The email has already been taken."]}})
        );
        let (status, v) = call(
            &api,
            "POST",
            "/api/v1/users",
            &json!({"email": "b@example.com", "password": "short"}),
        );
        assert_eq!(status, 422);
        assert!(
            v["errors"]["password"][0]
                .as_str()
                .unwrap()
                .contains("8 characters"),
            "{v}"
        );

        new_user(&api, "annabel@example.com");
        let (_, v) = call(
            &api,
            "GET",
            "/api/v1/users?filter%5Bsearch%5D=ann%40example.com",
            &Value::Null,
        );
        let found: Vec<u64> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_u64().unwrap())
            .collect();
        assert_eq!(found, [id]);
        let (_, v) = call(
            &api,
            "GET",
            "/api/v1/users?filter[search]=ann",
            &Value::Null,
        );
        assert_eq!(v["meta"]["total"], 2, "{v}");
        assert_eq!(v["data"][0]["billing_user_id"], 7);
        assert_eq!(v["data"][0]["roles"][0]["name"], "client");
        assert!(
            v["data"][0].get("password").is_none(),
            "passwords are never shown"
        );

        let (status, v) = call(
            &api,
            "PUT",
            &format!("/api/v1/users/{id}"),
            &json!({"status": "suspended"}),
        );
        assert_eq!(
            (status, v["data"]["status"].as_str()),
            (200, Some("suspended"))
        );
        let (status, _) = call(
            &api,
            "PUT",
            &format!("/api/v1/users/{id}"),
            &json!({"status": "gone"}),
        );
        assert_eq!(status, 422);
        assert_eq!(call(&api, "GET", "/api/v1/users/9999", &Value::Null).0, 404);
    }

    #[test]
    fn pages_carry_links_and_meta() {
        let api = sim();
        let user = new_user(&api, "pages@example.com");
        for n in 0..17 {
            api.create_server(user, 1, &format!("vm-{n}")).unwrap();
        }
        let (status, v) = call(&api, "GET", "/api/v1/servers?page=2", &Value::Null);
        assert_eq!(status, 200);
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["meta"],
            json!({"current_page": 2, "from": 16, "last_page": 2, "path": "http://127.0.0.1:9/api/v1/servers",
                   "per_page": 15, "to": 17, "total": 17})
        );
        assert_eq!(
            v["links"]["prev"],
            "http://127.0.0.1:9/api/v1/servers?page=1"
        );
        assert_eq!(v["links"]["next"], Value::Null);
        let first = &v["data"][0];
        assert_eq!(first["user"]["email"], "pages@example.com");
        assert_eq!(first["plan"]["tokens_per_hour"], 7);
        assert!(first["ip_addresses"]["ipv4"][0]["ip"]
            .as_str()
            .unwrap()
            .starts_with("192.0.2."));
        let (_, v) = call(&api, "GET", "/api/v1/servers?page=9", &Value::Null);
        assert_eq!(
            (
                v["meta"]["from"].clone(),
                v["data"].as_array().unwrap().len()
            ),
            (Value::Null, 0)
        );
        let (_, v) = call(
            &api,
            "GET",
            &format!("/api/v1/servers?filter%5Buser_id%5D={}", user + 1000),
            &Value::Null,
        );
        assert_eq!(v["meta"]["total"], 0);
    }

    #[test]
    fn suspend_and_resume_are_idempotent() {
        let api = sim();
        let user = new_user(&api, "s@example.com");
        let vm = api.create_server(user, 1, "web").unwrap();
        for _ in 0..2 {
            let (status, v) = call(
                &api,
                "POST",
                &format!("/api/v1/servers/{}/suspend", vm.id),
                &Value::Null,
            );
            assert_eq!(
                (status, v["data"]["is_suspended"].as_bool()),
                (200, Some(true))
            );
        }
        let (_, v) = call(
            &api,
            "POST",
            &format!("/api/v1/servers/{}/resume", vm.id),
            &Value::Null,
        );
        assert_eq!(v["data"]["is_suspended"], false);
        assert_eq!(
            call(&api, "POST", "/api/v1/servers/999999/resume", &Value::Null).0,
            404
        );
    }

    #[test]
    fn one_time_tokens_log_in_once() {
        let api = sim();
        let user = new_user(&api, "t@example.com");
        let (status, v) = call(
            &api,
            "POST",
            &format!("/api/v1/users/{user}/tokens"),
            &json!({"is_one_time": true}),
        );
        assert_eq!(status, 201);
        let token = v["data"]["access_token"].as_str().unwrap().to_string();
        let visit = || {
            api.handle(&request(
                "GET",
                &format!("/auth/by-token?token={token}"),
                &Value::Null,
            ))
            .status
        };
        assert_eq!(visit(), 200);
        assert_eq!(visit(), 401);
        assert_eq!(api.tokens_of(user)[0].used, 1);
    }

    #[test]
    fn usage_counts_started_hours_per_server_in_the_period() {
        let api = sim();
        let user = new_user(&api, "u@example.com");
        let small = api.create_server(user, 1, "small").unwrap();
        let large = api.create_server(user, 2, "large").unwrap();
        api.record_uptime_hours(small.id, "2026-01", 700).unwrap();
        api.record_uptime_minutes(large.id, "2026-01-31", 5)
            .unwrap();
        api.record_uptime_minutes(large.id, "2026-02-01", 600)
            .unwrap();
        let (status, v) = call(
            &api,
            "GET",
            &format!("/api/v1/users/{user}/usage?period_start=2026-01-01&period_end=2026-02-01"),
            &Value::Null,
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["data"],
            json!([
                {"server_id": small.id, "server_uuid": small.uuid, "name": "small", "hours": 700, "tokens_per_hour": 7, "tokens_per_month": 5000},
                {"server_id": large.id, "server_uuid": large.uuid, "name": "large", "hours": 1, "tokens_per_hour": 20, "tokens_per_month": 12000},
            ])
        );
        let (status, v) = call(
            &api,
            "GET",
            &format!("/api/v1/users/{user}/usage?period_start=2026-02-01&period_end=2026-01-01"),
            &Value::Null,
        );
        assert_eq!(status, 422, "{v}");
        assert!(api
            .record_uptime_hours(small.id, "2026-02", 29 * 24)
            .is_err());
    }

    #[test]
    fn garbage_takes_effect_then_answers_html() {
        let api = sim();
        api.garbage("POST /api/v1/users", 1);
        let reply = api.handle(&request(
            "POST",
            "/api/v1/users",
            &json!({"email": "g@example.com", "password": "long-enough"}),
        ));
        assert_eq!(reply.status, 200);
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
        assert_eq!(api.users_with_email("g@example.com").len(), 1);
        assert!(api.state().garbage.is_empty());
    }

    #[test]
    fn refuses_to_delete_a_user_with_servers() {
        let api = sim();
        let user = new_user(&api, "d@example.com");
        let vm = api.create_server(user, 1, "web").unwrap();
        let (status, v) = call(
            &api,
            "DELETE",
            &format!("/api/v1/users/{user}"),
            &Value::Null,
        );
        assert_eq!(status, 422, "{v}");
        api.state.update(|s| s.servers.remove(&vm.id));
        assert_eq!(
            call(
                &api,
                "DELETE",
                &format!("/api/v1/users/{user}"),
                &Value::Null
            )
            .0,
            204
        );
        assert_eq!(
            call(
                &api,
                "DELETE",
                &format!("/api/v1/users/{user}"),
                &Value::Null
            )
            .0,
            404
        );
    }

    #[test]
    fn endpoints_replace_ids_and_state_survives_a_restart() {
        let api = sim();
        let req = request("POST", "/api/v1/servers/12/suspend", &Value::Null);
        assert_eq!(api.endpoint(&req), "POST /api/v1/servers/{id}/suspend");

        let dir = std::env::temp_dir().join(format!(
            "solusvm-sim-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let first = SolusVm::open(Some(&dir)).unwrap();
        let id = new_user(&first, "keep@example.com");
        drop(first);
        let again = SolusVm::open(Some(&dir)).unwrap();
        assert_eq!(
            again.user(id).map(|u| u.email),
            Some("keep@example.com".to_string())
        );
        assert_eq!(again.users_with_email(ADMIN_EMAIL).len(), 1, "seeded once");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
