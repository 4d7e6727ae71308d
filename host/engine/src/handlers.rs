//! Handlers: a module plus its connection settings, an enabled flag, the department
//! that takes its manual tasks, a label (e.g. the data centre) and a limit of
//! simultaneous operations.
//!
//! Owns: validating settings against the module's schema before anything is stored,
//! sealing the secret ones (`writeOnly` in the schema) with the store's key so the
//! database never holds them in plain text, and never showing secrets. A disabled handler takes no new services, but its
//! existing services still suspend, resume, terminate, meter and sync: `enabled` is
//! read by order routing only.

use chrono::{DateTime, Utc};
use provisor_module_api::{Capability, ConnectionInfo};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::Value;

use provisor_runtime::registry::Registry;
use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::entities::handler;
use provisor_store::error::{Error, Fix, Listing, Message, Name, Result};
use provisor_store::schema;
use provisor_store::{db_err, Store};

/// What `handlers add` needs.
#[derive(Debug, Clone)]
pub struct NewHandler {
    /// The handler's name (unique).
    pub name: String,
    /// The module it uses.
    pub module: String,
    /// Its settings, checked against the module's schema (secrets in clear here).
    pub settings: Value,
    /// The department its tasks go to; `None`: `support`.
    pub department: Option<String>,
    /// A free label for staff, e.g. the data centre.
    pub label: Option<String>,
    /// The operations it may have queued or running before routing prefers another.
    pub max_concurrent: Option<i32>,
    /// Whether it takes new services.
    pub enabled: bool,
}

/// A handler as shown to admins: secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerView {
    /// The handler's name.
    pub name: String,
    /// The module it uses.
    pub module: String,
    /// Whether it takes new services.
    pub enabled: bool,
    /// The department its tasks go to; `None`: `support`.
    pub department: Option<String>,
    /// Its label, if any.
    pub label: Option<String>,
    /// Its limit of operations queued or running, if any.
    pub max_concurrent: Option<i32>,
    /// Its settings with every secret shown as `[redacted]`.
    pub settings: Value,
    /// When its connection was last tested (RFC 3339); `None`: never.
    pub last_check_at: Option<String>,
    /// Whether that test passed.
    pub last_check_ok: Option<bool>,
    /// What that test said.
    pub last_check_message: Option<String>,
    /// Calls abandoned past the call limit whose threads are still in the module (as
    /// last recorded by the process that made them).
    pub stuck_calls: i32,
}

/// Checks a handler name: 1-64 letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "handler name {:?} is not valid: use 1-64 letters, digits, '-', '_' or '.'",
            provisor_store::input::preview(name)
        )))
    }
}

/// Adds a handler after validating its settings against the module's schema.
pub async fn add(
    store: &Store,
    registry: &Registry,
    new: NewHandler,
    now: DateTime<Utc>,
) -> Result<HandlerView> {
    check_name(&new.name)?;
    if let Some(label) = &new.label {
        provisor_store::input::check_line(
            Name::Field("label"),
            label,
            provisor_store::input::NAME_MAX,
        )?;
    }
    let module = registry.get(&new.module).ok_or_else(|| {
        let loaded: Vec<String> = registry
            .loaded()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        Error::invalid(
            Message::new(format!(
                "module {} is not loaded (loaded: {}); ",
                new.module,
                if loaded.is_empty() {
                    "none".to_string()
                } else {
                    loaded.join(", ")
                }
            ))
            .fix(Fix::InstallModule {
                module: new.module.clone(),
            }),
        )
    })?;
    if !new.settings.is_object() {
        return Err(Error::Invalid(
            "handler settings must be a JSON object".to_string(),
        ));
    }
    schema::validate(
        &module.manifest.settings_schema,
        &new.settings,
        &format!("the settings for handler {}", new.name),
    )?;
    if let Some(n) = new.max_concurrent {
        if n < 1 {
            return Err(Error::invalid(Message::about(
                "max_concurrent",
                format!("must be at least 1, not {n}"),
            )));
        }
    }
    if let Some(d) = &new.department {
        crate::departments::require_department(store, d).await?;
    }
    if find(store, &new.name).await?.is_some() {
        return Err(Error::Invalid(format!(
            "a handler named {} already exists; pick another name",
            new.name
        )));
    }
    let mut stored = new.settings.clone();
    let secret_paths = schema::secret_paths(&module.manifest.settings_schema);
    if secret_paths
        .iter()
        .any(|p| stored.pointer(p).is_some_and(|v| !v.is_null()))
    {
        let ring = store.secrets().ok_or_else(|| {
            Error::Invalid(format!(
                "handler {}: its settings hold secrets, and this process has no secret key to seal them with; run it through the `provisor` command",
                new.name
            ))
        })?;
        provisor_store::secrets::seal_settings(ring, &new.name, &mut stored, &secret_paths)?;
    }
    let row = handler::ActiveModel {
        name: Set(new.name.clone()),
        module: Set(new.module.clone()),
        settings: Set(stored.to_string()),
        enabled: Set(new.enabled),
        department: Set(new.department.clone()),
        label: Set(new.label.clone()),
        max_concurrent: Set(new.max_concurrent),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(store.db())
    .await
    .map_err(db_err("storing the handler"))?;
    Ok(view(&row, registry))
}

/// The handler called `name`, if any.
pub async fn find(store: &Store, name: &str) -> Result<Option<handler::Model>> {
    handler::Entity::find()
        .filter(handler::Column::Name.eq(name))
        .one(store.db())
        .await
        .map_err(db_err("reading handlers"))
}

/// The handler called `name`, or a not-found error that says how to list them.
pub async fn get(store: &Store, name: &str) -> Result<handler::Model> {
    find(store, name)
        .await?
        .ok_or_else(|| Error::not_found_in(format!("no handler named {name}"), Listing::Handlers))
}

/// Every handler, by name.
pub async fn list(store: &Store) -> Result<Vec<handler::Model>> {
    handler::Entity::find()
        .order_by_asc(handler::Column::Name)
        .all(store.db())
        .await
        .map_err(db_err("reading handlers"))
}

/// A handler as admins see it; without the module loaded, every setting is hidden.
pub fn view(h: &handler::Model, registry: &Registry) -> HandlerView {
    let settings: Value = serde_json::from_str(&h.settings).unwrap_or(Value::Null);
    let shown = match registry.get(&h.module) {
        Some(m) => schema::redact_settings(&settings, &m.manifest.settings_schema),
        None => match settings {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, _)| (k, Value::String("[hidden: module not loaded]".to_string())))
                    .collect(),
            ),
            _ => Value::Null,
        },
    };
    HandlerView {
        name: h.name.clone(),
        module: h.module.clone(),
        enabled: h.enabled,
        department: h.department.clone(),
        label: h.label.clone(),
        max_concurrent: h.max_concurrent,
        settings: shown,
        last_check_at: h.last_check_at.map(|t| t.to_rfc3339()),
        last_check_ok: h.last_check_ok,
        last_check_message: h.last_check_message.clone(),
        stuck_calls: h.stuck_calls,
    }
}

/// Sets every handler's recorded stuck calls to zero (a daemon starting: the threads
/// of an earlier process are gone).
pub async fn reset_stuck_calls(store: &Store) -> Result<()> {
    let _turn = store.write_turn().await;
    handler::Entity::update_many()
        .col_expr(
            handler::Column::StuckCalls,
            sea_orm::sea_query::Expr::value(0),
        )
        .filter(handler::Column::StuckCalls.ne(0))
        .exec(store.db())
        .await
        .map_err(db_err("resetting the handlers' stuck calls"))?;
    Ok(())
}

/// Enables or disables a handler. Returns whether anything changed.
pub async fn set_enabled(
    store: &Store,
    name: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    let h = get(store, name).await?;
    if h.enabled == enabled {
        return Ok(false);
    }
    let mut active: handler::ActiveModel = h.into();
    active.enabled = Set(enabled);
    active.updated_at = Set(now);
    active
        .update(store.db())
        .await
        .map_err(db_err("updating the handler"))?;
    Ok(true)
}

/// Runs the module's `test_connection` for a handler and records the result.
pub async fn test(runtime: &Runtime, name: &str) -> Result<ConnectionInfo> {
    let h = get(&runtime.store, name).await?;
    let instance = runtime.instance(&h).await?;
    if !instance.module.supports(Capability::TestConnection) {
        return Err(Error::Invalid(format!(
            "module {} {} does not support test_connection",
            instance.module.name(),
            instance.module.manifest.version
        )));
    }
    let result: std::result::Result<ConnectionInfo, _> = instance
        .call(
            Call::TestConnection,
            &serde_json::json!({}),
            CallContext::default(),
        )
        .await;
    let (ok, message) = match &result {
        Ok(info) => (true, info.message.clone()),
        Err(e) => (false, e.to_string()),
    };
    record_check(&runtime.store, &h, ok, &message, runtime.clock.now()).await?;
    result.map_err(|source| Error::Module {
        context: format!("handler {name}: test_connection"),
        source,
    })
}

/// Records a connection check's outcome on the handler.
pub async fn record_check(
    store: &Store,
    h: &handler::Model,
    ok: bool,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    handler::Entity::update_many()
        .col_expr(
            handler::Column::LastCheckAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(
            handler::Column::LastCheckOk,
            sea_orm::sea_query::Expr::value(ok),
        )
        .col_expr(
            handler::Column::LastCheckMessage,
            sea_orm::sea_query::Expr::value(message.to_string()),
        )
        .filter(handler::Column::Id.eq(h.id))
        .exec(store.db())
        .await
        .map_err(db_err("recording the connection check"))?;
    Ok(())
}
