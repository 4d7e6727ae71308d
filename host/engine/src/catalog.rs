//! The catalog: clients and tariff plans (departments are in `departments`).
//!
//! Owns: validating what admins put in (names, emails, currencies, plan settings
//! against the module's plan schema, every handler of a plan using the plan's module).
//! Must not: create services or operations; the engine does.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::departments::check_label;
pub use crate::departments::{add_department, departments, find_department, require_department};
use crate::handlers;
use provisor_runtime::registry::Registry;
use provisor_store::entities::{client, handler, plan, plan_handler};
use provisor_store::error::{Error, Fix, Message, Name, Result};
use provisor_store::input;
pub use provisor_store::lookup::{find_client_by_email, get_client, get_plan};
use provisor_store::schema;
use provisor_store::{db_err, Store};

/// Adds a client. The email is stored lowercased and must be new (compared without
/// regard to case); once billing has currencies, the client's must be one of them.
pub async fn add_client(
    store: &Store,
    name: &str,
    email: &str,
    currency: &str,
    country: &str,
    now: DateTime<Utc>,
) -> Result<client::Model> {
    input::check_line("the client name", name, input::NAME_MAX)?;
    if name.trim().is_empty() {
        return Err(Error::Invalid("a client needs a name".to_string()));
    }
    let email = input::email(Name::Field("email"), email)?;
    let currency = currency.to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::Invalid(format!(
            "currency {:?} is not a 3-letter ISO 4217 code (like EUR)",
            input::preview(&currency)
        )));
    }
    let codes = provisor_store::lookup::currency_codes(store).await?;
    if !codes.is_empty() && !codes.contains(&currency) {
        return Err(Error::invalid(
            Message::new(format!(
                "currency {currency} is not set up (set up: {}); ",
                codes.join(", ")
            ))
            .fix(Fix::AddCurrency { code: currency }),
        ));
    }
    // Empty: not known (an imported account whose panel does not say); no tax applies.
    let country = country.trim().to_ascii_uppercase();
    if !country.is_empty()
        && (country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(Error::Invalid(format!(
            "country {:?} is not a 2-letter ISO 3166 code (like NL; empty when not known)",
            input::preview(&country)
        )));
    }
    if let Some(other) = find_client_by_email(store, &email).await? {
        return Err(Error::Invalid(format!(
            "a client with email {email} already exists (#{}); emails are compared without regard to case",
            other.id
        )));
    }
    client::ActiveModel {
        name: Set(name.trim().to_string()),
        email: Set(email),
        currency: Set(currency),
        country: Set(country),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(store.db())
    .await
    .map_err(db_err("storing the client"))
}

/// Clients in id order whose name or email contains `search` (any case), `limit` from
/// `offset` on.
pub async fn clients_page(
    store: &Store,
    search: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<client::Model>> {
    use sea_orm::sea_query::LikeExpr;
    use sea_orm::{Condition, QuerySelect};
    let mut q = client::Entity::find().order_by_asc(client::Column::Id);
    if let Some(text) = search {
        provisor_store::input::check_line(
            Name::Field("search"),
            text,
            provisor_store::input::EMAIL_MAX,
        )?;
        if text.trim().is_empty() {
            return Err(Error::invalid(Message::about(
                "search",
                "is empty: give part of a client's name or email",
            )));
        }
        // LIKE with its wildcards escaped, on lower case: SQLite and PostgreSQL alike.
        let mut pattern = String::from("%");
        for ch in text.trim().to_lowercase().chars() {
            if matches!(ch, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(ch);
        }
        pattern.push('%');
        let like = |col: client::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        q = q.filter(
            Condition::any()
                .add(like(client::Column::Name))
                .add(like(client::Column::Email)),
        );
    }
    q.offset(offset)
        .limit(limit)
        .all(store.db())
        .await
        .map_err(db_err("reading clients"))
}

/// Every client.
pub async fn clients(store: &Store) -> Result<Vec<client::Model>> {
    client::Entity::find()
        .order_by_asc(client::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading clients"))
}

/// What `plans add` needs.
#[derive(Debug, Clone)]
pub struct NewPlan {
    /// The plan's name (unique).
    pub name: String,
    /// The names of its handlers, in order of preference; all of one module.
    pub handlers: Vec<String>,
    /// The remote account template, if the plan names one.
    pub template: Option<String>,
    /// The resources passed to the module.
    pub resources: Map<String, Value>,
    /// Plan settings, checked against the module's plan schema.
    pub settings: Value,
    /// Configurable options: `{name: {value: {resource: amount}}}`.
    pub options: Map<String, Value>,
    /// Whether it is an addon, ordered for an existing service.
    pub is_addon: bool,
}

/// A plan as shown to admins.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// The plan's row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The module its handlers use.
    pub module: String,
    /// The names of its handlers, in order of preference.
    pub handlers: Vec<String>,
    /// The remote account template, if any.
    pub template: Option<String>,
    /// The resources passed to the module (a JSON object).
    pub resources: Value,
    /// Plan settings (a JSON object).
    pub settings: Value,
    /// Configurable options (a JSON object).
    pub options: Value,
    /// Whether it is an addon.
    pub is_addon: bool,
}

/// Adds a plan: every handler must exist and use one module, and the settings must
/// match that module's plan schema.
pub async fn add_plan(
    store: &Store,
    registry: &Registry,
    new: NewPlan,
    now: DateTime<Utc>,
) -> Result<PlanView> {
    let (rows, module) = check_new_plan(store, registry, &new).await?;
    let tx = store.db().begin().await.map_err(db_err("adding a plan"))?;
    let row = insert_plan(&tx, &new, &rows, &module, now).await?;
    tx.commit().await.map_err(db_err("adding a plan"))?;
    view_plan(store, &row).await
}

/// Everything [`add_plan`] checks before it writes: the name, the handlers (one
/// module, loaded), the settings against the module's plan schema, the options' shape,
/// a name not taken. Answers the handlers and their module.
async fn check_new_plan(
    store: &Store,
    registry: &Registry,
    new: &NewPlan,
) -> Result<(Vec<handler::Model>, String)> {
    check_label("plan", &new.name)?;
    if let Some(t) = &new.template {
        input::check_line(Name::Field("template"), t, input::NAME_MAX)?;
    }
    if new.handlers.is_empty() {
        return Err(Error::invalid(
            Message::new(format!("plan {} needs at least one handler (", new.name))
                .field("handler")
                .text(" NAME)"),
        ));
    }
    let mut rows = Vec::new();
    for name in &new.handlers {
        // An unknown handler is not found (exit 3).
        rows.push(handlers::get(store, name).await?);
    }
    let module = rows[0].module.clone();
    if let Some(other) = rows.iter().find(|h| h.module != module) {
        return Err(Error::Invalid(format!(
            "plan {}: handler {} uses module {}, but {} uses {}; a plan's handlers must all use one module",
            new.name, other.name, other.module, rows[0].name, module
        )));
    }
    let loaded = registry.get(&module).ok_or_else(|| {
        Error::Invalid(format!(
            "module {module} is not loaded; install it before adding plans for it"
        ))
    })?;
    schema::validate(
        &loaded.manifest.plan_schema,
        &new.settings,
        &format!("the settings for plan {}", new.name),
    )?;
    for (name, values) in &new.options {
        let ok = values
            .as_object()
            .is_some_and(|v| !v.is_empty() && v.values().all(Value::is_object));
        if !ok {
            return Err(Error::Invalid(format!(
                "option {name} must map each choice to the resources it sets, like {{\"8\": {{\"ram_gb\": 8}}}}"
            )));
        }
    }
    if plan_named(store.db(), &new.name).await?.is_some() {
        return Err(Error::Invalid(format!(
            "a plan named {} already exists",
            new.name
        )));
    }
    Ok((rows, module))
}

async fn plan_named<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<plan::Model>> {
    plan::Entity::find()
        .filter(plan::Column::Name.eq(name))
        .one(db)
        .await
        .map_err(db_err("reading plans"))
}

/// Writes a checked plan and its handlers in `tx`.
async fn insert_plan<C: ConnectionTrait>(
    tx: &C,
    new: &NewPlan,
    rows: &[handler::Model],
    module: &str,
    now: DateTime<Utc>,
) -> Result<plan::Model> {
    let row = plan::ActiveModel {
        name: Set(new.name.clone()),
        module: Set(module.to_string()),
        template: Set(new.template.clone()),
        resources: Set(Value::Object(new.resources.clone()).to_string()),
        settings: Set(new.settings.to_string()),
        options: Set(Value::Object(new.options.clone()).to_string()),
        is_addon: Set(new.is_addon),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(db_err("storing the plan"))?;
    for (i, h) in rows.iter().enumerate() {
        plan_handler::ActiveModel {
            plan_id: Set(row.id),
            handler_id: Set(h.id),
            priority: Set(i as i32),
        }
        .insert(tx)
        .await
        .map_err(db_err("storing the plan's handlers"))?;
    }
    Ok(row)
}

/// A module's plan preset as offered for one handler.
#[derive(Debug, Clone, Serialize)]
pub struct PresetView {
    /// The name the plan gets.
    pub name: String,
    /// The module's description of it.
    pub description: String,
    /// Whether it is an addon plan.
    pub addon: bool,
    /// The price the module suggests, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_price: Option<provisor_module_api::ListPrice>,
    /// `offered` (no plan of that name), `exists` (created before, or a plan of the
    /// hoster's with that name: left as it is) or `created` (just now).
    pub status: &'static str,
}

/// The plan presets `handler`'s module offers (`Module::presets`), each marked
/// `exists` when a plan of that name is in the catalog.
pub async fn presets(
    store: &Store,
    registry: &Registry,
    handler: &str,
) -> Result<Vec<(provisor_module_api::PlanPreset, PresetView)>> {
    let h = handlers::get(store, handler).await?;
    let loaded = registry.get(&h.module).ok_or_else(|| {
        Error::Invalid(format!(
            "module {} is not loaded; install it to see its plan presets",
            h.module
        ))
    })?;
    let offered = loaded.presets().map_err(|e| {
        Error::Invalid(format!(
            "module {} {}: {e}; its plan presets cannot be used (ask its author)",
            h.module, loaded.manifest.version
        ))
    })?;
    let mut out = Vec::new();
    for p in offered {
        let exists = plan_named(store.db(), &p.name).await?.is_some();
        let view = PresetView {
            name: p.name.clone(),
            description: p.description.clone(),
            addon: p.addon,
            list_price: p.list_price.clone(),
            status: if exists { "exists" } else { "offered" },
        };
        out.push((p, view));
    }
    Ok(out)
}

/// Creates `handler`'s module's presets that are not in the catalog yet (all, or those
/// named in `only`), as plans served by `handler`, in one transaction after every one
/// was checked like `plans add`. A preset whose name is taken is left alone, so this
/// creates each preset once however often it runs. No price is set.
pub async fn create_presets(
    store: &Store,
    registry: &Registry,
    handler: &str,
    only: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<PresetView>> {
    let all = presets(store, registry, handler).await?;
    if let Some(unknown) = only
        .iter()
        .find(|n| !all.iter().any(|(p, _)| &p.name == *n))
    {
        let names: Vec<&str> = all.iter().map(|(p, _)| p.name.as_str()).collect();
        return Err(Error::NotFound(format!(
            "handler {handler}'s module offers no preset named {unknown:?} (presets: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let mut views = Vec::new();
    let mut todo = Vec::new();
    for (p, mut view) in all {
        if !only.is_empty() && !only.contains(&p.name) {
            continue;
        }
        if view.status == "offered" {
            let new = NewPlan {
                name: p.name.clone(),
                handlers: vec![handler.to_string()],
                template: None,
                resources: p.resources.clone(),
                settings: p.settings.clone(),
                options: p.options.clone(),
                is_addon: p.addon,
            };
            let checked = check_new_plan(store, registry, &new).await.map_err(|e| {
                Error::Invalid(format!(
                    "preset {}: {e}; nothing was created (the module's preset is wrong: ask its author)",
                    p.name
                ))
            })?;
            todo.push((new, checked));
            view.status = "created";
        }
        views.push(view);
    }
    if !todo.is_empty() {
        let tx = store
            .db()
            .begin()
            .await
            .map_err(db_err("creating presets"))?;
        for (new, (rows, module)) in &todo {
            insert_plan(&tx, new, rows, module, now).await?;
        }
        tx.commit().await.map_err(db_err("creating presets"))?;
    }
    Ok(views)
}

/// Every plan.
pub async fn plans(store: &Store) -> Result<Vec<plan::Model>> {
    plan::Entity::find()
        .order_by_asc(plan::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading plans"))
}

/// The plan's handlers in order of preference.
pub async fn plan_handlers(store: &Store, plan_id: i64) -> Result<Vec<handler::Model>> {
    let links = plan_handler::Entity::find()
        .filter(plan_handler::Column::PlanId.eq(plan_id))
        .order_by_asc(plan_handler::Column::Priority)
        .all(store.db())
        .await
        .map_err(db_err("reading a plan's handlers"))?;
    let ids: Vec<i64> = links.iter().map(|l| l.handler_id).collect();
    let mut rows = handler::Entity::find()
        .filter(handler::Column::Id.is_in(ids.clone()))
        .all(store.db())
        .await
        .map_err(db_err("reading handlers"))?;
    rows.sort_by_key(|h| ids.iter().position(|id| *id == h.id));
    Ok(rows)
}

/// A plan as shown to admins.
pub async fn view_plan(store: &Store, p: &plan::Model) -> Result<PlanView> {
    let handlers = plan_handlers(store, p.id)
        .await?
        .into_iter()
        .map(|h| h.name)
        .collect();
    Ok(plan_view(p, handlers))
}

/// The view of `p`, whose handlers are called `handlers` (in order of preference).
pub(crate) fn plan_view(p: &plan::Model, handlers: Vec<String>) -> PlanView {
    PlanView {
        id: p.id,
        name: p.name.clone(),
        module: p.module.clone(),
        handlers,
        template: p.template.clone(),
        resources: serde_json::from_str(&p.resources).unwrap_or(Value::Null),
        settings: serde_json::from_str(&p.settings).unwrap_or(Value::Null),
        options: serde_json::from_str(&p.options).unwrap_or(Value::Null),
        is_addon: p.is_addon,
    }
}

/// Refuses an order that leaves out a configurable option the plan cannot do without:
/// one whose every choice sets a resource the plan's own resources do not give (a
/// `server` option whose choices set `ip`, a `ram` option over a plan without
/// `ram_gb`). An option with a choice that adds nothing new has a natural default and
/// may be left out.
pub fn check_required_options(p: &plan::Model, chosen: &Map<String, Value>) -> Result<()> {
    let resources: Map<String, Value> = serde_json::from_str(&p.resources).unwrap_or_default();
    let options: Map<String, Value> = serde_json::from_str(&p.options).unwrap_or_default();
    for (name, choices) in &options {
        if chosen.contains_key(name) {
            continue;
        }
        let Some(choices) = choices.as_object().filter(|c| !c.is_empty()) else {
            continue;
        };
        let lacking = |set: &Value| -> Vec<String> {
            set.as_object()
                .map(|m| {
                    m.keys()
                        .filter(|k| !resources.contains_key(*k))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        if choices.values().all(|set| !lacking(set).is_empty()) {
            let mut sets: Vec<String> = choices.values().flat_map(lacking).collect();
            sets.sort();
            sets.dedup();
            let names: Vec<&str> = choices.keys().map(String::as_str).collect();
            return Err(Error::invalid(
                Message::new(format!(
                    "plan {} needs option {name} chosen: its choices set {}, which the plan does not give otherwise; order with ",
                    p.name,
                    sets.join(", "),
                ))
                .field("option")
                .text(format!(" {name}=CHOICE (one of {})", names.join(", "))),
            ));
        }
    }
    Ok(())
}

/// The resources for a plan with the chosen options applied. A name the plan has no
/// option for is an **order field** (a value the module asks for at order time, such
/// as a license's `ip`), taken as given; [`check_order_values`] decides at order time
/// which names are allowed. An unknown choice of a plan option is refused with the
/// valid ones.
pub fn resources_with_options(
    p: &plan::Model,
    chosen: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut resources: Map<String, Value> = serde_json::from_str(&p.resources).unwrap_or_default();
    let options: Map<String, Value> = serde_json::from_str(&p.options).unwrap_or_default();
    for (name, choice) in chosen {
        let Some(choices) = options.get(name).and_then(Value::as_object) else {
            resources.insert(name.clone(), choice.clone());
            continue;
        };
        let key = match choice {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some(set) = choices.get(&key).and_then(Value::as_object) else {
            let known: Vec<&String> = choices.keys().collect();
            return Err(Error::Invalid(format!(
                "option {name} of plan {} has no choice {key} (choices: {known:?})",
                p.name
            )));
        };
        for (k, v) in set {
            resources.insert(k.clone(), v.clone());
        }
    }
    Ok(resources)
}

/// Refuses an order value that is neither one of the plan's options nor one of the
/// module's order fields (`order_fields`: the properties of its order schema). Order
/// field values are bounded text without control characters.
pub fn check_order_values(
    p: &plan::Model,
    chosen: &Map<String, Value>,
    module: &str,
    order_fields: &[String],
) -> Result<()> {
    let options: Map<String, Value> = serde_json::from_str(&p.options).unwrap_or_default();
    for (name, value) in chosen {
        if options.contains_key(name) {
            continue;
        }
        if !order_fields.contains(name) {
            let known: Vec<&String> = options.keys().collect();
            let fields = if order_fields.is_empty() {
                format!("module {module} asks for no order fields")
            } else {
                format!(
                    "module {module}'s order fields: {}",
                    order_fields.join(", ")
                )
            };
            return Err(Error::Invalid(format!(
                "plan {} has no option {name} (options: {known:?}; {fields})",
                p.name
            )));
        }
        if let Some(text) = value.as_str() {
            input::check_line(Name::Entry("option", name), text, input::NAME_MAX)?;
        }
    }
    Ok(())
}
