//! The durable queue: workers claim due operations with a lease, run them through the
//! module, and write the outcome and the service's new state in one transaction. A
//! heartbeat keeps leases of running operations alive; a reaper requeues operations
//! whose lease expired (their worker died). A completion only applies while the
//! worker still holds the lease, so an operation is never completed twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use provisor_module_api::{
    ClientInfo, ErrorKind, LifecycleRequest, ModuleError, Outcome, PlanInfo, ServiceInfo,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement, TransactionTrait,
};
use serde_json::{Map, Value};

use super::{queue_welcome, EngineConfig};
use crate::catalog;
use crate::error::{Error, Result};
use crate::runtime::{Call, CallContext, Runtime};
use crate::store::db_err;
use crate::store::entities::{
    client, department, handler, operation, operation_attempt, plan, service, task,
};

/// Where tasks of a handler without a department go.
pub const DEFAULT_DEPARTMENT: &str = "support";

/// What a worker run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkerReport {
    pub done: u64,
    pub in_progress: u64,
    pub retried: u64,
    pub manual: u64,
    pub lost_leases: u64,
}

/// A worker: claims and runs operations.
pub struct Worker {
    rt: Arc<Runtime>,
    cfg: EngineConfig,
    id: String,
    running: Arc<Mutex<HashSet<i64>>>,
}

enum Verdict {
    Done {
        remote_id: Option<String>,
        attributes: Map<String, Value>,
    },
    InProgress {
        after: Duration,
        state: Value,
    },
    Retry {
        error: ModuleError,
    },
    Manual {
        reason: String,
        fields: Value,
        error: Option<ModuleError>,
    },
}

impl Worker {
    /// A worker with a unique id (host name, pid, random suffix).
    pub fn new(rt: Arc<Runtime>, cfg: EngineConfig) -> Worker {
        let id = format!(
            "w{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Worker {
            rt,
            cfg,
            id,
            running: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// This worker's id, as stored in `lease_owner`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until no operation is due now (and none of ours is running).
    pub async fn run_until_idle(&self) -> Result<WorkerReport> {
        self.run(None).await
    }

    /// Runs until `stop` resolves.
    pub async fn run_forever(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<WorkerReport> {
        self.run(Some(stop)).await
    }

    async fn run(
        &self,
        mut stop: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<WorkerReport> {
        let report = Arc::new(Mutex::new(WorkerReport::default()));
        let heartbeat = self.spawn_heartbeat();
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_reap = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            if last_reap.elapsed() > Duration::from_secs(1) {
                self.reap().await?;
                last_reap = std::time::Instant::now();
            }
            let room = self.cfg.concurrency.saturating_sub(tasks.len());
            let claimed = if room > 0 {
                self.claim(room).await?
            } else {
                Vec::new()
            };
            let claimed_any = !claimed.is_empty();
            for op in claimed {
                self.running().insert(op.id);
                let rt = Arc::clone(&self.rt);
                let cfg = self.cfg.clone();
                let me = self.id.clone();
                let running = Arc::clone(&self.running);
                let report = Arc::clone(&report);
                tasks.spawn(async move {
                    let id = op.id;
                    let result = process(&rt, &cfg, &me, op).await;
                    running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    let mut r = report.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok(Some(kind)) => match kind {
                            "done" => r.done += 1,
                            "in_progress" => r.in_progress += 1,
                            "retry" => r.retried += 1,
                            _ => r.manual += 1,
                        },
                        Ok(None) => r.lost_leases += 1,
                        Err(e) => tracing::error!("operation #{id}: {e}"),
                    }
                });
            }
            if tasks.is_empty() && !claimed_any {
                match &mut stop {
                    None => break,
                    Some(s) => {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                            _ = s.changed() => {}
                        }
                    }
                }
                continue;
            }
            if !claimed_any || tasks.len() >= self.cfg.concurrency {
                // Wait for one to finish before claiming more.
                if let Some(Err(e)) = tasks.join_next().await {
                    tracing::error!("a worker task failed: {e}");
                }
            }
        }
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                tracing::error!("a worker task failed: {e}");
            }
        }
        heartbeat.abort();
        self.rt.log.flush().await;
        let r = report.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(r)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let rt = Arc::clone(&self.rt);
        let me = self.id.clone();
        let lease = self.cfg.lease;
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let ids: Vec<i64> = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .copied()
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
                let r = operation::Entity::update_many()
                    .col_expr(
                        operation::Column::LeaseExpiresAt,
                        sea_orm::sea_query::Expr::value(until),
                    )
                    .filter(operation::Column::Id.is_in(ids))
                    .filter(operation::Column::LeaseOwner.eq(me.clone()))
                    .filter(operation::Column::Status.eq("running"))
                    .exec(rt.store.db())
                    .await;
                if let Err(e) = r {
                    tracing::warn!("lease heartbeat failed: {e}");
                }
            }
        })
    }

    /// Requeues operations whose lease expired (their worker died).
    pub async fn reap(&self) -> Result<u64> {
        let now = Utc::now();
        let r = operation::Entity::update_many()
            .col_expr(
                operation::Column::Status,
                sea_orm::sea_query::Expr::value("queued"),
            )
            .col_expr(
                operation::Column::LeaseOwner,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .col_expr(
                operation::Column::NextRunAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .col_expr(
                operation::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(operation::Column::Status.eq("running"))
            .filter(operation::Column::LeaseExpiresAt.lt(now))
            .exec(self.rt.store.db())
            .await
            .map_err(db_err("requeueing expired leases"))?;
        if r.rows_affected > 0 {
            tracing::warn!(
                "requeued {} operation(s) whose worker stopped heartbeating",
                r.rows_affected
            );
        }
        Ok(r.rows_affected)
    }

    /// Claims up to `n` due operations: `FOR UPDATE SKIP LOCKED` on PostgreSQL; one
    /// `UPDATE … RETURNING` on SQLite, whose single writer makes it atomic.
    async fn claim(&self, n: usize) -> Result<Vec<operation::Model>> {
        let db = self.rt.store.db();
        let now = self.rt.clock.now().max(Utc::now());
        let until = Utc::now() + chrono::Duration::from_std(self.cfg.lease).unwrap_or_default();
        let backend = db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "UPDATE operations SET status = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id IN (SELECT id FROM operations WHERE status = 'queued' AND next_run_at <= $3 ORDER BY next_run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING *"
            }
            _ => {
                "UPDATE operations SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1, updated_at = ?3 \
                 WHERE id IN (SELECT id FROM operations WHERE status = 'queued' AND next_run_at <= ?3 ORDER BY next_run_at, id LIMIT ?4) \
                 RETURNING *"
            }
        };
        let stmt = Statement::from_sql_and_values(
            backend,
            sql,
            [
                self.id.clone().into(),
                until.into(),
                now.into(),
                (n as i64).into(),
            ],
        );
        let mut ops = operation::Model::find_by_statement(stmt)
            .all(db)
            .await
            .map_err(db_err("claiming operations"))?;
        ops.sort_by_key(|o| o.id);
        // Services whose create is now running show as provisioning (one statement per
        // claim, not one per operation).
        let creating: Vec<i64> = ops
            .iter()
            .filter(|o| o.kind == "create")
            .map(|o| o.service_id)
            .collect();
        if !creating.is_empty() {
            service::Entity::update_many()
                .col_expr(
                    service::Column::Status,
                    sea_orm::sea_query::Expr::value("provisioning"),
                )
                .filter(service::Column::Id.is_in(creating))
                .filter(service::Column::Status.eq("pending"))
                .exec(db)
                .await
                .map_err(db_err("marking services provisioning"))?;
        }
        Ok(ops)
    }
}

/// Runs one claimed operation; answers what happened, or `None` if the lease was lost
/// before the outcome could be written.
async fn process(
    rt: &Runtime,
    cfg: &EngineConfig,
    me: &str,
    op: operation::Model,
) -> Result<Option<&'static str>> {
    let started = Utc::now();
    let db = rt.store.db();
    let svc = service::Entity::find_by_id(op.service_id)
        .one(db)
        .await
        .map_err(db_err("reading the service"))?;
    let h = handler::Entity::find_by_id(op.handler_id)
        .one(db)
        .await
        .map_err(db_err("reading the handler"))?;
    let (Some(svc), Some(h)) = (svc, h) else {
        return Err(Error::NotFound(format!(
            "operation #{} refers to a missing service or handler",
            op.id
        )));
    };
    let verdict = match build_request(rt, &op, &svc).await {
        Err(e) => Verdict::Retry {
            error: ModuleError::transient(e.to_string()),
        },
        Ok(request) => match rt.instance(&h).await {
            Err(e) => Verdict::Retry {
                error: ModuleError::transient(e.to_string()),
            },
            Ok(instance) => {
                let call = match op.kind.as_str() {
                    "create" => Call::Create,
                    "suspend" => Call::Suspend,
                    "unsuspend" => Call::Unsuspend,
                    "terminate" => Call::Terminate,
                    "change_plan" => Call::ChangePlan,
                    _ => Call::Renew,
                };
                let ctx = CallContext {
                    service_id: Some(svc.id),
                    operation_id: Some(op.id),
                    attempt: Some(op.attempts),
                };
                match instance.call::<_, Outcome>(call, &request, ctx).await {
                    Ok(Outcome::Done {
                        remote_id,
                        attributes,
                        ..
                    }) => Verdict::Done {
                        remote_id,
                        attributes,
                    },
                    Ok(Outcome::InProgress {
                        poll_after_secs,
                        state,
                        ..
                    }) => Verdict::InProgress {
                        after: Duration::from_secs(u64::from(poll_after_secs.max(1))),
                        state,
                    },
                    Ok(Outcome::NeedsHuman { reason, fields }) => Verdict::Manual {
                        reason,
                        fields: serde_json::to_value(fields).unwrap_or(Value::Array(vec![])),
                        error: None,
                    },
                    Err(e) if e.kind == ErrorKind::Transient => Verdict::Retry { error: e },
                    Err(e) => Verdict::Manual {
                        reason: format!("{} failed: {e}", op.kind),
                        fields: default_fields(&op.kind),
                        error: Some(e),
                    },
                }
            }
        },
    };
    let verdict = match verdict {
        Verdict::Retry { error } if op.attempts >= op.max_attempts => Verdict::Manual {
            reason: format!(
                "{} gave up after {} attempts; last error: {error}",
                op.kind, op.attempts
            ),
            fields: default_fields(&op.kind),
            error: Some(error),
        },
        v => v,
    };
    let now = rt.clock.now();
    let tx = db
        .begin()
        .await
        .map_err(db_err("completing an operation"))?;
    // Only the lease holder may complete; a reaped operation belongs to someone else.
    // This write comes first so that SQLite takes its write lock before the
    // transaction reads anything (a read first would make the later write fail with
    // SQLITE_BUSY_SNAPSHOT whenever another connection wrote in between).
    let held = operation::Entity::update_many()
        .col_expr(
            operation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(operation::Column::Id.eq(op.id))
        .filter(operation::Column::Status.eq("running"))
        .filter(operation::Column::LeaseOwner.eq(me))
        .exec(&tx)
        .await
        .map_err(db_err("checking the lease"))?;
    if held.rows_affected == 0 {
        return Ok(None);
    }
    let (label, error_text) = match verdict {
        Verdict::Done {
            remote_id,
            attributes,
        } => {
            apply_done(&tx, &op, &svc, remote_id, attributes, now).await?;
            ("done", None)
        }
        Verdict::InProgress { after, state } => {
            let next = now + chrono::Duration::from_std(after).unwrap_or_default();
            update_op(&tx, op.id, |m| {
                m.status = Set("queued".into());
                m.attempts = Set((op.attempts - 1).max(0));
                m.next_run_at = Set(next);
                m.state = Set(Some(state.to_string()));
                m.lease_owner = Set(None);
            })
            .await?;
            ("in_progress", None)
        }
        Verdict::Retry { error } => {
            let next =
                now + chrono::Duration::from_std(cfg.retry_delay(op.attempts)).unwrap_or_default();
            let text = error.to_string();
            update_op(&tx, op.id, |m| {
                m.status = Set("queued".into());
                m.next_run_at = Set(next);
                m.last_error = Set(Some(text.clone()));
                m.last_error_kind = Set(Some(error.kind.as_str().into()));
                m.lease_owner = Set(None);
            })
            .await?;
            ("retry", Some(text))
        }
        Verdict::Manual {
            reason,
            fields,
            error,
        } => {
            let text = error.as_ref().map(|e| e.to_string());
            update_op(&tx, op.id, |m| {
                m.status = Set("manual".into());
                m.lease_owner = Set(None);
                if let Some(e) = &error {
                    m.last_error = Set(Some(e.to_string()));
                    m.last_error_kind = Set(Some(e.kind.as_str().into()));
                }
            })
            .await?;
            if op.kind == "create" {
                set_service_status(&tx, svc.id, "manual", now).await?;
            }
            let department = match h.department.clone() {
                Some(d) => d,
                None => {
                    // Tasks of a handler without a department go to `support`, which
                    // exists from the first such task on.
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
                    .exec_without_returning(&tx)
                    .await
                    .map_err(db_err("creating the support department"))?;
                    DEFAULT_DEPARTMENT.to_string()
                }
            };
            task::ActiveModel {
                operation_id: Set(op.id),
                service_id: Set(svc.id),
                department: Set(department),
                status: Set("open".into()),
                reason: Set(reason),
                fields: Set(fields.to_string()),
                taken_by: Set(None),
                values: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await
            .map_err(db_err("opening a task"))?;
            ("manual", text)
        }
    };
    operation_attempt::Entity::insert(operation_attempt::ActiveModel {
        operation_id: Set(op.id),
        attempt: Set(op.attempts),
        worker: Set(me.to_string()),
        started_at: Set(started),
        finished_at: Set(Utc::now()),
        outcome: Set(label.to_string()),
        error: Set(error_text),
        ..Default::default()
    })
    .exec_without_returning(&tx)
    .await
    .map_err(db_err("recording the attempt"))?;
    tx.commit()
        .await
        .map_err(db_err("completing an operation"))?;
    Ok(Some(label))
}

fn default_fields(kind: &str) -> Value {
    if kind == "create" {
        serde_json::json!([
            {"name": "remote_id", "label": "Remote account id", "kind": "text", "required": true},
            {"name": "notes", "label": "Notes", "kind": "text", "required": false}
        ])
    } else {
        serde_json::json!([{"name": "notes", "label": "Notes", "kind": "text", "required": false}])
    }
}

async fn update_op(
    tx: &DatabaseTransaction,
    id: i64,
    f: impl FnOnce(&mut operation::ActiveModel),
) -> Result<()> {
    let mut m = operation::ActiveModel {
        id: Set(id),
        updated_at: Set(Utc::now()),
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
    status: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    service::Entity::update(service::ActiveModel {
        id: Set(id),
        status: Set(status.to_string()),
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
/// queues the welcome email. Used by workers and by completed tasks alike.
pub(crate) async fn apply_done(
    tx: &DatabaseTransaction,
    op: &operation::Model,
    svc: &service::Model,
    remote_id: Option<String>,
    attributes: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    update_op(tx, op.id, |m| {
        m.status = Set("done".into());
        m.finished_at = Set(Some(now));
        m.lease_owner = Set(None);
        m.state = Set(None);
    })
    .await?;
    let mut attrs: Map<String, Value> = serde_json::from_str(&svc.attributes).unwrap_or_default();
    attrs.extend(attributes);
    let status = match op.kind.as_str() {
        "create" | "unsuspend" => "active",
        "suspend" => "suspended",
        "terminate" => "terminated",
        _ => svc.status.as_str(),
    };
    let mut m = service::ActiveModel {
        id: Set(svc.id),
        status: Set(status.to_string()),
        attributes: Set(Value::Object(attrs).to_string()),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(r) = remote_id.filter(|r| !r.is_empty()) {
        m.remote_id = Set(Some(r));
    }
    if op.kind == "change_plan" {
        if let Some(p) = serde_json::from_str::<Value>(&op.params)
            .ok()
            .and_then(|v| v.get("plan_id").and_then(Value::as_i64))
        {
            m.plan_id = Set(p);
        }
    }
    service::Entity::update(m)
        .exec(tx)
        .await
        .map_err(db_err("updating the service"))?;
    if op.kind == "create" {
        let fresh = service::Entity::find_by_id(svc.id)
            .one(tx)
            .await
            .map_err(db_err("reading the service"))?;
        if let Some(fresh) = fresh {
            queue_welcome(tx, &fresh, now).await?;
        }
    }
    Ok(())
}

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
    let options: Map<String, Value> = serde_json::from_str(&svc.options).unwrap_or_default();
    let plan_info = match p {
        Some(p) => PlanInfo {
            name: p.name.clone(),
            template: p.template.clone(),
            resources: catalog::resources_with_options(&p, &options).unwrap_or_default(),
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
        status: svc.status.clone(),
        client: c
            .map(|c| ClientInfo {
                id: c.id,
                name: c.name,
                email: c.email,
                currency: c.currency,
                country: c.country,
            })
            .unwrap_or_default(),
        plan: plan_info,
        remote_id: svc.remote_id.clone(),
        attributes: serde_json::from_str(&svc.attributes).unwrap_or_default(),
        parent,
    })
}

async fn build_request(
    rt: &Runtime,
    op: &operation::Model,
    svc: &service::Model,
) -> Result<LifecycleRequest> {
    let db = rt.store.db();
    let service = service_info(db, svc, 0).await?;
    let mut params: Value = serde_json::from_str(&op.params).unwrap_or(Value::Null);
    if op.kind == "change_plan" {
        if let Some(pid) = params.get("plan_id").and_then(Value::as_i64) {
            if let Some(p) = plan::Entity::find_by_id(pid)
                .one(db)
                .await
                .map_err(db_err("reading the plan"))?
            {
                params["plan"] = serde_json::json!({
                    "name": p.name,
                    "template": p.template,
                    "resources": serde_json::from_str::<Value>(&p.resources).unwrap_or(Value::Null),
                    "settings": serde_json::from_str::<Value>(&p.settings).unwrap_or(Value::Null),
                });
            }
        }
    }
    Ok(LifecycleRequest {
        operation_key: op.operation_key.clone(),
        attempt: op.attempts.max(1) as u32,
        service,
        state: op
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        params,
        action: None,
    })
}
