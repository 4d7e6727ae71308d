//! `provisor services`: order, list, show, queue lifecycle operations, and what the
//! module answers at once (admin actions, SSO, usage, the client area).

use clap::Subcommand;
use serde_json::{Map, Value};

use super::args::{key_values, parse_day};
use super::ops::op_json;
use super::tasks::task_json;
use super::{output, Ctx, JsonFlag};
use provisor_engine::{self as engine, actions, catalog, views};
use provisor_runtime::Call;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::error::{Error, Result};

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum ServicesCmd {
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

pub(crate) async fn run(ctx: &Ctx, cmd: ServicesCmd) -> Result<()> {
    match cmd {
        ServicesCmd::Order {
            client,
            plan,
            addon_of,
            options,
            date,
            json,
        } => super::order::order(ctx, client, plan, addon_of, options, date, json.json).await,
        ServicesCmd::List {
            status,
            client,
            handler,
            plan,
            page,
            json,
        } => {
            let filter = engine::listings::ServiceFilter {
                status,
                client,
                handler,
                plan,
            };
            list(ctx, filter, page, json.json).await
        }
        ServicesCmd::Show { id, json } => show(ctx, id, json.json).await,
        ServicesCmd::Suspend { id } => queue_op(ctx, id, OperationKind::Suspend, Value::Null).await,
        ServicesCmd::Unsuspend { id } => {
            queue_op(ctx, id, OperationKind::Unsuspend, Value::Null).await
        }
        ServicesCmd::Terminate { id } => {
            queue_op(ctx, id, OperationKind::Terminate, Value::Null).await
        }
        ServicesCmd::Renew { id } => queue_op(ctx, id, OperationKind::Renew, Value::Null).await,
        ServicesCmd::Actions { id, json } => list_actions(ctx, id, json.json).await,
        ServicesCmd::Action { id, name, set, yes } => action(ctx, id, name, set, yes).await,
        ServicesCmd::ChangePlan { id, plan } => {
            let store = ctx.store().await?;
            let p = catalog::get_plan(&store, &plan).await?;
            let params = serde_json::json!({"plan_id": p.id});
            queue_op(ctx, id, OperationKind::ChangePlan, params).await
        }
        ServicesCmd::Sso { id, admin } => {
            let rt = ctx.runtime().await?;
            let link =
                provisor_app::services::sso(&rt, &provisor_app::audit::Actor::shell(), id, admin)
                    .await;
            rt.log.flush().await;
            println!("{}", link?.url);
            Ok(())
        }
        ServicesCmd::Usage { id, from, to, json } => usage(ctx, id, from, to, json.json).await,
        ServicesCmd::ClientArea { id, json } => client_area(ctx, id, json.json).await,
    }
}

async fn list(
    ctx: &Ctx,
    filter: engine::listings::ServiceFilter,
    page: output::Paging,
    json: bool,
) -> Result<()> {
    let fetch = page.fetch()?;
    let store = ctx.store().await?;
    let mut rows = engine::listings::services(&store, &filter, fetch, page.offset).await?;
    let more = page.trim(&mut rows);
    let views = views::services(&store, &rows).await?;
    if json {
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
                        output::opt(v.remote_id.as_deref()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        if more {
            page.more_note(views.len());
        }
    }
    Ok(())
}

async fn show(ctx: &Ctx, id: i64, json: bool) -> Result<()> {
    let store = ctx.store().await?;
    let views::ServiceDetail {
        view,
        operations: ops,
        tasks: tasks_of,
    } = views::service_detail(&store, id).await?;
    if json {
        let mut v = serde_json::to_value(&view).unwrap_or(Value::Null);
        v["operations"] = ops.iter().map(op_json).collect();
        v["tasks"] = tasks_of.iter().map(task_json).collect();
        output::json(&v);
        return Ok(());
    }
    println!(
        "service #{} — {} — plan {} — handler {}",
        view.id, view.status, view.plan, view.handler
    );
    println!(
        "client #{} {}; remote id {}",
        view.client_id,
        output::cell(&view.client),
        output::opt(view.remote_id.as_deref())
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
        let reason = if t.status.is_unfinished() {
            format!(" — {}", t.reason)
        } else {
            String::new()
        };
        println!("  task #{} [{}] {}{reason}", t.id, t.department, t.status);
    }
    Ok(())
}

async fn list_actions(ctx: &Ctx, id: i64, json: bool) -> Result<()> {
    let rt = ctx.runtime().await?;
    let actions = actions::list(&rt, id).await;
    rt.log.flush().await;
    let actions = actions?;
    if json {
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
    Ok(())
}

async fn action(ctx: &Ctx, id: i64, name: String, set: Vec<String>, yes: bool) -> Result<()> {
    // The form values are read (and bounded) before anything is asked of the module.
    let params = key_values(&set, "--set")?;
    let rt = ctx.runtime().await?;
    let op = provisor_app::services::action(
        &rt,
        &provisor_app::audit::Actor::shell(),
        id,
        &name,
        params,
        yes,
        ctx.config.engine.max_attempts,
    )
    .await;
    rt.log.flush().await;
    let op = op?;
    println!("{name} of service #{id} queued as operation #{}", op.id);
    Ok(())
}

async fn usage(ctx: &Ctx, id: i64, from: String, to: String, json: bool) -> Result<()> {
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
    if json {
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
    Ok(())
}

async fn client_area(ctx: &Ctx, id: i64, json: bool) -> Result<()> {
    let rt = ctx.runtime().await?;
    let panel: Result<provisor_module_api::Panel> =
        engine::call_now(&rt, id, Call::ClientArea, Map::new()).await;
    rt.log.flush().await;
    let panel = panel?;
    if json {
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
    Ok(())
}

async fn queue_op(ctx: &Ctx, id: i64, kind: OperationKind, params: Value) -> Result<()> {
    let rt = ctx.runtime_without_modules().await?;
    let op = provisor_app::services::request(
        &rt,
        &provisor_app::audit::Actor::shell(),
        id,
        kind,
        params,
        ctx.config.engine.max_attempts,
    )
    .await?;
    println!("{kind} of service #{id} queued as operation #{}", op.id);
    Ok(())
}
