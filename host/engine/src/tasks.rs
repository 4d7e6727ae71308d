//! Manual tasks and the admin's hand on operations: take, complete (the operation is
//! then done exactly as if the module had answered), send back for another automatic
//! try, retry or cancel an operation.

use chrono::{DateTime, Utc};
use provisor_module_api::FormField;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::{Map, Value};

use super::queue::apply_done;
use provisor_runtime::Runtime;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::status::{OperationStatus, ServiceStatus, TaskStatus};
use provisor_store::entities::{operation, service, task};
use provisor_store::error::{Error, Fix, Listing, Message, Result};
use provisor_store::lookup::{get_operation, get_service};
use provisor_store::{db_err, Store};

/// A task by id.
pub async fn get_task(store: &Store, id: i64) -> Result<task::Model> {
    task::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading tasks"))?
        .ok_or_else(|| Error::not_found_in(format!("no task #{id}"), Listing::Tasks))
}

/// Open and taken tasks (all with `all`), optionally for one department.
pub async fn list(store: &Store, department: Option<&str>, all: bool) -> Result<Vec<task::Model>> {
    list_page(store, department, all, u64::MAX, 0).await
}

/// [`list`], `limit` tasks from `offset` on.
pub async fn list_page(
    store: &Store,
    department: Option<&str>,
    all: bool,
    limit: u64,
    offset: u64,
) -> Result<Vec<task::Model>> {
    let mut q = task::Entity::find().order_by_asc(task::Column::Id);
    if offset > 0 {
        q = q.offset(offset);
    }
    if limit < u64::MAX {
        q = q.limit(limit);
    }
    if let Some(d) = department {
        q = q.filter(task::Column::Department.eq(d));
    }
    if !all {
        q = q.filter(task::Column::Status.is_in(TaskStatus::UNFINISHED));
    }
    q.all(store.db()).await.map_err(db_err("reading tasks"))
}

/// A staff account takes a task: the task records the account (`taken_by_staff_id`)
/// and its name (`taken_by`). Whether the account may take it (enabled, in the task's
/// department) is the caller's rule, checked before (see the application's accounts).
pub async fn take(
    store: &Store,
    id: i64,
    staff_id: i64,
    staff_name: &str,
    now: DateTime<Utc>,
) -> Result<task::Model> {
    let t = get_task(store, id).await?;
    match t.status {
        TaskStatus::Open => {}
        TaskStatus::Taken if t.taken_by_staff_id == Some(staff_id) => return Ok(t),
        TaskStatus::Taken => {
            return Err(Error::Invalid(format!(
                "task #{id} is already taken by {}",
                t.taken_by.unwrap_or_default()
            )))
        }
        other => {
            return Err(Error::Invalid(format!(
                "task #{id} is {other}; only open tasks can be taken"
            )))
        }
    }
    let r = task::Entity::update_many()
        .col_expr(
            task::Column::Status,
            sea_orm::sea_query::Expr::value(TaskStatus::Taken),
        )
        .col_expr(
            task::Column::TakenBy,
            sea_orm::sea_query::Expr::value(staff_name.to_string()),
        )
        .col_expr(
            task::Column::TakenByStaffId,
            sea_orm::sea_query::Expr::value(staff_id),
        )
        .col_expr(
            task::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .exec(store.db())
        .await
        .map_err(db_err("taking the task"))?;
    if r.rows_affected == 0 {
        return Err(Error::Invalid(format!(
            "task #{id} was taken by someone else just now"
        )));
    }
    get_task(store, id).await
}

/// Completes a task with the values staff filled in; the operation is done and the
/// service moves on as if the module had succeeded (`remote_id` becomes the remote id,
/// everything else an attribute).
pub async fn complete(rt: &Runtime, id: i64, values: Map<String, Value>) -> Result<task::Model> {
    let store = &rt.store;
    let t = get_task(store, id).await?;
    if !t.status.is_unfinished() {
        return Err(Error::Invalid(format!(
            "task #{id} is {}; only open or taken tasks can be completed",
            t.status
        )));
    }
    let fields: Vec<FormField> = serde_json::from_str(&t.fields).unwrap_or_default();
    let missing: Vec<&str> = fields
        .iter()
        .filter(|f| {
            f.required
                && values
                    .get(&f.name)
                    .is_none_or(|v| v.as_str().is_some_and(str::is_empty))
        })
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            Message::new(format!(
                "task #{id} needs {}: complete it with ",
                missing.join(", ")
            ))
            .field("set")
            .text(format!(" {}=VALUE", missing[0])),
        ));
    }
    let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(extra) = values
        .keys()
        .find(|k| !known.is_empty() && !known.contains(&k.as_str()))
    {
        return Err(Error::Invalid(format!(
            "task #{id} has no field {extra} (fields: {})",
            known.join(", ")
        )));
    }
    let op = get_operation(store, t.operation_id).await?;
    let svc = get_service(store, t.service_id).await?;
    if op.status != OperationStatus::Manual {
        return Err(Error::Invalid(format!(
            "operation #{} is {}, not manual; the task is stale",
            op.id, op.status
        )));
    }
    let mut attributes = values.clone();
    let remote_id = attributes
        .remove("remote_id")
        .and_then(|v| v.as_str().map(str::to_string));
    attributes.remove("notes");
    let now = rt.clock.now();
    let tx = store
        .db()
        .begin()
        .await
        .map_err(db_err("completing the task"))?;
    apply_done(&tx, &op, &svc, remote_id, attributes, now).await?;
    task::Entity::update(task::ActiveModel {
        id: Set(id),
        status: Set(TaskStatus::Done),
        values: Set(Some(Value::Object(values).to_string())),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&tx)
    .await
    .map_err(db_err("closing the task"))?;
    tx.commit().await.map_err(db_err("completing the task"))?;
    get_task(store, id).await
}

/// Sends a task back: its operation gets a fresh set of automatic attempts.
pub async fn send_back(rt: &Runtime, id: i64) -> Result<operation::Model> {
    let t = get_task(&rt.store, id).await?;
    if !t.status.is_unfinished() {
        return Err(Error::Invalid(format!(
            "task #{id} is {}; only open or taken tasks can be sent back",
            t.status
        )));
    }
    requeue(rt, t.operation_id, Some(id), TaskStatus::Returned).await
}

/// What `ops retry` did.
#[derive(Debug, Clone)]
pub enum Retried {
    /// A manual operation queued again with a fresh set of attempts.
    Requeued(operation::Model),
    /// A queued operation waiting for its next try made due now; its attempt count
    /// is left as it is ("retry now", not a person's fresh start).
    DueNow {
        /// The operation, now due.
        op: operation::Model,
        /// When it was due before.
        was_due: chrono::DateTime<Utc>,
    },
}

/// Retries an operation now: a manual one with a fresh set of attempts (its open task
/// closes), a queued one waiting for its next try by making it due at once.
pub async fn retry_operation(rt: &Runtime, op_id: i64) -> Result<Retried> {
    let store = &rt.store;
    let op = get_operation(store, op_id).await?;
    if op.status != OperationStatus::Queued {
        return requeue(rt, op_id, None, TaskStatus::Returned)
            .await
            .map(Retried::Requeued);
    }
    let now = rt.clock.now();
    if op.next_run_at <= now {
        return Err(Error::invalid(
            Message::new(format!(
                "operation #{op_id} is queued and already due: a worker takes it on its next pass (the daemon's, or "
            ))
            .fix(Fix::RunWorker)
            .text(")"),
        ));
    }
    let r = operation::Entity::update_many()
        .col_expr(
            operation::Column::NextRunAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(
            operation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(operation::Column::Id.eq(op_id))
        .filter(operation::Column::Status.eq(OperationStatus::Queued))
        .exec(store.db())
        .await
        .map_err(db_err("making the operation due"))?;
    if r.rows_affected == 0 {
        return Err(Error::invalid(
            Message::new(format!(
                "operation #{op_id} was taken by a worker just now; "
            ))
            .fix(Fix::SeeOperation { operation: op_id })
            .text(" for how it went"),
        ));
    }
    Ok(Retried::DueNow {
        op: get_operation(store, op_id).await?,
        was_due: op.next_run_at,
    })
}

async fn requeue(
    rt: &Runtime,
    op_id: i64,
    task_id: Option<i64>,
    task_status: TaskStatus,
) -> Result<operation::Model> {
    let store = &rt.store;
    let op = get_operation(store, op_id).await?;
    if op.status != OperationStatus::Manual {
        return Err(Error::Invalid(format!(
            "operation #{op_id} is {}; only manual operations, and queued ones waiting for their next try, can be retried",
            op.status
        )));
    }
    let now = rt.clock.now();
    let tx = store
        .db()
        .begin()
        .await
        .map_err(db_err("requeueing the operation"))?;
    operation::Entity::update(operation::ActiveModel {
        id: Set(op_id),
        status: Set(OperationStatus::Queued),
        attempts: Set(0),
        next_run_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&tx)
    .await
    .map_err(db_err("requeueing the operation"))?;
    let mut q = task::Entity::update_many()
        .col_expr(
            task::Column::Status,
            sea_orm::sea_query::Expr::value(task_status),
        )
        .col_expr(
            task::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(task::Column::OperationId.eq(op_id))
        .filter(task::Column::Status.is_in(TaskStatus::UNFINISHED));
    if let Some(t) = task_id {
        q = q.filter(task::Column::Id.eq(t));
    }
    q.exec(&tx).await.map_err(db_err("closing the task"))?;
    if op.kind == OperationKind::Create {
        service::Entity::update_many()
            .col_expr(
                service::Column::Status,
                sea_orm::sea_query::Expr::value(ServiceStatus::Provisioning),
            )
            .filter(service::Column::Id.eq(op.service_id))
            .filter(service::Column::Status.eq(ServiceStatus::Manual))
            .exec(&tx)
            .await
            .map_err(db_err("updating the service"))?;
    }
    tx.commit()
        .await
        .map_err(db_err("requeueing the operation"))?;
    get_operation(store, op_id).await
}

/// Cancels a queued or manual operation (a running one finishes first). A cancelled
/// create leaves the service `failed`.
pub async fn cancel_operation(rt: &Runtime, op_id: i64) -> Result<operation::Model> {
    let store = &rt.store;
    let op = get_operation(store, op_id).await?;
    if !matches!(op.status, OperationStatus::Queued | OperationStatus::Manual) {
        return Err(Error::Invalid(format!(
            "operation #{op_id} is {}; only queued or manual operations can be cancelled",
            op.status
        )));
    }
    let now = rt.clock.now();
    let tx = store
        .db()
        .begin()
        .await
        .map_err(db_err("cancelling the operation"))?;
    let r = operation::Entity::update_many()
        .col_expr(
            operation::Column::Status,
            sea_orm::sea_query::Expr::value(OperationStatus::Cancelled),
        )
        .col_expr(
            operation::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(
            operation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(operation::Column::Id.eq(op_id))
        .filter(operation::Column::Status.is_in([OperationStatus::Queued, OperationStatus::Manual]))
        .exec(&tx)
        .await
        .map_err(db_err("cancelling the operation"))?;
    if r.rows_affected == 0 {
        return Err(Error::Invalid(format!(
            "operation #{op_id} started running just now; cancel refused"
        )));
    }
    task::Entity::update_many()
        .col_expr(
            task::Column::Status,
            sea_orm::sea_query::Expr::value(TaskStatus::Cancelled),
        )
        .filter(task::Column::OperationId.eq(op_id))
        .filter(task::Column::Status.is_in(TaskStatus::UNFINISHED))
        .exec(&tx)
        .await
        .map_err(db_err("cancelling the task"))?;
    if op.kind == OperationKind::Create {
        service::Entity::update_many()
            .col_expr(
                service::Column::Status,
                sea_orm::sea_query::Expr::value(ServiceStatus::Failed),
            )
            .col_expr(
                service::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(service::Column::Id.eq(op.service_id))
            .exec(&tx)
            .await
            .map_err(db_err("updating the service"))?;
    }
    tx.commit()
        .await
        .map_err(db_err("cancelling the operation"))?;
    get_operation(store, op_id).await
}
