//! Services: listing and showing (staff: all; a client: its own, another client's is a
//! 404), ordering (`provisor_app::order`: billing staff for any client, a client for
//! itself) and the suspend, unsuspend and terminate requests of support staff
//! (`provisor_app::services::request`). Each use case records its audit entry with the
//! principal's actor and the peer's address.

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
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_store::db_err;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::service;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::error::{Error, Message};

use crate::auth;
use crate::body;
use crate::page;
use crate::problem::Problem;
use crate::routes::{id_of, time};
use crate::state::Api;

/// A service. Its module attributes are not shown: they may hold what a panel
/// returned (passwords among them).
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    /// Always `service`.
    #[schema(example = "service")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// The client who owns it.
    pub client_id: i64,
    /// The plan it is on.
    pub plan_id: i64,
    /// For an addon, the service it is attached to.
    pub parent_id: Option<i64>,
    /// `pending`, `provisioning`, `active`, `suspended`, `terminated`, `failed`, `manual`.
    #[schema(value_type = String, example = "active")]
    pub status: ServiceStatus,
    /// The remote system's id for it, once created.
    pub remote_id: Option<String>,
    /// The configurable options chosen at order time.
    #[schema(value_type = Object)]
    pub options: Value,
    /// When it was ordered (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl From<service::Model> for Service {
    fn from(s: service::Model) -> Self {
        Service {
            object: "service",
            id: s.id,
            client_id: s.client_id,
            plan_id: s.plan_id,
            parent_id: s.parent_id,
            status: s.status,
            remote_id: s.remote_id,
            options: serde_json::from_str(&s.options).unwrap_or(Value::Object(Map::new())),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

/// The body of `POST /v1/services`: an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The client it is for; a client ordering for itself may leave it out.
    pub client_id: Option<i64>,
    /// The plan, by name or id.
    #[schema(example = "web-basic")]
    pub plan: String,
    /// For an addon plan: the service it is attached to.
    pub addon_of: Option<i64>,
    /// The configurable options.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
}

/// What an order made.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPlaced {
    /// Always `order`.
    #[schema(example = "order")]
    pub object: &'static str,
    /// The new service.
    pub service_id: i64,
    /// Its create operation.
    pub operation_id: i64,
    /// For a priced plan: the invoice its create waits on.
    pub invoice_id: Option<i64>,
}

/// A request queued on a service (suspend, unsuspend, terminate).
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Always `operation`.
    #[schema(example = "operation")]
    pub object: &'static str,
    /// The operation's id.
    pub id: i64,
    /// The service.
    pub service_id: i64,
    /// `suspend`, `unsuspend` or `terminate`.
    #[schema(value_type = String, example = "suspend")]
    pub kind: OperationKind,
}

fn whole(name: &'static str, v: &str) -> Result<i64, Problem> {
    v.trim().parse().map_err(|_| {
        Problem::from_error(&Error::invalid(Message::about(
            name,
            format!("{v:?} is not a whole number: pass an id"),
        )))
    })
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut select = service::Entity::find();
        let mut filters = Vec::new();
        if let Some(own) = p.client_id() {
            select = select.filter(service::Column::ClientId.eq(own));
        }
        if let Some(v) = q.get("client_id") {
            let id = whole("client_id", v)?;
            select = select.filter(service::Column::ClientId.eq(id));
            filters.push(("client_id", id.to_string()));
        }
        if let Some(v) = q.get("plan_id") {
            let id = whole("plan_id", v)?;
            select = select.filter(service::Column::PlanId.eq(id));
            filters.push(("plan_id", id.to_string()));
        }
        if let Some(v) = q.get("status") {
            let status: ServiceStatus = serde_json::from_value(Value::String(v.clone()))
                .map_err(|_| {
                    Problem::from_error(&Error::invalid(Message::about(
                        "status",
                        format!("{v:?} is no service status: pass pending, provisioning, active, suspended, terminated, failed or manual"),
                    )))
                })?;
            select = select.filter(service::Column::Status.eq(status));
            filters.push(("status", v.clone()));
        }
        let pg = provisor_app::page::read(&api.store, select, service::Column::Id, cursor).await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/services", &filters),
            cursor,
            pg,
            |s| s.id,
            Service::from,
        ))
    };
    answer(run.await)
}

/// The service `raw` names, if the principal may see it; otherwise the same 404 as a
/// missing one.
pub(crate) async fn visible(
    api: &Api,
    p: &Principal,
    raw: &str,
) -> Result<service::Model, Problem> {
    let id = id_of(raw, "service")?;
    let what = format!("service {id}");
    let s = service::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading a service"))?
        .ok_or_else(|| auth::not_found(&what))?;
    auth::owned(p, s.client_id, &what)?;
    Ok(s)
}

pub(crate) async fn show(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    match visible(&api, &p, &raw).await {
        Ok(s) => Json(Service::from(s)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn order(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewOrder = body::json(&bytes)?;
        let client_id = match (p.client_id(), new.client_id) {
            (Some(own), None) => own,
            (Some(own), Some(asked)) => {
                auth::owned(&p, asked, &format!("client {asked}"))?;
                own
            }
            (None, Some(asked)) => asked,
            (None, None) => {
                return Err(Problem::from_error(&Error::invalid(Message::about(
                    "client_id",
                    "is missing: staff order for a client, so name the client's id",
                ))))
            }
        };
        if let Some(parent) = new.addon_of {
            visible(&api, &p, &parent.to_string()).await?;
        }
        let ordered = provisor_app::order::order(
            &api.rt,
            &api.billing,
            &auth::actor(&p, peer),
            &client_id.to_string(),
            &new.plan,
            new.addon_of,
            new.options,
        )
        .await?;
        Ok::<_, Problem>(OrderPlaced {
            object: "order",
            service_id: ordered.service_id,
            operation_id: ordered.operation_id,
            invoice_id: ordered.invoice_id,
        })
    };
    answer_as(StatusCode::CREATED, run.await)
}

async fn request(
    api: &Api,
    p: &Principal,
    peer: SocketAddr,
    raw: &str,
    kind: OperationKind,
) -> Response {
    let run = async {
        let s = visible(api, p, raw).await?;
        let op = provisor_app::services::request(
            &api.rt,
            &auth::actor(p, peer),
            s.id,
            kind,
            Value::Null,
            api.billing.max_attempts,
        )
        .await?;
        Ok::<_, Problem>(Queued {
            object: "operation",
            id: op.id,
            service_id: s.id,
            kind,
        })
    };
    answer_as(StatusCode::ACCEPTED, run.await)
}

pub(crate) async fn suspend(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    request(&api, &p, peer, &raw, OperationKind::Suspend).await
}

pub(crate) async fn unsuspend(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    request(&api, &p, peer, &raw, OperationKind::Unsuspend).await
}

pub(crate) async fn terminate(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    request(&api, &p, peer, &raw, OperationKind::Terminate).await
}
