//! Single sign-on into the remote panel: which services may have a link minted, and
//! minting one. The CLI and the HTTP API call these, so the rule lives once.
//! Must not: print, or change the service.

use provisor_module_api::SsoLink;
use provisor_runtime::{Call, Runtime};
use provisor_store::entities::service;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::error::{Error, Result};

/// Single sign-on needs a provisioned service: not one still pending or provisioning,
/// nor one terminated or failed.
pub fn check_state(svc: &service::Model) -> Result<()> {
    if matches!(
        svc.status,
        ServiceStatus::Pending
            | ServiceStatus::Provisioning
            | ServiceStatus::Terminated
            | ServiceStatus::Failed
    ) {
        return Err(Error::Invalid(format!(
            "service #{} is {}; single sign-on needs a provisioned service",
            svc.id, svc.status
        )));
    }
    Ok(())
}

/// Mints a link for the client, or for an admin (`admin`), from the service's module
/// now, once [`check_state`] allows it.
pub async fn link(rt: &Runtime, service_id: i64, admin: bool) -> Result<SsoLink> {
    let svc = crate::get_service(&rt.store, service_id).await?;
    check_state(&svc)?;
    let audience = if admin { "admin" } else { "client" };
    let mut extra = serde_json::Map::new();
    extra.insert("audience".into(), audience.into());
    crate::call_now(rt, service_id, Call::Sso, extra).await
}
