//! The durable queue: workers claim due operations with a lease, run them through the
//! module, and write the outcome and the service's new state in one transaction. A
//! heartbeat keeps leases of running operations alive; a reaper requeues operations
//! whose lease expired (their worker died). A completion only applies while the
//! worker still holds the lease, so an operation is never completed twice.
//!
//! Steps, one submodule each: `prepare` reads what a claim's calls need, `verdict`
//! calls the module and says what its answer means, `complete` writes verdicts in
//! groups, `apply` writes the verdicts that are not a plain done.

mod apply;
mod complete;
mod prepare;
mod verdict;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement};
use tokio::sync::{mpsc, Notify, Semaphore};

pub(crate) use apply::apply_done;
use complete::{complete, Finished};
pub use complete::{AuditHook, OperationDone, WorkerReport};
use prepare::prepare;
use verdict::call_module;

use crate::config::EngineConfig;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{operation, service};
use provisor_store::error::Result;

/// A worker: claims and runs operations.
pub struct Worker {
    rt: Arc<Runtime>,
    cfg: EngineConfig,
    id: String,
    running: Arc<Mutex<HashSet<i64>>>,
    audit: AuditHook,
}

impl Worker {
    /// A worker with a unique id (host name, pid, random suffix). `audit` makes the
    /// audit entry of each operation it finishes, written in the completion's
    /// transaction.
    pub fn new(rt: Arc<Runtime>, cfg: EngineConfig, audit: AuditHook) -> Worker {
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
            audit,
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
            Arc::clone(&self.audit),
        ));
        // None: reap at once. (Not `now - 60 s`: an Instant before the clock's origin,
        // which std leaves to the platform, makes that subtraction panic.)
        let mut last_reap: Option<std::time::Instant> = None;
        loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            if last_reap.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                self.reap().await?;
                last_reap = Some(std::time::Instant::now());
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
                        let started = rt.clock.now();
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
                            () = tokio::time::sleep(Duration::from_millis(250)) => {}
                            _ = s.changed() => {}
                        }
                    }
                }
                continue;
            }
            // Wait for a group of outcomes to be committed (slots free up), or poll
            // again soon for operations that became due.
            tokio::select! {
                () = committed.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
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
        let r = report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(r)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
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
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .copied()
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                // Wall time, not the host clock: other processes' reapers compare leases
                // with their own wall time, and a pinned clock must not expire or extend them.
                let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
                let _turn = rt.store.write_turn().await;
                let r = operation::Entity::update_many()
                    .col_expr(
                        operation::Column::LeaseExpiresAt,
                        sea_orm::sea_query::Expr::value(until),
                    )
                    .filter(operation::Column::Id.is_in(ids))
                    .filter(operation::Column::LeaseOwner.eq(me.clone()))
                    .filter(operation::Column::Status.eq(OperationStatus::Running))
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
        // Leases are wall-time deadlines (see `claim`); what is written takes the host clock.
        let expired_before = Utc::now();
        let now = self.rt.clock.now();
        let _turn = self.rt.store.write_turn().await;
        let r = operation::Entity::update_many()
            .col_expr(
                operation::Column::Status,
                sea_orm::sea_query::Expr::value(OperationStatus::Queued),
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
            .filter(operation::Column::Status.eq(OperationStatus::Running))
            .filter(operation::Column::LeaseExpiresAt.lt(expired_before))
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
        // Due by the host clock or by wall time, whichever is later: a clock pinned in the
        // past must not hold back operations that are due. The lease is a wall-time
        // deadline, since other processes' reapers compare it with their wall time.
        let now = self.rt.clock.now().max(Utc::now());
        let until = Utc::now() + chrono::Duration::from_std(self.cfg.lease).unwrap_or_default();
        let backend = db.get_database_backend();
        // Two statements on purpose: PostgreSQL takes the rows with `FOR UPDATE SKIP
        // LOCKED` so concurrent workers never wait on each other, and marks services in
        // the same statement (a data-modifying CTE); SQLite has neither, and needs
        // neither, since its single writer makes the plain `UPDATE … RETURNING` atomic.
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
            .filter(|o| o.kind == OperationKind::Create)
            .map(|o| o.service_id)
            .collect();
        if !creating.is_empty() && backend != DbBackend::Postgres {
            service::Entity::update_many()
                .col_expr(
                    service::Column::Status,
                    sea_orm::sea_query::Expr::value(ServiceStatus::Provisioning),
                )
                .filter(service::Column::Id.is_in(creating))
                .filter(service::Column::Status.eq(ServiceStatus::Pending))
                .exec(db)
                .await
                .map_err(db_err("marking services provisioning"))?;
        }
        Ok(ops)
    }
}
