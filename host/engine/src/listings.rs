//! Read queries behind the admins' listings: operations and services with their
//! filters and paging, and what an operation's error means now. Reads only: nothing
//! here changes a row.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::catalog;
use provisor_store::entities::{operation, service};
use provisor_store::error::{Error, Result};
use provisor_store::lookup::get_service;
use provisor_store::{db_err, Store};

/// The statuses an operation can have.
pub const OPERATION_STATUSES: [&str; 5] = ["queued", "running", "manual", "done", "cancelled"];

/// The kinds of operation the engine queues.
pub const OPERATION_KINDS: [&str; 7] = [
    "create",
    "suspend",
    "unsuspend",
    "terminate",
    "change_plan",
    "renew",
    "action",
];

/// The statuses a service can have.
pub const SERVICE_STATUSES: [&str; 7] = [
    "pending",
    "provisioning",
    "active",
    "suspended",
    "terminated",
    "failed",
    "manual",
];

/// The error an operation has now: for one that is failing (queued or running again
/// after a failed attempt), waiting, or manual. A done or cancelled operation keeps
/// its last error in the database as history, but it is not current.
pub fn current_error(op: &operation::Model) -> Option<&str> {
    match op.status.as_str() {
        "queued" | "running" | "manual" => op.last_error.as_deref().filter(|e| !e.is_empty()),
        _ => None,
    }
}

/// Whether a queued operation waits for a later try: after a failure (its next try is
/// in the future) or because its handler has too many stuck calls (`waiting`).
pub fn is_waiting(op: &operation::Model, now: DateTime<Utc>) -> bool {
    op.status == "queued"
        && (op.last_error_kind.as_deref() == Some("waiting")
            || (op.last_error.is_some() && op.next_run_at > now))
}

/// Which operations `ops list` shows.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    /// A status, `all`, `waiting` (queued for a later try after a failure or a full
    /// handler), or none: the unfinished ones (queued, running, manual).
    pub status: Option<String>,
    /// Only this service's operations.
    pub service: Option<i64>,
    /// A handler's name.
    pub handler: Option<String>,
    /// Only operations of this kind (`create`, `suspend` …).
    pub kind: Option<String>,
}

/// Operations in id order, filtered, `limit` from `offset` on. Bad filter values are
/// refused by name; a handler or service that does not exist is not found.
pub async fn operations(
    store: &Store,
    filter: &OperationFilter,
    limit: u64,
    offset: u64,
    now: DateTime<Utc>,
) -> Result<Vec<operation::Model>> {
    let mut q = operation::Entity::find().order_by_asc(operation::Column::Id);
    match filter.status.as_deref() {
        None => q = q.filter(operation::Column::Status.is_in(["queued", "running", "manual"])),
        Some("all") => {}
        Some("waiting") => {
            q = q.filter(operation::Column::Status.eq("queued")).filter(
                Condition::any()
                    .add(operation::Column::LastErrorKind.eq("waiting"))
                    .add(
                        Condition::all()
                            .add(operation::Column::LastError.is_not_null())
                            .add(operation::Column::NextRunAt.gt(now)),
                    ),
            );
        }
        Some(s) if OPERATION_STATUSES.contains(&s) => q = q.filter(operation::Column::Status.eq(s)),
        Some(s) => {
            return Err(Error::Invalid(format!(
                "--status {s:?} is not an operation status: use one of {}, waiting or all",
                OPERATION_STATUSES.join(", ")
            )))
        }
    }
    if let Some(k) = filter.kind.as_deref() {
        if !OPERATION_KINDS.contains(&k) {
            return Err(Error::Invalid(format!(
                "--kind {k:?} is not an operation kind: use one of {}",
                OPERATION_KINDS.join(", ")
            )));
        }
        q = q.filter(operation::Column::Kind.eq(k));
    }
    if let Some(id) = filter.service {
        get_service(store, id).await?;
        q = q.filter(operation::Column::ServiceId.eq(id));
    }
    if let Some(name) = filter.handler.as_deref() {
        let h = crate::handlers::get(store, name).await?;
        q = q.filter(operation::Column::HandlerId.eq(h.id));
    }
    q.offset(offset)
        .limit(limit)
        .all(store.db())
        .await
        .map_err(db_err("reading operations"))
}

/// Which services `services list` shows.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Only services in this status.
    pub status: Option<String>,
    /// A client's id or email.
    pub client: Option<String>,
    /// A handler's name.
    pub handler: Option<String>,
    /// A plan's id or name.
    pub plan: Option<String>,
}

/// Services newest first, filtered, `limit` from `offset` on.
pub async fn services(
    store: &Store,
    filter: &ServiceFilter,
    limit: u64,
    offset: u64,
) -> Result<Vec<service::Model>> {
    let mut q = service::Entity::find().order_by_desc(service::Column::Id);
    if let Some(s) = filter.status.as_deref() {
        if !SERVICE_STATUSES.contains(&s) {
            return Err(Error::Invalid(format!(
                "--status {s:?} is not a service status: use one of {}",
                SERVICE_STATUSES.join(", ")
            )));
        }
        q = q.filter(service::Column::Status.eq(s));
    }
    if let Some(c) = filter.client.as_deref() {
        let c = catalog::get_client(store, c).await?;
        q = q.filter(service::Column::ClientId.eq(c.id));
    }
    if let Some(name) = filter.handler.as_deref() {
        let h = crate::handlers::get(store, name).await?;
        q = q.filter(service::Column::HandlerId.eq(h.id));
    }
    if let Some(p) = filter.plan.as_deref() {
        let p = catalog::get_plan(store, p).await?;
        q = q.filter(service::Column::PlanId.eq(p.id));
    }
    q.offset(offset)
        .limit(limit)
        .all(store.db())
        .await
        .map_err(db_err("reading services"))
}
