//! The durable queue: workers claim due operations with a lease, run them through the
//! module, and write the outcome and the service's new state in one transaction. A
//! heartbeat keeps leases of running operations alive; a reaper requeues operations
//! whose lease expired (their worker died). A completion only applies while the
//! worker still holds the lease, so an operation is never completed twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use provisor_module_api::{
    ClientInfo, ErrorKind, LifecycleRequest, ModuleError, Outcome, PlanInfo, ServiceInfo,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement, TransactionTrait,
};
use serde_json::{Map, Value};

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::{queue_emails, welcome_row, EngineConfig};
use crate::catalog;
use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::db_err;
use provisor_store::entities::{
    client, department, handler, operation, operation_attempt, outbox, plan, service, task,
};
use provisor_store::error::{Error, Result};

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

impl Verdict {
    /// The module's own words on a done or in-progress call (kept on the attempt row).
    fn message(&self) -> Option<&str> {
        match self {
            Verdict::Done { message, .. } | Verdict::InProgress { message, .. } => {
                message.as_deref().filter(|m| !m.trim().is_empty())
            }
            _ => None,
        }
    }
}

enum Verdict {
    Done {
        remote_id: Option<String>,
        attributes: Map<String, Value>,
        /// What the module said it did, kept on the attempt.
        message: Option<String>,
    },
    InProgress {
        after: Duration,
        state: Value,
        message: Option<String>,
    },
    Retry {
        error: ModuleError,
    },
    /// Not called: the handler has too many stuck calls. Queued again, not counted as
    /// an attempt, the reason shown as the operation's error.
    Wait {
        reason: String,
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
        let concurrency = self.cfg.concurrency.max(1);
        // A permit per operation from claim until its outcome is committed.
        let permits = Arc::new(Semaphore::new(concurrency));
        let (finished_tx, finished_rx) = mpsc::unbounded_channel::<Finished>();
        let committed = Arc::new(Notify::new());
        let completer = tokio::spawn(complete(
            Arc::clone(&self.rt),
            self.cfg.clone(),
            self.id.clone(),
            Arc::clone(&self.running),
            Arc::clone(&report),
            finished_rx,
            Arc::clone(&committed),
        ));
        let mut last_reap = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            if last_reap.elapsed() > Duration::from_secs(1) {
                self.reap().await?;
                last_reap = std::time::Instant::now();
            }
            let room = permits.available_permits();
            let in_flight = concurrency - room;
            // Claim in batches: with work in flight, wait until a quarter of the slots
            // are free rather than claiming one operation per freed slot.
            let claimed = if room > 0 && (in_flight == 0 || room >= concurrency.div_ceil(4)) {
                self.claim(room).await?
            } else {
                Vec::new()
            };
            if !claimed.is_empty() {
                let mut batch = Arc::clone(&permits)
                    .try_acquire_many_owned(claimed.len() as u32)
                    .expect("only this loop takes permits, and it saw them free");
                {
                    let mut running = self.running();
                    running.extend(claimed.iter().map(|o| o.id));
                }
                for (prepared, permit) in prepare(&self.rt, claimed)
                    .await
                    .into_iter()
                    .map(|p| (p, batch.split(1).expect("one permit per claimed operation")))
                {
                    let rt = Arc::clone(&self.rt);
                    let finished_tx = finished_tx.clone();
                    tokio::spawn(async move {
                        let started = Utc::now();
                        let verdict = call_module(&rt, &prepared).await;
                        let _ = finished_tx.send(Finished {
                            prepared,
                            verdict,
                            started,
                            _permit: permit,
                        });
                    });
                }
                continue;
            }
            if in_flight == 0 {
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
            // Wait for a group of outcomes to be committed (slots free up), or poll
            // again soon for operations that became due.
            tokio::select! {
                _ = committed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        // Let every operation in flight finish and be recorded.
        let _all = permits
            .acquire_many(concurrency as u32)
            .await
            .expect("the semaphore is never closed");
        drop(finished_tx);
        if let Err(e) = completer.await {
            tracing::error!("the completion task failed: {e}");
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
                let _turn = rt.store.write_turn().await;
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
        let _turn = self.rt.store.write_turn().await;
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
                // One statement (one commit, one WAL flush) claims the operations and
                // marks the services of claimed creates as provisioning.
                "WITH claimed AS (UPDATE operations SET status = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3 \
                 WHERE id IN (SELECT id FROM operations WHERE status = 'queued' AND next_run_at <= $3 ORDER BY next_run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING *), \
                 marked AS (UPDATE services SET status = 'provisioning' WHERE status = 'pending' AND id IN (SELECT service_id FROM claimed WHERE kind = 'create')) \
                 SELECT * FROM claimed"
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
        let _turn = self.rt.store.write_turn().await;
        let mut ops = operation::Model::find_by_statement(stmt)
            .all(db)
            .await
            .map_err(db_err("claiming operations"))?;
        ops.sort_by_key(|o| o.id);
        // Services whose create is now running show as provisioning (one statement per
        // claim, not one per operation; on PostgreSQL the claim statement did it).
        let creating: Vec<i64> = ops
            .iter()
            .filter(|o| o.kind == "create")
            .map(|o| o.service_id)
            .collect();
        if !creating.is_empty() && backend != DbBackend::Postgres {
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

/// A claimed operation with what its module call needs, read for a whole claim at once.
struct Prepared {
    op: operation::Model,
    /// `None` when the service or its handler is missing (cannot happen with foreign
    /// keys; the operation is then left to the reaper and logged).
    svc: Option<service::Model>,
    handler: Option<handler::Model>,
    client: Option<client::Model>,
    plan: Option<plan::Model>,
    request: Result<LifecycleRequest>,
}

/// A module call's verdict on its way to the database.
struct Finished {
    prepared: Prepared,
    verdict: Verdict,
    started: DateTime<Utc>,
    _permit: OwnedSemaphorePermit,
}

/// Reads the services, handlers, clients and plans of a claim with one query each.
async fn prepare(rt: &Runtime, ops: Vec<operation::Model>) -> Vec<Prepared> {
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
fn target_plan(op: &operation::Model) -> Option<i64> {
    if op.kind != "change_plan" {
        return None;
    }
    serde_json::from_str::<Value>(&op.params)
        .ok()?
        .get("plan_id")
        .and_then(Value::as_i64)
}

/// Calls the module for one prepared operation and says what its answer means.
async fn call_module(rt: &Runtime, p: &Prepared) -> Verdict {
    let op = &p.op;
    let (Some(svc), Some(h)) = (&p.svc, &p.handler) else {
        return Verdict::Retry {
            error: ModuleError::transient(match &p.request {
                Err(e) => e.to_string(),
                Ok(_) => format!("operation #{}'s service or handler is missing", op.id),
            }),
        };
    };
    let request = match &p.request {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Retry {
                error: ModuleError::transient(e.to_string()),
            }
        }
    };
    let instance = match rt.instance(h).await {
        Ok(i) => i,
        Err(e) => {
            return Verdict::Retry {
                error: ModuleError::transient(e.to_string()),
            }
        }
    };
    if let Some(reason) = instance.blocked() {
        return Verdict::Wait { reason };
    }
    let call = match op.kind.as_str() {
        "create" => Call::Create,
        "suspend" => Call::Suspend,
        "unsuspend" => Call::Unsuspend,
        "terminate" => Call::Terminate,
        "change_plan" => Call::ChangePlan,
        "action" => Call::RunAction,
        _ => Call::Renew,
    };
    let ctx = CallContext {
        service_id: Some(svc.id),
        operation_id: Some(op.id),
        attempt: Some(op.attempts),
    };
    let verdict = match instance.call::<_, Outcome>(call, request, ctx).await {
        Ok(Outcome::Done {
            remote_id,
            attributes,
            message,
        }) => Verdict::Done {
            remote_id,
            attributes,
            message,
        },
        Ok(Outcome::InProgress {
            poll_after_secs,
            state,
            message,
        }) => Verdict::InProgress {
            after: Duration::from_secs(u64::from(poll_after_secs.max(1))),
            state,
            message,
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
    };
    match verdict {
        Verdict::Retry { error } if op.attempts >= op.max_attempts => Verdict::Manual {
            reason: format!(
                "{} gave up after {} attempts; last error: {error}",
                op.kind, op.attempts
            ),
            fields: default_fields(&op.kind),
            error: Some(error),
        },
        v => v,
    }
}

/// Writes verdicts as they arrive, as many per transaction as have arrived: while one
/// group commits, the next gathers.
async fn complete(
    rt: Arc<Runtime>,
    cfg: EngineConfig,
    me: String,
    running: Arc<Mutex<HashSet<i64>>>,
    report: Arc<Mutex<WorkerReport>>,
    mut finished: mpsc::UnboundedReceiver<Finished>,
    committed: Arc<Notify>,
) {
    const GROUP: usize = 512;
    while let Some(first) = finished.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP {
            match finished.try_recv() {
                Ok(f) => group.push(f),
                Err(_) => break,
            }
        }
        let labels = match commit(&rt, &cfg, &me, &group).await {
            Ok(labels) => labels,
            Err(e) => {
                // One bad row must not sink the others: try each on its own.
                tracing::warn!(
                    "committing {} outcomes together failed ({e}); one by one",
                    group.len()
                );
                let mut labels = Vec::with_capacity(group.len());
                for f in &group {
                    match commit(&rt, &cfg, &me, std::slice::from_ref(f)).await {
                        Ok(mut l) => labels.push(l.pop().flatten()),
                        Err(e) => {
                            // Left running: its lease expires and the reaper requeues it.
                            tracing::error!(
                                "operation #{}: its outcome could not be written: {e}",
                                f.prepared.op.id
                            );
                            labels.push(Some("unwritten"));
                        }
                    }
                }
                labels
            }
        };
        {
            let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
            let mut r = report.lock().unwrap_or_else(|p| p.into_inner());
            for (f, label) in group.iter().zip(labels) {
                running.remove(&f.prepared.op.id);
                match label {
                    Some("done") => r.done += 1,
                    Some("in_progress") => r.in_progress += 1,
                    Some("retry") => r.retried += 1,
                    Some("manual") => r.manual += 1,
                    Some(_) => {}
                    None => r.lost_leases += 1,
                }
            }
        }
        // Dropping the group frees the permits: the claim loop may take more.
        drop(group);
        committed.notify_one();
    }
}

/// Commits a group of verdicts in one transaction. Only operations this worker still
/// holds the lease of are completed (`None` for the others: reaped and someone else's
/// now). The lease check is the transaction's first statement, a write, so SQLite takes
/// its write lock before anything is read (a read first would make the later write fail
/// with SQLITE_BUSY_SNAPSHOT whenever another connection wrote in between).
async fn commit(
    rt: &Runtime,
    cfg: &EngineConfig,
    me: &str,
    group: &[Finished],
) -> Result<Vec<Option<&'static str>>> {
    let now = rt.clock.now();
    let _turn = rt.store.write_turn().await;
    let tx = rt
        .store
        .db()
        .begin()
        .await
        .map_err(db_err("completing operations"))?;
    let held: HashSet<i64> = operation::Entity::update_many()
        .col_expr(operation::Column::UpdatedAt, Expr::value(now))
        .filter(operation::Column::Id.is_in(group.iter().map(|f| f.prepared.op.id)))
        .filter(operation::Column::Status.eq("running"))
        .filter(operation::Column::LeaseOwner.eq(me))
        .exec_with_returning(&tx)
        .await
        .map_err(db_err("checking leases"))?
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut labels = Vec::with_capacity(group.len());
    let mut attempts = Vec::with_capacity(group.len());
    let mut done = DoneBatch::default();
    for f in group {
        let p = &f.prepared;
        let (true, Some(svc), Some(h)) = (held.contains(&p.op.id), &p.svc, &p.handler) else {
            labels.push(None);
            continue;
        };
        let (label, error) = match &f.verdict {
            // The common case is written for the whole group at once below.
            Verdict::Done {
                remote_id,
                attributes,
                ..
            } if p.op.kind != "change_plan" => {
                done.add(p, svc, remote_id.clone(), attributes.clone(), now);
                ("done", None)
            }
            verdict => apply_verdict(&tx, cfg, p, svc, h, verdict, now).await?,
        };
        if label == "waiting" {
            // Not an attempt: nothing was called.
            labels.push(Some(label));
            continue;
        }
        attempts.push(operation_attempt::ActiveModel {
            operation_id: Set(p.op.id),
            attempt: Set(p.op.attempts),
            worker: Set(me.to_string()),
            started_at: Set(f.started),
            finished_at: Set(Utc::now()),
            outcome: Set(label.to_string()),
            error: Set(error),
            message: Set(f.verdict.message().map(str::to_string)),
            ..Default::default()
        });
        labels.push(Some(label));
    }
    done.write(&tx, now).await?;
    for chunk in attempts.chunks(CHUNK) {
        operation_attempt::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&tx)
            .await
            .map_err(db_err("recording attempts"))?;
    }
    tx.commit().await.map_err(db_err("completing operations"))?;
    Ok(labels)
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's limits on bound
/// parameters (32766 and 65535) at up to nine columns a row.
const CHUNK: usize = 500;

/// Done operations of a group (other than plan changes), written with a handful of
/// statements whatever the group's size: one update of the operations, one of the
/// services (from a `VALUES` list), one insert of welcome emails.
#[derive(Default)]
struct DoneBatch {
    ops: Vec<i64>,
    /// (service id, new status, attributes JSON, new remote id).
    services: Vec<(i64, String, String, Option<String>)>,
    welcomes: Vec<outbox::ActiveModel>,
}

impl DoneBatch {
    fn add(
        &mut self,
        p: &Prepared,
        svc: &service::Model,
        remote_id: Option<String>,
        attributes: Map<String, Value>,
        now: DateTime<Utc>,
    ) {
        let mut after = svc.clone();
        after.status = done_status(&p.op.kind, &svc.status).to_string();
        let mut attrs: Map<String, Value> =
            serde_json::from_str(&svc.attributes).unwrap_or_default();
        attrs.extend(attributes);
        after.attributes = Value::Object(attrs).to_string();
        let remote_id = remote_id.filter(|r| !r.is_empty());
        if let Some(r) = &remote_id {
            after.remote_id = Some(r.clone());
        }
        if p.op.kind == "create" {
            if let Some(c) = &p.client {
                let plan_name = p
                    .plan
                    .as_ref()
                    .map(|p| p.name.as_str())
                    .unwrap_or("service");
                self.welcomes.push(welcome_row(&after, c, plan_name, now));
            }
        }
        self.ops.push(p.op.id);
        self.services
            .push((after.id, after.status, after.attributes, remote_id));
    }

    async fn write(self, tx: &DatabaseTransaction, now: DateTime<Utc>) -> Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        for ids in self.ops.chunks(CHUNK) {
            operation::Entity::update_many()
                .col_expr(operation::Column::Status, Expr::value("done"))
                .col_expr(operation::Column::FinishedAt, Expr::value(Some(now)))
                .col_expr(
                    operation::Column::LeaseOwner,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    operation::Column::State,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(operation::Column::UpdatedAt, Expr::value(now))
                .filter(operation::Column::Id.is_in(ids.iter().copied()))
                .exec(tx)
                .await
                .map_err(db_err("finishing operations"))?;
        }
        let backend = tx.get_database_backend();
        for rows in self.services.chunks(CHUNK) {
            // `updated_at` is the first parameter on both backends (`$1`; SQLite numbers
            // `?` in order of appearance and SET comes before FROM).
            let mut values: Vec<sea_orm::Value> = vec![now.into()];
            let mut tuples = Vec::with_capacity(rows.len());
            for (id, status, attrs, remote) in rows {
                let n = values.len();
                tuples.push(match backend {
                    DbBackend::Postgres => format!(
                        "(${}::bigint, ${}::text, ${}::text, ${}::text)",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4
                    ),
                    _ => "(?, ?, ?, ?)".to_string(),
                });
                values.extend([
                    (*id).into(),
                    status.clone().into(),
                    attrs.clone().into(),
                    remote.clone().into(),
                ]);
            }
            let sql = match backend {
                DbBackend::Postgres => format!(
                    "UPDATE services AS s SET status = v.status, attributes = v.attributes, \
                     remote_id = COALESCE(v.remote_id, s.remote_id), updated_at = $1 \
                     FROM (VALUES {}) AS v(id, status, attributes, remote_id) WHERE s.id = v.id",
                    tuples.join(", ")
                ),
                _ => format!(
                    "UPDATE services SET status = v.column2, attributes = v.column3, \
                     remote_id = COALESCE(v.column4, services.remote_id), updated_at = ? \
                     FROM (VALUES {}) AS v WHERE services.id = v.column1",
                    tuples.join(", ")
                ),
            };
            tx.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .map_err(db_err("updating services"))?;
        }
        queue_emails(tx, self.welcomes).await
    }
}

/// How long an operation waits before its handler is tried again when too many of the
/// handler's calls are stuck.
const WAIT_SECS: i64 = 30;

/// A service's state after a successful operation of `kind`.
fn done_status<'a>(kind: &str, current: &'a str) -> &'a str {
    match kind {
        "create" | "unsuspend" => "active",
        "suspend" => "suspended",
        "terminate" => "terminated",
        _ => current,
    }
}

/// Writes one verdict inside the group's transaction: the operation, the service, and
/// a task when a person must act. Answers the label and the error text for the attempt.
async fn apply_verdict(
    tx: &DatabaseTransaction,
    cfg: &EngineConfig,
    p: &Prepared,
    svc: &service::Model,
    h: &handler::Model,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Result<(&'static str, Option<String>)> {
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
            ("done", None)
        }
        Verdict::InProgress { after, state, .. } => {
            let next = now + chrono::Duration::from_std(*after).unwrap_or_default();
            update_op(tx, op.id, |m| {
                m.status = Set("queued".into());
                m.attempts = Set((op.attempts - 1).max(0));
                m.next_run_at = Set(next);
                m.state = Set(Some(state.to_string()));
                m.lease_owner = Set(None);
            })
            .await?;
            ("in_progress", None)
        }
        Verdict::Wait { reason } => {
            let next = now + chrono::Duration::seconds(WAIT_SECS);
            update_op(tx, op.id, |m| {
                m.status = Set("queued".into());
                m.attempts = Set((op.attempts - 1).max(0));
                m.next_run_at = Set(next);
                m.last_error = Set(Some(reason.clone()));
                m.last_error_kind = Set(Some("waiting".into()));
                m.lease_owner = Set(None);
            })
            .await?;
            ("waiting", Some(reason.clone()))
        }
        Verdict::Retry { error } => {
            let next =
                now + chrono::Duration::from_std(cfg.retry_delay(op.attempts)).unwrap_or_default();
            let text = error.to_string();
            update_op(tx, op.id, |m| {
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
            update_op(tx, op.id, |m| {
                m.status = Set("manual".into());
                m.lease_owner = Set(None);
                if let Some(e) = error {
                    m.last_error = Set(Some(e.to_string()));
                    m.last_error_kind = Set(Some(e.kind.as_str().into()));
                }
            })
            .await?;
            if op.kind == "create" {
                set_service_status(tx, svc.id, "manual", now).await?;
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
                    .exec_without_returning(tx)
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
                reason: Set(reason.clone()),
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
            ("manual", text)
        }
    })
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
    update_op(tx, op.id, |m| {
        m.status = Set("done".into());
        m.finished_at = Set(Some(now));
        m.lease_owner = Set(None);
        m.state = Set(None);
    })
    .await?;
    let mut attrs: Map<String, Value> = serde_json::from_str(&svc.attributes).unwrap_or_default();
    attrs.extend(attributes);
    let status = done_status(&op.kind, &svc.status);
    let mut after = svc.clone();
    after.status = status.to_string();
    after.attributes = Value::Object(attrs).to_string();
    after.updated_at = now;
    let mut m = service::ActiveModel {
        id: Set(svc.id),
        status: Set(after.status.clone()),
        attributes: Set(after.attributes.clone()),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(r) = remote_id.filter(|r| !r.is_empty()) {
        after.remote_id = Some(r.clone());
        m.remote_id = Set(Some(r));
    }
    if op.kind == "change_plan" {
        if let Some(p) = target_plan(op) {
            m.plan_id = Set(p);
        }
    }
    service::Entity::update(m)
        .exec(tx)
        .await
        .map_err(db_err("updating the service"))?;
    if op.kind == "create" {
        if let Some(c) = client {
            let plan_name = plan.map(|p| p.name.as_str()).unwrap_or("service");
            queue_emails(tx, vec![welcome_row(&after, c, plan_name, now)]).await?;
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
    service_info_with(db, svc, c.as_ref(), p.as_ref(), depth).await
}

/// [`service_info`] with the client and plan already read; only an addon's parent is
/// read here.
async fn service_info_with<C: ConnectionTrait>(
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
        status: svc.status.clone(),
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
    let action = if op.kind == "action" {
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
