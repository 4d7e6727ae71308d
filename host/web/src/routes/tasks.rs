//! Manual tasks: listing (any staff; filters `status`, `department`), showing one with
//! its form, and support staff's take (for **the caller's own staff account**, which must
//! work in the task's department unless it is an owner or admin: a token that acts for
//! no staff account cannot take one), complete (the form's values) and return
//! (`provisor_app::services`, each audited with the principal's actor). The values a
//! task was completed with are never shown (a form may ask for a password).

use super::{answer, answer_as};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_store::db_err;
use provisor_store::entities::status::TaskStatus;
use provisor_store::entities::task;
use provisor_store::error::{Error, Message};

use crate::auth;
use crate::body;
use crate::page;
use crate::problem::{Kind, Problem};
use crate::routes::operations::Operation;
use crate::routes::{id_of, time};
use crate::state::Api;

/// A manual task: an operation that needs a person, for a department.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    /// Always `task`.
    #[schema(example = "task")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// The operation it stands for.
    pub operation_id: i64,
    /// The service.
    pub service_id: i64,
    /// The department it is for.
    pub department: String,
    /// `open`, `taken`, `done`, `returned` or `cancelled`.
    #[schema(value_type = String, example = "open")]
    pub status: TaskStatus,
    /// Why a person is needed.
    pub reason: String,
    /// The form to fill in to complete it.
    #[schema(value_type = Vec<Object>)]
    pub fields: Value,
    /// The name of the staff member who took it.
    pub taken_by: Option<String>,
    /// Their staff account's id.
    pub taken_by_staff_id: Option<i64>,
    /// When it was opened (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl From<task::Model> for Task {
    fn from(t: task::Model) -> Self {
        Task {
            object: "task",
            id: t.id,
            operation_id: t.operation_id,
            service_id: t.service_id,
            department: t.department,
            status: t.status,
            reason: t.reason,
            fields: serde_json::from_str(&t.fields).unwrap_or(Value::Array(Vec::new())),
            taken_by: t.taken_by,
            taken_by_staff_id: t.taken_by_staff_id,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

/// The body of `POST /v1/tasks/{id}/complete`: the values of the task's form, by field
/// name (`{"remote_id": "srv-12"}`).
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct TaskValues(Map<String, Value>);

/// A task sent back, with the operation queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskReturned {
    /// The task after it was sent back.
    pub task: Task,
    /// Its operation, queued for fresh automatic attempts.
    pub operation: Operation,
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut select = task::Entity::find();
        let mut filters = Vec::new();
        if let Some(v) = q.get("status") {
            let s: TaskStatus = serde_json::from_value(Value::String(v.clone())).map_err(|_| {
                Problem::from_error(&Error::invalid(Message::about(
                    "status",
                    format!(
                        "{v:?} is no task status: pass open, taken, done, returned or cancelled"
                    ),
                )))
            })?;
            select = select.filter(task::Column::Status.eq(s));
            filters.push(("status", v.clone()));
        }
        if let Some(v) = q.get("department") {
            select = select.filter(task::Column::Department.eq(v.clone()));
            filters.push(("department", v.clone()));
        }
        let pg = provisor_app::page::read(&api.store, select, task::Column::Id, cursor).await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/tasks", &filters),
            cursor,
            pg,
            |t| t.id,
            Task::from,
        ))
    };
    answer(run.await)
}

async fn find(api: &Api, raw: &str) -> Result<task::Model, Problem> {
    let id = id_of(raw, "task")?;
    task::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading a task"))?
        .ok_or_else(|| auth::not_found(&format!("task {id}")))
}

pub(crate) async fn show(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Response {
    match find(&api, &raw).await {
        Ok(t) => Json(Task::from(t)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn take(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let t = find(&api, &raw).await?;
        let Some(staff_id) = p.staff_id() else {
            return Err(Problem::new(
                Kind::Forbidden,
                format!("task {} is taken by a staff account, and this credential acts for none: use a staff session, or a token made for a staff account", t.id),
            ));
        };
        let who = provisor_app::accounts::staff::get(&api.store, staff_id).await?;
        let taken =
            provisor_app::services::take_task(&api.rt, &auth::actor(&p, peer), t.id, &who.email)
                .await?;
        Ok::<_, Problem>(Task::from(taken))
    };
    answer(run.await)
}

pub(crate) async fn complete(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    raw_body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, raw_body, api.json_max_body, api.body_timeout).await?;
        let values: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            body::json(&bytes)?
        };
        let t = find(&api, &raw).await?;
        let done =
            provisor_app::services::complete_task(&api.rt, &auth::actor(&p, peer), t.id, values)
                .await?;
        Ok::<_, Problem>(Task::from(done))
    };
    answer(run.await)
}

pub(crate) async fn send_back(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let t = find(&api, &raw).await?;
        let op =
            provisor_app::services::send_back_task(&api.rt, &auth::actor(&p, peer), t.id).await?;
        let after = find(&api, &t.id.to_string()).await?;
        Ok::<_, Problem>(TaskReturned {
            task: Task::from(after),
            operation: Operation::from(op),
        })
    };
    answer_as(StatusCode::OK, run.await)
}
