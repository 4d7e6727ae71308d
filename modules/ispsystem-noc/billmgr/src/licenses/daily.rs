//! Renewals and the daily run: prolonging a license once per period (with a note that
//! keeps a retry from paying twice), renewing attached licenses, and forgetting old
//! order and renewal notes.

use provisor_module_api::serde_json::json;
use provisor_module_api::{DailyAction, LifecycleRequest, ModuleError, Outcome};
use serde::{Deserialize, Serialize};

use super::*;

/// What a renewal noted before it prolonged, so that a retry does not pay twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RenewNote {
    before: String,
    date: String,
}

impl Licenses<'_> {
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
}
