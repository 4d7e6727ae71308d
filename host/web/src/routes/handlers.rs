//! Handlers and module files. Handlers: listed and shown to any staff with their
//! settings redacted exactly as the command line's `handlers show` redacts them
//! (`provisor_engine::handlers::view`: every secret of the module's schema as
//! `[redacted]`, every value hidden while the module is not loaded); added (admin,
//! validated by the module's schema, through `provisor_app::handlers::add`, which
//! records the settings' key names only), enabled and disabled (admin), and their
//! connection tested (support). Module files: listed (admin, with a refused file's
//! reason) and uploaded (admin: the request body is the `.so`, checked exactly as a
//! file dropped into the modules directory by `provisor_app::handlers::upload_module`;
//! a refused file leaves nothing behind).

use super::{answer, answer_as};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_engine::handlers::{self as engine, HandlerView, NewHandler as EngineNew};
use provisor_store::entities::{handler, module_file};

use crate::auth;
use crate::body;
use crate::page;
use crate::problem::{Kind, Problem};
use crate::routes::time;
use crate::state::Api;

/// A handler: a module plus its connection settings, secrets redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Handler {
    /// Always `handler`.
    #[schema(example = "handler")]
    pub object: &'static str,
    /// Its name (paths name it).
    #[schema(example = "cs-ams")]
    pub name: String,
    /// The module it uses.
    #[schema(example = "computestacks")]
    pub module: String,
    /// Whether it takes new services.
    pub enabled: bool,
    /// The department its tasks go to (none: `support`).
    pub department: Option<String>,
    /// A label for staff.
    pub label: Option<String>,
    /// Its limit of operations at once, if any.
    pub max_concurrent: Option<i32>,
    /// Its settings, every secret as `[redacted]` (every value hidden while its module
    /// is not loaded).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// When its connection was last tested (RFC 3339).
    pub last_check_at: Option<String>,
    /// Whether that test passed.
    pub last_check_ok: Option<bool>,
    /// What that test said.
    pub last_check_message: Option<String>,
    /// Calls abandoned past the call limit still inside the module.
    pub stuck_calls: i32,
}

impl From<HandlerView> for Handler {
    fn from(v: HandlerView) -> Self {
        Handler {
            object: "handler",
            name: v.name,
            module: v.module,
            enabled: v.enabled,
            department: v.department,
            label: v.label,
            max_concurrent: v.max_concurrent,
            settings: v.settings,
            last_check_at: v.last_check_at,
            last_check_ok: v.last_check_ok,
            last_check_message: v.last_check_message,
            stuck_calls: v.stuck_calls,
        }
    }
}

/// The body of `POST /v1/handlers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHandler {
    /// Its name: 1-64 letters, digits, `-`, `_`, `.`.
    #[schema(example = "cs-ams")]
    pub name: String,
    /// The module it uses (loaded).
    #[schema(example = "computestacks")]
    pub module: String,
    /// Its connection settings, checked against the module's settings schema (secrets
    /// in clear here; never shown again).
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// The department that takes its manual tasks (default `support`).
    pub department: Option<String>,
    /// A label, e.g. the data centre.
    pub label: Option<String>,
    /// At most this many operations at once.
    pub max_concurrent: Option<i32>,
    /// Whether it takes new services (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// What a connection test answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    /// Always `connection_test`.
    #[schema(example = "connection_test")]
    pub object: &'static str,
    /// The handler.
    pub handler: String,
    /// Always true (a failed test is a 502 problem).
    pub ok: bool,
    /// The module's line about the connection.
    pub message: String,
}

/// A module file in the modules directory and the verdict on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleFile {
    /// Always `module_file`.
    #[schema(example = "module_file")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// The file's name in the modules directory.
    #[schema(example = "computestacks.so")]
    pub file: String,
    /// The module's name, when known.
    pub name: Option<String>,
    /// Its version, when known.
    pub version: Option<String>,
    /// The module API version it was built against, when known.
    pub api_version: Option<String>,
    /// `loaded`, `refused` or `missing`.
    #[schema(example = "loaded")]
    pub state: String,
    /// Why it was refused (or is missing).
    pub reason: Option<String>,
    /// The file's SHA-256, hex.
    pub sha256: String,
    /// What the module can do.
    pub capabilities: Vec<String>,
    /// When the verdict last changed (RFC 3339).
    pub updated_at: String,
}

impl From<module_file::Model> for ModuleFile {
    fn from(m: module_file::Model) -> Self {
        ModuleFile {
            object: "module_file",
            capabilities: m
                .manifest
                .as_deref()
                .and_then(|t| serde_json::from_str::<provisor_module_api::Manifest>(t).ok())
                .map(|mf| {
                    mf.capabilities
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            id: m.id,
            file: m.file,
            name: m.name,
            version: m.version,
            api_version: m.api_version,
            state: m.status.to_string(),
            reason: m.reason,
            sha256: m.sha256,
            updated_at: time(m.updated_at),
        }
    }
}

/// What an upload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleInstalled {
    /// Always `module_install`.
    #[schema(example = "module_install")]
    pub object: &'static str,
    /// Its file in the modules directory.
    #[schema(example = "recorder.so")]
    pub file: String,
    /// The module's name.
    pub name: String,
    /// Its version, loaded.
    pub version: String,
    /// What the registry did, one line each (empty: the same file was already there,
    /// or the daemon's own scan took it in first).
    pub events: Vec<String>,
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let pg = provisor_app::page::read(
            &api.store,
            handler::Entity::find(),
            handler::Column::Id,
            cursor,
        )
        .await?;
        let registry = &api.rt.registry;
        Ok::<_, Problem>(page::envelope(
            "/v1/handlers",
            cursor,
            pg,
            |h| h.id,
            |h| Handler::from(engine::view(&h, registry)),
        ))
    };
    answer(run.await)
}

/// The handler called `name`; an unknown one is a 404 naming it.
async fn named(api: &Api, name: &str) -> Result<handler::Model, Problem> {
    engine::find(&api.store, name)
        .await?
        .ok_or_else(|| auth::not_found(&format!("handler {name:?}")))
}

pub(crate) async fn show(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    match named(&api, &name).await {
        Ok(h) => Json(Handler::from(engine::view(&h, &api.rt.registry))).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn add(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewHandler = body::json(&bytes)?;
        let v = provisor_app::handlers::add(
            &api.store,
            &api.rt.registry,
            &auth::actor(&p, peer),
            EngineNew {
                name: new.name,
                module: new.module,
                settings: Value::Object(new.settings),
                department: new.department,
                label: new.label,
                max_concurrent: new.max_concurrent,
                enabled: new.enabled,
            },
            api.clock.now(),
        )
        .await?;
        Ok::<_, Problem>(Handler::from(v))
    };
    answer_as(StatusCode::CREATED, run.await)
}

async fn set_enabled(api: &Api, p: &Principal, peer: SocketAddr, name: &str, on: bool) -> Response {
    let run = async {
        named(api, name).await?;
        provisor_app::handlers::set_enabled(
            &api.store,
            &auth::actor(p, peer),
            name,
            on,
            api.clock.now(),
        )
        .await?;
        let h = named(api, name).await?;
        Ok::<_, Problem>(Handler::from(engine::view(&h, &api.rt.registry)))
    };
    answer(run.await)
}

pub(crate) async fn enable(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    set_enabled(&api, &p, peer, &name, true).await
}

pub(crate) async fn disable(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    set_enabled(&api, &p, peer, &name, false).await
}

pub(crate) async fn test(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Response {
    let run = async {
        named(&api, &name).await?;
        let info = provisor_app::handlers::test(&api.rt, &name).await?;
        Ok::<_, Problem>(ConnectionTest {
            object: "connection_test",
            handler: name,
            ok: true,
            message: info.message,
        })
    };
    answer(run.await)
}

pub(crate) async fn list_modules(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let pg = provisor_app::page::read(
            &api.store,
            module_file::Entity::find(),
            module_file::Column::Id,
            cursor,
        )
        .await?;
        Ok::<_, Problem>(page::envelope(
            "/v1/modules",
            cursor,
            pg,
            |m| m.id,
            ModuleFile::from,
        ))
    };
    answer(run.await)
}

/// The request's media type is `application/octet-stream`, or a 400 naming
/// `Content-Type`.
fn octet_stream(headers: &HeaderMap) -> Result<(), Problem> {
    let media = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() == Some("application/octet-stream") {
        return Ok(());
    }
    Err(Problem::new(
        Kind::Invalid,
        format!(
            "a module upload is the .so file itself, not {}: send it as the body with Content-Type: application/octet-stream; nothing was installed",
            media.as_deref().unwrap_or("a body without a media type")
        ),
    )
    .field("Content-Type"))
}

pub(crate) async fn upload_module(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        octet_stream(&headers)?;
        let bytes = body::read(&headers, body, api.max_body, api.body_timeout).await?;
        let up =
            provisor_app::handlers::upload_module(&api.rt, &auth::actor(&p, peer), &bytes).await?;
        Ok::<_, Problem>(ModuleInstalled {
            object: "module_install",
            file: up.file,
            name: up.name,
            version: up.version,
            events: up.events,
        })
    };
    answer_as(StatusCode::CREATED, run.await)
}
