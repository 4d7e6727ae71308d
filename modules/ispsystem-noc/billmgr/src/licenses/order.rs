//! `create`: the order notes that keep a license from being bought twice, the search
//! for the license of an order whose answer never arrived, the order itself and the
//! bounded wait for its key.

use provisor_module_api::serde_json::json;
use provisor_module_api::{LifecycleRequest, ModuleError, Outcome};
use serde::{Deserialize, Serialize};

use super::*;

/// What an `InProgress` wait for a key remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyWait {
    #[serde(default)]
    pub(crate) license: Option<u64>,
    #[serde(default)]
    polls: u32,
}

impl KeyWait {
    pub(crate) fn from_request(req: &LifecycleRequest) -> KeyWait {
        req.state
            .clone()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default()
    }
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
    pub(crate) fn how_to_check(&self) -> String {
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

impl Licenses<'_> {
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

    pub(crate) fn wait_for_key(&self, wait: &KeyWait, license: &License, what: &str) -> Outcome {
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
}
