//! The daily run for one date: every handler's `daily` (renewals, license pools,
//! lifetimes), with what each module reports applied as the engine applies any answer.
//!
//! Invariant: the run changes services only through the engine: attributes a module
//! returns are merged into the service's current attributes, and anything it asks for
//! (`terminate`, `suspend`, `renew`) is queued as an ordinary operation, which refuses
//! when the service already has one pending; so running the same date twice queues
//! nothing twice.

use chrono::NaiveDate;
use provisor_module_api::{DailyReport, DailyRequest, ErrorKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::{Map, Value};

use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::db_err;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::entities::{handler, service};
use provisor_store::error::{Error, Message, Result};

/// Service states the daily run shows a module: provisioned and not yet gone.
const LIVE: [ServiceStatus; 3] = [
    ServiceStatus::Active,
    ServiceStatus::Suspended,
    ServiceStatus::Manual,
];

/// What the daily run did for one handler.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerRun {
    /// The handler's name.
    pub handler: String,
    /// Its module.
    pub module: String,
    /// Whether the handler takes new services (the daily run calls both kinds).
    pub enabled: bool,
    /// How many services the module was shown.
    pub services: usize,
    /// `done`, `not_supported`, `failed`, or `skipped` (dry run).
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the module reported, and what the engine did about each.
    pub actions: Vec<ActionRun>,
}

/// One reported action and its effect.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRun {
    /// The service concerned, if any.
    pub service_id: Option<i64>,
    /// The module's short name for what happened (`renewed`, `pool_dropped`).
    pub event: String,
    /// The module's line for admins.
    pub message: String,
    /// The operation queued for `request`, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_operation: Option<i64>,
    /// Why a request was not queued (the service already has an operation, or is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Message>,
}

/// Runs every handler's daily work for `date`. A failing handler is reported and the
/// others still run; the caller decides the exit code from the statuses.
/// With `dry_run`, says which handlers would be called with how many services and calls
/// nothing (a module's daily run acts on the remote side, so it cannot be rehearsed).
/// What the modules ask for is queued with `max_attempts` tries.
pub async fn run(
    rt: &Runtime,
    date: NaiveDate,
    dry_run: bool,
    max_attempts: i32,
) -> Result<Vec<HandlerRun>> {
    let db = rt.store.db();
    let handlers = handler::Entity::find()
        .order_by_asc(handler::Column::Name)
        .all(db)
        .await
        .map_err(db_err("reading handlers"))?;
    let mut runs = Vec::with_capacity(handlers.len());
    for h in handlers {
        let svcs = service::Entity::find()
            .filter(service::Column::HandlerId.eq(h.id))
            .filter(service::Column::Status.is_in(LIVE))
            .order_by_asc(service::Column::Id)
            .all(db)
            .await
            .map_err(db_err("reading services"))?;
        let mut run = HandlerRun {
            handler: h.name.clone(),
            module: h.module.clone(),
            enabled: h.enabled,
            services: svcs.len(),
            status: "skipped".into(),
            error: None,
            actions: Vec::new(),
        };
        if dry_run {
            runs.push(run);
            continue;
        }
        let mut infos = Vec::with_capacity(svcs.len());
        for s in &svcs {
            infos.push(crate::service_info::service_info(db, s, 0).await?);
        }
        let request = DailyRequest {
            date: date.format("%Y-%m-%d").to_string(),
            services: infos,
        };
        let answer: std::result::Result<DailyReport, String> = match rt.instance(&h).await {
            Ok(instance) => instance
                .call(Call::Daily, &request, CallContext::default())
                .await
                .map_err(|e| {
                    if e.kind == ErrorKind::NotSupported {
                        String::new()
                    } else {
                        e.to_string()
                    }
                }),
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(report) => {
                run.status = "done".into();
                for action in report.actions {
                    run.actions
                        .push(apply(rt, &svcs, action, max_attempts).await?);
                }
            }
            Err(e) if e.is_empty() => run.status = "not_supported".into(),
            Err(e) => {
                run.status = "failed".into();
                run.error = Some(e);
            }
        }
        runs.push(run);
    }
    rt.log.flush().await;
    Ok(runs)
}

async fn apply(
    rt: &Runtime,
    svcs: &[service::Model],
    action: provisor_module_api::DailyAction,
    max_attempts: i32,
) -> Result<ActionRun> {
    let mut out = ActionRun {
        service_id: action.service_id,
        event: action.event,
        message: action.message,
        queued_operation: None,
        note: None,
    };
    let Some(id) = action.service_id else {
        return Ok(out);
    };
    // A module may only speak for the services it was shown.
    let Some(svc) = svcs.iter().find(|s| s.id == id) else {
        out.note = Some(Message::new(format!(
            "service #{id} is not one of this handler's live services; ignored"
        )));
        return Ok(out);
    };
    if !action.attributes.is_empty() {
        merge_attributes(rt, svc, action.attributes).await?;
    }
    if let Some(kind) = action.request {
        let queued = match super::requested_kind(&kind) {
            Ok(kind) => super::request(rt, id, kind, Value::Null, max_attempts).await,
            Err(e) => Err(e),
        };
        match queued {
            Ok(op) => out.queued_operation = Some(op.id),
            Err(why) if why.kind() == provisor_store::ErrorKind::Invalid => {
                out.note = Some(why.into_message());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

async fn merge_attributes(
    rt: &Runtime,
    svc: &service::Model,
    extra: Map<String, Value>,
) -> Result<()> {
    let db = rt.store.db();
    // Re-read: an operation may have changed the service since the list was taken.
    let current = service::Entity::find_by_id(svc.id)
        .one(db)
        .await
        .map_err(db_err("reading the service"))?
        .ok_or_else(|| Error::NotFound(format!("service #{}", svc.id)))?;
    let mut attrs: Map<String, Value> =
        serde_json::from_str(&current.attributes).unwrap_or_default();
    attrs.extend(extra);
    service::ActiveModel {
        id: Set(current.id),
        attributes: Set(Value::Object(attrs).to_string()),
        updated_at: Set(rt.clock.now()),
        ..Default::default()
    }
    .update(db)
    .await
    .map_err(db_err("updating the service's attributes"))?;
    Ok(())
}
