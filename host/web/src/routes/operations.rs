//! Operations, the durable queue: listing (any staff; filters `status`, `service_id`,
//! `kind`), showing one with its attempts and its module log rows (stored redacted, as
//! the command line shows them), and support staff's retry and cancel
//! (`provisor_app::services::{retry_operation, cancel_operation}`, each audited with the
//! principal's actor).

use super::answer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::Response;
use axum::Extension;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_app::services::Retried;
use provisor_store::db_err;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::status::OperationStatus;
use provisor_store::entities::{module_log, operation, operation_attempt};
use provisor_store::error::{Error, Message};

use crate::auth;
use crate::page;
use crate::problem::Problem;
use crate::routes::{id_of, time};
use crate::state::Api;

/// An operation: one lifecycle call of a service, retried until done.
#[derive(Debug, Serialize, ToSchema)]
pub struct Operation {
    /// Always `operation`.
    #[schema(example = "operation")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// The service.
    pub service_id: i64,
    /// `create`, `suspend`, `unsuspend`, `terminate`, `change_plan`, `renew` or `action`.
    #[schema(value_type = String, example = "create")]
    pub kind: OperationKind,
    /// `queued`, `running`, `done`, `manual`, `cancelled` or `awaiting_payment`.
    #[schema(value_type = String, example = "queued")]
    pub status: OperationStatus,
    /// Attempts made in the current round.
    pub attempts: i32,
    /// Attempts allowed before it turns manual.
    pub max_attempts: i32,
    /// When it is next due (RFC 3339).
    pub next_run_at: String,
    /// The error of an unfinished one, if its last attempt failed.
    pub error: Option<String>,
    /// When it was queued (RFC 3339).
    pub created_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
}

impl From<operation::Model> for Operation {
    fn from(o: operation::Model) -> Self {
        let error = if OperationStatus::UNFINISHED.contains(&o.status) {
            o.last_error.filter(|e| !e.is_empty())
        } else {
            None
        };
        Operation {
            object: "operation",
            id: o.id,
            service_id: o.service_id,
            kind: o.kind,
            status: o.status,
            attempts: o.attempts,
            max_attempts: o.max_attempts,
            next_run_at: time(o.next_run_at),
            error,
            created_at: time(o.created_at),
            finished_at: o.finished_at.map(time),
        }
    }
}

/// One attempt of an operation, numbered 1, 2, 3… across retries.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationAttempt {
    /// Its place among all the operation's attempts, from 1.
    pub number: usize,
    /// The try within its round (restarts at 1 after a retry).
    pub attempt: i32,
    /// The worker that made it.
    pub worker: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// How it ended.
    #[schema(value_type = String, example = "done")]
    pub outcome: Value,
    /// The error, if any.
    pub error: Option<String>,
    /// The module's message, if any.
    pub message: Option<String>,
}

/// A module log row of an operation: a module call, an HTTP exchange or a log line,
/// secrets redacted when it was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogRow {
    /// Its id.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The handler.
    pub handler: String,
    /// The attempt it was made in.
    pub attempt: Option<i32>,
    /// `call`, `http` or `log`.
    pub kind: String,
    /// The call's name, `METHOD url`, or the log level.
    pub call: String,
    /// The request (redacted).
    pub request: String,
    /// The response (redacted).
    pub response: String,
    /// `ok`, an error kind, or an HTTP status.
    pub outcome: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
}

/// An operation with its attempts and its module log.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationDetail {
    /// The operation.
    #[serde(flatten)]
    pub operation: Operation,
    /// Its attempts, oldest first.
    pub attempt_log: Vec<OperationAttempt>,
    /// Its module log rows, oldest first.
    pub module_log: Vec<LogRow>,
}

/// What a retry did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedOperation {
    /// The operation after the retry.
    #[serde(flatten)]
    pub operation: Operation,
    /// `requeued` (a fresh set of attempts) or `due_now` (its next try moved to now).
    #[schema(example = "requeued")]
    pub retried: &'static str,
}

fn bad(name: &'static str, rest: String) -> Problem {
    Problem::from_error(&Error::invalid(Message::about(name, rest)))
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut select = operation::Entity::find();
        let mut filters = Vec::new();
        if let Some(v) = q.get("status") {
            let s: OperationStatus = serde_json::from_value(Value::String(v.clone())).map_err(|_| {
                bad("status", format!("{v:?} is no operation status: pass queued, running, done, manual, cancelled or awaiting_payment"))
            })?;
            select = select.filter(operation::Column::Status.eq(s));
            filters.push(("status", v.clone()));
        }
        if let Some(v) = q.get("service_id") {
            let id: i64 = v.trim().parse().map_err(|_| {
                bad(
                    "service_id",
                    format!("{v:?} is not a whole number: pass an id"),
                )
            })?;
            select = select.filter(operation::Column::ServiceId.eq(id));
            filters.push(("service_id", id.to_string()));
        }
        if let Some(v) = q.get("kind") {
            let k: OperationKind = serde_json::from_value(Value::String(v.clone())).map_err(|_| {
                bad("kind", format!("{v:?} is no operation kind: pass create, suspend, unsuspend, terminate, change_plan, renew or action"))
            })?;
            select = select.filter(operation::Column::Kind.eq(k));
            filters.push(("kind", v.clone()));
        }
        let pg =
            provisor_app::page::read(&api.store, select, operation::Column::Id, cursor).await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/operations", &filters),
            cursor,
            pg,
            |o| o.id,
            Operation::from,
        ))
    };
    answer(run.await)
}

async fn find(api: &Api, raw: &str) -> Result<operation::Model, Problem> {
    let id = id_of(raw, "operation")?;
    operation::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading an operation"))?
        .ok_or_else(|| auth::not_found(&format!("operation {id}")))
}

async fn detail(api: &Api, raw: &str) -> Result<OperationDetail, Problem> {
    let o = find(api, raw).await?;
    let attempts = operation_attempt::Entity::find()
        .filter(operation_attempt::Column::OperationId.eq(o.id))
        .order_by_asc(operation_attempt::Column::Id)
        .all(api.store.db())
        .await
        .map_err(db_err("reading attempts"))?;
    let log = module_log::Entity::find()
        .filter(module_log::Column::OperationId.eq(o.id))
        .order_by_asc(module_log::Column::Id)
        .all(api.store.db())
        .await
        .map_err(db_err("reading the module log"))?;
    Ok(OperationDetail {
        operation: Operation::from(o),
        attempt_log: attempts
            .into_iter()
            .enumerate()
            .map(|(i, a)| OperationAttempt {
                number: i + 1,
                attempt: a.attempt,
                worker: a.worker,
                started_at: time(a.started_at),
                finished_at: time(a.finished_at),
                outcome: serde_json::to_value(a.outcome).unwrap_or(Value::Null),
                error: a.error,
                message: a.message,
            })
            .collect(),
        module_log: log
            .into_iter()
            .map(|r| LogRow {
                id: r.id,
                at: time(r.at),
                handler: r.handler,
                attempt: r.attempt,
                kind: r.kind,
                call: r.call,
                request: r.request,
                response: r.response,
                outcome: r.outcome,
                duration_ms: r.duration_ms,
            })
            .collect(),
    })
}

pub(crate) async fn show(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Response {
    answer(detail(&api, &raw).await)
}

pub(crate) async fn retry(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let o = find(&api, &raw).await?;
        let r =
            provisor_app::services::retry_operation(&api.rt, &auth::actor(&p, peer), o.id).await?;
        Ok::<_, Problem>(match r {
            Retried::Requeued(op) => RetriedOperation {
                operation: op.into(),
                retried: "requeued",
            },
            Retried::DueNow { op, .. } => RetriedOperation {
                operation: op.into(),
                retried: "due_now",
            },
        })
    };
    answer(run.await)
}

pub(crate) async fn cancel(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let o = find(&api, &raw).await?;
        let op =
            provisor_app::services::cancel_operation(&api.rt, &auth::actor(&p, peer), o.id).await?;
        Ok::<_, Problem>(Operation::from(op))
    };
    answer(run.await)
}
