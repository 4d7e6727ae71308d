//! What a claim's module calls need, read with one query per table for the whole claim.

use std::collections::{HashMap, HashSet};

use provisor_module_api::LifecycleRequest;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::service_info::service_info_with;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::{client, handler, operation, plan, service};
use provisor_store::error::{Error, Result};

/// A claimed operation with what its module call needs, read for a whole claim at once.
pub(super) struct Prepared {
    pub(super) op: operation::Model,
    /// `None` when the service or its handler is missing (cannot happen with foreign
    /// keys; the operation is then left to the reaper and logged).
    pub(super) svc: Option<service::Model>,
    pub(super) handler: Option<handler::Model>,
    pub(super) client: Option<client::Model>,
    pub(super) plan: Option<plan::Model>,
    pub(super) request: Result<LifecycleRequest>,
}

/// Reads the services, handlers, clients and plans of a claim with one query each.
pub(super) async fn prepare(rt: &Runtime, ops: Vec<operation::Model>) -> Vec<Prepared> {
    let db = rt.store.db();
    let loaded = async {
        let services = by_id(
            service::Entity::find()
                .filter(service::Column::Id.is_in(ops.iter().map(|o| o.service_id)))
                .all(db)
                .await,
            |s: &service::Model| s.id,
        )?;
        let handlers = by_id(
            handler::Entity::find()
                .filter(handler::Column::Id.is_in(ops.iter().map(|o| o.handler_id)))
                .all(db)
                .await,
            |h: &handler::Model| h.id,
        )?;
        let clients = by_id(
            client::Entity::find()
                .filter(client::Column::Id.is_in(services.values().map(|s| s.client_id)))
                .all(db)
                .await,
            |c: &client::Model| c.id,
        )?;
        let plan_ids: HashSet<i64> = services
            .values()
            .map(|s| s.plan_id)
            .chain(ops.iter().filter_map(target_plan))
            .collect();
        let plans = by_id(
            plan::Entity::find()
                .filter(plan::Column::Id.is_in(plan_ids))
                .all(db)
                .await,
            |p: &plan::Model| p.id,
        )?;
        Ok::<_, Error>((services, handlers, clients, plans))
    }
    .await;
    let mut out = Vec::with_capacity(ops.len());
    match loaded {
        Ok((services, handlers, clients, plans)) => {
            for op in ops {
                let svc = services.get(&op.service_id).cloned();
                let handler = handlers.get(&op.handler_id).cloned();
                let client = svc
                    .as_ref()
                    .and_then(|s| clients.get(&s.client_id).cloned());
                let plan = svc.as_ref().and_then(|s| plans.get(&s.plan_id).cloned());
                let request = match &svc {
                    Some(s) => {
                        build_request(db, &op, s, client.as_ref(), plan.as_ref(), &plans).await
                    }
                    None => Err(Error::NotFound(format!("operation #{}'s service", op.id))),
                };
                out.push(Prepared {
                    op,
                    svc,
                    handler,
                    client,
                    plan,
                    request,
                });
            }
        }
        Err(e) => {
            // The database is unwell: every operation retries (the verdict says why).
            let text = e.to_string();
            for op in ops {
                out.push(Prepared {
                    svc: None,
                    handler: None,
                    client: None,
                    plan: None,
                    request: Err(Error::Storage(text.clone())),
                    op,
                });
            }
        }
    }
    out
}

fn by_id<T>(
    rows: std::result::Result<Vec<T>, sea_orm::DbErr>,
    key: impl Fn(&T) -> i64,
) -> Result<HashMap<i64, T>> {
    let rows = rows.map_err(db_err("reading what claimed operations need"))?;
    Ok(rows.into_iter().map(|r| (key(&r), r)).collect())
}

/// The plan a `change_plan` moves to.
pub(super) fn target_plan(op: &operation::Model) -> Option<i64> {
    if op.kind != OperationKind::ChangePlan {
        return None;
    }
    serde_json::from_str::<Value>(&op.params)
        .ok()?
        .get("plan_id")
        .and_then(Value::as_i64)
}

async fn build_request<C: ConnectionTrait>(
    db: &C,
    op: &operation::Model,
    svc: &service::Model,
    client: Option<&client::Model>,
    plan: Option<&plan::Model>,
    plans: &HashMap<i64, plan::Model>,
) -> Result<LifecycleRequest> {
    let service = service_info_with(db, svc, client, plan, 0).await?;
    let mut params: Value = serde_json::from_str(&op.params).unwrap_or(Value::Null);
    if let Some(p) = target_plan(op).and_then(|id| plans.get(&id)) {
        params["plan"] = serde_json::json!({
            "name": p.name,
            "template": p.template,
            "resources": serde_json::from_str::<Value>(&p.resources).unwrap_or(Value::Null),
            "settings": serde_json::from_str::<Value>(&p.settings).unwrap_or(Value::Null),
        });
    }
    // An admin action names itself in its params (beside the form's values).
    let action = if op.kind == OperationKind::Action {
        params
            .get("action")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    Ok(LifecycleRequest {
        operation_key: op.operation_key.clone(),
        attempt: op.attempts.max(1) as u32,
        service,
        state: op
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        params,
        action,
    })
}
