//! What a module sees of a service (`ServiceInfo`): for queued operations, the daily
//! run and immediate calls alike.

use provisor_module_api::{ClientInfo, PlanInfo, ServiceInfo};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Map, Value};

use crate::catalog;
use provisor_store::db_err;
use provisor_store::entities::{client, plan, service};
use provisor_store::error::Result;

/// What the module sees of a service.
pub(crate) async fn service_info<C: ConnectionTrait>(
    db: &C,
    svc: &service::Model,
    depth: u8,
) -> Result<ServiceInfo> {
    let c = client::Entity::find_by_id(svc.client_id)
        .one(db)
        .await
        .map_err(db_err("reading the client"))?;
    let p = plan::Entity::find_by_id(svc.plan_id)
        .one(db)
        .await
        .map_err(db_err("reading the plan"))?;
    service_info_with(db, svc, c.as_ref(), p.as_ref(), depth).await
}

/// [`service_info`] with the client and plan already read; only an addon's parent is
/// read here.
pub(crate) async fn service_info_with<C: ConnectionTrait>(
    db: &C,
    svc: &service::Model,
    c: Option<&client::Model>,
    p: Option<&plan::Model>,
    depth: u8,
) -> Result<ServiceInfo> {
    let options: Map<String, Value> = serde_json::from_str(&svc.options).unwrap_or_default();
    let plan_info = match p {
        Some(p) => PlanInfo {
            name: p.name.clone(),
            template: p.template.clone(),
            resources: catalog::resources_with_options(p, &options).unwrap_or_default(),
            settings: serde_json::from_str(&p.settings).unwrap_or(Value::Null),
        },
        None => PlanInfo::default(),
    };
    let parent = match (svc.parent_id, depth) {
        (Some(pid), 0) => match service::Entity::find_by_id(pid)
            .one(db)
            .await
            .map_err(db_err("reading the parent service"))?
        {
            Some(parent) => Some(Box::new(Box::pin(service_info(db, &parent, 1)).await?)),
            None => None,
        },
        _ => None,
    };
    Ok(ServiceInfo {
        id: svc.id,
        status: svc.status.to_string(),
        client: c
            .map(|c| ClientInfo {
                id: c.id,
                name: c.name.clone(),
                email: c.email.clone(),
                currency: c.currency.clone(),
                country: c.country.clone(),
            })
            .unwrap_or_default(),
        plan: plan_info,
        remote_id: svc.remote_id.clone(),
        attributes: serde_json::from_str(&svc.attributes).unwrap_or_default(),
        parent,
    })
}
