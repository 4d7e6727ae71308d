//! ISPsystem's billing (BILLmanager) as a license reseller sees it: ISPmanager 6 and
//! VMmanager 6 licenses ordered, edited, suspended, resumed and prolonged through
//! `/manager/billmgr?authinfo=user:pass&func=...&out=xml` (reference §3).
//!
//! What it models, and why:
//! * **Parameters** come from the query string or an urlencoded POST body, as billmgr
//!   accepts both. Every reply is XML under `<doc>` with HTTP 200, errors included:
//!   `<doc><error type=".." object=".."><param name="..">..</param><msg>..</msg></error></doc>`.
//! * **Authentication**: `authinfo=user:pass` on every call, or a session id from
//!   `func=auth&username=&password=` passed back as `auth=ID`. A wrong password is
//!   `error type="auth"`. ASSUMPTION: sessions never expire here (the real ones last an
//!   hour after the last request).
//! * **Money is real**: `soft.order.param` with `skipbasket=on` and `sok=ok` debits the
//!   reseller balance at once by the pricelist's monthly price (plus node addons) times
//!   the period; too little balance is `error type="balance"` and nothing is bought.
//!   `service.prolong` debits the same way. Without `skipbasket=on` the license goes
//!   into the basket unpaid (status 1) and never gets a key. `remoteid` is stored but
//!   not deduplicated (the real dedup semantics are undocumented), so a client that
//!   retries an order blindly buys twice, exactly the risk the modules must avoid.
//!   `autoprolong` is refused with any value: the documentation names none (reference
//!   §3 lists the parameter without values), so the least the docs promise is nothing.
//! * **The list shows only its documented columns**: `func=soft` answers `id`,
//!   `licname`, `ip`, `period`, `createdate`, `expiredate`, `autoprolong`, `pricelist`,
//!   `cost` and `status` (reference §3 (g)), never `remoteid`; the `soft.edit elid=`
//!   form shows `remoteid` with the license's other fields.
//! * **Debits are counted per `remoteid`** (the license's at the time of the debit),
//!   so tests can check that each service paid exactly once.
//! * **A held reply** ([`Billmgr::hold_reply`], `POST /__sim/hold-reply`): the next
//!   call of one function takes effect, then its reply waits, so a test can kill the
//!   client between the change and its answer.
//! * **Keys come late**: a paid license's `lickey` stays empty (status 5, processing)
//!   for the first [`DEFAULT_KEY_DELAY`] `soft.edit` reads of it (settable with
//!   [`Billmgr::set_key_delay`] or `POST /__sim/key-delay`); the next read issues it.
//!   `soft.edit clicked_button=newkey sok=ok` issues a new key at once.
//! * **A clock**: the simulator's "today" (the system date until set with
//!   [`Billmgr::set_today`] or `POST /__sim/clock`) dates orders and prolongations; a
//!   license whose `expiredate` is before today is stopped (status 3), and
//!   `soft.resume` refuses it until it is prolonged. Nothing is prolonged
//!   automatically (`autoprolong` is stored only): renewing is the module's job.
//! * **Status** is derived: 4 deleted, 1 unpaid, 3 suspended or expired, 5 paid but no
//!   key yet, 2 active.
//! * **SSO**: `session.newkey username= key=` registers a one-time key; the browser URL
//!   `/billmgr?checkcookie=no&func=auth&username=..&key=..` (also under
//!   `/manager/billmgr`) consumes it and answers an HTML page.
//!
//! Prices (monthly, EUR; invented, ASSUMPTION): see [`PRICES`]. A node addon's value is
//! the license's total node count; the first node is included in the base price.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::server::{Api, Reply, Request, Simulator};
use crate::state::Persisted;

/// The reseller account the simulator knows.
pub const USERNAME: &str = "reseller";
/// Its password.
pub const PASSWORD: &str = "reseller-secret";
/// The balance a fresh simulator starts with.
pub const START_BALANCE: &str = "1000.00";
/// `soft.edit` reads of a freshly ordered license that still show an empty key.
pub const DEFAULT_KEY_DELAY: u32 = 2;

/// One orderable license: what it costs and how it is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// The pricelist id.
    pub pricelist: u64,
    /// The product.
    pub name: &'static str,
    /// The order function that sells it.
    pub order_func: &'static str,
    /// The monthly price in cents.
    pub monthly_cents: i64,
    /// The node addon: (addon id, monthly cents per node beyond the first).
    pub node_addon: Option<(u64, i64)>,
}

/// Every pricelist the simulator sells (ids from ISPsystem's v6 reselling docs; prices
/// invented).
pub const PRICES: [Price; 5] = [
    Price {
        pricelist: 55227,
        name: "ISPmanager 6 Lite",
        order_func: "soft.order.param",
        monthly_cents: 800,
        node_addon: None,
    },
    Price {
        pricelist: 55228,
        name: "ISPmanager 6 Pro",
        order_func: "soft.order.param",
        monthly_cents: 1400,
        node_addon: None,
    },
    Price {
        pricelist: 55229,
        name: "ISPmanager 6 Host",
        order_func: "soft.order.param",
        monthly_cents: 2500,
        node_addon: None,
    },
    Price {
        pricelist: 55230,
        name: "ISPmanager 6 Business",
        order_func: "soft.order.param",
        monthly_cents: 4000,
        node_addon: Some((55236, 1000)),
    },
    Price {
        pricelist: 55163,
        name: "VMmanager 6",
        order_func: "platform.order.param",
        monthly_cents: 2000,
        node_addon: Some((55165, 500)),
    },
];

/// The price entry of a pricelist.
pub fn price(pricelist: u64) -> Option<&'static Price> {
    PRICES.iter().find(|p| p.pricelist == pricelist)
}

/// One license as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct License {
    pub id: u64,
    pub pricelist: u64,
    /// Months per order and per prolongation.
    pub period: i64,
    pub licname: String,
    pub ip: String,
    pub remoteid: String,
    #[serde(default)]
    pub project: String,
    pub createdate: String,
    pub expiredate: String,
    #[serde(default)]
    pub autoprolong: String,
    /// Addon id → value (node count).
    #[serde(default)]
    pub addons: BTreeMap<u64, u32>,
    /// The price of one month, in cents.
    pub monthly_cents: i64,
    /// Empty until issued.
    #[serde(default)]
    pub lickey: String,
    /// False for an order left in the basket (`skipbasket` not `on`).
    pub paid: bool,
    #[serde(default)]
    pub suspended: bool,
    #[serde(default)]
    pub deleted: bool,
    /// `soft.edit` reads left before the key is issued.
    #[serde(default)]
    pub key_reads_left: u32,
    /// How many keys were issued (the first, then one per `newkey`).
    #[serde(default)]
    pub keys_issued: u32,
}

impl License {
    /// The status billmgr reports: 1 ordered (unpaid), 2 active, 3 stopped (suspended
    /// or expired), 4 deleted, 5 processing (paid, no key yet).
    pub fn status(&self, today: &str) -> u8 {
        if self.deleted {
            4
        } else if !self.paid {
            1
        } else if self.suspended || self.expired(today) {
            3
        } else if self.lickey.is_empty() {
            5
        } else {
            2
        }
    }

    /// Whether `today` is past the expiry date.
    pub fn expired(&self, today: &str) -> bool {
        self.expiredate.as_str() < today
    }

    /// The price of `months`, in cents.
    pub fn cost_cents(&self, months: i64) -> i64 {
        self.monthly_cents * months
    }
}

/// A debit of the reseller balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    /// The license paid for.
    pub license: u64,
    /// `order` or `prolong`.
    pub reason: String,
    /// The license's `remoteid` when it was paid for.
    #[serde(default)]
    pub remoteid: String,
    /// Decimal text (`"8.00"`).
    pub amount: String,
    /// The simulator's date of the debit.
    pub date: String,
}

/// Counters for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Accepted `*.order.param` calls with `sok=ok` (paid or not).
    pub orders: u64,
    /// Debits of the balance (orders and prolongations).
    pub debits: u64,
    /// Successful `service.prolong` calls.
    pub prolongs: u64,
    /// Licenses that exist (deleted ones included).
    pub licenses: u64,
    /// Browser logins through a `session.newkey` key.
    pub sso_logins: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    balance_cents: i64,
    /// `None`: the system date.
    #[serde(default)]
    today: Option<String>,
    key_delay: u32,
    next_id: u64,
    #[serde(default)]
    licenses: BTreeMap<u64, License>,
    #[serde(default)]
    debits: Vec<Debit>,
    #[serde(default)]
    orders: u64,
    #[serde(default)]
    prolongs: u64,
    /// Session id → user.
    #[serde(default)]
    sessions: BTreeMap<String, String>,
    #[serde(default)]
    next_session: u64,
    /// One-time login key → user.
    #[serde(default)]
    login_keys: BTreeMap<String, String>,
    #[serde(default)]
    sso_logins: u64,
    /// A function whose next reply is held back after it took effect, and for how long.
    #[serde(default)]
    hold: Option<(String, u64)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            balance_cents: parse_money(START_BALANCE).unwrap_or(0),
            today: None,
            key_delay: DEFAULT_KEY_DELAY,
            next_id: 4_100_001,
            licenses: BTreeMap::new(),
            debits: Vec::new(),
            orders: 0,
            prolongs: 0,
            sessions: BTreeMap::new(),
            next_session: 1,
            login_keys: BTreeMap::new(),
            sso_logins: 0,
            hold: None,
        }
    }
}

impl State {
    fn today(&self) -> String {
        self.today.clone().unwrap_or_else(system_today)
    }

    fn debit(&mut self, license: u64, reason: &str, cents: i64) {
        self.balance_cents -= cents;
        let date = self.today();
        let remoteid = self
            .licenses
            .get(&license)
            .map(|l| l.remoteid.clone())
            .unwrap_or_default();
        self.debits.push(Debit {
            license,
            remoteid,
            reason: reason.to_string(),
            amount: format_money(cents),
            date,
        });
    }
}

/// The billmgr API. Share it as `Arc<Billmgr>`: the server holds one, tests another.
pub struct Billmgr {
    state: Persisted<State>,
}

/// Starts the simulator on `127.0.0.1:port` (0: any free port), keeping its state in
/// `state_dir/ispsystem.json` when a directory is given.
pub fn start(state_dir: Option<&Path>, port: u16) -> io::Result<Simulator> {
    Ok(start_with_handle(state_dir, port)?.0)
}

/// [`start`], also returning the typed handle for seeding and reading state.
pub fn start_with_handle(
    state_dir: Option<&Path>,
    port: u16,
) -> io::Result<(Simulator, Arc<Billmgr>)> {
    let api = Arc::new(Billmgr::open(state_dir)?);
    let sim = Simulator::start(api.clone(), port)?;
    Ok((sim, api))
}

/// The billmgr URL of a running simulator (`http://127.0.0.1:PORT/manager/billmgr`).
pub fn api_url(sim: &Simulator) -> String {
    format!("{}/manager/billmgr", sim.url())
}

type Fields = Vec<(String, String)>;

/// A billmgr error reply.
struct BmError {
    kind: &'static str,
    object: String,
    params: Fields,
    msg: String,
}

impl BmError {
    fn new(kind: &'static str, object: &str, msg: impl Into<String>) -> Self {
        BmError {
            kind,
            object: object.to_string(),
            params: vec![("object".to_string(), object.to_string())],
            msg: msg.into(),
        }
    }
    fn value(mut self, value: &str) -> Self {
        self.params.push(("value".to_string(), value.to_string()));
        self
    }
    fn reply(&self) -> Reply {
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><error type=\"{}\" object=\"{}\" lang=\"en\">",
            esc(self.kind),
            esc(&self.object)
        );
        for (name, value) in &self.params {
            let _ = write!(x, "<param name=\"{}\">{}</param>", esc(name), esc(value));
        }
        let _ = write!(x, "<msg>{}</msg></error></doc>", esc(&self.msg));
        Reply::xml(200, x)
    }
}

fn missing_license(elid: &str) -> BmError {
    // ASSUMPTION: an unknown elid is `error type="missing" object="elid"`.
    BmError::new("missing", "elid", format!("License '{elid}' not found")).value(elid)
}

/// `<doc>` with these child elements, values escaped.
fn doc(fields: &[(&str, String)]) -> Reply {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>");
    for (name, value) in fields {
        x.push_str(&element(name, value));
    }
    x.push_str("</doc>");
    Reply::xml(200, x)
}

fn element(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("<{name}/>")
    } else {
        format!("<{name}>{}</{name}>", esc(value))
    }
}

fn ok() -> Reply {
    Reply::xml(
        200,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><ok/></doc>",
    )
}

/// The parameters of one billmgr call.
struct Params(Fields);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str, value: &str) -> bool {
        self.get(name) == Some(value)
    }
}

impl Billmgr {
    /// Opens (or starts) the state in `state_dir/ispsystem.json`; `None` keeps it in memory.
    pub fn open(state_dir: Option<&Path>) -> io::Result<Billmgr> {
        let path = state_dir.map(|d| d.join("ispsystem.json"));
        Ok(Billmgr {
            state: Persisted::open(path.as_deref())?,
        })
    }

    /// The reseller balance, decimal text.
    pub fn balance(&self) -> String {
        self.state.read(|s| format_money(s.balance_cents))
    }

    /// Sets the reseller balance (decimal text such as `"12.50"`).
    pub fn set_balance(&self, amount: &str) -> Result<(), String> {
        let cents =
            parse_money(amount).ok_or_else(|| format!("{amount:?} is not an amount like 12.50"))?;
        self.state.update(|s| s.balance_cents = cents);
        Ok(())
    }

    /// The simulator's date, `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        self.state.read(State::today)
    }

    /// Moves the simulator's clock to `date` (`YYYY-MM-DD`).
    pub fn set_today(&self, date: &str) -> Result<(), String> {
        if parse_date(date).is_none() {
            return Err(format!("{date:?} is not a date like 2026-01-31"));
        }
        self.state.update(|s| s.today = Some(date.to_string()));
        Ok(())
    }

    /// Sets how many `soft.edit` reads of a new license show an empty key.
    pub fn set_key_delay(&self, reads: u32) {
        self.state.update(|s| s.key_delay = reads);
    }

    /// Every license with its full state.
    pub fn licenses(&self) -> Vec<License> {
        self.state.read(|s| s.licenses.values().cloned().collect())
    }

    /// One license.
    pub fn license(&self, id: u64) -> Option<License> {
        self.state.read(|s| s.licenses.get(&id).cloned())
    }

    /// A license's status as `soft` would report it today.
    pub fn status(&self, id: u64) -> Option<u8> {
        self.state.read(|s| {
            let today = s.today();
            s.licenses.get(&id).map(|l| l.status(&today))
        })
    }

    /// Holds back the reply of the next call of `func` for `ms` milliseconds after the
    /// call took effect (0 removes the hold).
    pub fn hold_reply(&self, func: &str, ms: u64) {
        self.state.update(|s| {
            s.hold = (ms > 0).then(|| (func.to_string(), ms));
        });
    }

    /// Order debits per `remoteid` (the license's when it was bought).
    pub fn order_debits_per_remoteid(&self) -> BTreeMap<String, u64> {
        self.state.read(|s| {
            let mut per: BTreeMap<String, u64> = BTreeMap::new();
            for d in s.debits.iter().filter(|d| d.reason == "order") {
                *per.entry(d.remoteid.clone()).or_default() += 1;
            }
            per
        })
    }

    /// Every debit, oldest first.
    pub fn debits(&self) -> Vec<Debit> {
        self.state.read(|s| s.debits.clone())
    }

    /// Counters.
    pub fn counts(&self) -> Counts {
        self.state.read(|s| Counts {
            orders: s.orders,
            debits: s.debits.len() as u64,
            prolongs: s.prolongs,
            licenses: s.licenses.len() as u64,
            sso_logins: s.sso_logins,
        })
    }

    fn authenticate(&self, p: &Params) -> Result<String, BmError> {
        if let Some(authinfo) = p.get("authinfo") {
            let (user, pass) = authinfo.split_once(':').unwrap_or((authinfo, ""));
            if user == USERNAME && pass == PASSWORD {
                return Ok(user.to_string());
            }
            return Err(bad_password());
        }
        if let Some(session) = p.get("auth") {
            let user = self.state.read(|s| s.sessions.get(session).cloned());
            return user.ok_or_else(|| {
                BmError::new(
                    "auth",
                    "session",
                    "The session has expired or does not exist",
                )
            });
        }
        Err(BmError::new(
            "auth",
            "authinfo",
            "Authorization required: send authinfo=user:password or auth=SESSION",
        ))
    }

    fn dispatch(&self, func: &str, p: &Params) -> Result<Reply, BmError> {
        match func {
            "auth" => self.auth(p),
            "soft" => Ok(self.list()),
            "soft.edit" => self.edit(p),
            "soft.suspend" => self.set_suspended(p, true),
            "soft.resume" => self.set_suspended(p, false),
            "soft.order.param" | "platform.order.param" => self.order(func, p),
            "service.prolong" => self.prolong(p),
            "session.newkey" => self.newkey(p),
            "" => Err(BmError::new(
                "missing",
                "func",
                "The func parameter is required",
            )),
            other => Err(
                BmError::new("missing", "func", format!("Function '{other}' not found"))
                    .value(other),
            ),
        }
    }

    fn auth(&self, p: &Params) -> Result<Reply, BmError> {
        let user = p.get("username").unwrap_or_default();
        if user != USERNAME || p.get("password") != Some(PASSWORD) {
            return Err(bad_password());
        }
        let id = self.state.update(|s| {
            let id = format!("{:016x}", fnv(&format!("session-{}", s.next_session)));
            s.next_session += 1;
            s.sessions.insert(id.clone(), user.to_string());
            id
        });
        Ok(Reply::xml(
            200,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><auth id=\"{id}\" level=\"16\">{id}</auth></doc>"
            ),
        ))
    }

    fn list(&self) -> Reply {
        self.state.read(|s| {
            let today = s.today();
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>");
            for l in s.licenses.values() {
                x.push_str("<elem>");
                for (name, value) in [
                    ("id", l.id.to_string()),
                    ("licname", l.licname.clone()),
                    ("ip", l.ip.clone()),
                    ("period", l.period.to_string()),
                    ("createdate", l.createdate.clone()),
                    ("expiredate", l.expiredate.clone()),
                    ("autoprolong", l.autoprolong.clone()),
                    // ASSUMPTION: the list carries the pricelist id (the real one may
                    // show its name).
                    ("pricelist", l.pricelist.to_string()),
                    ("cost", format_money(l.cost_cents(l.period))),
                    ("status", l.status(&today).to_string()),
                ] {
                    x.push_str(&element(name, &value));
                }
                x.push_str("</elem>");
            }
            x.push_str("</doc>");
            Reply::xml(200, x)
        })
    }

    fn elid(p: &Params) -> Result<u64, BmError> {
        let raw = p.get("elid").unwrap_or_default();
        if raw.is_empty() {
            return Err(BmError::new(
                "missing",
                "elid",
                "The elid parameter is required",
            ));
        }
        raw.parse().map_err(|_| missing_license(raw))
    }

    fn edit(&self, p: &Params) -> Result<Reply, BmError> {
        let id = Self::elid(p)?;
        if let Some(ip) = p.get("ip") {
            if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(
                    BmError::new("value", "ip", format!("'{ip}' is not an IP address")).value(ip),
                );
            }
        }
        self.state.update(|s| {
            let today = s.today();
            let l = s
                .licenses
                .get_mut(&id)
                .ok_or_else(|| missing_license(&id.to_string()))?;
            if l.deleted {
                return Err(BmError::new("access", "elid", format!("License {id} is deleted")));
            }
            if !p.has("sok", "ok") {
                // A read: the form with the license's fields. The key shows up after
                // the configured number of reads.
                if l.paid && l.lickey.is_empty() {
                    if l.key_reads_left > 0 {
                        l.key_reads_left -= 1;
                    } else {
                        issue_key(l);
                    }
                }
                let mut fields = vec![
                    ("elid", l.id.to_string()),
                    ("id", l.id.to_string()),
                    ("licname", l.licname.clone()),
                    ("ip", l.ip.clone()),
                    ("lickey", l.lickey.clone()),
                    ("pricelist", l.pricelist.to_string()),
                    ("period", l.period.to_string()),
                    ("createdate", l.createdate.clone()),
                    ("expiredate", l.expiredate.clone()),
                    ("autoprolong", l.autoprolong.clone()),
                    ("status", l.status(&today).to_string()),
                    ("remoteid", l.remoteid.clone()),
                ];
                let addons: Vec<(String, String)> = l
                    .addons
                    .iter()
                    .map(|(a, n)| (format!("addon_{a}"), n.to_string()))
                    .collect();
                let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>");
                for (name, value) in fields.drain(..) {
                    x.push_str(&element(name, &value));
                }
                for (name, value) in &addons {
                    x.push_str(&element(name, value));
                }
                x.push_str("</doc>");
                return Ok(Reply::xml(200, x));
            }
            for (name, slot) in [
                ("licname", &mut l.licname),
                ("ip", &mut l.ip),
                ("remoteid", &mut l.remoteid),
            ] {
                if let Some(v) = p.get(name) {
                    *slot = v.to_string();
                }
            }
            if p.has("clicked_button", "newkey") {
                if !l.paid || l.suspended || l.expired(&today) {
                    return Err(BmError::new(
                        "access",
                        "lickey",
                        format!("A new key can only be issued for an active license; {id} is not active"),
                    ));
                }
                issue_key(l);
                let key = l.lickey.clone();
                return Ok(Reply::xml(
                    200,
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><ok/>{}</doc>",
                        element("lickey", &key)
                    ),
                ));
            }
            Ok(ok())
        })
    }

    fn set_suspended(&self, p: &Params, suspended: bool) -> Result<Reply, BmError> {
        let id = Self::elid(p)?;
        self.state.update(|s| {
            let today = s.today();
            let l = s
                .licenses
                .get_mut(&id)
                .ok_or_else(|| missing_license(&id.to_string()))?;
            if l.deleted {
                return Err(BmError::new(
                    "access",
                    "elid",
                    format!("License {id} is deleted"),
                ));
            }
            if !suspended && l.expired(&today) {
                // ASSUMPTION: resuming an expired license is refused until it is prolonged.
                return Err(BmError::new(
                    "access",
                    "expiredate",
                    format!(
                        "License {id} expired on {}: prolong it before resuming",
                        l.expiredate
                    ),
                )
                .value(&l.expiredate));
            }
            l.suspended = suspended;
            Ok(ok())
        })
    }

    fn order(&self, func: &str, p: &Params) -> Result<Reply, BmError> {
        let raw = p.get("pricelist").unwrap_or_default();
        let price = raw
            .parse::<u64>()
            .ok()
            .and_then(price)
            .filter(|pr| pr.order_func == func)
            .ok_or_else(|| {
                BmError::new(
                    "value",
                    "pricelist",
                    format!("Pricelist '{raw}' cannot be ordered with {func}"),
                )
                .value(raw)
            })?;
        let period_raw = p.get("period").unwrap_or("1");
        let period: i64 = match period_raw.parse() {
            Ok(n @ (1 | 12)) => n,
            _ => {
                return Err(BmError::new(
                    "value",
                    "period",
                    format!("Period '{period_raw}' is not offered (1 or 12 months)"),
                )
                .value(period_raw))
            }
        };
        let ip = p.get("ip").unwrap_or_default().to_string();
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(
                BmError::new("value", "ip", format!("'{ip}' is not an IP address")).value(&ip),
            );
        }
        let mut addons = BTreeMap::new();
        let mut monthly = price.monthly_cents;
        for (name, value) in &p.0 {
            let Some(addon) = name.strip_prefix("addon_") else {
                continue;
            };
            let known = price.node_addon.filter(|(a, _)| a.to_string() == addon);
            let count = value.parse::<u32>().ok().filter(|n| *n >= 1);
            match (known, count) {
                (Some((id, per_node)), Some(n)) => {
                    addons.insert(id, n);
                    monthly += per_node * i64::from(n - 1);
                }
                _ => {
                    return Err(BmError::new(
                        "value",
                        name,
                        format!(
                            "{name}={value} does not fit pricelist {} ({})",
                            price.pricelist, price.name
                        ),
                    )
                    .value(value))
                }
            }
        }
        if let Some(value) = p.get("autoprolong") {
            // The documentation names no value for autoprolong (reference §3 (a)).
            return Err(BmError::new(
                "value",
                "autoprolong",
                format!("autoprolong={value:?} is not a documented value"),
            )
            .value(value));
        }
        if !p.has("sok", "ok") {
            // Without sok the order form comes back, nothing is ordered.
            return Ok(doc(&[
                ("pricelist", price.pricelist.to_string()),
                ("period", period.to_string()),
                ("cost", format_money(monthly * period)),
            ]));
        }
        let paid = p.has("skipbasket", "on");
        self.state.update(|s| {
            let cost = monthly * period;
            if paid && s.balance_cents < cost {
                return Err(BmError::new(
                    "balance",
                    "account",
                    format!(
                        "Insufficient funds: the order costs {} EUR, the balance is {} EUR",
                        format_money(cost),
                        format_money(s.balance_cents)
                    ),
                )
                .value(&format_money(cost)));
            }
            let today = s.today();
            let id = s.next_id;
            s.next_id += 1;
            s.orders += 1;
            let license = License {
                id,
                pricelist: price.pricelist,
                period,
                licname: p.get("licname").unwrap_or_default().to_string(),
                ip: ip.clone(),
                remoteid: p.get("remoteid").unwrap_or_default().to_string(),
                project: p.get("project").unwrap_or_default().to_string(),
                createdate: today.clone(),
                expiredate: add_months(&today, period).unwrap_or_else(|| today.clone()),
                autoprolong: p.get("autoprolong").unwrap_or_default().to_string(),
                addons: addons.clone(),
                monthly_cents: monthly,
                lickey: String::new(),
                paid,
                suspended: false,
                deleted: false,
                key_reads_left: s.key_delay,
                keys_issued: 0,
            };
            s.licenses.insert(id, license);
            if paid {
                s.debit(id, "order", cost);
            }
            Ok(doc(&[("id", id.to_string())]))
        })
    }

    fn prolong(&self, p: &Params) -> Result<Reply, BmError> {
        let id = Self::elid(p)?;
        self.state.update(|s| {
            let today = s.today();
            let l = s
                .licenses
                .get(&id)
                .ok_or_else(|| missing_license(&id.to_string()))?;
            if l.deleted || !l.paid {
                return Err(BmError::new(
                    "access",
                    "elid",
                    format!("License {id} cannot be prolonged (deleted or unpaid)"),
                ));
            }
            let period_raw = p.get("period").map(str::to_string).unwrap_or_else(|| l.period.to_string());
            let months: i64 = period_raw
                .parse()
                .ok()
                .filter(|n| (1..=36).contains(n))
                .ok_or_else(|| {
                    BmError::new("value", "period", format!("Period '{period_raw}' is not valid"))
                        .value(&period_raw)
                })?;
            let from = if l.expired(&today) {
                today.clone()
            } else {
                l.expiredate.clone()
            };
            let new_expiry = add_months(&from, months).unwrap_or(from);
            if !p.has("sok", "ok") {
                return Ok(doc(&[
                    ("elid", id.to_string()),
                    ("expiredate", l.expiredate.clone()),
                    ("period", months.to_string()),
                    ("cost", format_money(l.cost_cents(months))),
                ]));
            }
            let cost = l.cost_cents(months);
            if s.balance_cents < cost {
                return Err(BmError::new(
                    "balance",
                    "account",
                    format!(
                        "Insufficient funds: prolonging costs {} EUR, the balance is {} EUR",
                        format_money(cost),
                        format_money(s.balance_cents)
                    ),
                )
                .value(&format_money(cost)));
            }
            if let Some(l) = s.licenses.get_mut(&id) {
                l.expiredate.clone_from(&new_expiry);
            }
            s.prolongs += 1;
            s.debit(id, "prolong", cost);
            Ok(Reply::xml(
                200,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><doc><newexpiredate>{new_expiry}</newexpiredate></doc></doc>"
                ),
            ))
        })
    }

    fn newkey(&self, p: &Params) -> Result<Reply, BmError> {
        let user = p.get("username").unwrap_or_default();
        let key = p.get("key").unwrap_or_default();
        if user != USERNAME {
            return Err(
                BmError::new("value", "username", format!("Unknown user '{user}'")).value(user),
            );
        }
        if key.len() < 16 {
            return Err(BmError::new(
                "value",
                "key",
                "The key must be at least 16 characters",
            ));
        }
        self.state.update(|s| {
            s.login_keys.insert(key.to_string(), user.to_string());
        });
        Ok(ok())
    }

    /// The browser side of SSO: `func=auth&username=&key=` consumes the one-time key.
    fn browser_login(&self, p: &Params) -> Reply {
        let user = p.get("username").unwrap_or_default().to_string();
        let key = p.get("key").unwrap_or_default().to_string();
        let accepted = self.state.update(|s| {
            if s.login_keys.get(&key) == Some(&user) {
                s.login_keys.remove(&key);
                s.sso_logins += 1;
                true
            } else {
                false
            }
        });
        if accepted {
            Reply::text(
                200,
                format!(
                    "<html><body><h1>BILLmanager</h1><p>Logged in as {}</p></body></html>",
                    esc(&user)
                ),
            )
        } else {
            Reply::text(
                200,
                "<html><body><h1>BILLmanager</h1><p>Authorization failed: the key is unknown or used</p></body></html>",
            )
        }
    }

    fn control_reply(&self, req: &Request) -> Option<Reply> {
        let body = req.json().unwrap_or(serde_json::Value::Null);
        let bad = |e: String| Reply::json(400, &json!({ "error": e }));
        Some(match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/__sim/balance") => Reply::json(200, &json!({ "balance": self.balance() })),
            ("POST", "/__sim/balance") => match body["balance"].as_str() {
                Some(b) => match self.set_balance(b) {
                    Ok(()) => Reply::json(200, &json!({ "balance": self.balance() })),
                    Err(e) => bad(e),
                },
                None => bad("send {\"balance\": \"12.50\"}".into()),
            },
            ("GET", "/__sim/licenses") => {
                let today = self.today();
                let list: Vec<serde_json::Value> = self
                    .licenses()
                    .into_iter()
                    .map(|l| {
                        let status = l.status(&today);
                        let mut v = serde_json::to_value(&l).unwrap_or_default();
                        v["status"] = json!(status);
                        v
                    })
                    .collect();
                Reply::json(200, &list)
            }
            ("GET", "/__sim/debits") => Reply::json(200, &self.debits()),
            ("GET", "/__sim/counts") => Reply::json(200, &self.counts()),
            ("GET", "/__sim/clock") => Reply::json(200, &json!({ "today": self.today() })),
            ("POST", "/__sim/clock") => match body["today"].as_str() {
                Some(d) => match self.set_today(d) {
                    Ok(()) => Reply::json(200, &json!({ "today": self.today() })),
                    Err(e) => bad(e),
                },
                None => bad("send {\"today\": \"2026-01-31\"}".into()),
            },
            ("POST", "/__sim/hold-reply") => match (body["func"].as_str(), body["ms"].as_u64()) {
                (Some(f), Some(ms)) => {
                    self.hold_reply(f, ms);
                    Reply::json(200, &json!({ "func": f, "ms": ms }))
                }
                _ => bad("send {\"func\": \"soft.order.param\", \"ms\": 5000}".into()),
            },
            ("POST", "/__sim/key-delay") => match body["reads"].as_u64() {
                Some(n) => {
                    self.set_key_delay(n.min(u64::from(u32::MAX)) as u32);
                    Reply::json(200, &json!({ "reads": n }))
                }
                None => bad("send {\"reads\": 2}".into()),
            },
            _ => return None,
        })
    }
}

fn bad_password() -> BmError {
    BmError::new("auth", "badpassword", "Invalid username or password")
}

fn issue_key(l: &mut License) {
    l.keys_issued += 1;
    let h = fnv(&format!("{}:{}:{}", l.id, l.keys_issued, l.createdate));
    l.lickey = format!("ISP6-{}-{:016X}", l.id, h);
}

impl Api for Billmgr {
    fn name(&self) -> &'static str {
        "ispsystem"
    }

    fn endpoint(&self, req: &Request) -> String {
        if is_billmgr_path(&req.path) {
            format!("billmgr {}", req.param("func").unwrap_or_default())
        } else {
            format!("{} {}", req.method, req.path)
        }
    }

    fn handle(&self, req: &Request) -> Reply {
        if !is_billmgr_path(&req.path) {
            return Reply::text(404, "<html><body><h1>404 Not Found</h1></body></html>");
        }
        let p = Params(req.params());
        let func = p.get("func").unwrap_or_default().to_string();
        if func == "auth" && p.get("key").is_some() {
            return self.browser_login(&p);
        }
        if !p.has("out", "xml") {
            // ASSUMPTION: without out=xml billmgr answers its web interface.
            return Reply::text(
                200,
                "<html><body><h1>BILLmanager</h1><p>Use out=xml for the API</p></body></html>",
            );
        }
        if func != "auth" {
            if let Err(e) = self.authenticate(&p) {
                return e.reply();
            }
        }
        let reply = match self.dispatch(&func, &p) {
            Ok(reply) => reply,
            Err(e) => e.reply(),
        };
        let held = self
            .state
            .read(|s| s.hold.as_ref().is_some_and(|(f, _)| *f == func));
        let hold = if held {
            self.state.update(|s| s.hold.take().map(|(_, ms)| ms))
        } else {
            None
        };
        if let Some(ms) = hold {
            // The handler runs on a blocking thread: the change is made and saved, only
            // the answer waits.
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        reply
    }

    fn error_reply(&self, status: u16, message: &str) -> Reply {
        let mut reply = BmError::new("injected", "fault", message).reply();
        reply.status = status;
        reply
    }

    fn control(&self, req: &Request) -> Option<Reply> {
        self.control_reply(req)
    }
}

fn is_billmgr_path(path: &str) -> bool {
    matches!(path.trim_end_matches('/'), "/manager/billmgr" | "/billmgr")
}

/// XML text escaping.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `"12.50"` → 1250 cents (at most two decimals; no sign).
pub fn parse_money(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac_cents)
}

/// 1250 → `"12.50"` (negative amounts with a leading `-`).
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// `YYYY-MM-DD` → (year, month, day), checked.
pub fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if text.len() != 10 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `date` plus `months`, the day clamped to the month's last (`2026-01-31` + 1 =
/// `2026-02-28`).
pub fn add_months(date: &str, months: i64) -> Option<String> {
    let (y, m, d) = parse_date(date)?;
    let total = y * 12 + i64::from(m) - 1 + months;
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let nd = d.min(days_in_month(ny, nm));
    Some(format!("{ny:04}-{nm:02}-{nd:02}"))
}

/// `date` plus `days` (negative: minus).
pub fn add_days(date: &str, days: i64) -> Option<String> {
    let (y, m, d) = parse_date(date)?;
    // Howard Hinnant's days_from_civil.
    let yy = y - i64::from(m <= 2);
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mm = i64::from(m);
    let doy = (153 * (if mm > 2 { mm - 3 } else { mm + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(civil(era * 146_097 + doe - 719_468 + days))
}

/// The system's UTC date (the simulator's default "today").
fn system_today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    civil(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::parse_form;

    fn call(api: &Billmgr, query: &str) -> String {
        let req = Request {
            method: "POST".into(),
            path: "/manager/billmgr".into(),
            query: Vec::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: query.as_bytes().to_vec(),
        };
        let reply = api.handle(&req);
        assert_eq!(reply.status, 200, "billmgr answers 200 even for errors");
        String::from_utf8(reply.body).unwrap()
    }

    fn authed(api: &Billmgr, rest: &str) -> String {
        call(
            api,
            &format!("authinfo={USERNAME}:{PASSWORD}&out=xml&{rest}"),
        )
    }

    fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
        let start = text
            .find(open)
            .unwrap_or_else(|| panic!("{open} in {text}"))
            + open.len();
        let end = text[start..].find(close).unwrap() + start;
        &text[start..end]
    }

    fn order(api: &Billmgr, extra: &str) -> String {
        authed(
            api,
            &format!("func=soft.order.param&pricelist=55227&period=1&ip=192.0.2.7&licname=a.example&skipbasket=on&sok=ok&clicked_button=finish&remoteid=l1{extra}"),
        )
    }

    fn sim() -> Billmgr {
        let api = Billmgr::open(None).unwrap();
        api.set_today("2026-01-31").unwrap();
        api
    }

    #[test]
    fn wrong_password_and_missing_credentials_are_auth_errors_with_status_200() {
        let api = sim();
        let body = call(&api, "authinfo=reseller:nope&out=xml&func=soft");
        assert!(
            body.contains("<error type=\"auth\" object=\"badpassword\""),
            "{body}"
        );
        assert!(
            body.contains("<msg>Invalid username or password</msg>"),
            "{body}"
        );
        let body = call(&api, "out=xml&func=soft");
        assert!(body.contains("type=\"auth\""), "{body}");
        assert_eq!(api.counts(), Counts::default());
    }

    #[test]
    fn sessions_from_func_auth_work_like_authinfo() {
        let api = sim();
        let body = call(
            &api,
            &format!("func=auth&username={USERNAME}&password={PASSWORD}&out=xml"),
        );
        let id = between(&body, "<auth id=\"", "\"").to_string();
        let list = call(&api, &format!("auth={id}&out=xml&func=soft"));
        assert_eq!(
            list.trim_end(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc></doc>"
        );
        let bad = call(&api, "auth=nosuch&out=xml&func=soft");
        assert!(bad.contains("type=\"auth\""), "{bad}");
    }

    #[test]
    fn errors_have_the_billmgr_shape() {
        let api = sim();
        let body = authed(&api, "func=soft.edit&elid=999");
        assert!(
            body.contains("<doc><error type=\"missing\" object=\"elid\" lang=\"en\"><param name=\"object\">elid</param><param name=\"value\">999</param><msg>"),
            "{body}"
        );
        let body = authed(&api, "func=nosuch.func");
        assert!(body.contains("type=\"missing\" object=\"func\""), "{body}");
        let body = authed(
            &api,
            "func=soft.order.param&pricelist=55163&ip=192.0.2.1&sok=ok&skipbasket=on",
        );
        assert!(
            body.contains("type=\"value\" object=\"pricelist\""),
            "VMmanager goes through platform.order.param: {body}"
        );
        let body = order(&api, "&addon_55236=2");
        assert!(
            body.contains("object=\"addon_55236\""),
            "Lite has no node addon: {body}"
        );
        assert_eq!(api.counts().orders, 0);
    }

    #[test]
    fn an_order_debits_at_once_and_the_key_comes_after_the_delay() {
        let api = sim();
        let body = order(&api, "");
        let id: u64 = between(&body, "<id>", "</id>").parse().unwrap();
        assert_eq!(api.balance(), "992.00");
        let l = api.license(id).unwrap();
        assert_eq!(
            (l.createdate.as_str(), l.expiredate.as_str()),
            ("2026-01-31", "2026-02-28")
        );
        assert_eq!(l.remoteid, "l1");
        for _ in 0..DEFAULT_KEY_DELAY {
            let read = authed(&api, &format!("func=soft.edit&elid={id}"));
            assert!(read.contains("<lickey/>"), "{read}");
            assert!(read.contains("<status>5</status>"), "{read}");
        }
        let read = authed(&api, &format!("func=soft.edit&elid={id}"));
        let key = between(&read, "<lickey>", "</lickey>").to_string();
        assert!(key.starts_with("ISP6-"), "{read}");
        assert!(read.contains("<status>2</status>"), "{read}");
        let list = authed(&api, "func=soft");
        assert!(
            list.contains(&format!(
                "<elem><id>{id}</id><licname>a.example</licname><ip>192.0.2.7</ip>"
            )),
            "{list}"
        );
        // The list shows only its documented columns; soft.edit shows remoteid.
        assert!(!list.contains("remoteid"), "{list}");
        assert!(read.contains("<remoteid>l1</remoteid>"), "{read}");
        // remoteid is not deduplicated: a blind retry buys twice.
        order(&api, "");
        assert_eq!(api.counts().orders, 2);
        assert_eq!(api.debits().len(), 2);
        assert_eq!(api.order_debits_per_remoteid()["l1"], 2);
        // autoprolong has no documented value: any is refused, and nothing is bought.
        let refused = order(&api, "&autoprolong=off");
        assert!(
            refused.contains("<error type=\"value\" object=\"autoprolong\""),
            "{refused}"
        );
        assert_eq!(api.counts().orders, 2);
    }

    #[test]
    fn node_addons_are_priced_beyond_the_first_node() {
        let api = sim();
        let body = authed(&api, "func=platform.order.param&pricelist=55163&period=12&ip=192.0.2.9&addon_55165=5&skipbasket=on&sok=ok");
        let id: u64 = between(&body, "<id>", "</id>").parse().unwrap();
        // (20.00 + 4 × 5.00) × 12
        assert_eq!(api.debits()[0].amount, "480.00");
        let read = authed(&api, &format!("func=soft.edit&elid={id}"));
        assert!(read.contains("<addon_55165>5</addon_55165>"), "{read}");
        assert_eq!(api.license(id).unwrap().expiredate, "2027-01-31");
    }

    #[test]
    fn too_little_balance_buys_nothing() {
        let api = sim();
        api.set_balance("7.99").unwrap();
        let body = order(&api, "");
        assert!(body.contains("<error type=\"balance\""), "{body}");
        assert!(body.contains("Insufficient funds"), "{body}");
        assert_eq!(api.counts(), Counts::default());
        assert_eq!(api.balance(), "7.99");
    }

    #[test]
    fn without_skipbasket_the_order_waits_unpaid_and_without_sok_nothing_happens() {
        let api = sim();
        let form = authed(
            &api,
            "func=soft.order.param&pricelist=55227&period=1&ip=192.0.2.7",
        );
        assert!(
            form.contains("<cost>8.00</cost>") && !form.contains("<id>"),
            "{form}"
        );
        let body = authed(
            &api,
            "func=soft.order.param&pricelist=55227&period=1&ip=192.0.2.7&sok=ok",
        );
        let id: u64 = between(&body, "<id>", "</id>").parse().unwrap();
        assert_eq!(api.status(id), Some(1));
        assert_eq!(api.balance(), START_BALANCE);
    }

    #[test]
    fn edit_newkey_suspend_resume_prolong_and_expiry() {
        let api = sim();
        api.set_key_delay(0);
        let body = order(&api, "");
        let id: u64 = between(&body, "<id>", "</id>").parse().unwrap();
        let first = between(
            &authed(&api, &format!("func=soft.edit&elid={id}")),
            "<lickey>",
            "</lickey>",
        )
        .to_string();
        let edit = authed(
            &api,
            &format!("func=soft.edit&elid={id}&sok=ok&licname=free.lic&ip=0.0.0.0&remoteid="),
        );
        assert!(edit.contains("<ok/>"), "{edit}");
        let l = api.license(id).unwrap();
        assert_eq!(
            (l.licname.as_str(), l.ip.as_str(), l.remoteid.as_str()),
            ("free.lic", "0.0.0.0", "")
        );
        let newkey = authed(
            &api,
            &format!("func=soft.edit&elid={id}&clicked_button=newkey&sok=ok"),
        );
        let second = between(&newkey, "<lickey>", "</lickey>");
        assert_ne!(first, second);

        assert!(authed(&api, &format!("func=soft.suspend&elid={id}")).contains("<ok/>"));
        assert_eq!(api.status(id), Some(3));
        assert!(authed(
            &api,
            &format!("func=soft.edit&elid={id}&clicked_button=newkey&sok=ok")
        )
        .contains("type=\"access\""));
        assert!(authed(&api, &format!("func=soft.resume&elid={id}")).contains("<ok/>"));
        assert_eq!(api.status(id), Some(2));

        // Past the expiry date the license stops and cannot be resumed until prolonged.
        api.set_today("2026-03-01").unwrap();
        assert_eq!(api.status(id), Some(3));
        authed(&api, &format!("func=soft.suspend&elid={id}"));
        let refused = authed(&api, &format!("func=soft.resume&elid={id}"));
        assert!(refused.contains("object=\"expiredate\""), "{refused}");
        let prolonged = authed(
            &api,
            &format!("func=service.prolong&elid={id}&period=1&sok=ok"),
        );
        assert_eq!(
            between(
                &prolonged,
                "<doc><doc><newexpiredate>",
                "</newexpiredate></doc></doc>"
            ),
            "2026-04-01"
        );
        assert!(authed(&api, &format!("func=soft.resume&elid={id}")).contains("<ok/>"));
        assert_eq!(api.status(id), Some(2));
        assert_eq!(api.balance(), "984.00");
        assert_eq!(api.counts().prolongs, 1);

        // Before expiry a prolongation extends from the expiry date.
        let again = authed(
            &api,
            &format!("func=service.prolong&elid={id}&period=1&sok=ok"),
        );
        assert!(
            again.contains("<newexpiredate>2026-05-01</newexpiredate>"),
            "{again}"
        );
    }

    #[test]
    fn sso_keys_work_once_in_the_browser() {
        let api = sim();
        let short = authed(&api, "func=session.newkey&username=reseller&key=abc");
        assert!(short.contains("object=\"key\""), "{short}");
        let key = "0123456789abcdef0123";
        assert!(authed(
            &api,
            &format!("func=session.newkey&username=reseller&key={key}")
        )
        .contains("<ok/>"));
        let browser = Request {
            method: "GET".into(),
            path: "/billmgr".into(),
            query: parse_form(&format!(
                "checkcookie=no&func=auth&username=reseller&key={key}"
            )),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let page = String::from_utf8(api.handle(&browser).body).unwrap();
        assert!(page.contains("Logged in as reseller"), "{page}");
        let page = String::from_utf8(api.handle(&browser).body).unwrap();
        assert!(page.contains("Authorization failed"), "{page}");
        assert_eq!(api.counts().sso_logins, 1);
    }

    #[test]
    fn dates_and_money() {
        assert_eq!(add_months("2026-01-31", 1).unwrap(), "2026-02-28");
        assert_eq!(add_months("2024-01-31", 1).unwrap(), "2024-02-29");
        assert_eq!(add_months("2026-12-15", 1).unwrap(), "2027-01-15");
        assert_eq!(add_months("2026-03-31", -1).unwrap(), "2026-02-28");
        assert!(parse_date("2026-02-30").is_none());
        assert_eq!(parse_money("12.5"), Some(1250));
        assert_eq!(parse_money("1000"), Some(100_000));
        assert_eq!(parse_money("1.234"), None);
        assert_eq!(format_money(-5), "-0.05");
        assert!(parse_date(&system_today()).is_some());
        assert_eq!(add_days("2026-03-01", -1).unwrap(), "2026-02-28");
        assert_eq!(add_days("2024-02-28", 1).unwrap(), "2024-02-29");
        assert_eq!(add_days("2026-12-31", 1).unwrap(), "2027-01-01");
        assert_eq!(add_days("1970-01-01", 0).unwrap(), "1970-01-01");
    }

    #[test]
    fn state_survives_a_restart_and_control_endpoints_answer_over_http() {
        use std::io::{Read, Write};
        let dir = std::env::temp_dir().join(format!("ispsim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (sim, api) = start_with_handle(Some(&dir), 0).unwrap();
            api.set_today("2026-01-31").unwrap();
            order(&api, "");
            let http = |method: &str, path: &str, body: &str| -> String {
                let mut s = std::net::TcpStream::connect(sim.addr()).unwrap();
                write!(
                    s,
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            };
            assert!(http("GET", "/__sim/balance", "").contains("\"balance\":\"992.00\""));
            assert!(http("POST", "/__sim/balance", "{\"balance\":\"50\"}").contains("\"50.00\""));
            assert!(
                http("POST", "/__sim/clock", "{\"today\":\"2026-03-01\"}").contains("2026-03-01")
            );
            assert!(
                http("GET", "/__sim/licenses", "").contains("\"status\":3"),
                "expired by the clock"
            );
            assert!(http("GET", "/__sim/counts", "").contains("\"orders\":1"));
            assert!(http("POST", "/__sim/key-delay", "{\"reads\":0}").contains("\"reads\":0"));
            let list = http(
                "GET",
                "/manager/billmgr?authinfo=reseller:reseller-secret&out=xml&func=soft",
                "",
            );
            assert!(list.contains("<licname>a.example</licname>"), "{list}");
            assert!(!list.contains("remoteid"), "{list}");
            assert!(
                http("POST", "/__sim/hold-reply", "{\"func\":\"soft\",\"ms\":1}")
                    .contains("\"ms\":1")
            );
            assert!(http("GET", "/nothing", "").starts_with("HTTP/1.1 404"));
        }
        let api = Billmgr::open(Some(&dir)).unwrap();
        assert_eq!(api.balance(), "50.00");
        assert_eq!(api.today(), "2026-03-01");
        assert_eq!(api.licenses().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
