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

mod daily;
mod lifecycle;
mod order;
mod panel;
mod pool;
#[cfg(test)]
mod tests;

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::{
    ConnectionInfo, DailyAction, FieldKind, FormField, Host, ModuleError, Outcome, ServiceInfo,
};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Settings};
use crate::date::Date;
use crate::xml::Elem;

use order::KeyWait;
pub use order::{order_key, OrderNote, SentOrder, LOST_ORDER_CHECKS, ORDER_PREFIX};

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

impl Binding {
    /// The parameters of the `soft.edit` that binds license `elid` to this.
    pub(crate) fn edit_params<'a>(&'a self, elid: &'a str) -> [(&'a str, &'a str); 5] {
        [
            ("elid", elid),
            ("sok", "ok"),
            ("licname", &self.licname),
            ("ip", &self.ip),
            ("remoteid", &self.remoteid),
        ]
    }
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
