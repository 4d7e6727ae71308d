//! The license lifecycle both modules share: adopt-or-pool-or-order, a bounded wait for
//! the key, suspend, resume (prolonging an expired license first), release into the
//! pool, renewals, the daily run, admin SSO, the client-area panel and the import list.
//!
//! Nothing is bought twice. `func=soft` lists only its documented columns (no
//! `remoteid`), so a license is never looked up by `remoteid` in the list: `create`
//! keeps the license it ordered (the order's `/doc/id`), took from the pool or adopted
//! in an [`OrderNote`] under `order/{operation key}` in the handler's key-value store,
//! written before the order is sent and again as soon as its id is known, and every
//! later poll and retry reads that license. An order whose answer never arrived is
//! looked for among the licenses the list shows with the same pricelist, name and IP,
//! created since the order was sent and not pooled, each confirmed with `soft.edit
//! elid=` (which shows `remoteid`); when that finds nothing, a person decides.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::{
    url_encode, AccountPage, ConnectionInfo, DailyAction, FieldKind, FormField, Host,
    LifecycleRequest, ListAccountsRequest, ModuleError, Outcome, Panel, PanelRow, RemoteAccount,
    RemoteStatus, ServiceInfo, SsoLink,
};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Settings};
use crate::date::Date;
use crate::xml::Elem;

/// `status` 1: ordered (not paid).
pub const STATUS_ORDERED: u8 = 1;
/// `status` 2: active.
pub const STATUS_ACTIVE: u8 = 2;
/// `status` 3: stopped (suspended or expired).
pub const STATUS_STOPPED: u8 = 3;
/// `status` 4: deleted.
pub const STATUS_DELETED: u8 = 4;
/// `status` 5: processing (no key yet).
pub const STATUS_PROCESSING: u8 = 5;

/// The name a license in the pool carries.
pub const FREE_NAME: &str = "free.lic";
/// The IP a license in the pool is bound to.
pub const FREE_IP: &str = "0.0.0.0";

/// A pricelist this code knows: id, product name, the order function and the node
/// addon, if the product has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricelist {
    /// ISPsystem's pricelist id.
    pub id: u64,
    /// The product.
    pub name: &'static str,
    /// `soft.order.param` (ISPmanager) or `platform.order.param` (VMmanager 6).
    pub order_func: &'static str,
    /// The addon whose value is the license's node count.
    pub node_addon: Option<u64>,
}

/// The v6 pricelists (ISPsystem's reselling docs, reference §3).
pub const PRICELISTS: [Pricelist; 5] = [
    Pricelist {
        id: 55227,
        name: "ISPmanager 6 Lite",
        order_func: "soft.order.param",
        node_addon: None,
    },
    Pricelist {
        id: 55228,
        name: "ISPmanager 6 Pro",
        order_func: "soft.order.param",
        node_addon: None,
    },
    Pricelist {
        id: 55229,
        name: "ISPmanager 6 Host",
        order_func: "soft.order.param",
        node_addon: None,
    },
    Pricelist {
        id: 55230,
        name: "ISPmanager 6 Business",
        order_func: "soft.order.param",
        node_addon: Some(55236),
    },
    Pricelist {
        id: 55163,
        name: "VMmanager 6",
        order_func: "platform.order.param",
        node_addon: Some(55165),
    },
];

/// The known pricelist with this id.
pub fn pricelist(id: u64) -> Option<&'static Pricelist> {
    PRICELISTS.iter().find(|p| p.id == id)
}

/// What to buy: the pricelist, the months per order and renewal, and the node addon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The pricelist.
    pub pricelist: &'static Pricelist,
    /// Months per order and per renewal.
    pub period: i64,
    /// `addon_{id}={value}` sent with the order, if any.
    pub addon: Option<(u64, u32)>,
}

impl Product {
    /// The node count that tells pooled licenses apart (0 when no addon is sent).
    pub fn nodes(&self) -> u32 {
        self.addon.map(|(_, n)| n).unwrap_or(0)
    }
}

/// Who the license is for: its name, IP and the `remoteid` that finds it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `licname`.
    pub licname: String,
    /// `ip`.
    pub ip: String,
    /// `remoteid`: `l{service id}` or `a{service id}`.
    pub remoteid: String,
}

/// A license as `soft` or `soft.edit` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct License {
    /// The license id (`elid`).
    pub id: u64,
    /// `licname`.
    pub licname: String,
    /// `ip`.
    pub ip: String,
    /// `lickey` (`soft.edit` only; empty until issued).
    pub lickey: String,
    /// `remoteid`.
    pub remoteid: String,
    /// `expiredate`.
    pub expiredate: String,
    /// `createdate`.
    pub createdate: String,
    /// `pricelist`, when it is a number.
    pub pricelist: Option<u64>,
    /// `status` (1 ordered, 2 active, 3 stopped, 4 deleted, 5 processing; 0 unknown).
    pub status: u8,
}

impl License {
    fn from_elem(e: &Elem) -> Option<License> {
        let id = e
            .text_of("id")
            .or_else(|| e.text_of("elid"))
            .and_then(|t| t.parse().ok())?;
        let text = |name: &str| e.text_of(name).unwrap_or_default().to_string();
        Some(License {
            id,
            licname: text("licname"),
            ip: text("ip"),
            lickey: text("lickey"),
            remoteid: text("remoteid"),
            expiredate: text("expiredate"),
            createdate: text("createdate"),
            // ASSUMPTION: the list carries the pricelist's id (a name reads as None).
            pricelist: e.text_of("pricelist").and_then(|t| t.parse().ok()),
            status: e
                .text_of("status")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
        })
    }

    /// The status in words.
    pub fn status_text(&self) -> &'static str {
        match self.status {
            STATUS_ORDERED => "ordered",
            STATUS_ACTIVE => "active",
            STATUS_STOPPED => "stopped",
            STATUS_DELETED => "deleted",
            STATUS_PROCESSING => "processing",
            _ => "unknown",
        }
    }

    /// Whether the license is bound to `remoteid`, or to nobody.
    fn free_or_bound_to(&self, remoteid: &str) -> bool {
        self.remoteid.is_empty() || self.remoteid == remoteid
    }
}

/// A license in the pool, kept in the handler's key-value store under
/// `pool/{pricelist}-{nodes}/{license id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEntry {
    /// The license id.
    pub license: u64,
    /// Its pricelist.
    pub pricelist: u64,
    /// Its node count (0: no node addon).
    pub nodes: u32,
    /// Its expiry date when it was released.
    pub expiredate: String,
    /// The date it was released.
    pub freed: String,
    /// The `remoteid` of the create that took it and has not finished yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_on: Option<String>,
}

/// The key prefix of pooled licenses of one pricelist and node count.
pub fn pool_prefix(pricelist: u64, nodes: u32) -> String {
    format!("pool/{pricelist}-{nodes}/")
}

/// A service the daily run may renew: its license and how long a renewal buys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The host's service id.
    pub service_id: i64,
    /// The license id.
    pub license: u64,
    /// The `remoteid` the license must carry.
    pub remoteid: String,
    /// Months per renewal.
    pub period: i64,
}

/// What an `InProgress` wait for a key remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct KeyWait {
    #[serde(default)]
    license: Option<u64>,
    #[serde(default)]
    polls: u32,
}

impl KeyWait {
    fn from_request(req: &LifecycleRequest) -> KeyWait {
        req.state
            .clone()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default()
    }
}

/// What a renewal noted before it prolonged, so that a retry does not pay twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RenewNote {
    before: String,
    date: String,
}

enum Ordered {
    Id(u64),
    Refused(Outcome),
}

/// Where `create` keeps its order notes.
pub const ORDER_PREFIX: &str = "order/";

/// How many times `create` looks in the list for the license of an order whose answer
/// never arrived before it asks a person.
pub const LOST_ORDER_CHECKS: u32 = 3;

/// The key-value key of an operation's order note.
pub fn order_key(operation_key: &str) -> String {
    format!("{ORDER_PREFIX}{operation_key}")
}

/// What a `create` knows about the license it is getting, kept in the handler's
/// key-value store under `order/{operation key}`: written before an order is sent and
/// again as soon as the license id is known, so that no poll, retry or rerun after a
/// crash orders a second license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNote {
    /// The service's `remoteid`.
    pub remoteid: String,
    /// The day the note was written.
    pub date: String,
    /// The license this operation has: ordered, taken from the pool or adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<u64>,
    /// An order that was sent and whose answer was not read (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentOrder>,
    /// How many times the list was searched for `sent`'s license.
    #[serde(default)]
    pub checks: u32,
    /// The attempt whose answer handed `sent` to a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_attempt: Option<u32>,
}

impl OrderNote {
    fn new(binding: &Binding, today: &str) -> OrderNote {
        OrderNote {
            remoteid: binding.remoteid.clone(),
            date: today.to_string(),
            license: None,
            sent: None,
            checks: 0,
            asked_attempt: None,
        }
    }

    fn adopt(&mut self, id: u64) {
        self.license = Some(id);
        self.sent = None;
        self.checks = 0;
        self.asked_attempt = None;
    }
}

/// An order sent to ISPsystem: what it asked for, in the documented `func=soft` columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentOrder {
    /// When it was sent (the host clock).
    pub at: String,
    /// The day it was sent.
    pub date: String,
    /// The product in words.
    pub product: String,
    /// `pricelist`.
    pub pricelist: u64,
    /// `licname`.
    pub licname: String,
    /// `ip`.
    pub ip: String,
    /// `remoteid`.
    pub remoteid: String,
}

impl SentOrder {
    fn how_to_check(&self) -> String {
        format!(
            "Check your ISPsystem account for a license named {} on IP {} (pricelist {}) created on or after {}, and the reseller balance's debits since then.",
            self.licname, self.ip, self.pricelist, self.date
        )
    }
}

/// What the list and `soft.edit` show of an order whose answer never arrived.
enum Found {
    None,
    One(u64),
    Many(Vec<u64>),
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A text value of the service: its attributes first, then its plan's resources.
pub fn service_value(service: &ServiceInfo, key: &str) -> Option<String> {
    let pick = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    pick(service.attributes.get(key)).or_else(|| pick(service.plan.resources.get(key)))
}

/// The license lifecycle on one handler.
pub struct Licenses<'a> {
    host: &'a Host,
    client: Client<'a>,
}

impl<'a> Licenses<'a> {
    /// The lifecycle through the host's services with these settings.
    pub fn new(host: &'a Host, settings: &'a Settings) -> Self {
        Licenses {
            host,
            client: Client::new(host, settings),
        }
    }

    fn settings(&self) -> &Settings {
        self.client.settings()
    }

    /// `func=soft`: every license of the reseller account.
    pub fn list(&self) -> Result<Vec<License>, ModuleError> {
        let doc = self.client.call("list the licenses", "soft", &[])?;
        Ok(doc
            .children_named("elem")
            .filter_map(License::from_elem)
            .collect())
    }

    /// `soft.edit elid=`: one license with its key; `None` when ISPsystem does not know it.
    pub fn read(&self, id: u64) -> Result<Option<License>, ModuleError> {
        let elid = id.to_string();
        let what = format!("read license {id}");
        match self
            .client
            .call_raw(&what, "soft.edit", &[("elid", &elid)])?
        {
            Ok(doc) => License::from_elem(&doc).map(Some).ok_or_else(|| {
                ModuleError::transient(format!(
                    "{what}: ISPsystem's soft.edit answer carries no license id"
                ))
            }),
            // ASSUMPTION: an unknown elid is `error type="missing"`.
            Err(e) if e.kind == "missing" => Ok(None),
            Err(e) => Err(e.into_module_error(&what, &self.settings().username)),
        }
    }

    fn read_existing(&self, id: u64, what: &str) -> Result<License, ModuleError> {
        self.read(id)?.ok_or_else(|| {
            ModuleError::permanent(format!(
                "{what}: license {id} does not exist at ISPsystem (any more): look it up in your ISPsystem account"
            ))
        })
    }

    /// The license of a service: its remote id, else the license an order note of its
    /// create holds. An order of this service whose answer never arrived and that no
    /// one resolved is an error for a person: the service may own a license no one
    /// knows the id of.
    fn license_of(
        &self,
        service: &ServiceInfo,
        remoteid: &str,
    ) -> Result<Option<u64>, ModuleError> {
        if let Some(id) = service
            .remote_id
            .as_deref()
            .and_then(|r| r.trim().parse().ok())
        {
            return Ok(Some(id));
        }
        let notes: Vec<OrderNote> = self
            .host
            .kv_list(ORDER_PREFIX)?
            .values()
            .filter_map(|v| serde_json::from_str::<OrderNote>(v).ok())
            .filter(|n| n.remoteid == remoteid)
            .collect();
        if let Some(id) = notes.iter().find_map(|n| n.license) {
            return Ok(Some(id));
        }
        if let Some(sent) = notes.iter().find_map(|n| n.sent.as_ref()) {
            return Err(ModuleError::permanent(format!(
                "service has no license id, but {} was ordered for it at {} and the answer never arrived: it may own a license. {}",
                sent.product, sent.at, sent.how_to_check()
            )));
        }
        Ok(None)
    }

    /// `create`: the license this operation already has (its order note, or the
    /// in-progress state), else the license an order whose answer never arrived bought
    /// (confirmed by `soft.edit`), else one from the pool, else a new order; then wait
    /// for its key.
    pub fn create(
        &self,
        req: &LifecycleRequest,
        product: &Product,
        binding: &Binding,
    ) -> Result<Outcome, ModuleError> {
        let wait = KeyWait::from_request(req);
        let note_key = order_key(&req.operation_key);
        let mut note = self
            .host
            .kv_get_json::<OrderNote>(&note_key)?
            .unwrap_or_else(|| OrderNote::new(binding, &self.host.today()));
        let known = note.license.or(wait.license);
        let id = match known {
            Some(id) => id,
            None => {
                let mut reordering = false;
                if let Some(sent) = note.sent.clone() {
                    match self.find_sent_order(&sent, &note_key)? {
                        Found::One(id) => {
                            self.host.info(&format!(
                                "create: adopting license {id}, bought by the order sent at {} whose answer never arrived (confirmed by soft.edit: remoteid {})",
                                sent.at, sent.remoteid
                            ));
                            note.adopt(id);
                            self.host.kv_put_json(&note_key, &note)?;
                        }
                        Found::Many(ids) => {
                            return Ok(Outcome::NeedsHuman {
                                reason: format!(
                                    "create: licenses {} all carry this service's remoteid {} and were bought for it ({}, sent at {}); only one is needed. Keep one: complete this task with its id, key and expiry date, and release or delete the others in your ISPsystem account.",
                                    join_ids(&ids), sent.remoteid, sent.product, sent.at
                                ),
                                fields: license_fields(ids.first().copied()),
                            })
                        }
                        Found::None => {
                            // A person who read the task and retried it restarts the
                            // operation's attempts at 1; a rerun after a crash does not.
                            let person_retried =
                                note.asked_attempt.is_some_and(|n| req.attempt <= n);
                            if !person_retried {
                                return self.sent_order_unresolved(req, &note_key, note, &sent);
                            }
                            self.host.warn(&format!(
                                "create: staff retried after checking that the order sent at {} ({}) bought nothing; ordering again",
                                sent.at, sent.product
                            ));
                            reordering = true;
                        }
                    }
                }
                match note.license {
                    Some(id) => id,
                    None => match self.take_from_pool(product, binding)? {
                        Some(id) => {
                            note.adopt(id);
                            self.host.kv_put_json(&note_key, &note)?;
                            id
                        }
                        None => {
                            match self.order(product, binding, &note_key, &mut note, reordering)? {
                                Ordered::Id(id) => id,
                                Ordered::Refused(outcome) => return Ok(outcome),
                            }
                        }
                    },
                }
            }
        };
        if note.license.is_none() {
            // An operation in flight from before order notes: its state names the license.
            note.adopt(id);
            self.host.kv_put_json(&note_key, &note)?;
        }
        let mut license = self.read_existing(id, "create")?;
        if !license.free_or_bound_to(&binding.remoteid) {
            return Err(ModuleError::permanent(format!(
                "create: license {id}, which this operation bought or took, is now bound to remoteid {}, not to this service ({}); it was not touched. Look at license {id} in your ISPsystem account.",
                license.remoteid, binding.remoteid
            )));
        }
        if let Some((key, _)) = self.claim_of(&binding.remoteid, id)? {
            // A pooled license: bring it back to life, with a key the previous owner
            // never saw, then let the pool forget it.
            self.revive(&license, product.period, "create")?;
            self.new_key(id)?;
            self.host.kv_delete(&key)?;
            license = self.read_existing(id, "create")?;
        } else if license.status == STATUS_STOPPED {
            license = self.revive(&license, product.period, "create")?;
        }
        if license.lickey.is_empty() {
            return Ok(self.wait_for_key(&wait, &license, "create"));
        }
        Ok(done(&license, Some(product)))
    }

    /// The licenses an order whose answer never arrived may have bought: in the list,
    /// not deleted, with its pricelist, name and IP, created on or after the day it
    /// was sent, neither pooled nor held by another operation; each confirmed with
    /// `soft.edit elid=`, whose form shows `remoteid`.
    fn find_sent_order(&self, sent: &SentOrder, note_key: &str) -> Result<Found, ModuleError> {
        let since = Date::parse(&sent.date);
        let mut held: Vec<u64> = self
            .host
            .kv_list("pool/")?
            .values()
            .filter_map(|v| serde_json::from_str::<PoolEntry>(v).ok())
            .filter(|e| e.claimed_by.as_deref() != Some(sent.remoteid.as_str()))
            .map(|e| e.license)
            .collect();
        held.extend(
            self.host
                .kv_list(ORDER_PREFIX)?
                .iter()
                .filter(|(k, _)| k.as_str() != note_key)
                .filter_map(|(_, v)| serde_json::from_str::<OrderNote>(v).ok())
                .filter_map(|n| n.license),
        );
        let mut candidates: Vec<License> = self
            .list()?
            .into_iter()
            .filter(|l| {
                l.status != STATUS_DELETED
                    && l.licname == sent.licname
                    && l.ip == sent.ip
                    && l.licname != FREE_NAME
                    && l.pricelist.is_none_or(|p| p == sent.pricelist)
                    && match (since, Date::parse(&l.createdate)) {
                        (Some(since), Some(created)) => created >= since,
                        _ => true,
                    }
                    && !held.contains(&l.id)
            })
            .collect();
        candidates.sort_by_key(|l| l.id);
        let mut confirmed = Vec::new();
        for c in candidates {
            if let Some(l) = self.read(c.id)? {
                if l.remoteid == sent.remoteid && l.status != STATUS_DELETED {
                    confirmed.push(l.id);
                }
            }
        }
        Ok(match confirmed.as_slice() {
            [] => Found::None,
            [one] => Found::One(*one),
            _ => Found::Many(confirmed),
        })
    }

    /// No license of an order whose answer never arrived shows up: look again a few
    /// times (a slow billing may still be processing it), then hand it to a person.
    fn sent_order_unresolved(
        &self,
        req: &LifecycleRequest,
        note_key: &str,
        mut note: OrderNote,
        sent: &SentOrder,
    ) -> Result<Outcome, ModuleError> {
        let s = self.settings();
        if note.checks < LOST_ORDER_CHECKS && note.asked_attempt.is_none() {
            note.checks += 1;
            self.host.kv_put_json(note_key, &note)?;
            return Ok(Outcome::InProgress {
                poll_after_secs: s.key_poll_secs,
                state: json!({}),
                message: Some(format!(
                    "the order sent at {} ({}) never answered and no license for it shows in the list yet; looking again (look {} of {LOST_ORDER_CHECKS}) before anything is ordered",
                    sent.at, sent.product, note.checks
                )),
            });
        }
        note.asked_attempt = Some(req.attempt);
        self.host.kv_put_json(note_key, &note)?;
        Ok(Outcome::NeedsHuman {
            reason: format!(
                "create: ISPsystem may have sold a license for this service and charged the reseller balance for it: {} was ordered at {} (name {}, IP {}, remoteid {}) and the answer never arrived. No license in the list matched it after {} looks, but that does not prove nothing was bought. {} If there is one, complete this task with its id, key and expiry date. If there is none, retry this task: it looks once more and, finding nothing, orders one license.",
                sent.product,
                sent.at,
                sent.licname,
                sent.ip,
                sent.remoteid,
                note.checks + 1,
                sent.how_to_check()
            ),
            fields: license_fields(None),
        })
    }

    fn order(
        &self,
        product: &Product,
        binding: &Binding,
        note_key: &str,
        note: &mut OrderNote,
        reordering: bool,
    ) -> Result<Ordered, ModuleError> {
        let pl = product.pricelist;
        let what = format!("order {} (pricelist {})", pl.name, pl.id);
        let pricelist = pl.id.to_string();
        let period = product.period.to_string();
        let project = self.settings().project.map(|p| p.to_string());
        let addon = product
            .addon
            .map(|(id, n)| (format!("addon_{id}"), n.to_string()));
        // `autoprolong` is not sent: the documentation names no value for it, and the
        // daily run renews (two renewals would pay twice).
        let mut params: Vec<(&str, &str)> = vec![
            ("pricelist", &pricelist),
            ("period", &period),
            ("ip", &binding.ip),
            ("licname", &binding.licname),
            ("remoteid", &binding.remoteid),
            ("skipbasket", "on"),
            ("sok", "ok"),
            ("clicked_button", "finish"),
        ];
        if let Some(project) = &project {
            params.push(("project", project));
        }
        if let Some((name, value)) = &addon {
            params.push((name, value));
        }
        let sent = SentOrder {
            at: self.host.now(),
            date: self.host.today(),
            product: format!(
                "{} (pricelist {}, {} month(s){})",
                pl.name,
                pl.id,
                product.period,
                product
                    .addon
                    .map(|(a, n)| format!(", addon_{a}={n}"))
                    .unwrap_or_default()
            ),
            pricelist: pl.id,
            licname: binding.licname.clone(),
            ip: binding.ip.clone(),
            remoteid: binding.remoteid.clone(),
        };
        // Written before the order leaves: if the answer is lost or this process dies
        // before it is read, the next attempt looks for the license instead of buying.
        note.sent = Some(sent.clone());
        note.checks = 0;
        note.asked_attempt = None;
        self.host.kv_put_json(note_key, note)?;
        let answer = self.client.call_raw(&what, pl.order_func, &params).map_err(|e| {
            ModuleError::new(
                e.kind,
                format!(
                    "{}; the order may have gone through, so the next attempt looks for its license before ordering again",
                    e.message
                ),
            )
        })?;
        match answer {
            Ok(doc) => {
                let Some(id) = doc.text_of("id").and_then(|t| t.parse::<u64>().ok()) else {
                    // The order may have gone through: the note makes the retry look.
                    return Err(ModuleError::transient(format!(
                        "{what}: ISPsystem's answer to {} carries no license id; the next attempt looks for the license before ordering again",
                        pl.order_func
                    )));
                };
                note.adopt(id);
                self.host.kv_put_json(note_key, note)?;
                self.host.info(&format!(
                    "create: ordered license {id} ({}, {} month(s), remoteid {})",
                    pl.name, product.period, binding.remoteid
                ));
                Ok(Ordered::Id(id))
            }
            Err(e) => {
                // ISPsystem answered with an error: this order bought nothing.
                note.sent = None;
                self.host.kv_put_json(note_key, note)?;
                if e.kind == "balance" {
                    let before = if reordering {
                        " An earlier order of this service, whose answer never arrived, was checked by staff."
                    } else {
                        ""
                    };
                    return Ok(Ordered::Refused(Outcome::NeedsHuman {
                        reason: format!(
                            "ISPsystem refused to sell {} for {} ({}, remoteid {}): the reseller balance is too low ({}). Nothing was bought by this operation.{before} Top up the reseller balance at ISPsystem and retry this task; or buy the license by hand and complete the task with its id and key.",
                            pl.name, binding.licname, binding.ip, binding.remoteid, e.msg
                        ),
                        fields: license_fields(None),
                    }));
                }
                Err(e.into_module_error(&what, &self.settings().username))
            }
        }
    }

    /// Our own claim on a pooled license from an earlier attempt, else a fresh one
    /// taken with compare-and-swap; bound to the service before it is returned.
    fn take_from_pool(
        &self,
        product: &Product,
        binding: &Binding,
    ) -> Result<Option<u64>, ModuleError> {
        let prefix = pool_prefix(product.pricelist.id, product.nodes());
        let today = self.host.today();
        loop {
            let entries = self.host.kv_list(&prefix)?;
            let mut taken: Option<(String, PoolEntry)> = entries.iter().find_map(|(k, v)| {
                let e: PoolEntry = serde_json::from_str(v).ok()?;
                (e.claimed_by.as_deref() == Some(binding.remoteid.as_str())).then(|| (k.clone(), e))
            });
            if taken.is_none() {
                for (key, value) in &entries {
                    let Ok(entry) = serde_json::from_str::<PoolEntry>(value) else {
                        self.host
                            .warn(&format!("pool entry {key} is not readable; skipping it"));
                        continue;
                    };
                    if entry.claimed_by.is_some() {
                        continue;
                    }
                    let claimed = PoolEntry {
                        claimed_by: Some(binding.remoteid.clone()),
                        claimed_on: Some(today.clone()),
                        ..entry
                    };
                    let text = serde_json::to_string(&claimed)?;
                    if self.host.kv_swap(key, Some(value), Some(&text))? {
                        taken = Some((key.clone(), claimed));
                        break;
                    }
                }
            }
            let Some((key, entry)) = taken else {
                return Ok(None);
            };
            let elid = entry.license.to_string();
            let what = format!("take pooled license {}", entry.license);
            match self.client.call_raw(
                &what,
                "soft.edit",
                &[
                    ("elid", &elid),
                    ("sok", "ok"),
                    ("licname", &binding.licname),
                    ("ip", &binding.ip),
                    ("remoteid", &binding.remoteid),
                ],
            )? {
                Ok(_) => {
                    self.host.info(&format!(
                        "create: took license {} from the pool for remoteid {} (instead of buying one)",
                        entry.license, binding.remoteid
                    ));
                    return Ok(Some(entry.license));
                }
                Err(e) if e.kind == "missing" => {
                    self.host.warn(&format!(
                        "pooled license {} no longer exists at ISPsystem; dropping it from the pool",
                        entry.license
                    ));
                    self.host.kv_delete(&key)?;
                }
                Err(e) => return Err(e.into_module_error(&what, &self.settings().username)),
            }
        }
    }

    /// The pool entry `remoteid` claimed for license `id`, if any.
    fn claim_of(
        &self,
        remoteid: &str,
        id: u64,
    ) -> Result<Option<(String, PoolEntry)>, ModuleError> {
        Ok(self.host.kv_list("pool/")?.into_iter().find_map(|(k, v)| {
            let e: PoolEntry = serde_json::from_str(&v).ok()?;
            (e.license == id && e.claimed_by.as_deref() == Some(remoteid)).then_some((k, e))
        }))
    }

    /// Prolongs the license first when today is on or past its expiry date, then
    /// resumes it if it is stopped.
    fn revive(&self, license: &License, period: i64, what: &str) -> Result<License, ModuleError> {
        let today = Date::parse(&self.host.today());
        let expiry = Date::parse(&license.expiredate);
        if let (Some(today), Some(expiry)) = (today, expiry) {
            if today >= expiry {
                let new_expiry = self.prolong(license.id, period, what)?;
                self.host.info(&format!(
                    "{what}: license {} expired on {expiry}; prolonged to {new_expiry}",
                    license.id
                ));
            }
        }
        let license = self.read_existing(license.id, what)?;
        if license.status == STATUS_STOPPED {
            let elid = license.id.to_string();
            self.client.call(
                &format!("{what}: resume license {}", license.id),
                "soft.resume",
                &[("elid", &elid)],
            )?;
            return self.read_existing(license.id, what);
        }
        Ok(license)
    }

    /// `service.prolong`: returns the new expiry date.
    fn prolong(&self, id: u64, months: i64, what: &str) -> Result<String, ModuleError> {
        let elid = id.to_string();
        let period = months.to_string();
        let what = format!("{what}: prolong license {id} by {months} month(s)");
        let doc = self.client.call(
            &what,
            "service.prolong",
            &[("elid", &elid), ("period", &period), ("sok", "ok")],
        )?;
        doc.child("doc")
            .and_then(|d| d.text_of("newexpiredate"))
            .or_else(|| doc.text_of("newexpiredate"))
            .filter(|d| Date::parse(d).is_some())
            .map(str::to_string)
            .ok_or_else(|| {
                ModuleError::transient(format!(
                    "{what}: ISPsystem's answer carries no /doc/doc/newexpiredate"
                ))
            })
    }

    fn new_key(&self, id: u64) -> Result<(), ModuleError> {
        let elid = id.to_string();
        self.client.call(
            &format!("issue a new key for license {id}"),
            "soft.edit",
            &[("elid", &elid), ("clicked_button", "newkey"), ("sok", "ok")],
        )?;
        Ok(())
    }

    fn edit_binding(&self, id: u64, binding: &Binding) -> Result<(), ModuleError> {
        let elid = id.to_string();
        self.client.call(
            &format!("bind license {id} to {} ({})", binding.licname, binding.ip),
            "soft.edit",
            &[
                ("elid", &elid),
                ("sok", "ok"),
                ("licname", &binding.licname),
                ("ip", &binding.ip),
                ("remoteid", &binding.remoteid),
            ],
        )?;
        Ok(())
    }

    fn wait_for_key(&self, wait: &KeyWait, license: &License, what: &str) -> Outcome {
        let polls = if wait.license == Some(license.id) {
            wait.polls + 1
        } else {
            1
        };
        let s = self.settings();
        if polls > s.key_max_polls {
            return Outcome::NeedsHuman {
                reason: format!(
                    "{what}: ISPsystem has not issued a key for license {} ({}, {}; status {}) after {} reads {} s apart. Look at license {} in your ISPsystem account: when it has a key, complete this task with the license id, key and expiry date; or retry the task to wait again.",
                    license.id,
                    license.licname,
                    license.ip,
                    license.status_text(),
                    s.key_max_polls,
                    s.key_poll_secs,
                    license.id
                ),
                fields: license_fields(Some(license.id)),
            };
        }
        Outcome::InProgress {
            poll_after_secs: s.key_poll_secs,
            state: json!({"license": license.id, "polls": polls}),
            message: Some(format!(
                "waiting for ISPsystem to issue the key of license {} (read {polls} of {})",
                license.id, s.key_max_polls
            )),
        }
    }

    /// `suspend`: `soft.suspend`; the stored key is cleared. A license that is gone is
    /// fine.
    pub fn suspend(&self, req: &LifecycleRequest, remoteid: &str) -> Result<Outcome, ModuleError> {
        let Some(id) = self.license_of(&req.service, remoteid)? else {
            self.host
                .info("suspend: the service has no license at ISPsystem; nothing to suspend");
            return Ok(Outcome::done());
        };
        if let Some(license) = self.read(id)? {
            if !license.free_or_bound_to(remoteid) {
                return Err(ModuleError::permanent(format!(
                    "suspend: license {id} is now bound to remoteid {}, not to this service ({remoteid}); it was not touched",
                    license.remoteid
                )));
            }
        }
        let elid = id.to_string();
        let what = format!("suspend license {id}");
        match self
            .client
            .call_raw(&what, "soft.suspend", &[("elid", &elid)])?
        {
            Ok(_) => {}
            Err(e) if e.kind == "missing" => {
                self.host.info(&format!(
                    "suspend: license {id} no longer exists at ISPsystem"
                ));
            }
            Err(e) => return Err(e.into_module_error(&what, &self.settings().username)),
        }
        Ok(Outcome::Done {
            remote_id: Some(id.to_string()),
            attributes: attrs(&[("lickey", json!(""))]),
            message: Some(format!("license {id} suspended")),
        })
    }

    /// `unsuspend`: prolong first when today is on or past the expiry date, resume,
    /// re-assert name, IP and remoteid, then read the key (waiting for it if needed).
    pub fn unsuspend(
        &self,
        req: &LifecycleRequest,
        product: &Product,
        binding: &Binding,
    ) -> Result<Outcome, ModuleError> {
        let wait = KeyWait::from_request(req);
        let id = self
            .license_of(&req.service, &binding.remoteid)?
            .ok_or_else(|| {
                ModuleError::permanent(format!(
                    "unsuspend: the service has no license (no remote id, and none carries remoteid {}); order a new one",
                    binding.remoteid
                ))
            })?;
        let license = if wait.license == Some(id) {
            self.read_existing(id, "unsuspend")?
        } else {
            let license = self.read_existing(id, "unsuspend")?;
            if !license.free_or_bound_to(&binding.remoteid) {
                return Err(ModuleError::permanent(format!(
                    "unsuspend: license {id} is now bound to remoteid {}, not to this service ({}); it was not touched",
                    license.remoteid, binding.remoteid
                )));
            }
            self.revive(&license, product.period, "unsuspend")?;
            self.edit_binding(id, binding)?;
            self.read_existing(id, "unsuspend")?
        };
        if license.lickey.is_empty() {
            return Ok(self.wait_for_key(&wait, &license, "unsuspend"));
        }
        Ok(done(&license, None))
    }

    /// `terminate`: suspend, rename to `free.lic` with IP `0.0.0.0` and no remoteid,
    /// and keep the license in the pool for the next order of the same pricelist and
    /// node count. Nothing is deleted at ISPsystem.
    pub fn terminate(
        &self,
        req: &LifecycleRequest,
        product: &Product,
        remoteid: &str,
    ) -> Result<Outcome, ModuleError> {
        let Some(id) = self.license_of(&req.service, remoteid)? else {
            self.host
                .info("terminate: the service has no license at ISPsystem; nothing to release");
            return Ok(Outcome::done());
        };
        let Some(license) = self.read(id)? else {
            self.host.info(&format!(
                "terminate: license {id} no longer exists at ISPsystem"
            ));
            return Ok(Outcome::done());
        };
        if license.status == STATUS_DELETED {
            return Ok(Outcome::done());
        }
        if !license.free_or_bound_to(remoteid) {
            self.host.info(&format!(
                "terminate: license {id} is already released and now bound to remoteid {}; left alone",
                license.remoteid
            ));
            return Ok(Outcome::done());
        }
        let elid = id.to_string();
        let what = format!("release license {id}");
        match self
            .client
            .call_raw(&what, "soft.suspend", &[("elid", &elid)])?
        {
            Ok(_) => {}
            Err(e) if e.kind == "missing" => return Ok(Outcome::done()),
            Err(e) => return Err(e.into_module_error(&what, &self.settings().username)),
        }
        self.client.call(
            &what,
            "soft.edit",
            &[
                ("elid", &elid),
                ("sok", "ok"),
                ("licname", FREE_NAME),
                ("ip", FREE_IP),
                ("remoteid", ""),
            ],
        )?;
        let attr_u64 = |k: &str| {
            req.service
                .attributes
                .get(k)
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        };
        let pricelist = attr_u64("pricelist")
            .or(license.pricelist)
            .unwrap_or(product.pricelist.id);
        let nodes = attr_u64("nodes")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| product.nodes());
        let entry = PoolEntry {
            license: id,
            pricelist,
            nodes,
            expiredate: license.expiredate.clone(),
            freed: self.host.today(),
            claimed_by: None,
            claimed_on: None,
        };
        let key = format!("{}{id}", pool_prefix(pricelist, nodes));
        // Put only if absent: a retry must not undo another create's claim.
        self.host
            .kv_swap(&key, None, Some(&serde_json::to_string(&entry)?))?;
        self.host.info(&format!(
            "terminate: license {id} released into the pool as {FREE_NAME} (pricelist {pricelist}, {nodes} node(s), expires {})",
            license.expiredate
        ));
        Ok(Outcome::Done {
            remote_id: Some(id.to_string()),
            attributes: attrs(&[("lickey", json!("")), ("pooled", json!(true))]),
            message: Some(format!("license {id} released into the pool")),
        })
    }

    /// `renew`: `service.prolong` by `period` months. A note under the operation key
    /// keeps a retry from paying twice.
    pub fn renew(
        &self,
        req: &LifecycleRequest,
        period: i64,
        remoteid: &str,
    ) -> Result<Outcome, ModuleError> {
        let id = self.license_of(&req.service, remoteid)?.ok_or_else(|| {
            ModuleError::permanent("renew: the service has no license at ISPsystem to renew")
        })?;
        let license = self.read_existing(id, "renew")?;
        if !license.free_or_bound_to(remoteid) {
            return Err(ModuleError::permanent(format!(
                "renew: license {id} is bound to remoteid {}, not to this service ({remoteid}); it was not renewed",
                license.remoteid
            )));
        }
        let note_key = format!("renew/{}", req.operation_key);
        match self.host.kv_get_json::<RenewNote>(&note_key)? {
            Some(note) if note.before != license.expiredate => {
                self.host.info(&format!(
                    "renew: an earlier attempt already prolonged license {id} (expiry {} → {})",
                    note.before, license.expiredate
                ));
                return Ok(expiry_done(id, &license.expiredate));
            }
            Some(_) => {}
            None => self.host.kv_put_json(
                &note_key,
                &RenewNote {
                    before: license.expiredate.clone(),
                    date: self.host.today(),
                },
            )?,
        }
        let new_expiry = self.prolong(id, period, "renew")?;
        Ok(expiry_done(id, &new_expiry))
    }

    /// The daily run: renew attached licenses from one day before expiry; drop pooled
    /// licenses a month past expiry; release claims a create left behind; forget old
    /// renewal notes.
    pub fn daily(
        &self,
        date: &str,
        attached: &[Attached],
    ) -> Result<Vec<DailyAction>, ModuleError> {
        let today = Date::parse(date).ok_or_else(|| {
            ModuleError::permanent(format!("daily: {date:?} is not a date (YYYY-MM-DD)"))
        })?;
        let mut actions = Vec::new();
        if !attached.is_empty() {
            self.renew_attached(today, attached, &mut actions)?;
        }
        self.tend_pool(today, &mut actions)?;
        self.forget_old_notes(today)?;
        Ok(actions)
    }

    /// The daily run's renewals: each attached license from one day before its expiry,
    /// if it is still bound to its service.
    fn renew_attached(
        &self,
        today: Date,
        attached: &[Attached],
        actions: &mut Vec<DailyAction>,
    ) -> Result<(), ModuleError> {
        let list = self.list()?;
        for a in attached {
            let Some(license) = list.iter().find(|l| l.id == a.license) else {
                actions.push(action(
                    Some(a.service_id),
                    "license_missing",
                    format!(
                        "license {} is not in the reseller account's list",
                        a.license
                    ),
                ));
                continue;
            };
            if matches!(license.status, STATUS_DELETED | STATUS_ORDERED) {
                continue;
            }
            let Some(expiry) = Date::parse(&license.expiredate) else {
                continue;
            };
            if today < expiry.add_days(-1) {
                continue;
            }
            // The list does not show `remoteid`; `soft.edit` does. Only a license
            // still bound to this service is paid for.
            match self.read(license.id) {
                Ok(Some(l)) if l.remoteid == a.remoteid => {}
                Ok(Some(l)) => {
                    actions.push(action(
                        Some(a.service_id),
                        "license_rebound",
                        format!(
                            "license {} is bound to remoteid {:?}, not to this service ({}); it was not renewed",
                            l.id, l.remoteid, a.remoteid
                        ),
                    ));
                    continue;
                }
                Ok(None) => {
                    actions.push(action(
                        Some(a.service_id),
                        "license_missing",
                        format!(
                            "license {} does not exist at ISPsystem (any more)",
                            a.license
                        ),
                    ));
                    continue;
                }
                Err(e) => {
                    actions.push(action(
                        Some(a.service_id),
                        "renew_failed",
                        format!(
                            "license {} (expires {}) was not prolonged: {}",
                            license.id, license.expiredate, e.message
                        ),
                    ));
                    continue;
                }
            }
            match self.prolong(license.id, a.period, "daily renewal") {
                Ok(new_expiry) => {
                    let mut act = action(
                        Some(a.service_id),
                        "renewed",
                        format!(
                            "license {} prolonged by {} month(s): expiry {} → {new_expiry}",
                            license.id, a.period, license.expiredate
                        ),
                    );
                    act.attributes = attrs(&[("expiredate", json!(new_expiry))]);
                    actions.push(act);
                }
                Err(e) => actions.push(action(
                    Some(a.service_id),
                    "renew_failed",
                    format!(
                        "license {} (expires {}) was not prolonged: {}",
                        license.id, license.expiredate, e.message
                    ),
                )),
            }
        }
        Ok(())
    }

    /// The daily run's pool upkeep: release claims a create left behind, drop pooled
    /// licenses a month past expiry.
    fn tend_pool(&self, today: Date, actions: &mut Vec<DailyAction>) -> Result<(), ModuleError> {
        for (key, value) in self.host.kv_list("pool/")? {
            let Ok(entry) = serde_json::from_str::<PoolEntry>(&value) else {
                continue;
            };
            if entry.claimed_by.is_some() {
                let stale = entry
                    .claimed_on
                    .as_deref()
                    .and_then(Date::parse)
                    .is_none_or(|d| today >= d.add_days(2));
                if stale {
                    let released = PoolEntry {
                        claimed_by: None,
                        claimed_on: None,
                        ..entry.clone()
                    };
                    if self.host.kv_swap(
                        &key,
                        Some(&value),
                        Some(&serde_json::to_string(&released)?),
                    )? {
                        actions.push(action(
                            None,
                            "pool_claim_released",
                            format!(
                                "license {} was taken from the pool by {} on {} without finishing; it is free again",
                                entry.license,
                                entry.claimed_by.as_deref().unwrap_or_default(),
                                entry.claimed_on.as_deref().unwrap_or("?")
                            ),
                        ));
                    }
                }
                continue;
            }
            let Some(expiry) = Date::parse(&entry.expiredate) else {
                continue;
            };
            if today >= expiry.add_months(1) && self.host.kv_swap(&key, Some(&value), None)? {
                actions.push(action(
                    None,
                    "pool_dropped",
                    format!(
                        "pooled license {} (pricelist {}, {} node(s)) expired on {} and was dropped from the pool",
                        entry.license, entry.pricelist, entry.nodes, entry.expiredate
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The daily run's cleanup of old order and renewal notes.
    fn forget_old_notes(&self, today: Date) -> Result<(), ModuleError> {
        // Order notes whose license is known are kept 60 days (a rerun of the
        // operation after a crash still finds its license); an order no one resolved
        // stays for the person who will.
        for (key, value) in self.host.kv_list(ORDER_PREFIX)? {
            let old = serde_json::from_str::<OrderNote>(&value)
                .ok()
                .filter(|n| n.sent.is_none())
                .and_then(|n| Date::parse(&n.date))
                .is_some_and(|d| today >= d.add_days(60));
            if old {
                self.host.kv_delete(&key)?;
            }
        }
        for (key, value) in self.host.kv_list("renew/")? {
            let old = serde_json::from_str::<RenewNote>(&value)
                .ok()
                .and_then(|n| Date::parse(&n.date))
                .is_none_or(|d| today >= d.add_days(60));
            if old {
                self.host.kv_delete(&key)?;
            }
        }
        Ok(())
    }

    /// Admin SSO: `session.newkey` with a fresh random key, then the browser login URL.
    pub fn admin_sso(&self) -> Result<SsoLink, ModuleError> {
        let s = self.settings();
        let key = random_key(&self.host.now());
        self.client.call(
            "admin SSO",
            "session.newkey",
            &[("username", &s.username), ("key", &key)],
        )?;
        Ok(SsoLink {
            url: format!(
                "{}?checkcookie=no&func=auth&username={}&key={key}",
                s.sso_url,
                url_encode(&s.username)
            ),
            expires_at: None,
        })
    }

    /// The client-area panel: license name, IP, key, expiry and status.
    pub fn client_area(
        &self,
        service: &ServiceInfo,
        remoteid: &str,
        title: &str,
    ) -> Result<Panel, ModuleError> {
        let mut panel = Panel {
            title: title.to_string(),
            ..Panel::default()
        };
        let row = |label: &str, value: &str| PanelRow {
            label: label.to_string(),
            value: value.to_string(),
        };
        let license = match self.license_of(service, remoteid)? {
            Some(id) => self.read(id)?,
            None => None,
        };
        match license {
            None => panel.rows.push(row("Status", "no license yet")),
            Some(l) => {
                panel.rows.push(row("License", &l.id.to_string()));
                panel.rows.push(row("License name", &l.licname));
                panel.rows.push(row("IP address", &l.ip));
                panel.rows.push(row(
                    "License key",
                    if l.lickey.is_empty() {
                        "(not issued yet)"
                    } else {
                        &l.lickey
                    },
                ));
                panel.rows.push(row("Expires", &l.expiredate));
                panel.rows.push(row("Status", l.status_text()));
            }
        }
        Ok(panel)
    }

    /// One page of the reseller account's licenses, pooled (`free.lic`) and deleted
    /// ones left out.
    pub fn list_accounts(&self, req: &ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        let mut all: Vec<License> = self
            .list()?
            .into_iter()
            .filter(|l| l.status != STATUS_DELETED && l.licname != FREE_NAME)
            .collect();
        all.sort_by_key(|l| l.id);
        let per_page = req.per_page.max(1) as usize;
        let page = req.page.max(1) as usize;
        let total = all.len();
        let accounts = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|l| RemoteAccount {
                remote_id: l.id.to_string(),
                email: String::new(),
                name: l.licname.clone(),
                status: match l.status {
                    STATUS_ACTIVE | STATUS_PROCESSING => RemoteStatus::Active,
                    STATUS_STOPPED => RemoteStatus::Suspended,
                    _ => RemoteStatus::Unknown,
                },
                plan_hint: l.pricelist.map(|p| p.to_string()),
                attributes: attrs(&[
                    ("licname", json!(l.licname)),
                    ("ip", json!(l.ip)),
                    ("expiredate", json!(l.expiredate)),
                ]),
            })
            .collect();
        Ok(AccountPage {
            accounts,
            next_page: (page * per_page < total).then_some(page as u32 + 1),
            total: Some(total as u64),
        })
    }

    /// `test_connection`: an authenticated `func=soft`.
    pub fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        let list = self.list()?;
        let s = self.settings();
        Ok(ConnectionInfo {
            message: format!(
                "connected to {} as {}: {} license(s) in the account",
                s.url,
                s.username,
                list.len()
            ),
            details: json!({"licenses": list.len()}),
        })
    }
}

fn attrs(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn action(service_id: Option<i64>, event: &str, message: String) -> DailyAction {
    DailyAction {
        service_id,
        event: event.to_string(),
        message,
        request: None,
        attributes: Map::new(),
    }
}

fn done(license: &License, product: Option<&Product>) -> Outcome {
    let mut attributes = attrs(&[
        ("lickey", json!(license.lickey)),
        ("expiredate", json!(license.expiredate)),
        ("licname", json!(license.licname)),
        ("ip", json!(license.ip)),
    ]);
    if let Some(p) = product {
        attributes.insert("pricelist".into(), json!(p.pricelist.id));
        attributes.insert("nodes".into(), json!(p.nodes()));
    }
    Outcome::Done {
        remote_id: Some(license.id.to_string()),
        attributes,
        message: Some(format!(
            "license {} ({}, {}) active until {}",
            license.id, license.licname, license.ip, license.expiredate
        )),
    }
}

fn expiry_done(id: u64, expiry: &str) -> Outcome {
    Outcome::Done {
        remote_id: Some(id.to_string()),
        attributes: attrs(&[("expiredate", json!(expiry))]),
        message: Some(format!("license {id} now expires on {expiry}")),
    }
}

/// The form staff fill in when a license must be finished by hand.
fn license_fields(license: Option<u64>) -> Vec<FormField> {
    vec![
        FormField {
            name: "remote_id".into(),
            label: "License id at ISPsystem".into(),
            kind: FieldKind::Text,
            required: true,
            help: Some(match license {
                Some(id) => format!("license {id}"),
                None => "the id of the license bought by hand".into(),
            }),
        },
        FormField {
            name: "lickey".into(),
            label: "License key".into(),
            kind: FieldKind::Secret,
            required: true,
            help: None,
        },
        FormField {
            name: "expiredate".into(),
            label: "Expiry date".into(),
            kind: FieldKind::Date,
            required: true,
            help: None,
        },
    ]
}

/// A one-time login key: 32 hex digits from two randomly keyed SipHash states (std's
/// `RandomState` draws its keys from the operating system), mixed with the time.
fn random_key(seed: &str) -> String {
    (0u8..2).fold(String::with_capacity(32), |mut key, i| {
        let mut h = RandomState::new().build_hasher();
        seed.hash(&mut h);
        i.hash(&mut h);
        let _ = write!(key, "{:016x}", h.finish());
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_read_from_list_elements_and_edit_forms() {
        let list = Elem::parse("<doc><elem><id>7</id><licname>a</licname><ip>192.0.2.1</ip><expiredate>2026-02-28</expiredate><pricelist>55227</pricelist><status>2</status><remoteid>l1</remoteid></elem><elem><licname>no id</licname></elem></doc>").unwrap();
        let all: Vec<License> = list
            .children_named("elem")
            .filter_map(License::from_elem)
            .collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].pricelist, Some(55227));
        assert_eq!(all[0].status_text(), "active");
        let form =
            Elem::parse("<doc><elid>9</elid><lickey>K</lickey><status>5</status></doc>").unwrap();
        let l = License::from_elem(&form).unwrap();
        assert_eq!(
            (l.id, l.lickey.as_str(), l.status),
            (9, "K", STATUS_PROCESSING)
        );
        assert!(l.free_or_bound_to("l3"));
    }

    #[test]
    fn random_keys_differ_and_are_long_enough() {
        let a = random_key("2026-01-01T00:00:00Z");
        let b = random_key("2026-01-01T00:00:00Z");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn pool_entries_round_trip_without_empty_claims() {
        let e = PoolEntry {
            license: 5,
            pricelist: 55227,
            nodes: 0,
            expiredate: "2026-02-28".into(),
            freed: "2026-01-31".into(),
            claimed_by: None,
            claimed_on: None,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("claimed"), "{text}");
        assert_eq!(serde_json::from_str::<PoolEntry>(&text).unwrap(), e);
        assert_eq!(pool_prefix(55163, 5), "pool/55163-5/");
    }
}
