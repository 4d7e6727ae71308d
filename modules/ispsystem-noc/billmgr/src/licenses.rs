//! The license lifecycle both modules share: adopt-or-pool-or-order, a bounded wait for
//! the key, suspend, resume (prolonging an expired license first), release into the
//! pool, renewals, the daily run, admin SSO, the client-area panel and the import list.
//!
//! Every step is derived again from the remote state on a retry, so nothing is bought
//! twice: a license carries the service's `remoteid` (`l{id}` / `a{id}`), and `create`
//! looks for it before anything else.

use std::collections::hash_map::RandomState;
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

    /// The license bound to `remoteid` that is not deleted (the oldest, if several).
    ///
    /// ASSUMPTION: `func=soft` lists VMmanager 6 licenses ordered through
    /// `platform.order.param` as well, with their `remoteid`. ISPsystem's own handling
    /// of `remoteid` (deduplication) is undocumented and not relied on.
    pub fn find_by_remoteid(&self, remoteid: &str) -> Result<Option<License>, ModuleError> {
        let mut found: Vec<License> = self
            .list()?
            .into_iter()
            .filter(|l| l.remoteid == remoteid && l.status != STATUS_DELETED)
            .collect();
        found.sort_by_key(|l| l.id);
        if found.len() > 1 {
            self.host.warn(&format!(
                "{} licenses carry remoteid {remoteid} ({}); using {}",
                found.len(),
                found
                    .iter()
                    .map(|l| l.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                found[0].id
            ));
        }
        Ok(found.into_iter().next())
    }

    /// The license of a service: its remote id, else the license carrying `remoteid`.
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
        Ok(self.find_by_remoteid(remoteid)?.map(|l| l.id))
    }

    /// `create`: adopt the license an earlier attempt made (found by `remoteid`), else
    /// take one from the pool, else order one; then wait for its key.
    pub fn create(
        &self,
        req: &LifecycleRequest,
        product: &Product,
        binding: &Binding,
    ) -> Result<Outcome, ModuleError> {
        let wait = KeyWait::from_request(req);
        let id = match self.find_by_remoteid(&binding.remoteid)? {
            Some(found) => {
                if wait.license != Some(found.id) {
                    self.host.info(&format!(
                        "create: adopting license {} that carries remoteid {}",
                        found.id, binding.remoteid
                    ));
                }
                found.id
            }
            None => match self.take_from_pool(product, binding)? {
                Some(id) => id,
                None => match self.order(product, binding)? {
                    Ordered::Id(id) => id,
                    Ordered::Refused(outcome) => return Ok(outcome),
                },
            },
        };
        let mut license = self.read_existing(id, "create")?;
        if let Some((key, _)) = self.claim_of(&binding.remoteid, id)? {
            // A pooled license: bring it back to life, with a key the previous owner
            // never saw, then let the pool forget it.
            self.revive(license, product.period, "create")?;
            self.new_key(id)?;
            self.host.kv_delete(&key)?;
            license = self.read_existing(id, "create")?;
        } else if license.status == STATUS_STOPPED {
            license = self.revive(license, product.period, "create")?;
        }
        if license.lickey.is_empty() {
            return Ok(self.wait_for_key(&wait, &license, "create"));
        }
        Ok(done(&license, Some(product)))
    }

    fn order(&self, product: &Product, binding: &Binding) -> Result<Ordered, ModuleError> {
        let pl = product.pricelist;
        let what = format!("order {} (pricelist {})", pl.name, pl.id);
        let pricelist = pl.id.to_string();
        let period = product.period.to_string();
        let project = self.settings().project.map(|p| p.to_string());
        let addon = product
            .addon
            .map(|(id, n)| (format!("addon_{id}"), n.to_string()));
        let mut params: Vec<(&str, &str)> = vec![
            ("pricelist", &pricelist),
            ("period", &period),
            ("ip", &binding.ip),
            ("licname", &binding.licname),
            ("remoteid", &binding.remoteid),
            ("skipbasket", "on"),
            ("sok", "ok"),
            ("clicked_button", "finish"),
            // ASSUMPTION: `off` disables ISPsystem's own prolongation (the value format is
            // undocumented); the daily run renews, and two renewals would pay twice.
            ("autoprolong", "off"),
        ];
        if let Some(project) = &project {
            params.push(("project", project));
        }
        if let Some((name, value)) = &addon {
            params.push((name, value));
        }
        match self.client.call_raw(&what, pl.order_func, &params)? {
            Ok(doc) => {
                let id = doc
                    .text_of("id")
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| {
                        // The order may have gone through: the retry finds it by remoteid.
                        ModuleError::transient(format!(
                            "{what}: ISPsystem's answer to {} carries no license id",
                            pl.order_func
                        ))
                    })?;
                self.host.info(&format!(
                    "create: ordered license {id} ({}, {} month(s), remoteid {})",
                    pl.name, product.period, binding.remoteid
                ));
                Ok(Ordered::Id(id))
            }
            Err(e) if e.kind == "balance" => Ok(Ordered::Refused(Outcome::NeedsHuman {
                reason: format!(
                    "ISPsystem refused to sell {} for {} ({}, remoteid {}): the reseller balance is too low ({}). Nothing was bought. Top up the reseller balance at ISPsystem and retry this task; or buy the license by hand and complete the task with its id and key.",
                    pl.name, binding.licname, binding.ip, binding.remoteid, e.msg
                ),
                fields: license_fields(None),
            })),
            Err(e) => Err(e.into_module_error(&what, &self.settings().username)),
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
    fn revive(&self, license: License, period: i64, what: &str) -> Result<License, ModuleError> {
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
            self.revive(license, product.period, "unsuspend")?;
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
                if matches!(license.status, STATUS_DELETED | STATUS_ORDERED)
                    || license.remoteid != a.remoteid
                {
                    continue;
                }
                let Some(expiry) = Date::parse(&license.expiredate) else {
                    continue;
                };
                if today < expiry.add_days(-1) {
                    continue;
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
        }
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
        for (key, value) in self.host.kv_list("renew/")? {
            let old = serde_json::from_str::<RenewNote>(&value)
                .ok()
                .and_then(|n| Date::parse(&n.date))
                .is_none_or(|d| today >= d.add_days(60));
            if old {
                self.host.kv_delete(&key)?;
            }
        }
        Ok(actions)
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
                    ("remoteid", json!(l.remoteid)),
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
    (0u8..2)
        .map(|i| {
            let mut h = RandomState::new().build_hasher();
            seed.hash(&mut h);
            i.hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
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
