//! The lifecycle calls' common ground: finding, adopting or creating the client's
//! panel user, updating the user's record with compare-and-swap, and reconciling the
//! panel (user status, suspended VMs) with what the record adds up to.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;

use crate::*;

/// A random password for a new user. Clients log in through single sign-on and never
/// need it; it only has to be unguessable. (std's `RandomState` is seeded from the
/// operating system's random source; no extra crate needed.)
pub(crate) fn random_password() -> String {
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

impl SolusVm {
    /// The SolusVM user id of a service: its remote id, or the `user_id` attribute.
    pub(crate) fn user_id(service: &ServiceInfo) -> Option<u64> {
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

    pub(crate) fn require_user_id(service: &ServiceInfo, call: &str) -> Result<u64, ModuleError> {
        Self::user_id(service).ok_or_else(|| Self::no_user_id(service, call))
    }

    // --- the handler's record of each user --------------------------------------------

    pub(crate) fn record_key(user_id: u64) -> String {
        format!("users/{user_id}")
    }

    pub(crate) fn read_record(&self, user_id: u64) -> Result<Option<UserRecord>, ModuleError> {
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
    pub(crate) fn update_record(
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
    pub(crate) fn reconcile(
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

    pub(crate) fn done(user: &User, message: String) -> Outcome {
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

    pub(crate) fn find_or_create_user(
        &self,
        request: &LifecycleRequest,
    ) -> Result<(User, bool), ModuleError> {
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
    pub(crate) fn lifecycle(
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
}
