//! What the CLI's listings and detail views read: services with the client's, plan's
//! and handler's names beside the row, plans with their handlers' names, departments
//! with their open tasks (a few queries, one per table, never one per row), a service's
//! or an operation's history, a client's services.
//! Must not: print or filter (`listings` chooses the rows).

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, PlanView};
use provisor_store::entities::status::TaskStatus;
use provisor_store::entities::{
    client, handler, operation, operation_attempt, plan, plan_handler, service, task,
};
use provisor_store::error::{Error, Result};
use provisor_store::{db_err, Store};

/// A service with the names of its client, plan and handler (empty when gone).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// The service's id.
    pub id: i64,
    /// Its client's id.
    pub client_id: i64,
    /// Its client's name.
    pub client: String,
    /// Its plan's name.
    pub plan: String,
    /// Its handler's name.
    pub handler: String,
    /// For an addon, the service it is attached to.
    pub parent_id: Option<i64>,
    /// Its status (`active`, `suspended` …).
    pub status: String,
    /// The remote system's id for it, once created.
    pub remote_id: Option<String>,
    /// What modules and staff returned (a JSON object).
    pub attributes: Value,
    /// The configurable options chosen at order time (a JSON object).
    pub options: Value,
    /// When it was ordered (RFC 3339).
    pub created_at: String,
}

/// One service with its operations and tasks, oldest first (`services show`).
#[derive(Debug, Clone)]
pub struct ServiceDetail {
    /// The service.
    pub view: ServiceView,
    /// Its operations, oldest first.
    pub operations: Vec<operation::Model>,
    /// Its tasks, oldest first.
    pub tasks: Vec<task::Model>,
}

/// Views of `rows`, in their order: three queries whatever the number of rows.
pub async fn services(store: &Store, rows: &[service::Model]) -> Result<Vec<ServiceView>> {
    let ids = |f: fn(&service::Model) -> i64| {
        let mut v: Vec<i64> = rows.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (client_ids, plan_ids, handler_ids) = (
        ids(|s| s.client_id),
        ids(|s| s.plan_id),
        ids(|s| s.handler_id),
    );
    let clients = names::<client::Entity, _>(
        store,
        client_ids,
        client::Column::Id,
        "reading clients",
        |c| (c.id, c.name),
    )
    .await?;
    let plans = names::<plan::Entity, _>(store, plan_ids, plan::Column::Id, "reading plans", |p| {
        (p.id, p.name)
    })
    .await?;
    let handlers = names::<handler::Entity, _>(
        store,
        handler_ids,
        handler::Column::Id,
        "reading handlers",
        |h| (h.id, h.name),
    )
    .await?;
    let name = |m: &HashMap<i64, String>, id: i64| m.get(&id).cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|s| ServiceView {
            id: s.id,
            client_id: s.client_id,
            client: name(&clients, s.client_id),
            plan: name(&plans, s.plan_id),
            handler: name(&handlers, s.handler_id),
            parent_id: s.parent_id,
            status: s.status.to_string(),
            remote_id: s.remote_id.clone(),
            attributes: serde_json::from_str(&s.attributes).unwrap_or(Value::Null),
            options: serde_json::from_str(&s.options).unwrap_or(Value::Null),
            created_at: s.created_at.to_rfc3339(),
        })
        .collect())
}

/// Service `id` (not found by number) with its operations and tasks.
pub async fn service_detail(store: &Store, id: i64) -> Result<ServiceDetail> {
    let s = crate::get_service(store, id).await?;
    // One view per row: the list holds exactly this service's.
    let view = services(store, std::slice::from_ref(&s))
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("service #{id} not found")))?;
    let operations = operation::Entity::find()
        .filter(operation::Column::ServiceId.eq(id))
        .order_by_asc(operation::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading operations"))?;
    let tasks = task::Entity::find()
        .filter(task::Column::ServiceId.eq(id))
        .order_by_asc(task::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading tasks"))?;
    Ok(ServiceDetail {
        view,
        operations,
        tasks,
    })
}

/// Operation `id` (not found by number) with every attempt, oldest first (`ops show`).
pub async fn operation_detail(
    store: &Store,
    id: i64,
) -> Result<(operation::Model, Vec<operation_attempt::Model>)> {
    let op = crate::get_operation(store, id).await?;
    let attempts = operation_attempt::Entity::find()
        .filter(operation_attempt::Column::OperationId.eq(id))
        .order_by_asc(operation_attempt::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading attempts"))?;
    Ok((op, attempts))
}

/// A client's services, oldest first (`clients show`).
pub async fn client_services(store: &Store, client_id: i64) -> Result<Vec<service::Model>> {
    service::Entity::find()
        .filter(service::Column::ClientId.eq(client_id))
        .order_by_asc(service::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading services"))
}

/// A department with the number of its tasks still to be dealt with (open or taken).
#[derive(Debug, Clone, Serialize)]
pub struct DepartmentView {
    /// The department's name.
    pub name: String,
    /// Where its task notifications go, if anywhere.
    pub email: Option<String>,
    /// Its tasks still to be dealt with (open or taken).
    pub open_tasks: u64,
}

/// Every department by name, with its open and taken tasks counted: two queries
/// whatever the number of departments.
pub async fn departments(store: &Store) -> Result<Vec<DepartmentView>> {
    let rows = catalog::departments(store).await?;
    let open: HashMap<String, i64> = task::Entity::find()
        .select_only()
        .column(task::Column::Department)
        .column_as(task::Column::Id.count(), "open")
        .filter(task::Column::Status.is_in(TaskStatus::UNFINISHED))
        .group_by(task::Column::Department)
        .into_tuple::<(String, i64)>()
        .all(store.db())
        .await
        .map_err(db_err("counting open tasks"))?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|d| DepartmentView {
            open_tasks: open.get(&d.name).copied().unwrap_or(0) as u64,
            name: d.name,
            email: d.email,
        })
        .collect())
}

/// Every plan by id, with its handlers' names in order of preference: three queries
/// whatever the number of plans.
pub async fn plans(store: &Store) -> Result<Vec<PlanView>> {
    let rows = catalog::plans(store).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Every plan is listed, so every link is wanted.
    let links = plan_handler::Entity::find()
        .order_by_asc(plan_handler::Column::PlanId)
        .order_by_asc(plan_handler::Column::Priority)
        .order_by_asc(plan_handler::Column::HandlerId)
        .all(store.db())
        .await
        .map_err(db_err("reading plans' handlers"))?;
    let mut handler_ids: Vec<i64> = links.iter().map(|l| l.handler_id).collect();
    handler_ids.sort_unstable();
    handler_ids.dedup();
    let names = names::<handler::Entity, _>(
        store,
        handler_ids,
        handler::Column::Id,
        "reading handlers",
        |h| (h.id, h.name),
    )
    .await?;
    let mut by_plan: HashMap<i64, Vec<String>> = HashMap::new();
    for l in &links {
        if let Some(name) = names.get(&l.handler_id) {
            by_plan.entry(l.plan_id).or_default().push(name.clone());
        }
    }
    Ok(rows
        .iter()
        .map(|p| catalog::plan_view(p, by_plan.remove(&p.id).unwrap_or_default()))
        .collect())
}

/// The names of the rows of `E` whose `id` is one of `ids` (one query; none when
/// `ids` is empty), by id.
async fn names<E, F>(
    store: &Store,
    ids: Vec<i64>,
    id: E::Column,
    what: &str,
    name: F,
) -> Result<HashMap<i64, String>>
where
    E: EntityTrait,
    F: Fn(E::Model) -> (i64, String),
{
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(E::find()
        .filter(id.is_in(ids))
        .all(store.db())
        .await
        .map_err(db_err(what))?
        .into_iter()
        .map(name)
        .collect())
}
