//! What staff ask of services, operations and tasks — lifecycle requests, admin
//! actions, sign-in links, billing terms, retries, cancels, manual tasks — each recorded
//! in the audit log with its actor, and the audit entry of every operation a worker
//! finishes ([`worker`]). The engine owns the request transactions, so those entries are
//! written right after the change commits; a finished operation's entry is written in
//! its completion's transaction (`docs/audit.md`).
//! Must not: decide what a service may do; the engine does.

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::audit::{self, record_after, Action, Actor};
use provisor_engine::{self as engine, actions, sso, tasks, EngineConfig, Worker};
use provisor_runtime::Runtime;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::{operation, task};
use provisor_store::error::Result;

/// What retrying an operation did (see [`retry_operation`]).
pub use provisor_engine::tasks::Retried;

/// A worker whose finished operations are recorded, each as `operation.done` by
/// [`Actor::module`] with the service's status (and plan) before and after, in the
/// completion's transaction.
pub fn worker(rt: Arc<Runtime>, cfg: EngineConfig) -> Worker {
    Worker::new(rt, cfg, operations_hook())
}

/// The hook [`worker`] gives the engine.
pub fn operations_hook() -> engine::AuditHook {
    Arc::new(|done: &engine::OperationDone<'_>, now| {
        let op = done.operation;
        let mut before = json!({"service_id": op.service_id, "status": done.status.0});
        let mut after =
            json!({"service_id": op.service_id, "kind": op.kind, "status": done.status.1});
        if done.plan.0 != done.plan.1 {
            before["plan_id"] = json!(done.plan.0);
            after["plan_id"] = json!(done.plan.1);
        }
        audit::entry(
            &Actor::module(op.id, done.handler),
            Action::OperationDone,
            Some(op.id.to_string()),
            Some(before),
            Some(after),
            now,
        )
    })
}

fn action_of(kind: OperationKind) -> Action {
    match kind {
        OperationKind::Create | OperationKind::Action => Action::ServiceAction,
        OperationKind::Suspend => Action::ServiceSuspend,
        OperationKind::Unsuspend => Action::ServiceUnsuspend,
        OperationKind::Terminate => Action::ServiceTerminate,
        OperationKind::ChangePlan => Action::ServiceChangePlan,
        OperationKind::Renew => Action::ServiceRenew,
    }
}

/// Queues a suspend, unsuspend, terminate, plan change or renewal of a service
/// (see [`provisor_engine::request`]).
pub async fn request(
    rt: &Runtime,
    actor: &Actor,
    service_id: i64,
    kind: OperationKind,
    params: Value,
    max_attempts: i32,
) -> Result<operation::Model> {
    let svc = engine::get_service(&rt.store, service_id).await?;
    let op = engine::request(rt, service_id, kind, params.clone(), max_attempts).await?;
    let mut before = json!({"status": svc.status});
    let mut after = json!({"operation_id": op.id});
    if let Some(plan) = params.get("plan_id") {
        before["plan_id"] = json!(svc.plan_id);
        after["plan_id"] = plan.clone();
    }
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        action_of(kind),
        Some(service_id.to_string()),
        Some(before),
        Some(after),
        now,
    )
    .await?;
    Ok(op)
}

/// Queues one of the module's admin actions on a service, as the module offers it now
/// (see [`provisor_engine::actions::queue`]).
pub async fn action(
    rt: &Runtime,
    actor: &Actor,
    service_id: i64,
    name: &str,
    params: Map<String, Value>,
    confirmed: bool,
    max_attempts: i32,
) -> Result<operation::Model> {
    let offered = actions::list(rt, service_id).await?;
    let fields: Vec<String> = params.keys().cloned().collect();
    let op = actions::queue(
        rt,
        service_id,
        &offered,
        name,
        params,
        confirmed,
        max_attempts,
    )
    .await?;
    // The form's field names, not its values: an action may take a password.
    let after = json!({"action": name, "fields": fields, "operation_id": op.id});
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::ServiceAction,
        Some(service_id.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(op)
}

/// A control panel sign-in link for the client or an admin; the audit entry says who
/// asked for which audience, never the link.
pub async fn sso(
    rt: &Runtime,
    actor: &Actor,
    service_id: i64,
    admin: bool,
) -> Result<provisor_module_api::SsoLink> {
    let link = sso::link(rt, service_id, admin).await?;
    let after = json!({"audience": if admin { "admin" } else { "client" }});
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::ServiceSso,
        Some(service_id.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(link)
}

/// The module's client-area panel of a service, asked now. A read: no audit entry.
pub async fn panel(rt: &Runtime, service_id: i64) -> Result<provisor_module_api::Panel> {
    engine::call_now(
        rt,
        service_id,
        provisor_runtime::Call::ClientArea,
        Map::new(),
    )
    .await
}

/// Gives a service a billing term from `next_due` (see
/// [`provisor_billing::schedule::schedule`]).
pub async fn schedule(
    rt: &Runtime,
    actor: &Actor,
    service_id: i64,
    next_due: NaiveDate,
) -> Result<provisor_billing::schedule::Scheduled> {
    let now = rt.clock.now();
    let s = provisor_billing::schedule::schedule(&rt.store, service_id, next_due, now).await?;
    if s.started {
        let after = json!({"plan": s.plan, "period": s.period, "next_due": s.next_due});
        record_after(
            &rt.store,
            actor,
            Action::ServiceSchedule,
            Some(service_id.to_string()),
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(s)
}

/// Queues a failed or manual operation again, or makes a waiting one due now.
pub async fn retry_operation(rt: &Runtime, actor: &Actor, id: i64) -> Result<tasks::Retried> {
    let before = engine::get_operation(&rt.store, id).await?;
    let r = tasks::retry_operation(rt, id).await?;
    let op = match &r {
        tasks::Retried::Requeued(o) | tasks::Retried::DueNow { op: o, .. } => o,
    };
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::OperationRetry,
        Some(id.to_string()),
        Some(json!({"status": before.status, "attempts": before.attempts})),
        Some(
            json!({"status": op.status, "attempts": op.attempts, "max_attempts": op.max_attempts}),
        ),
        now,
    )
    .await?;
    Ok(r)
}

/// Cancels an operation.
pub async fn cancel_operation(rt: &Runtime, actor: &Actor, id: i64) -> Result<operation::Model> {
    let before = engine::get_operation(&rt.store, id).await?;
    let op = tasks::cancel_operation(rt, id).await?;
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::OperationCancel,
        Some(id.to_string()),
        Some(json!({"status": before.status})),
        Some(json!({"status": op.status})),
        now,
    )
    .await?;
    Ok(op)
}

/// Takes a manual task for the staff account with email `staff`, who must be enabled
/// and work in the task's department (owner and admin take any).
pub async fn take_task(rt: &Runtime, actor: &Actor, id: i64, staff: &str) -> Result<task::Model> {
    let now = rt.clock.now();
    let before = tasks::get_task(&rt.store, id).await?;
    let t = crate::accounts::staff::take_task(&rt.store, id, staff, now).await?;
    record_after(
        &rt.store,
        actor,
        Action::TaskTake,
        Some(id.to_string()),
        Some(json!({"status": before.status, "taken_by": before.taken_by})),
        Some(json!({"status": t.status, "taken_by": t.taken_by})),
        now,
    )
    .await?;
    Ok(t)
}

/// Completes a manual task with the values its fields asked for: its operation is
/// done as if the module had answered. The entry names the fields given, not their
/// values (a task may ask for a password).
pub async fn complete_task(
    rt: &Runtime,
    actor: &Actor,
    id: i64,
    values: Map<String, Value>,
) -> Result<task::Model> {
    let before = tasks::get_task(&rt.store, id).await?;
    let svc = engine::get_service(&rt.store, before.service_id).await?;
    let fields: Vec<String> = values.keys().cloned().collect();
    let t = tasks::complete(rt, id, values).await?;
    let after_svc = engine::get_service(&rt.store, t.service_id).await?;
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::TaskComplete,
        Some(id.to_string()),
        Some(json!({"status": before.status, "service_id": svc.id, "service_status": svc.status})),
        Some(json!({"status": t.status, "fields": fields, "operation_id": t.operation_id, "service_status": after_svc.status})),
        now,
    )
    .await?;
    Ok(t)
}

/// Sends a manual task back: its operation gets a fresh set of automatic attempts.
pub async fn send_back_task(rt: &Runtime, actor: &Actor, id: i64) -> Result<operation::Model> {
    let before = tasks::get_task(&rt.store, id).await?;
    let op = tasks::send_back(rt, id).await?;
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::TaskSendBack,
        Some(id.to_string()),
        Some(json!({"status": before.status})),
        Some(json!({"status": "returned", "operation_id": op.id})),
        now,
    )
    .await?;
    Ok(op)
}
