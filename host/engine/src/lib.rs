//! The operations engine: the only part that changes a service's state.
//!
//! Owns: ordering (service + create operation in one transaction, routed to an enabled
//! handler), queueing lifecycle operations, the durable queue (claim with a lease,
//! heartbeat, reaper), what each module answer means (done, in progress, needs a
//! human, transient or permanent error), retries, escalation to department tasks, and
//! the email outbox. Every state change and the operation row that caused it are
//! written in one transaction.
//! Must not: talk to modules except through `runtime`.

#![warn(missing_docs)]

pub mod actions;
pub mod catalog;
mod config;
pub mod daily;
pub mod departments;
pub mod handlers;
pub mod listings;
mod queue;
mod service_info;
pub mod sso;
pub mod tasks;
pub mod views;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value};

pub use config::EngineConfig;
use provisor_runtime::Runtime;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{client, handler, operation, plan, service};
use provisor_store::error::{Error, Fix, Listing, Message, Result};
pub use provisor_store::lookup::{get_operation, get_service};
pub(crate) use provisor_store::queue::insert_operation;
use provisor_store::{db_err, Store};
pub use queue::{AuditHook, OperationDone, Worker, WorkerReport};

/// What ordering produced.
#[derive(Debug, Clone, Serialize)]
pub struct Ordered {
    /// The new service.
    pub service_id: i64,
    /// Its create operation.
    pub operation_id: i64,
    /// The name of the handler it was routed to.
    pub handler: String,
    /// For a priced plan: the invoice its create waits on (see `billing::orders`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
}

/// An order that passed every check, routed to a handler, not yet written.
#[derive(Debug, Clone)]
pub struct Order {
    /// Who orders.
    pub client: client::Model,
    /// What is ordered.
    pub plan: plan::Model,
    /// The handler chosen to provision it.
    pub handler: handler::Model,
    /// The parent service of an addon.
    pub addon_of: Option<i64>,
    /// The client's choices of the plan's options.
    pub options: Map<String, Value>,
}

/// Checks an order (client, plan, the plan's options and the module's order schema, an
/// addon's parent) and picks an enabled handler for it. Nothing is written; the order
/// use case writes it with [`place`] in the transaction that also invoices it.
pub async fn check_order(
    rt: &Runtime,
    client_ref: &str,
    plan_ref: &str,
    addon_of: Option<i64>,
    options: Map<String, Value>,
) -> Result<Order> {
    let store = &rt.store;
    // An unknown client, plan or parent service is not found (exit 3), like any id.
    let client = catalog::get_client(store, client_ref).await?;
    let plan = catalog::get_plan(store, plan_ref).await?;
    let manifest = manifest_of(rt, &plan.module).await?;
    let order_fields: Vec<String> = manifest
        .as_ref()
        .and_then(|m| m.order_schema())
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    catalog::check_order_values(&plan, &options, &plan.module, &order_fields)?;
    let mut resources = catalog::resources_with_options(&plan, &options)?;
    catalog::check_required_options(&plan, &options)?;
    if let Some(parent_id) = addon_of {
        // An addon's module also reads what its parent service has (its IP, domain).
        if let Ok(parent) = get_service(store, parent_id).await {
            let mut inherited = parent_values(store, &parent).await?;
            inherited.extend(resources);
            resources = inherited;
        }
    }
    check_order_schema(manifest.as_ref(), &plan, &resources)?;
    match (addon_of, plan.is_addon) {
        (Some(parent_id), true) => {
            let parent = get_service(store, parent_id).await?;
            if matches!(
                parent.status,
                ServiceStatus::Terminated | ServiceStatus::Failed
            ) {
                return Err(Error::Invalid(format!(
                    "service #{parent_id} is {}; an addon needs a live parent service",
                    parent.status
                )));
            }
            if parent.client_id != client.id {
                return Err(Error::Invalid(format!(
                    "service #{parent_id} belongs to another client"
                )));
            }
        }
        (Some(_), false) => {
            return Err(Error::invalid(
                Message::new(format!(
                    "plan {} is not an addon plan; order it without ",
                    plan.name
                ))
                .field("addon_of"),
            ))
        }
        (None, true) => {
            return Err(Error::invalid(
                Message::new(format!("plan {} is an addon: order it with ", plan.name))
                    .field("addon_of")
                    .text(" SERVICE"),
            ))
        }
        (None, false) => {}
    }
    let chosen = route(store, &plan, rt.clock.now()).await?;
    Ok(Order {
        client,
        plan,
        handler: chosen,
        addon_of,
        options,
    })
}

/// Writes a checked order in `tx`: the service (`pending`) and its `create` operation,
/// which gets `max_attempts` tries (the configuration's `engine.max_attempts`).
pub async fn place<C: ConnectionTrait>(
    tx: &C,
    order: &Order,
    now: DateTime<Utc>,
    max_attempts: i32,
) -> Result<(service::Model, operation::Model)> {
    let svc = service::ActiveModel {
        client_id: Set(order.client.id),
        plan_id: Set(order.plan.id),
        handler_id: Set(order.handler.id),
        parent_id: Set(order.addon_of),
        status: Set(ServiceStatus::Pending),
        remote_id: Set(None),
        attributes: Set("{}".to_string()),
        options: Set(Value::Object(order.options.clone()).to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(db_err("storing the service"))?;
    let op = insert_operation(
        tx,
        &svc,
        OperationKind::Create,
        Value::Null,
        now,
        max_attempts,
    )
    .await?;
    Ok((svc, op))
}

/// The manifest of `module`: as loaded in this process, else as the registry recorded
/// it (a CLI that orders without loading modules). `None` when it is loaded nowhere.
pub(crate) async fn manifest_of(
    rt: &Runtime,
    module: &str,
) -> Result<Option<provisor_module_api::Manifest>> {
    if let Some(m) = rt.registry.get(module) {
        return Ok(Some(m.manifest.clone()));
    }
    provisor_runtime::registry::Registry::recorded_manifest(&rt.store, module).await
}

/// Refuses, at request time, an operation the service's module does not implement
/// (it would only become a task saying so). Unknown when the module is loaded nowhere:
/// then the request goes through and the module's answer decides.
async fn refuse_unsupported(
    rt: &Runtime,
    svc: &service::Model,
    kind: OperationKind,
    cap: provisor_module_api::Capability,
) -> Result<()> {
    let h = handler::Entity::find_by_id(svc.handler_id)
        .one(rt.store.db())
        .await
        .map_err(db_err("reading handlers"))?
        .ok_or_else(|| Error::NotFound(format!("service #{}'s handler is gone", svc.id)))?;
    let Some(manifest) = manifest_of(rt, &h.module).await? else {
        return Ok(());
    };
    if manifest.capabilities.contains(&cap) {
        return Ok(());
    }
    let hint = "its renewals are billing's alone (the daily run invoices each period); nothing is renewed on the panel";
    Err(Error::Invalid(format!(
        "service #{}: module {} (handler {}) does not support {kind}, so nothing was queued: {hint}",
        svc.id, h.module, h.name
    )))
}

/// What a service offers an addon ordered on it: its plan's resources with its options
/// applied, then its attributes.
async fn parent_values(store: &Store, parent: &service::Model) -> Result<Map<String, Value>> {
    let plan = plan::Entity::find_by_id(parent.plan_id)
        .one(store.db())
        .await
        .map_err(db_err("reading plans"))?;
    let chosen: Map<String, Value> = serde_json::from_str(&parent.options).unwrap_or_default();
    let mut values = match plan {
        Some(p) => catalog::resources_with_options(&p, &chosen).unwrap_or_default(),
        None => Map::new(),
    };
    let attributes: Map<String, Value> =
        serde_json::from_str(&parent.attributes).unwrap_or_default();
    values.extend(attributes);
    Ok(values)
}

/// Checks an order's resources against the module's order schema (what the module
/// needs to provision it), naming the options that would set a missing value.
fn check_order_schema(
    manifest: Option<&provisor_module_api::Manifest>,
    plan: &plan::Model,
    resources: &Map<String, Value>,
) -> Result<()> {
    let Some(manifest) = manifest else {
        return Ok(());
    };
    let Some(schema) = manifest.order_schema() else {
        return Ok(());
    };
    let value = Value::Object(resources.clone());
    if let Err(e) =
        provisor_store::schema::validate(schema, &value, &format!("plan {}'s resources", plan.name))
    {
        let options: Map<String, Value> = serde_json::from_str(&plan.options).unwrap_or_default();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|k| !resources.contains_key(*k))
            .collect();
        let setters: Vec<&String> = options
            .iter()
            .filter(|(_, choices)| {
                choices.as_object().is_some_and(|c| {
                    c.values()
                        .any(|set| missing.iter().any(|k| set.get(*k).is_some()))
                })
            })
            .map(|(name, _)| name)
            .collect();
        let mut message = e.into_message().text(format!(
            "; module {} cannot provision the order without it, so nothing was ordered or invoiced: ",
            plan.module
        ));
        if setters.is_empty() {
            message = message
                .text(format!(
                    "give the plan what module {} needs (its ",
                    plan.module
                ))
                .field("resources")
                .text(" when it is added, or an option whose choices set it)");
        } else {
            message = message.text("choose ");
            for (i, name) in setters.iter().enumerate() {
                let or = if i > 0 { " or " } else { "" };
                message = message
                    .text(or)
                    .field("option")
                    .text(format!(" {name}=CHOICE"));
            }
        }
        let fields: Vec<&&str> = missing
            .iter()
            .filter(|k| schema.get("properties").and_then(|p| p.get(**k)).is_some())
            .collect();
        for (i, k) in fields.iter().enumerate() {
            let and = if i == 0 { ", or give " } else { " and " };
            message = message
                .text(and)
                .field("option")
                .text(format!(" {k}=VALUE"));
        }
        return Err(Error::invalid(message));
    }
    Ok(())
}

/// Picks the handler for a new service: enabled, under its limit of simultaneous
/// operations if possible, without recent errors if possible, then by the plan's order.
async fn route(store: &Store, plan: &plan::Model, now: DateTime<Utc>) -> Result<handler::Model> {
    let handlers = catalog::plan_handlers(store, plan.id).await?;
    let enabled: Vec<handler::Model> = handlers.iter().filter(|h| h.enabled).cloned().collect();
    if enabled.is_empty() {
        let names: Vec<String> = handlers.iter().map(|h| h.name.clone()).collect();
        return Err(Error::invalid(
            Message::new(format!(
                "plan {} takes no new services: all its handlers are disabled ({}); ",
                plan.name,
                names.join(", ")
            ))
            .fix(Fix::EnableHandler),
        ));
    }
    // One candidate and no limit to respect: nothing to weigh.
    if enabled.len() == 1 && enabled[0].max_concurrent.is_none() {
        return Ok(enabled[0].clone());
    }
    let recent = now - chrono::Duration::minutes(15);
    let mut best: Option<((bool, bool, usize), handler::Model)> = None;
    for (i, h) in enabled.into_iter().enumerate() {
        let busy = operation::Entity::find()
            .filter(operation::Column::HandlerId.eq(h.id))
            .filter(
                operation::Column::Status
                    .is_in([OperationStatus::Queued, OperationStatus::Running]),
            )
            .count(store.db())
            .await
            .map_err(db_err("counting a handler's operations"))?;
        let over_limit = h.max_concurrent.is_some_and(|limit| busy >= limit as u64);
        let failing = operation::Entity::find()
            .filter(operation::Column::HandlerId.eq(h.id))
            .filter(operation::Column::LastError.is_not_null())
            .filter(operation::Column::UpdatedAt.gt(recent))
            .filter(
                operation::Column::Status.is_in([OperationStatus::Queued, OperationStatus::Manual]),
            )
            .count(store.db())
            .await
            .map_err(db_err("reading a handler's recent errors"))?;
        let erroring = failing > 0 || h.last_check_ok == Some(false);
        let score = (over_limit, erroring, i);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, h));
        }
    }
    best.map(|(_, h)| h)
        .ok_or_else(|| Error::Invalid(format!("plan {} has no handler", plan.name)))
}

/// The kind of operation called `word`, for text from outside (a module's daily
/// request): refused, as [`request`] refuses a create, when there is none.
pub fn requested_kind(word: &str) -> Result<OperationKind> {
    OperationKind::parse(word)
        .ok_or_else(|| Error::Invalid(format!("{word} is not an operation you can request")))
}

/// Queues a lifecycle operation for a service after checking that it makes sense now;
/// it gets `max_attempts` tries (the configuration's `engine.max_attempts`).
pub async fn request(
    rt: &Runtime,
    service_id: i64,
    kind: OperationKind,
    params: Value,
    max_attempts: i32,
) -> Result<operation::Model> {
    use ServiceStatus::{Active, Failed, Manual, Suspended, Terminated};
    let store = &rt.store;
    let svc = get_service(store, service_id).await?;
    let allowed: &[ServiceStatus] = match kind {
        OperationKind::Suspend => &[Active],
        OperationKind::Unsuspend => &[Suspended],
        OperationKind::Terminate => &[Active, Suspended, Manual, Failed],
        OperationKind::ChangePlan | OperationKind::Renew => &[Active, Suspended],
        // A module's custom admin action (ComputeStacks' delete after terminate).
        OperationKind::Action => &[Active, Suspended, Manual, Failed, Terminated],
        OperationKind::Create => {
            return Err(Error::Invalid(format!(
                "{kind} is not an operation you can request"
            )))
        }
    };
    if !allowed.contains(&svc.status) {
        return Err(Error::Invalid(format!(
            "service #{service_id} is {}; {kind} needs it to be {}",
            svc.status,
            ServiceStatus::join(allowed, " or ")
        )));
    }
    let pending = operation::Entity::find()
        .filter(operation::Column::ServiceId.eq(service_id))
        .filter(operation::Column::Status.is_in(OperationStatus::UNFINISHED))
        .one(store.db())
        .await
        .map_err(db_err("reading operations"))?;
    if let Some(p) = pending {
        return Err(Error::invalid(
            Message::new(format!(
                "service #{service_id} already has operation #{} ({}, {}); wait for it, or ",
                p.id, p.kind, p.status
            ))
            .fix(Fix::CancelOperation { operation: p.id }),
        ));
    }
    // A renew the module does not implement would only become a task saying so (a
    // change of plan still does: staff can make it by hand on the panel).
    if kind == OperationKind::Renew {
        refuse_unsupported(rt, &svc, kind, provisor_module_api::Capability::Renew).await?;
    }
    if kind == OperationKind::Action && params.get("action").and_then(Value::as_str).is_none() {
        return Err(Error::Invalid("an admin action needs its name".into()));
    }
    if kind == OperationKind::ChangePlan {
        let target = params
            .get("plan_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::Invalid("change_plan needs a plan".into()))?;
        let new_plan = plan::Entity::find_by_id(target)
            .one(store.db())
            .await
            .map_err(db_err("reading plans"))?;
        let current = plan::Entity::find_by_id(svc.plan_id)
            .one(store.db())
            .await
            .map_err(db_err("reading plans"))?;
        match (new_plan, current) {
            (Some(n), Some(c)) if n.module == c.module && n.id != c.id && n.is_addon == c.is_addon => {}
            (Some(n), Some(c)) => {
                return Err(Error::Invalid(format!(
                    "service #{service_id} cannot move from plan {} to {}: the plans must differ and use the same module ({} vs {})",
                    c.name, n.name, c.module, n.module
                )))
            }
            _ => return Err(Error::not_found_in(format!("no plan #{target}"), Listing::Plans)),
        }
    }
    let _turn = store.write_turn().await;
    let tx = store
        .db()
        .begin()
        .await
        .map_err(db_err("queueing an operation"))?;
    let op = insert_operation(&tx, &svc, kind, params, rt.clock.now(), max_attempts).await?;
    tx.commit().await.map_err(db_err("queueing an operation"))?;
    Ok(op)
}

/// What the module sees of a service (for immediate calls: SSO, client area).
pub async fn service_info_for(
    rt: &Runtime,
    svc: &service::Model,
) -> Result<provisor_module_api::ServiceInfo> {
    service_info::service_info(rt.store.db(), svc, 0).await
}

/// Calls the service's module right away (SSO, client area): no operation, nothing
/// about the service changes. `extra` joins the request beside `service`.
pub async fn call_now<T: serde::de::DeserializeOwned>(
    rt: &Runtime,
    service_id: i64,
    call: provisor_runtime::Call,
    extra: Map<String, Value>,
) -> Result<T> {
    let svc = get_service(&rt.store, service_id).await?;
    let h = handler::Entity::find_by_id(svc.handler_id)
        .one(rt.store.db())
        .await
        .map_err(db_err("reading handlers"))?
        .ok_or_else(|| Error::NotFound(format!("service #{service_id}'s handler is gone")))?;
    let mut request = extra;
    let info = service_info_for(rt, &svc).await?;
    request.insert(
        "service".into(),
        serde_json::to_value(info).unwrap_or(Value::Null),
    );
    let instance = rt.instance(&h).await?;
    let ctx = provisor_runtime::CallContext {
        service_id: Some(service_id),
        ..Default::default()
    };
    instance
        .call(call, &Value::Object(request), ctx)
        .await
        .map_err(|source| Error::Module {
            context: format!("service #{service_id}: {}", call.as_str()),
            source,
        })
}
