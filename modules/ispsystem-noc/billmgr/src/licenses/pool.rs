//! The pool of released licenses: taking one (with compare-and-swap) for a new service,
//! and the daily upkeep that releases stale claims and drops licenses past expiry.

use provisor_module_api::{DailyAction, ModuleError};

use super::*;

impl Licenses<'_> {
    /// Our own claim on a pooled license from an earlier attempt, else a fresh one
    /// taken with compare-and-swap; bound to the service before it is returned.
    pub(crate) fn take_from_pool(
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
            match self
                .client
                .call_raw(&what, "soft.edit", &binding.edit_params(&elid))?
            {
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
    pub(crate) fn claim_of(
        &self,
        remoteid: &str,
        id: u64,
    ) -> Result<Option<(String, PoolEntry)>, ModuleError> {
        Ok(self.host.kv_list("pool/")?.into_iter().find_map(|(k, v)| {
            let e: PoolEntry = serde_json::from_str(&v).ok()?;
            (e.license == id && e.claimed_by.as_deref() == Some(remoteid)).then_some((k, e))
        }))
    }

    /// The daily run's pool upkeep: release claims a create left behind, drop pooled
    /// licenses a month past expiry.
    pub(crate) fn tend_pool(
        &self,
        today: Date,
        actions: &mut Vec<DailyAction>,
    ) -> Result<(), ModuleError> {
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
}
