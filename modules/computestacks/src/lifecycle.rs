//! The lifecycle calls' common ground: the user id of a service, the user group of a
//! plan, creating or adopting the service's user, suspension, and the outcomes the
//! calls answer with.

use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;

use crate::*;

/// The external id the module gives the user of service `id`.
pub fn external_id(service_id: i64) -> String {
    format!("provisor-{service_id}")
}

impl ComputeStacks {
    /// The controller's user id for a service: its remote id, or (for a service whose
    /// remote id was never stored) the user with its external id.
    pub(crate) fn user_id(&self, service: &ServiceInfo) -> Result<Option<u64>, ModuleError> {
        if let Some(remote) = service.remote_id.as_deref() {
            return match remote.trim().parse::<u64>() {
                Ok(id) => Ok(Some(id)),
                Err(_) => Err(ModuleError::permanent(format!(
                    "service #{} has remote id {remote:?}, which is not a ComputeStacks user id: correct it to the user's numeric id",
                    service.id
                ))),
            };
        }
        Ok(self
            .find_by_external_id(&external_id(service.id))?
            .map(|u| u.id))
    }

    pub(crate) fn require_user_id(&self, service: &ServiceInfo) -> Result<u64, ModuleError> {
        self.user_id(service)?.ok_or_else(|| {
            ModuleError::permanent(format!(
                "service #{} has no ComputeStacks user: no remote id, and no user with external id {}",
                service.id,
                external_id(service.id)
            ))
        })
    }

    /// The user group a new account joins, if any is configured.
    fn user_group(&self, plan: &PlanInfo) -> Result<Option<u64>, ModuleError> {
        let settings: PlanSettings = if plan.settings.is_null() {
            PlanSettings::default()
        } else {
            serde_json::from_value(plan.settings.clone()).map_err(|e| {
                ModuleError::invalid_config(format!(
                    "plan {:?}: its settings do not fit the computestacks plan schema ({e})",
                    plan.name
                ))
            })?
        };
        let template = match plan.template.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(t.parse::<u64>().map_err(|_| {
                ModuleError::invalid_config(format!(
                    "plan {:?} has template {t:?}: for ComputeStacks the template is a user group id (a number), or leave it empty",
                    plan.name
                ))
            })?),
        };
        Ok(settings
            .user_group_id
            .or(template)
            .or(self.settings.user_group_id))
    }

    fn done(&self, user: &CsUser, message: String) -> Outcome {
        let mut attributes = user.attributes();
        attributes.insert("panel_url".into(), json!(format!("{}/", self.settings.url)));
        Outcome::Done {
            remote_id: Some(user.id.to_string()),
            attributes,
            message: Some(message),
        }
    }

    pub(crate) fn state_done(state: &str, extra: &[(&str, Value)], message: String) -> Outcome {
        let mut attributes = Map::new();
        attributes.insert("cs_state".into(), json!(state));
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        Outcome::Done {
            remote_id: None,
            attributes,
            message: Some(message),
        }
    }

    pub(crate) fn create_user(&self, request: &LifecycleRequest) -> Result<Outcome, ModuleError> {
        let service = &request.service;
        let ext = external_id(service.id);
        // Every attempt looks first: an earlier one may have made the user and lost
        // the reply.
        if let Some(user) = self.find_by_external_id(&ext)? {
            self.host.info(&format!(
                "create: adopting ComputeStacks user {} ({}), made earlier for {ext}",
                user.id,
                user.email()
            ));
            return Ok(self.done(
                &user,
                format!(
                    "adopted ComputeStacks user {} ({}) made by an earlier attempt",
                    user.id,
                    user.email()
                ),
            ));
        }
        let client = &service.client;
        let email = client.email.trim().to_lowercase();
        if email.is_empty() {
            return Err(ModuleError::permanent(format!(
                "client #{} has no e-mail address, and every ComputeStacks user needs a unique one: add it to the client and retry",
                client.id
            )));
        }
        let name = client.name.trim();
        // ASSUMPTION: the controller requires both names; a one-word name fills both,
        // no name at all uses the e-mail.
        let (fname, lname) = match name.split_once(char::is_whitespace) {
            Some((f, l)) if !l.trim().is_empty() => (f.to_string(), l.trim().to_string()),
            _ if !name.is_empty() => (name.to_string(), name.to_string()),
            _ => (email.clone(), email.clone()),
        };
        let mut user = json!({
            "fname": fname,
            "lname": lname,
            "email": email,
            "external_id": ext,
            "skip_email_confirm": true,
            "merge_labels": {"provisor": {"client_id": client.id, "service_id": service.id}},
        });
        let currency = client.currency.trim();
        if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            user["currency"] = json!(currency.to_uppercase());
        }
        let country = client.country.trim();
        if country.len() == 2 && country != "ZZ" {
            user["country"] = json!(country.to_uppercase());
        }
        if let Some(group) = self.user_group(&service.plan)? {
            user["user_group_id"] = json!(group);
        }
        let what = format!("create the ComputeStacks user for service #{}", service.id);
        let reply = self.send(
            &what,
            // The create view carries the user's sign-on `auth_token`: the host keeps
            // the body out of the module log and redacts its values from this call's
            // later log lines and errors.
            &self
                .api("POST", "users")
                .json(&json!({ "user": user }))?
                .secret_response(),
        )?;
        if reply.status == 422 {
            let said = remote_errors(&reply.body);
            if said.contains("Email has already been taken") {
                return self.adopt_taken(service, &email, &said, &reply);
            }
            if said.contains("User group") {
                return Err(ModuleError::invalid_config(format!(
                    "{what}: ComputeStacks refused user group {} ({said}): correct user_group_id in the plan or handler settings (or the plan's template)",
                    user["user_group_id"]
                ))
                .with_detail(excerpt(&reply.body, 500)));
            }
        }
        let reply = self.check(&what, reply)?;
        let created = decode_user(&what, &reply)?;
        self.host.info(&format!(
            "create: made ComputeStacks user {} ({}) with external id {ext}",
            created.id,
            created.email()
        ));
        Ok(self.done(
            &created,
            format!(
                "created ComputeStacks user {} ({})",
                created.id,
                created.email()
            ),
        ))
    }

    /// "Email has already been taken": adopt the user if it is ours, else say whose it is.
    fn adopt_taken(
        &self,
        service: &ServiceInfo,
        email: &str,
        said: &str,
        reply: &HttpResponse,
    ) -> Result<Outcome, ModuleError> {
        let ext = external_id(service.id);
        if let Some(user) = self.find_by_external_id(&ext)? {
            return Ok(self.done(
                &user,
                format!(
                    "adopted ComputeStacks user {} ({}) after \"{said}\"",
                    user.id,
                    user.email()
                ),
            ));
        }
        match self.find_by_email(email)? {
            Some(user) if user.belongs_to(service.id) => {
                self.host.info(&format!(
                    "create: e-mail {email} is taken by our own user {}; adopting it",
                    user.id
                ));
                Ok(self.done(
                    &user,
                    format!("adopted ComputeStacks user {} ({email}), which carries this service's label", user.id),
                ))
            }
            Some(user) => {
                let whose = match (&user.external_id, user.labels.pointer("/provisor/service_id")) {
                    (_, Some(sid)) => format!("Provisor service #{sid}"),
                    (Some(x), None) if !x.is_empty() => format!("external id {x}"),
                    _ => "no external id".to_string(),
                };
                Err(ModuleError::permanent(format!(
                    "e-mail {email} is already used by ComputeStacks user {} ({}, {whose}), which is not this service's: ComputeStacks needs a unique e-mail per user and Provisor makes one user per service. Change the client's e-mail, or adopt that user by completing this task with remote_id = {}",
                    user.id,
                    user.name(),
                    user.id
                ))
                .with_detail(excerpt(&reply.body, 500)))
            }
            None => Err(ModuleError::permanent(format!(
                "e-mail {email} is taken on ComputeStacks by a user the admin API cannot see (a support admin?): change the client's e-mail"
            ))
            .with_detail(excerpt(&reply.body, 500))),
        }
    }

    /// `POST` (suspend) or `DELETE` (resume) `.../suspension`: `false` when the user is gone.
    pub(crate) fn suspension(
        &self,
        what: &str,
        id: u64,
        suspend: bool,
    ) -> Result<bool, ModuleError> {
        let method = if suspend { "POST" } else { "DELETE" };
        let reply = self.send(what, &self.api(method, &format!("users/{id}/suspension")))?;
        if record_missing(&reply) {
            return Ok(false);
        }
        self.check(what, reply)?;
        Ok(true)
    }

    pub(crate) fn gone(service: &ServiceInfo, id: u64) -> ModuleError {
        ModuleError::permanent(format!(
            "ComputeStacks user {id} of service #{} no longer exists (deleted on the controller?): terminate the service, or correct its remote id",
            service.id
        ))
    }

    pub(crate) fn user_rows(
        what: &str,
        reply: &HttpResponse,
        root: &str,
    ) -> Result<Vec<Value>, ModuleError> {
        let body: Value = decode(what, reply)?;
        match body.get(root) {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(ModuleError::transient(format!(
                "{what}: ComputeStacks answered {} without a \"{root}\" list",
                reply.status
            ))
            .with_detail(excerpt(&reply.body, 300))),
        }
    }
}
