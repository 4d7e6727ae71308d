//! Writing verdicts: as many per transaction as have arrived, plain dones of a group
//! with a handful of statements whatever its size.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Statement, TransactionTrait,
};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};

use super::apply::{apply_verdict, done_status, welcome_row};
use super::prepare::target_plan;
use super::prepare::Prepared;
use super::verdict::Verdict;
use crate::config::EngineConfig;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::entities::kinds::{AttemptOutcome, OperationKind};
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{audit_entry, operation, operation_attempt, outbox, service};
use provisor_store::error::Result;
use provisor_store::queue::queue_emails;

/// What a worker run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkerReport {
    /// Operations finished.
    pub done: u64,
    /// Attempts the module answered "in progress" (the operation runs again later).
    pub in_progress: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Operations that turned into tasks.
    pub manual: u64,
    /// Outcomes not written because the worker's lease had run out (another worker
    /// has the operation now).
    pub lost_leases: u64,
}

/// An operation a worker finished, as the audit log is told of it.
#[derive(Debug)]
pub struct OperationDone<'a> {
    /// The operation, as it was claimed.
    pub operation: &'a operation::Model,
    /// The name of the handler whose module answered.
    pub handler: &'a str,
    /// The service's status before, and after.
    pub status: (ServiceStatus, ServiceStatus),
    /// The service's plan before, and after.
    pub plan: (i64, i64),
}

/// Turns each operation a worker finishes into the audit entry written in the same
/// transaction as its completion (the application layer decides what it says).
pub type AuditHook =
    Arc<dyn Fn(&OperationDone<'_>, DateTime<Utc>) -> audit_entry::ActiveModel + Send + Sync>;

/// What became of a verdict its worker still held the lease of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Landed {
    /// Written, an attempt with this outcome.
    Attempt(AttemptOutcome),
    /// Written, queued again without an attempt: its handler was full.
    Waiting,
    /// Could not be written: left running for the reaper.
    Unwritten,
}

/// A module call's verdict on its way to the database.
pub(super) struct Finished {
    pub(super) prepared: Prepared,
    pub(super) verdict: Verdict,
    pub(super) started: DateTime<Utc>,
    pub(super) _permit: OwnedSemaphorePermit,
}

/// Writes verdicts as they arrive, as many per transaction as have arrived: while one
/// group commits, the next gathers.
#[allow(
    clippy::too_many_arguments,
    reason = "the completion task's shared state, each handed over once at spawn"
)]
pub(super) async fn complete(
    rt: Arc<Runtime>,
    cfg: EngineConfig,
    me: String,
    running: Arc<Mutex<HashSet<i64>>>,
    report: Arc<Mutex<WorkerReport>>,
    mut finished: mpsc::UnboundedReceiver<Finished>,
    committed: Arc<Notify>,
    audit: AuditHook,
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
        let labels = match commit(&rt, &cfg, (&me, &audit), &group).await {
            Ok(labels) => labels,
            Err(e) => {
                // One bad row must not sink the others: try each on its own.
                tracing::warn!(
                    "committing {} outcomes together failed ({e}); one by one",
                    group.len()
                );
                let mut labels = Vec::with_capacity(group.len());
                for f in &group {
                    match commit(&rt, &cfg, (&me, &audit), std::slice::from_ref(f)).await {
                        Ok(mut l) => labels.push(l.pop().flatten()),
                        Err(e) => {
                            // Left running: its lease expires and the reaper requeues it.
                            tracing::error!(
                                "operation #{}: its outcome could not be written: {e}",
                                f.prepared.op.id
                            );
                            labels.push(Some(Landed::Unwritten));
                        }
                    }
                }
                labels
            }
        };
        {
            let mut running = running.lock().unwrap_or_else(PoisonError::into_inner);
            let mut r = report.lock().unwrap_or_else(PoisonError::into_inner);
            for (f, label) in group.iter().zip(labels) {
                running.remove(&f.prepared.op.id);
                match label {
                    Some(Landed::Attempt(AttemptOutcome::Done)) => r.done += 1,
                    Some(Landed::Attempt(AttemptOutcome::InProgress)) => r.in_progress += 1,
                    Some(Landed::Attempt(AttemptOutcome::Retry)) => r.retried += 1,
                    Some(Landed::Attempt(AttemptOutcome::Manual)) => r.manual += 1,
                    Some(Landed::Waiting | Landed::Unwritten) => {}
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
/// with `SQLITE_BUSY_SNAPSHOT` whenever another connection wrote in between).
pub(super) async fn commit(
    rt: &Runtime,
    cfg: &EngineConfig,
    (me, audit): (&str, &AuditHook),
    group: &[Finished],
) -> Result<Vec<Option<Landed>>> {
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
        .filter(operation::Column::Status.eq(OperationStatus::Running))
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
    let mut audits = Vec::new();
    for f in group {
        let p = &f.prepared;
        let (true, Some(svc), Some(h)) = (held.contains(&p.op.id), &p.svc, &p.handler) else {
            labels.push(None);
            continue;
        };
        let (outcome, error) = match &f.verdict {
            // The common case is written for the whole group at once below.
            Verdict::Done {
                remote_id,
                attributes,
                ..
            } if p.op.kind != OperationKind::ChangePlan => {
                done.add(p, svc, remote_id.clone(), attributes.clone(), now);
                (Some(AttemptOutcome::Done), None)
            }
            verdict => apply_verdict(&tx, cfg, p, svc, h, verdict, now).await?,
        };
        if outcome == Some(AttemptOutcome::Done) {
            let after_plan = match p.op.kind {
                OperationKind::ChangePlan => target_plan(&p.op).unwrap_or(svc.plan_id),
                _ => svc.plan_id,
            };
            audits.push(audit(
                &OperationDone {
                    operation: &p.op,
                    handler: &h.name,
                    status: (svc.status, done_status(p.op.kind, svc.status)),
                    plan: (svc.plan_id, after_plan),
                },
                now,
            ));
        }
        let Some(outcome) = outcome else {
            // Not an attempt: nothing was called.
            labels.push(Some(Landed::Waiting));
            continue;
        };
        attempts.push(operation_attempt::ActiveModel {
            operation_id: Set(p.op.id),
            attempt: Set(p.op.attempts),
            worker: Set(me.to_string()),
            started_at: Set(f.started),
            finished_at: Set(now),
            outcome: Set(outcome),
            error: Set(error),
            message: Set(f.verdict.message().map(str::to_string)),
            ..Default::default()
        });
        labels.push(Some(Landed::Attempt(outcome)));
    }
    done.write(&tx, now).await?;
    for chunk in attempts.chunks(CHUNK) {
        operation_attempt::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&tx)
            .await
            .map_err(db_err("recording attempts"))?;
    }
    for chunk in audits.chunks(CHUNK) {
        audit_entry::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&tx)
            .await
            .map_err(db_err("recording finished operations in the audit log"))?;
    }
    tx.commit().await.map_err(db_err("completing operations"))?;
    Ok(labels)
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's limits on bound
/// parameters (32766 and 65535) at up to eleven columns a row.
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
        after.status = done_status(p.op.kind, svc.status);
        let mut attrs: Map<String, Value> =
            serde_json::from_str(&svc.attributes).unwrap_or_default();
        attrs.extend(attributes);
        after.attributes = Value::Object(attrs).to_string();
        let remote_id = remote_id.filter(|r| !r.is_empty());
        if let Some(r) = &remote_id {
            after.remote_id = Some(r.clone());
        }
        if p.op.kind == OperationKind::Create {
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
        self.services.push((
            after.id,
            after.status.to_string(),
            after.attributes,
            remote_id,
        ));
    }

    async fn write(self, tx: &DatabaseTransaction, now: DateTime<Utc>) -> Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        for ids in self.ops.chunks(CHUNK) {
            operation::Entity::update_many()
                .col_expr(
                    operation::Column::Status,
                    Expr::value(OperationStatus::Done),
                )
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
        // Written per backend because the `VALUES` list differs, which sea-query does not
        // abstract: PostgreSQL cannot infer a VALUES column's type from a placeholder
        // (`$n::bigint`) and names the columns with `AS v(id, …)`; SQLite has no column
        // list on the alias and calls them `column1…`.
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
