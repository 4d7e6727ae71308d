//! Read queries behind the admins' listings: operations and services with their
//! filters and paging, and what an operation's error means now. Reads only: nothing
//! here changes a row.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::catalog;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{operation, service};
use provisor_store::error::{Error, Message, Result};
use provisor_store::lookup::get_service;
use provisor_store::{db_err, Store};

/// The operation statuses `ops list --status` takes (with `waiting` and `all`).
pub const OPERATION_STATUSES: [OperationStatus; 6] = [
    OperationStatus::Queued,
    OperationStatus::Running,
    OperationStatus::Manual,
    OperationStatus::Done,
    OperationStatus::Cancelled,
    OperationStatus::AwaitingPayment,
];

/// The error an operation has now: for one that is failing (queued or running again
/// after a failed attempt), waiting, or manual. A done or cancelled operation keeps
/// its last error in the database as history, but it is not current.
pub fn current_error(op: &operation::Model) -> Option<&str> {
    if OperationStatus::UNFINISHED.contains(&op.status) {
        op.last_error.as_deref().filter(|e| !e.is_empty())
    } else {
        None
    }
}

/// Whether a queued operation waits for a later try: after a failure (its next try is
/// in the future) or because its handler has too many stuck calls (`waiting`).
pub fn is_waiting(op: &operation::Model, now: DateTime<Utc>) -> bool {
    op.status == OperationStatus::Queued
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
        None => q = q.filter(operation::Column::Status.is_in(OperationStatus::UNFINISHED)),
        Some("all") => {}
        Some("waiting") => {
            q = q
                .filter(operation::Column::Status.eq(OperationStatus::Queued))
                .filter(
                    Condition::any()
                        .add(operation::Column::LastErrorKind.eq("waiting"))
                        .add(
                            Condition::all()
                                .add(operation::Column::LastError.is_not_null())
                                .add(operation::Column::NextRunAt.gt(now)),
                        ),
                );
        }
        Some(s) => match OperationStatus::parse(s).filter(|s| OPERATION_STATUSES.contains(s)) {
            Some(s) => q = q.filter(operation::Column::Status.eq(s)),
            None => {
                return Err(Error::invalid(Message::about(
                    "status",
                    format!(
                        "{s:?} is not an operation status: use one of {}, waiting or all",
                        OperationStatus::join(&OPERATION_STATUSES, ", ")
                    ),
                )))
            }
        },
    }
    if let Some(k) = filter.kind.as_deref() {
        let Some(k) = OperationKind::parse(k) else {
            return Err(Error::invalid(Message::about(
                "kind",
                format!(
                    "{k:?} is not an operation kind: use one of {}",
                    OperationKind::join(OperationKind::ALL, ", ")
                ),
            )));
        };
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
        let Some(s) = ServiceStatus::parse(s) else {
            return Err(Error::invalid(Message::about(
                "status",
                format!(
                    "{s:?} is not a service status: use one of {}",
                    ServiceStatus::join(ServiceStatus::ALL, ", ")
                ),
            )));
        };
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
