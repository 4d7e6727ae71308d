//! A service's other actions: a plan change and a renewal queued by staff
//! (`provisor_app::services::request`), a control panel sign-in link
//! (`provisor_app::services::sso`: support staff for either audience, the owning client
//! for its own; the link is answered once, `Cache-Control: no-store`, and never logged
//! or audited), the module's client-area panel, and the module's admin actions
//! (`provisor_app::services::action`, with the module's confirmation rule).

use super::answer;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_store::entities::kinds::OperationKind;

use crate::auth;
use crate::body;
use crate::problem::{Kind, Problem};
use crate::routes::services::{visible, Queued};
use crate::state::Api;

/// The body of `POST /v1/services/{id}/change_plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    /// The new plan, by name or id.
    #[schema(example = "web-pro")]
    pub plan: String,
}

/// Who a sign-in link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The client's own control panel login.
    Client,
    /// The panel's administrator (staff only).
    Admin,
}

/// The body of `POST /v1/services/{id}/sso`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoRequest {
    /// `client` (the default) or `admin` (support staff only).
    #[serde(default = "client")]
    pub audience: Audience,
}

fn client() -> Audience {
    Audience::Client
}

/// A sign-in link: answered to the caller once, never stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoLink {
    /// Always `sso_link`.
    #[schema(example = "sso_link")]
    pub object: &'static str,
    /// The service.
    pub service_id: i64,
    /// Who it signs in.
    pub audience: Audience,
    /// The link.
    pub url: String,
    /// When it stops working (RFC 3339), if the panel says.
    pub expires_at: Option<String>,
}

/// The module's client-area panel: a title, label/value rows and links.
#[derive(Debug, Serialize, ToSchema)]
pub struct Panel {
    /// Always `panel`.
    #[schema(example = "panel")]
    pub object: &'static str,
    /// The service.
    pub service_id: i64,
    /// The panel's title.
    pub title: String,
    /// Label/value rows.
    #[schema(value_type = Vec<Object>)]
    pub rows: Value,
    /// Labelled links.
    #[schema(value_type = Vec<Object>)]
    pub links: Value,
}

/// The body of `POST /v1/services/{id}/actions/{action}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The action's form values, by field name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Set to `true` for an action the module asks to confirm.
    #[serde(default)]
    pub confirmed: bool,
}

async fn read_json<T: serde::de::DeserializeOwned + Default>(
    api: &Api,
    headers: &HeaderMap,
    raw: Body,
) -> Result<T, Problem> {
    let bytes = body::read(headers, raw, api.json_max_body, api.body_timeout).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    body::json(&bytes)
}

async fn queue(
    api: &Api,
    p: &Principal,
    peer: SocketAddr,
    raw: &str,
    kind: OperationKind,
    params: Value,
) -> Result<Queued, Problem> {
    let s = visible(api, p, raw).await?;
    let op = provisor_app::services::request(
        &api.rt,
        &auth::actor(p, peer),
        s.id,
        kind,
        params,
        api.billing.max_attempts,
    )
    .await?;
    Ok(Queued {
        object: "operation",
        id: op.id,
        service_id: s.id,
        kind,
    })
}

fn accepted(r: Result<Queued, Problem>) -> Response {
    match r {
        Ok(q) => (StatusCode::ACCEPTED, Json(q)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn change_plan(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    raw_body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, raw_body, api.json_max_body, api.body_timeout).await?;
        let change: PlanChange = body::json(&bytes)?;
        visible(&api, &p, &raw).await?;
        let plan = provisor_store::lookup::get_plan(&api.store, &change.plan)
            .await
            .map_err(|e| Problem::from_error(&e).field("plan"))?;
        queue(
            &api,
            &p,
            peer,
            &raw,
            OperationKind::ChangePlan,
            json!({"plan_id": plan.id}),
        )
        .await
    };
    accepted(run.await)
}

pub(crate) async fn renew(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    accepted(queue(&api, &p, peer, &raw, OperationKind::Renew, Value::Null).await)
}

impl Default for SsoRequest {
    fn default() -> Self {
        SsoRequest {
            audience: Audience::Client,
        }
    }
}

pub(crate) async fn sso(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    raw_body: Body,
) -> Response {
    let run = async {
        let asked: SsoRequest = read_json(&api, &headers, raw_body).await?;
        let s = visible(&api, &p, &raw).await?;
        if p.client_id().is_some() && asked.audience == Audience::Admin {
            return Err(Problem::new(
                Kind::Forbidden,
                "a client may ask for its own sign-in link only: send audience \"client\"",
            )
            .field("audience"));
        }
        let link = provisor_app::services::sso(
            &api.rt,
            &auth::actor(&p, peer),
            s.id,
            asked.audience == Audience::Admin,
        )
        .await?;
        Ok::<_, Problem>(SsoLink {
            object: "sso_link",
            service_id: s.id,
            audience: asked.audience,
            url: link.url,
            expires_at: link.expires_at,
        })
    };
    match run.await {
        Ok(l) => (
            [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(l),
        )
            .into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn panel(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let s = visible(&api, &p, &raw).await?;
        let panel = provisor_app::services::panel(&api.rt, s.id).await?;
        Ok::<_, Problem>(Panel {
            object: "panel",
            service_id: s.id,
            title: panel.title,
            rows: serde_json::to_value(&panel.rows).unwrap_or(Value::Array(Vec::new())),
            links: serde_json::to_value(&panel.links).unwrap_or(Value::Array(Vec::new())),
        })
    };
    answer(run.await)
}

pub(crate) async fn action(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((raw, name)): Path<(String, String)>,
    headers: HeaderMap,
    raw_body: Body,
) -> Response {
    let run = async {
        let asked: ActionRequest = read_json(&api, &headers, raw_body).await?;
        let s = visible(&api, &p, &raw).await?;
        let op = provisor_app::services::action(
            &api.rt,
            &auth::actor(&p, peer),
            s.id,
            &name,
            asked.fields,
            asked.confirmed,
            api.billing.max_attempts,
        )
        .await?;
        Ok::<_, Problem>(Queued {
            object: "operation",
            id: op.id,
            service_id: s.id,
            kind: OperationKind::Action,
        })
    };
    accepted(run.await)
}
