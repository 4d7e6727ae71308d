//! Writing one verdict other than a plain done: the operation, the service, and a task
//! when a person must act; and applying a done operation to its service.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use provisor_module_api::ModuleError;
use provisor_store::entities::kinds::{AttemptOutcome, EmailKind, OperationKind};
use provisor_store::entities::status::{OperationStatus, ServiceStatus, TaskStatus};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction, EntityTrait};
use serde_json::{Map, Value};

use super::prepare::{target_plan, Prepared};
use super::verdict::Verdict;
use crate::config::EngineConfig;
use provisor_store::db_err;
use provisor_store::entities::{
    client, department, handler, operation, outbox, plan, service, task,
};
use provisor_store::error::Result;
use provisor_store::queue::queue_emails;

/// Where tasks of a handler without a department go.
pub const DEFAULT_DEPARTMENT: &str = "support";

/// How long an operation waits before its handler is tried again when too many of the
/// handler's calls are stuck.
const WAIT_SECS: i64 = 30;

/// A service's state after a successful operation of `kind`.
pub(super) fn done_status(kind: OperationKind, current: ServiceStatus) -> ServiceStatus {
    match kind {
        OperationKind::Create | OperationKind::Unsuspend => ServiceStatus::Active,
        OperationKind::Suspend => ServiceStatus::Suspended,
        OperationKind::Terminate => ServiceStatus::Terminated,
        OperationKind::ChangePlan | OperationKind::Renew | OperationKind::Action => current,
    }
}

/// Writes one verdict inside the group's transaction: the operation, the service, and
/// a task when a person must act. Answers the attempt's outcome (`None` when the call
/// waited for its handler: not an attempt) and its error text.
pub(super) async fn apply_verdict(
    tx: &DatabaseTransaction,
    cfg: &EngineConfig,
    p: &Prepared,
    svc: &service::Model,
    h: &handler::Model,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Result<(Option<AttemptOutcome>, Option<String>)> {
    let op = &p.op;
    Ok(match verdict {
        Verdict::Done {
            remote_id,
            attributes,
            ..
        } => {
            apply_done_with(
                tx,
                op,
                svc,
                p.client.as_ref(),
                p.plan.as_ref(),
                remote_id.clone(),
                attributes.clone(),
                now,
            )
            .await?;
            (Some(AttemptOutcome::Done), None)
        }
        Verdict::InProgress { after, state, .. } => {
            let next = now + chrono::Duration::from_std(*after).unwrap_or_default();
            update_op(tx, op.id, now, |m| {
                m.status = Set(OperationStatus::Queued);
                m.attempts = Set((op.attempts - 1).max(0));
                m.next_run_at = Set(next);
                m.state = Set(Some(state.to_string()));
                m.lease_owner = Set(None);
            })
            .await?;
            (Some(AttemptOutcome::InProgress), None)
        }
        Verdict::Wait { reason } => {
            let next = now + chrono::Duration::seconds(WAIT_SECS);
            update_op(tx, op.id, now, |m| {
                m.status = Set(OperationStatus::Queued);
                m.attempts = Set((op.attempts - 1).max(0));
                m.next_run_at = Set(next);
                m.last_error = Set(Some(reason.clone()));
                m.last_error_kind = Set(Some("waiting".into()));
                m.lease_owner = Set(None);
            })
            .await?;
            (None, Some(reason.clone()))
        }
        Verdict::Retry { error } => {
            let next =
                now + chrono::Duration::from_std(cfg.retry_delay(op.attempts)).unwrap_or_default();
            let text = error.to_string();
            update_op(tx, op.id, now, |m| {
                m.status = Set(OperationStatus::Queued);
                m.next_run_at = Set(next);
                m.last_error = Set(Some(text.clone()));
                m.last_error_kind = Set(Some(error.kind.as_str().into()));
                m.lease_owner = Set(None);
            })
            .await?;
            (Some(AttemptOutcome::Retry), Some(text))
        }
        Verdict::Manual {
            reason,
            fields,
            error,
        } => {
            escalate(tx, op, svc, h, reason, fields, error.as_ref(), now).await?;
            (
                Some(AttemptOutcome::Manual),
                error.as_ref().map(ToString::to_string),
            )
        }
    })
}

/// A person must act: the operation turns manual (a create's service too) and a task
/// opens in the handler's department.
#[allow(clippy::too_many_arguments)]
async fn escalate(
    tx: &DatabaseTransaction,
    op: &operation::Model,
    svc: &service::Model,
    h: &handler::Model,
    reason: &str,
    fields: &Value,
    error: Option<&ModuleError>,
    now: DateTime<Utc>,
) -> Result<()> {
    update_op(tx, op.id, now, |m| {
        m.status = Set(OperationStatus::Manual);
        m.lease_owner = Set(None);
        if let Some(e) = error {
            m.last_error = Set(Some(e.to_string()));
            m.last_error_kind = Set(Some(e.kind.as_str().into()));
        }
    })
    .await?;
    if op.kind == OperationKind::Create {
        set_service_status(tx, svc.id, ServiceStatus::Manual, now).await?;
    }
    let department = task_department(tx, h, now).await?;
    task::ActiveModel {
        operation_id: Set(op.id),
        service_id: Set(svc.id),
        department: Set(department),
        status: Set(TaskStatus::Open),
        reason: Set(reason.to_string()),
        fields: Set(fields.to_string()),
        taken_by: Set(None),
        values: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(db_err("opening a task"))?;
    Ok(())
}

/// The department a handler's tasks go to. Tasks of a handler without a department go
/// to `support`, which exists from the first such task on.
async fn task_department(
    tx: &DatabaseTransaction,
    h: &handler::Model,
    now: DateTime<Utc>,
) -> Result<String> {
    if let Some(d) = &h.department {
        return Ok(d.clone());
    }
    department::Entity::insert(department::ActiveModel {
        name: Set(DEFAULT_DEPARTMENT.to_string()),
        email: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(department::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await
    .map_err(db_err("creating the support department"))?;
    Ok(DEFAULT_DEPARTMENT.to_string())
}

async fn update_op(
    tx: &DatabaseTransaction,
    id: i64,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut operation::ActiveModel),
) -> Result<()> {
    let mut m = operation::ActiveModel {
        id: Set(id),
        updated_at: Set(now),
        ..Default::default()
    };
    f(&mut m);
    operation::Entity::update(m)
        .exec(tx)
        .await
        .map_err(db_err("updating the operation"))?;
    Ok(())
}

async fn set_service_status(
    tx: &DatabaseTransaction,
    id: i64,
    status: ServiceStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    service::Entity::update(service::ActiveModel {
        id: Set(id),
        status: Set(status),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(tx)
    .await
    .map_err(db_err("updating the service"))?;
    Ok(())
}

/// Applies a successful operation: the operation is done, and the service moves on
/// (state, remote id, attributes, plan) exactly as the kind says; the first create
/// queues the welcome email. Used by completed tasks; workers call
/// [`apply_done_with`] with the client and plan they already read.
pub(crate) async fn apply_done(
    tx: &DatabaseTransaction,
    op: &operation::Model,
    svc: &service::Model,
    remote_id: Option<String>,
    attributes: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    let c = client::Entity::find_by_id(svc.client_id)
        .one(tx)
        .await
        .map_err(db_err("reading the client"))?;
    let p = plan::Entity::find_by_id(svc.plan_id)
        .one(tx)
        .await
        .map_err(db_err("reading the plan"))?;
    apply_done_with(
        tx,
        op,
        svc,
        c.as_ref(),
        p.as_ref(),
        remote_id,
        attributes,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn apply_done_with(
    tx: &DatabaseTransaction,
    op: &operation::Model,
    svc: &service::Model,
    client: Option<&client::Model>,
    plan: Option<&plan::Model>,
    remote_id: Option<String>,
    attributes: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    update_op(tx, op.id, now, |m| {
        m.status = Set(OperationStatus::Done);
        m.finished_at = Set(Some(now));
        m.lease_owner = Set(None);
        m.state = Set(None);
    })
    .await?;
    let mut attrs: Map<String, Value> = serde_json::from_str(&svc.attributes).unwrap_or_default();
    attrs.extend(attributes);
    let status = done_status(op.kind, svc.status);
    let mut after = svc.clone();
    after.status = status;
    after.attributes = Value::Object(attrs).to_string();
    after.updated_at = now;
    let mut m = service::ActiveModel {
        id: Set(svc.id),
        status: Set(after.status),
        attributes: Set(after.attributes.clone()),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(r) = remote_id.filter(|r| !r.is_empty()) {
        after.remote_id = Some(r.clone());
        m.remote_id = Set(Some(r));
    }
    if op.kind == OperationKind::ChangePlan {
        if let Some(p) = target_plan(op) {
            m.plan_id = Set(p);
        }
    }
    service::Entity::update(m)
        .exec(tx)
        .await
        .map_err(db_err("updating the service"))?;
    if op.kind == OperationKind::Create {
        if let Some(c) = client {
            let plan_name = plan.map(|p| p.name.as_str()).unwrap_or("service");
            queue_emails(tx, vec![welcome_row(&after, c, plan_name, now)]).await?;
        }
    }
    Ok(())
}

/// The welcome email for a service that has just become active.
pub(super) fn welcome_row(
    svc: &service::Model,
    client: &client::Model,
    plan_name: &str,
    now: DateTime<Utc>,
) -> outbox::ActiveModel {
    let attrs: Map<String, Value> = serde_json::from_str(&svc.attributes).unwrap_or_default();
    let mut body = format!(
        "Hello {},\n\nyour {plan_name} (service #{}) is ready.\n",
        client.name, svc.id
    );
    if let Some(r) = &svc.remote_id {
        let _ = writeln!(body, "Reference: {r}");
    }
    for key in ["username", "ip", "domain", "login_url"] {
        if let Some(v) = attrs.get(key).and_then(Value::as_str) {
            let _ = writeln!(body, "{key}: {v}");
        }
    }
    outbox::ActiveModel {
        kind: Set(EmailKind::Welcome),
        recipient: Set(client.email.clone()),
        subject: Set(format!("Your {plan_name} is ready")),
        body: Set(body),
        service_id: Set(Some(svc.id)),
        dedupe_key: Set(format!("welcome-{}", svc.id)),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
}
