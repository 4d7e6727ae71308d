//! Suspend, unsuspend and terminate, with the license calls they share: reviving an
//! expired or stopped license, prolonging it, a new key and a new binding.

use provisor_module_api::serde_json::json;
use provisor_module_api::{LifecycleRequest, ModuleError, Outcome};

use super::*;

impl Licenses<'_> {
    /// Prolongs the license first when today is on or past its expiry date, then
    /// resumes it if it is stopped.
    pub(crate) fn revive(
        &self,
        license: &License,
        period: i64,
        what: &str,
    ) -> Result<License, ModuleError> {
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
    pub(crate) fn prolong(&self, id: u64, months: i64, what: &str) -> Result<String, ModuleError> {
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

    pub(crate) fn new_key(&self, id: u64) -> Result<(), ModuleError> {
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
            &binding.edit_params(&elid),
        )?;
        Ok(())
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
}
