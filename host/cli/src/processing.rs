//! CLI commands for service processing: departments, clients, plans, services,
//! operations, tasks, the outbox, and `work`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{output, Ctx, JsonFlag};
use provisor_engine::catalog::{self, NewPlan};
use provisor_engine::{self as engine, tasks, EngineConfig, Worker};
use provisor_runtime::Call;
use provisor_store::db_err;
use provisor_store::entities::{client, operation, operation_attempt, outbox, plan, service, task};
use provisor_store::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum DepartmentsCmd {
    /// Adds a department (it takes the manual tasks of the handlers that name it).
    Add {
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Every department with its open tasks.
    List(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// Adds a client.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "EUR")]
        currency: String,
        #[arg(long, default_value = "NL")]
        country: String,
    },
    /// Clients in id order, a page at a time.
    List {
        /// Only clients whose name or email contains this text (any case).
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One client (by id or email) with its services.
    Show {
        client: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlansCmd {
    /// Adds a tariff plan processed by one or more handlers (in order of preference).
    Add {
        name: String,
        /// A handler that processes the plan; repeat for several.
        #[arg(long = "handler", required = true)]
        handlers: Vec<String>,
        /// The remote account template (package, user group, pricelist).
        #[arg(long)]
        template: Option<String>,
        /// Resources passed to the module, as a JSON object (or @FILE).
        #[arg(long)]
        resources: Option<String>,
        /// Plan settings for the module, as a JSON object (or @FILE).
        #[arg(long)]
        settings: Option<String>,
        /// Configurable options: {"ram": {"4": {"ram_gb": 4}, "8": {"ram_gb": 8}}} (or @FILE).
        #[arg(long)]
        options: Option<String>,
        /// The plan is an addon, ordered for an existing service.
        #[arg(long)]
        addon: bool,
    },
    /// Every plan.
    List(JsonFlag),
    /// One plan.
    Show {
        plan: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The tariff plans a handler's module offers to create (ISPsystem's price lists,
    /// say); with --create, creates those not in the catalog yet, as plans served by
    /// the handler (no prices: those are yours).
    Presets {
        handler: String,
        /// Create them (each once; a plan of the same name is left alone).
        #[arg(long)]
        create: bool,
        /// Only this preset (repeat for several); default all.
        #[arg(long = "only", requires = "create")]
        only: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServicesCmd {
    /// Orders a plan for a client: the service and its create operation are written
    /// at once; workers do the rest.
    Order {
        #[arg(long)]
        client: String,
        #[arg(long)]
        plan: String,
        /// Order an addon plan for this service.
        #[arg(long)]
        addon_of: Option<i64>,
        /// A configurable option, NAME=CHOICE (or a module's order field, NAME=VALUE);
        /// repeat for several.
        #[arg(long = "option")]
        options: Vec<String>,
        /// The day the order was taken, YYYY-MM-DD (default today): a priced plan's
        /// invoice is issued then.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Services, newest first, a page at a time.
    List {
        /// pending, provisioning, active, suspended, terminated, failed or manual.
        #[arg(long)]
        status: Option<String>,
        /// A client's id or email.
        #[arg(long)]
        client: Option<String>,
        /// A handler's name.
        #[arg(long)]
        handler: Option<String>,
        /// A plan's id or name.
        #[arg(long)]
        plan: Option<String>,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One service with its operations and tasks.
    Show {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Queues a suspend.
    Suspend { id: i64 },
    /// Queues an unsuspend.
    Unsuspend { id: i64 },
    /// Queues a terminate.
    Terminate { id: i64 },
    /// Queues a move to another plan of the same module.
    ChangePlan {
        id: i64,
        #[arg(long)]
        plan: String,
    },
    /// Queues a renewal.
    Renew { id: i64 },
    /// The module's custom admin actions for the service (`services action` runs one).
    Actions {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Queues one of the module's admin actions (e.g. ComputeStacks' delete_account).
    Action {
        id: i64,
        /// The action's name, as `services actions ID` lists it.
        name: String,
        /// A form value, KEY=VALUE; repeat for several.
        #[arg(long)]
        set: Vec<String>,
        /// Confirms an action that asks for confirmation (destructive ones).
        #[arg(long)]
        yes: bool,
    },
    /// Mints a single-sign-on link now (for the client, or an admin).
    Sso {
        id: i64,
        #[arg(long)]
        admin: bool,
    },
    /// Metered usage for a period, read from the module now (nothing is billed).
    Usage {
        id: i64,
        /// First day of the period, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// First day after the period, YYYY-MM-DD.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The client-area panel the module draws for the service.
    ClientArea {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpsCmd {
    /// Current operations: state, attempts, next try, and the error of those failing,
    /// waiting or manual (cut to the terminal's width; `ops show` has it in full).
    List {
        /// queued, running, manual, done, cancelled, waiting (queued for a later try
        /// after a failure), or `all` (default: not finished).
        #[arg(long)]
        status: Option<String>,
        /// Only this service's operations.
        #[arg(long)]
        service: Option<i64>,
        /// Only operations through this handler.
        #[arg(long)]
        handler: Option<String>,
        /// create, suspend, unsuspend, terminate, change_plan, renew or action.
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One operation with every attempt, numbered 1, 2, 3… across retries.
    Show {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Retries an operation now: a manual one with a fresh set of attempts, a queued
    /// one waiting for its next try at once.
    Retry { id: i64 },
    /// Cancels a queued or manual operation.
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum TasksCmd {
    /// Open and taken tasks, a page at a time.
    List {
        #[arg(long)]
        department: Option<String>,
        /// Include done, returned and cancelled tasks.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One task: its reason, its form, its operation and service.
    Show {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Takes a task.
    Take {
        id: i64,
        #[arg(long)]
        staff: String,
    },
    /// Completes a task with the values of its form (KEY=VALUE, repeat).
    Complete {
        id: i64,
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// Sends a task back for another automatic try.
    Retry { id: i64 },
}

fn parse_json_arg(text: Option<String>, what: &str) -> Result<Value> {
    let Some(text) = text else {
        return Ok(Value::Object(Map::new()));
    };
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(PathBuf::from(path))
            .map_err(|e| Error::Invalid(format!("cannot read {what} from {path}: {e}")))?,
        None => text,
    };
    Ok(Value::Object(provisor_store::schema::parse_object(
        &text, what,
    )?))
}

fn key_values(items: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for item in items {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "{what} {:?} must look like KEY=VALUE",
                provisor_store::input::preview(item)
            ))
        })?;
        if k.is_empty() {
            return Err(Error::Invalid(format!(
                "{what} {:?} has no key",
                provisor_store::input::preview(item)
            )));
        }
        provisor_store::input::check_line(
            &format!("{what} key"),
            k,
            provisor_store::input::NAME_MAX,
        )?;
        provisor_store::input::check_line(
            &format!("{what} {k}"),
            v,
            provisor_store::input::TEXT_MAX,
        )?;
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(out)
}

pub async fn departments(ctx: &Ctx, cmd: DepartmentsCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        DepartmentsCmd::Add { name, email } => {
            let d = catalog::add_department(&store, &name, email).await?;
            println!("department {} added", d.name);
        }
        DepartmentsCmd::List(flag) => {
            let mut rows = Vec::new();
            for d in catalog::departments(&store).await? {
                let open = tasks::list(&store, Some(&d.name), false).await?.len();
                rows.push(
                    serde_json::json!({"name": d.name, "email": d.email, "open_tasks": open}),
                );
            }
            if flag.json {
                output::json(&rows);
            } else {
                output::table(
                    &["NAME", "EMAIL", "OPEN TASKS"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                r["name"].as_str().unwrap_or("").to_string(),
                                r["email"].as_str().unwrap_or("-").to_string(),
                                r["open_tasks"].to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    Ok(())
}

pub async fn clients(ctx: &Ctx, cmd: ClientsCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        ClientsCmd::Add {
            name,
            email,
            currency,
            country,
        } => {
            let c = catalog::add_client(&store, &name, &email, &currency, &country).await?;
            println!("client #{} added: {} <{}>", c.id, c.name, c.email);
        }
        ClientsCmd::List { search, page, json } => {
            let fetch = page.fetch()?;
            let mut rows =
                catalog::clients_page(&store, search.as_deref(), fetch, page.offset).await?;
            let more = page.trim(&mut rows);
            if json.json {
                output::json(&rows.iter().map(client_json).collect::<Vec<_>>());
            } else if rows.is_empty() {
                println!(
                    "no clients{}",
                    if search.is_some() || page.offset > 0 {
                        " match"
                    } else {
                        ""
                    }
                );
            } else {
                output::table(
                    &["ID", "NAME", "EMAIL", "CURRENCY", "COUNTRY"],
                    &rows
                        .iter()
                        .map(|c| {
                            vec![
                                c.id.to_string(),
                                c.name.clone(),
                                c.email.clone(),
                                c.currency.clone(),
                                c.country.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
                if more {
                    page.more_note(rows.len());
                }
            }
        }
        ClientsCmd::Show { client, json } => {
            let c = catalog::get_client(&store, &client).await?;
            let services = service::Entity::find()
                .filter(service::Column::ClientId.eq(c.id))
                .order_by_asc(service::Column::Id)
                .all(store.db())
                .await
                .map_err(db_err("reading services"))?;
            if json.json {
                let mut v = client_json(&c);
                v["services"] = services.iter().map(|s| serde_json::json!({"id": s.id, "status": s.status, "plan_id": s.plan_id})).collect();
                output::json(&v);
            } else {
                println!(
                    "client #{}: {} <{}>, {} / {}",
                    c.id,
                    provisor_store::input::shown(&c.name, provisor_store::input::NAME_MAX),
                    provisor_store::input::shown(&c.email, provisor_store::input::EMAIL_MAX),
                    c.currency,
                    c.country
                );
                for s in services {
                    println!("  service #{} {}", s.id, s.status);
                }
            }
        }
    }
    Ok(())
}

fn client_json(c: &client::Model) -> Value {
    serde_json::json!({"id": c.id, "name": c.name, "email": c.email, "currency": c.currency, "country": c.country})
}

pub async fn plans(ctx: &Ctx, cmd: PlansCmd) -> Result<()> {
    match cmd {
        PlansCmd::Add {
            name,
            handlers,
            template,
            resources,
            settings,
            options,
            addon,
        } => {
            let resources = parse_json_arg(resources, "--resources")?;
            let settings = parse_json_arg(settings, "--settings")?;
            let options = parse_json_arg(options, "--options")?;
            let rt = ctx.runtime().await?;
            let view = catalog::add_plan(
                &rt.store,
                &rt.registry,
                NewPlan {
                    name,
                    handlers,
                    template,
                    resources: resources.as_object().cloned().unwrap_or_default(),
                    settings,
                    options: options.as_object().cloned().unwrap_or_default(),
                    is_addon: addon,
                },
            )
            .await?;
            println!(
                "plan #{} {} added (module {}, handlers {})",
                view.id,
                view.name,
                view.module,
                view.handlers.join(", ")
            );
        }
        PlansCmd::List(flag) => {
            let store = ctx.store().await?;
            let mut views = Vec::new();
            for p in catalog::plans(&store).await? {
                views.push(catalog::view_plan(&store, &p).await?);
            }
            if flag.json {
                output::json(&views);
            } else {
                output::table(
                    &["ID", "NAME", "MODULE", "HANDLERS", "ADDON"],
                    &views
                        .iter()
                        .map(|v| {
                            vec![
                                v.id.to_string(),
                                v.name.clone(),
                                v.module.clone(),
                                v.handlers.join(","),
                                if v.is_addon { "yes" } else { "no" }.to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
        PlansCmd::Presets {
            handler,
            create,
            only,
            json,
        } => {
            let rt = ctx.runtime().await?;
            let views = if create {
                catalog::create_presets(&rt.store, &rt.registry, &handler, &only).await?
            } else {
                catalog::presets(&rt.store, &rt.registry, &handler)
                    .await?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            };
            if json.json {
                output::json(&views);
            } else if views.is_empty() {
                println!("handler {handler}'s module offers no plan presets");
            } else {
                output::table(
                    &["PRESET", "KIND", "LIST PRICE", "STATUS", "DESCRIPTION"],
                    &views
                        .iter()
                        .map(|v| {
                            vec![
                                v.name.clone(),
                                if v.addon { "addon" } else { "plan" }.to_string(),
                                v.list_price
                                    .as_ref()
                                    .map(|p| {
                                        let note = if p.note.is_empty() {
                                            String::new()
                                        } else {
                                            format!(" + {}", p.note)
                                        };
                                        let cur =
                                            p.currency.as_deref().unwrap_or("(default currency)");
                                        format!("{} {cur} {}{note}", p.amount, p.period)
                                    })
                                    .unwrap_or_else(|| "-".into()),
                                v.status.to_string(),
                                v.description.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
                let offered = views.iter().filter(|v| v.status == "offered").count();
                if offered > 0 {
                    println!(
                        "{offered} not in the catalog yet: `provisor plans presets {handler} --create` creates them (list prices are shown, never set: add yours with `provisor plans price`)"
                    );
                }
            }
        }
        PlansCmd::Show { plan, json } => {
            let store = ctx.store().await?;
            let p = catalog::get_plan(&store, &plan).await?;
            let v = catalog::view_plan(&store, &p).await?;
            if json.json {
                output::json(&v);
            } else {
                println!(
                    "plan #{} {} (module {}{})",
                    v.id,
                    v.name,
                    v.module,
                    if v.is_addon { ", addon" } else { "" }
                );
                println!("handlers:  {}", v.handlers.join(", "));
                println!("template:  {}", output::opt(&v.template));
                println!("resources: {}", v.resources);
                println!("settings:  {}", v.settings);
                println!("options:   {}", v.options);
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ServiceView {
    id: i64,
    client_id: i64,
    client: String,
    plan: String,
    handler: String,
    parent_id: Option<i64>,
    status: String,
    remote_id: Option<String>,
    attributes: Value,
    options: Value,
    created_at: String,
}

async fn service_view(store: &provisor_store::Store, s: &service::Model) -> Result<ServiceView> {
    let client = client::Entity::find_by_id(s.client_id)
        .one(store.db())
        .await
        .map_err(db_err("reading clients"))?
        .map(|c| c.name)
        .unwrap_or_default();
    let plan = plan::Entity::find_by_id(s.plan_id)
        .one(store.db())
        .await
        .map_err(db_err("reading plans"))?
        .map(|p| p.name)
        .unwrap_or_default();
    let handler = provisor_store::entities::handler::Entity::find_by_id(s.handler_id)
        .one(store.db())
        .await
        .map_err(db_err("reading handlers"))?
        .map(|h| h.name)
        .unwrap_or_default();
    Ok(ServiceView {
        id: s.id,
        client_id: s.client_id,
        client,
        plan,
        handler,
        parent_id: s.parent_id,
        status: s.status.clone(),
        remote_id: s.remote_id.clone(),
        attributes: serde_json::from_str(&s.attributes).unwrap_or(Value::Null),
        options: serde_json::from_str(&s.options).unwrap_or(Value::Null),
        created_at: s.created_at.to_rfc3339(),
    })
}

pub async fn services(ctx: &Ctx, cmd: ServicesCmd) -> Result<()> {
    match cmd {
        ServicesCmd::Order {
            client,
            plan,
            addon_of,
            options,
            date,
            json,
        } => super::billing::order(ctx, client, plan, addon_of, options, date, json.json).await?,
        ServicesCmd::List {
            status,
            client,
            handler,
            plan,
            page,
            json,
        } => {
            let fetch = page.fetch()?;
            let store = ctx.store().await?;
            let filter = engine::listings::ServiceFilter {
                status,
                client,
                handler,
                plan,
            };
            let mut rows = engine::listings::services(&store, &filter, fetch, page.offset).await?;
            let more = page.trim(&mut rows);
            let mut views = Vec::new();
            for s in &rows {
                views.push(service_view(&store, s).await?);
            }
            if json.json {
                output::json(&views);
            } else if views.is_empty() {
                println!("no services");
            } else {
                output::table(
                    &["ID", "CLIENT", "PLAN", "HANDLER", "STATUS", "REMOTE ID"],
                    &views
                        .iter()
                        .map(|v| {
                            vec![
                                v.id.to_string(),
                                format!("#{} {}", v.client_id, v.client),
                                v.plan.clone(),
                                v.handler.clone(),
                                v.status.clone(),
                                output::opt(&v.remote_id),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
                if more {
                    page.more_note(views.len());
                }
            }
        }
        ServicesCmd::Show { id, json } => {
            let store = ctx.store().await?;
            let s = engine::get_service(&store, id).await?;
            let view = service_view(&store, &s).await?;
            let ops = operation::Entity::find()
                .filter(operation::Column::ServiceId.eq(id))
                .order_by_asc(operation::Column::Id)
                .all(store.db())
                .await
                .map_err(db_err("reading operations"))?;
            let tasks_of = task::Entity::find()
                .filter(task::Column::ServiceId.eq(id))
                .order_by_asc(task::Column::Id)
                .all(store.db())
                .await
                .map_err(db_err("reading tasks"))?;
            if json.json {
                let mut v = serde_json::to_value(&view).unwrap_or(Value::Null);
                v["operations"] = ops.iter().map(op_json).collect();
                v["tasks"] = tasks_of.iter().map(task_json).collect();
                output::json(&v);
            } else {
                println!(
                    "service #{} — {} — plan {} — handler {}",
                    view.id, view.status, view.plan, view.handler
                );
                println!(
                    "client #{} {}; remote id {}",
                    view.client_id,
                    output::cell(&view.client),
                    output::opt(&view.remote_id)
                );
                println!("attributes: {}", view.attributes);
                for o in &ops {
                    println!(
                        "  op #{} {} {} (attempts {}){}",
                        o.id,
                        o.kind,
                        o.status,
                        o.attempts,
                        engine::listings::current_error(o)
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
                // A closed task's reason is history (`tasks show` has it).
                for t in &tasks_of {
                    let reason = if matches!(t.status.as_str(), "open" | "taken") {
                        format!(" — {}", t.reason)
                    } else {
                        String::new()
                    };
                    println!("  task #{} [{}] {}{reason}", t.id, t.department, t.status);
                }
            }
        }
        ServicesCmd::Suspend { id } => queue_op(ctx, id, "suspend", Value::Null).await?,
        ServicesCmd::Unsuspend { id } => queue_op(ctx, id, "unsuspend", Value::Null).await?,
        ServicesCmd::Terminate { id } => queue_op(ctx, id, "terminate", Value::Null).await?,
        ServicesCmd::Renew { id } => queue_op(ctx, id, "renew", Value::Null).await?,
        ServicesCmd::Actions { id, json } => {
            let rt = ctx.runtime().await?;
            let actions: Result<Vec<provisor_module_api::AdminAction>> =
                engine::call_now(&rt, id, Call::AdminActions, Map::new()).await;
            rt.log.flush().await;
            let actions = actions?;
            if json.json {
                output::json(&actions);
            } else if actions.is_empty() {
                println!("service #{id}'s module offers no admin actions");
            } else {
                for a in &actions {
                    println!(
                        "{:<20} {}{}",
                        a.name,
                        a.label,
                        a.confirm
                            .as_deref()
                            .map(|c| format!(" (asks: {c})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        ServicesCmd::Action { id, name, set, yes } => {
            // The form values are read (and bounded) before anything is asked of the module.
            let mut params = key_values(&set, "--set")?;
            let rt = ctx.runtime().await?;
            let actions: Result<Vec<provisor_module_api::AdminAction>> =
                engine::call_now(&rt, id, Call::AdminActions, Map::new()).await;
            rt.log.flush().await;
            let actions = actions?;
            let Some(action) = actions.iter().find(|a| a.name == name) else {
                let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "service #{id}'s module has no admin action {name:?}; it offers: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )));
            };
            if let (Some(question), false) = (&action.confirm, yes) {
                return Err(Error::Invalid(format!(
                    "{name} asks for confirmation: {question} Add --yes to go ahead."
                )));
            }
            params.insert("action".into(), Value::String(name.clone()));
            let op = engine::request(&rt, id, "action", Value::Object(params)).await?;
            println!("{name} of service #{id} queued as operation #{}", op.id);
        }
        ServicesCmd::ChangePlan { id, plan } => {
            let store = ctx.store().await?;
            let p = catalog::get_plan(&store, &plan).await?;
            queue_op(ctx, id, "change_plan", serde_json::json!({"plan_id": p.id})).await?
        }
        ServicesCmd::Sso { id, admin } => {
            let rt = ctx.runtime().await?;
            let s = engine::get_service(&rt.store, id).await?;
            if matches!(
                s.status.as_str(),
                "pending" | "provisioning" | "terminated" | "failed"
            ) {
                return Err(Error::Invalid(format!(
                    "service #{id} is {}; single sign-on needs a provisioned service",
                    s.status
                )));
            }
            let audience = if admin { "admin" } else { "client" };
            let extra = serde_json::json!({"audience": audience});
            let link: Result<provisor_module_api::SsoLink> = engine::call_now(
                &rt,
                id,
                Call::Sso,
                extra.as_object().cloned().unwrap_or_default(),
            )
            .await;
            rt.log.flush().await;
            println!("{}", link?.url);
        }
        ServicesCmd::Usage { id, from, to, json } => {
            let start = parse_day("--from", &from)?;
            let end = parse_day("--to", &to)?;
            if end <= start {
                return Err(Error::Invalid(format!(
                    "--to {to} must be after --from {from} (the period ends the day after its last day)"
                )));
            }
            let rt = ctx.runtime().await?;
            let extra = serde_json::json!({"period_start": from, "period_end": to});
            let report: Result<provisor_module_api::UsageReport> = engine::call_now(
                &rt,
                id,
                Call::Usage,
                extra.as_object().cloned().unwrap_or_default(),
            )
            .await;
            rt.log.flush().await;
            let report = report?;
            if json.json {
                output::json(&report);
            } else if report.items.is_empty() {
                println!("no usage for service #{id} from {from} to {to}");
            } else {
                for item in &report.items {
                    println!(
                        "{:<24} {:>12} {:<8} {}",
                        item.description,
                        item.quantity,
                        item.unit,
                        item.amount.as_deref().unwrap_or("")
                    );
                }
            }
        }
        ServicesCmd::ClientArea { id, json } => {
            let rt = ctx.runtime().await?;
            let panel: Result<provisor_module_api::Panel> =
                engine::call_now(&rt, id, Call::ClientArea, Map::new()).await;
            rt.log.flush().await;
            let panel = panel?;
            if json.json {
                output::json(&panel);
            } else {
                println!("{}", panel.title);
                for r in &panel.rows {
                    println!("  {:<16} {}", r.label, r.value);
                }
                for l in &panel.links {
                    println!("  [{}] {}", l.label, l.url);
                }
            }
        }
    }
    Ok(())
}

/// `provisor cron`: the daily run for a date.
pub async fn cron(ctx: &Ctx, date: Option<String>, dry_run: bool, json: bool) -> Result<()> {
    let date = match date {
        Some(d) => parse_day("--date", &d)?,
        None => provisor_app::today(&provisor_store::clock::Clock::system())?,
    };
    let rt = ctx.runtime().await?;
    let day = provisor_app::daily::run(&rt, date, dry_run).await?;
    let (billing, runs) = (&day.billing, &day.handlers);
    if json {
        output::json(&serde_json::json!({
            "date": date.to_string(), "dry_run": dry_run, "billing": billing, "handlers": runs
        }));
    } else {
        let verb = if dry_run { "would bill" } else { "billed" };
        let failed = billing.iter().filter(|e| e.failed).count();
        let failed_note = if failed > 0 {
            format!(", {failed} FAILED")
        } else {
            String::new()
        };
        println!(
            "billing for {date}: {verb} {} item(s){failed_note}",
            billing.len() - failed
        );
        for e in billing {
            super::billing_run::print_event(e);
        }
        let verb = if dry_run { "would call" } else { "called" };
        println!("daily run for {date}: {verb} {} handler(s)", runs.len());
        for r in runs {
            let state = if r.enabled { "" } else { " (disabled)" };
            println!(
                "  {}{state} [{}]: {} service(s), {}{}",
                r.handler,
                r.module,
                r.services,
                r.status,
                r.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
            for a in &r.actions {
                let target = a
                    .service_id
                    .map(|id| format!("service #{id} "))
                    .unwrap_or_default();
                let effect = match (a.queued_operation, &a.note) {
                    (Some(op), _) => format!(" -> operation #{op} queued"),
                    (None, Some(n)) => format!(" ({n})"),
                    _ => String::new(),
                };
                println!("    {target}{}: {}{effect}", a.event, a.message);
            }
        }
    }
    let mut problems = Vec::new();
    if let Some(which) = day.usage_failures() {
        problems.push(format!(
            "usage could not be read for {which}, so nothing was billed for them"
        ));
    }
    let failed = day.failed_handlers();
    if !failed.is_empty() {
        problems.push(format!(
            "the modules' daily work failed for handler(s) {}",
            failed.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Module {
            context: format!("daily run for {date}"),
            source: provisor_module_api::ModuleError::permanent(format!(
                "{}: see the errors above and `provisor log --handler NAME`, fix the handler, then run `provisor cron --date {date}` again (safe: what was billed or queued is not repeated)",
                problems.join("; ")
            )),
        });
    }
    Ok(())
}

/// A `YYYY-MM-DD` argument, refused by name when it is not a real date.
pub(crate) fn parse_day(flag: &str, text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::Invalid(format!(
            "{flag} {text:?} is not a date: write YYYY-MM-DD (a day that exists, e.g. 2026-02-28)"
        ))
    })
}

async fn queue_op(ctx: &Ctx, id: i64, kind: &str, params: Value) -> Result<()> {
    let rt = ctx.runtime_without_modules().await?;
    let op = engine::request(&rt, id, kind, params).await?;
    println!("{kind} of service #{id} queued as operation #{}", op.id);
    Ok(())
}

fn op_json(o: &operation::Model) -> Value {
    serde_json::json!({
        "id": o.id, "service_id": o.service_id, "handler_id": o.handler_id, "kind": o.kind, "status": o.status,
        "operation_key": o.operation_key, "attempts": o.attempts, "max_attempts": o.max_attempts,
        "next_run_at": o.next_run_at.to_rfc3339(), "lease_owner": o.lease_owner,
        "error": engine::listings::current_error(o),
        "last_error": o.last_error, "last_error_kind": o.last_error_kind,
        "created_at": o.created_at.to_rfc3339(), "finished_at": o.finished_at.map(|t| t.to_rfc3339()),
    })
}

fn task_json(t: &task::Model) -> Value {
    serde_json::json!({
        "id": t.id, "operation_id": t.operation_id, "service_id": t.service_id, "department": t.department,
        "status": t.status, "reason": t.reason, "fields": serde_json::from_str::<Value>(&t.fields).unwrap_or(Value::Null),
        "taken_by": t.taken_by, "created_at": t.created_at.to_rfc3339(),
    })
}

pub async fn ops(ctx: &Ctx, cmd: OpsCmd) -> Result<()> {
    match cmd {
        OpsCmd::List {
            status,
            service,
            handler,
            kind,
            page,
            json,
        } => {
            let fetch = page.fetch()?;
            let store = ctx.store().await?;
            let filter = engine::listings::OperationFilter {
                status,
                service,
                handler,
                kind,
            };
            let now = chrono::Utc::now();
            let mut rows =
                engine::listings::operations(&store, &filter, fetch, page.offset, now).await?;
            let more = page.trim(&mut rows);
            if json.json {
                output::json(&rows.iter().map(op_json).collect::<Vec<_>>());
            } else if rows.is_empty() {
                println!(
                    "no {}operations",
                    if filter.status.is_none() {
                        "current "
                    } else {
                        ""
                    }
                );
            } else {
                output::table(
                    &[
                        "ID",
                        "SERVICE",
                        "KIND",
                        "STATUS",
                        "ATTEMPTS",
                        "NEXT TRY",
                        "LAST ERROR",
                    ],
                    &rows
                        .iter()
                        .map(|o| {
                            vec![
                                o.id.to_string(),
                                o.service_id.to_string(),
                                o.kind.clone(),
                                o.status.clone(),
                                format!("{}/{}", o.attempts, o.max_attempts),
                                if o.status == "queued" {
                                    o.next_run_at.format("%Y-%m-%d %H:%M:%S").to_string()
                                } else {
                                    "-".into()
                                },
                                engine::listings::current_error(o)
                                    .unwrap_or("-")
                                    .to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
                if more {
                    page.more_note(rows.len());
                }
            }
        }
        OpsCmd::Show { id, json } => {
            let store = ctx.store().await?;
            let o = engine::get_operation(&store, id).await?;
            let attempts = operation_attempt::Entity::find()
                .filter(operation_attempt::Column::OperationId.eq(id))
                .order_by_asc(operation_attempt::Column::Id)
                .all(store.db())
                .await
                .map_err(db_err("reading attempts"))?;
            // Rows are numbered 1, 2, 3… in order: the stored `attempt` restarts at 1
            // after `tasks retry` (modules rely on that), the number does not.
            if json.json {
                let mut v = op_json(&o);
                v["attempt_log"] = attempts.iter().enumerate().map(|(i, a)| serde_json::json!({"number": i + 1, "attempt": a.attempt, "worker": a.worker, "started_at": a.started_at.to_rfc3339(), "finished_at": a.finished_at.to_rfc3339(), "outcome": a.outcome, "error": a.error, "message": a.message})).collect();
                output::json(&v);
            } else {
                println!(
                    "operation #{} {} of service #{} — {} (attempts {}/{})",
                    o.id, o.kind, o.service_id, o.status, o.attempts, o.max_attempts
                );
                println!("key: {}", o.operation_key);
                if let Some(e) = engine::listings::current_error(&o) {
                    println!("last error: {e}");
                }
                if engine::listings::is_waiting(&o, chrono::Utc::now()) {
                    println!(
                        "waiting: next try at {} (`provisor ops retry {}` makes it due now)",
                        o.next_run_at.format("%Y-%m-%d %H:%M:%S"),
                        o.id
                    );
                }
                for (i, a) in attempts.into_iter().enumerate() {
                    let number = i + 1;
                    let restarted = if i64::from(a.attempt) != number as i64 {
                        format!(" (try {} after a retry)", a.attempt)
                    } else {
                        String::new()
                    };
                    println!(
                        "  attempt {number}{restarted} by {} at {}: {}{}",
                        a.worker,
                        a.started_at.format("%Y-%m-%d %H:%M:%S"),
                        a.outcome,
                        a.error
                            .or(a.message)
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
                println!("module log: provisor log --service {}", o.service_id);
            }
        }
        OpsCmd::Retry { id } => {
            let rt = ctx.runtime_without_modules().await?;
            match tasks::retry_operation(&rt, id).await? {
                tasks::Retried::Requeued(o) => println!(
                    "operation #{} queued again with {} fresh attempts",
                    o.id, o.max_attempts
                ),
                tasks::Retried::DueNow { op, was_due } => println!(
                    "operation #{} is due now (its next try was at {}); a worker takes it on its next pass",
                    op.id,
                    was_due.format("%Y-%m-%d %H:%M:%S")
                ),
            }
        }
        OpsCmd::Cancel { id } => {
            let rt = ctx.runtime_without_modules().await?;
            let o = tasks::cancel_operation(&rt, id).await?;
            println!("operation #{} cancelled", o.id);
        }
    }
    Ok(())
}

pub async fn tasks_cmd(ctx: &Ctx, cmd: TasksCmd) -> Result<()> {
    match cmd {
        TasksCmd::List {
            department,
            all,
            page,
            json,
        } => {
            let fetch = page.fetch()?;
            let store = ctx.store().await?;
            if let Some(d) = &department {
                catalog::require_department(&store, d)
                    .await
                    .map_err(|e| Error::NotFound(e.to_string()))?;
            }
            let mut rows =
                tasks::list_page(&store, department.as_deref(), all, fetch, page.offset).await?;
            let more = page.trim(&mut rows);
            if json.json {
                output::json(&rows.iter().map(task_json).collect::<Vec<_>>());
            } else if rows.is_empty() {
                println!("no open tasks");
            } else {
                output::table(
                    &[
                        "ID",
                        "DEPARTMENT",
                        "SERVICE",
                        "STATUS",
                        "TAKEN BY",
                        "REASON",
                    ],
                    &rows
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.to_string(),
                                t.department.clone(),
                                t.service_id.to_string(),
                                t.status.clone(),
                                output::opt(&t.taken_by),
                                t.reason.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
                if more {
                    page.more_note(rows.len());
                }
            }
        }
        TasksCmd::Show { id, json } => {
            let store = ctx.store().await?;
            let t = tasks::get_task(&store, id).await?;
            let o = engine::get_operation(&store, t.operation_id).await?;
            if json.json {
                let mut v = task_json(&t);
                v["values"] = t
                    .values
                    .as_deref()
                    .and_then(|x| serde_json::from_str::<Value>(x).ok())
                    .unwrap_or(Value::Null);
                v["updated_at"] = Value::String(t.updated_at.to_rfc3339());
                v["operation"] = op_json(&o);
                output::json(&v);
            } else {
                println!(
                    "task #{} [{}] {}{}",
                    t.id,
                    t.department,
                    t.status,
                    t.taken_by
                        .as_deref()
                        .map(|s| format!(", taken by {}", output::cell(s)))
                        .unwrap_or_default()
                );
                println!(
                    "service #{}; operation #{} {} ({})",
                    t.service_id, o.id, o.kind, o.status
                );
                println!("opened:  {}", t.created_at.format("%Y-%m-%d %H:%M:%S"));
                println!(
                    "reason:  {}",
                    provisor_store::input::shown(&t.reason, output::LAST_CELL_MAX)
                );
                let fields: Vec<provisor_module_api::FormField> =
                    serde_json::from_str(&t.fields).unwrap_or_default();
                if !fields.is_empty() {
                    println!("form:");
                    for f in &fields {
                        println!(
                            "  {:<20} {}{}",
                            output::cell(&f.name),
                            output::cell(&f.label),
                            if f.required { " (required)" } else { "" }
                        );
                    }
                }
                if let Some(values) = &t.values {
                    println!("values:  {}", output::cell(values));
                }
                if matches!(t.status.as_str(), "open" | "taken") {
                    println!(
                        "complete it with `provisor tasks complete {} --set NAME=VALUE`, or send it back with `provisor tasks retry {}`",
                        t.id, t.id
                    );
                }
            }
        }
        TasksCmd::Take { id, staff } => {
            let store = ctx.store().await?;
            let t = tasks::take(&store, id, &staff).await?;
            println!("task #{} taken by {}", t.id, t.taken_by.unwrap_or_default());
        }
        TasksCmd::Complete { id, set } => {
            let values = key_values(&set, "--set")?;
            let rt = ctx.runtime_without_modules().await?;
            let t = tasks::complete(&rt, id, values).await?;
            println!(
                "task #{} completed; service #{} moves on",
                t.id, t.service_id
            );
        }
        TasksCmd::Retry { id } => {
            let rt = ctx.runtime_without_modules().await?;
            let o = tasks::send_back(&rt, id).await?;
            println!(
                "task #{id} sent back; operation #{} queued for another automatic try",
                o.id
            );
        }
    }
    Ok(())
}

pub async fn outbox_list(ctx: &Ctx, json: bool) -> Result<()> {
    let store = ctx.store().await?;
    let rows = outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading the outbox"))?;
    if json {
        output::json(&rows.iter().map(|m| serde_json::json!({"id": m.id, "kind": m.kind, "recipient": m.recipient, "subject": m.subject, "body": m.body, "service_id": m.service_id, "created_at": m.created_at.to_rfc3339(), "sent_at": m.sent_at.map(|t| t.to_rfc3339())})).collect::<Vec<_>>());
    } else if rows.is_empty() {
        println!("the outbox is empty");
    } else {
        output::table(
            &["ID", "KIND", "TO", "SUBJECT", "SENT"],
            &rows
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        m.kind.clone(),
                        m.recipient.clone(),
                        m.subject.clone(),
                        m.sent_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "queued".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

/// Options shared by `work` and `serve`.
#[derive(Debug, clap::Args, Clone)]
pub struct EngineArgs {
    /// Seconds before retrying a transient failure. Overrides PROVISOR_RETRY_SECS and
    /// `engine.retry_secs` in provisor.toml (default 300, BILLmanager's rule).
    #[arg(long)]
    pub retry_secs: Option<u64>,
    /// Double the delay on every further attempt, with jitter.
    #[arg(long)]
    pub exponential_backoff: bool,
    /// Operations one worker runs at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds a claimed operation stays leased without a heartbeat.
    #[arg(long, default_value_t = 120)]
    pub lease_secs: u64,
}

impl EngineArgs {
    /// The worker's settings: these flags, and the configuration's `[engine]` (whose
    /// retry delay already holds `--retry-secs`).
    pub fn config(&self, ctx: &Ctx) -> Result<EngineConfig> {
        if self.concurrency == 0 || self.lease_secs < 3 {
            return Err(Error::Invalid(
                "--concurrency must be at least 1 and --lease-secs at least 3".into(),
            ));
        }
        Ok(EngineConfig {
            retry_base: ctx.config.engine.retry,
            max_attempts: ctx.config.engine.max_attempts,
            exponential: self.exponential_backoff,
            lease: std::time::Duration::from_secs(self.lease_secs),
            concurrency: self.concurrency,
            ..EngineConfig::default()
        })
    }
}

pub async fn work(ctx: &Ctx, args: EngineArgs, json: bool) -> Result<()> {
    let rt = ctx.runtime().await?;
    let worker = Worker::new(Arc::clone(&rt), args.config(ctx)?);
    let report = worker.run_until_idle().await?;
    rt.retire_all();
    rt.log.flush().await;
    if json {
        output::json(&report);
    } else {
        println!(
            "work: {} done, {} in progress, {} to retry, {} manual{}",
            report.done,
            report.in_progress,
            report.retried,
            report.manual,
            if report.lost_leases > 0 {
                format!(", {} lost leases", report.lost_leases)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
