//! `provisor tasks`: manual tasks for departments.

use clap::Subcommand;
use serde_json::Value;

use super::args::key_values;
use super::ops::op_json;
use super::{output, Ctx, JsonFlag};
use provisor_engine::{self as engine, catalog, tasks};
use provisor_store::entities::task;
use provisor_store::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCmd {
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
    /// Takes a task for a staff account (enabled, and in the task's department unless
    /// an owner or admin).
    Take {
        id: i64,
        /// The staff account's email.
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

pub(crate) fn task_json(t: &task::Model) -> Value {
    serde_json::json!({
        "id": t.id, "operation_id": t.operation_id, "service_id": t.service_id, "department": t.department,
        "status": t.status, "reason": t.reason, "fields": serde_json::from_str::<Value>(&t.fields).unwrap_or(Value::Null),
        "taken_by": t.taken_by, "created_at": t.created_at.to_rfc3339(),
    })
}

pub(crate) async fn run(ctx: &Ctx, cmd: TasksCmd) -> Result<()> {
    match cmd {
        TasksCmd::List {
            department,
            all,
            page,
            json,
        } => list(ctx, department, all, page, json).await?,
        TasksCmd::Show { id, json } => show(ctx, id, json).await?,
        TasksCmd::Take { id, staff } => {
            let rt = ctx.runtime_without_modules().await?;
            let t = provisor_app::services::take_task(
                &rt,
                &provisor_app::audit::Actor::shell(),
                id,
                &staff,
            )
            .await?;
            println!("task #{} taken by {}", t.id, t.taken_by.unwrap_or_default());
        }
        TasksCmd::Complete { id, set } => {
            let values = key_values(&set, "--set")?;
            let rt = ctx.runtime_without_modules().await?;
            let t = provisor_app::services::complete_task(
                &rt,
                &provisor_app::audit::Actor::shell(),
                id,
                values,
            )
            .await?;
            println!(
                "task #{} completed; service #{} moves on",
                t.id, t.service_id
            );
        }
        TasksCmd::Retry { id } => {
            let rt = ctx.runtime_without_modules().await?;
            let o = provisor_app::services::send_back_task(
                &rt,
                &provisor_app::audit::Actor::shell(),
                id,
            )
            .await?;
            println!(
                "task #{id} sent back; operation #{} queued for another automatic try",
                o.id
            );
        }
    }
    Ok(())
}

async fn list(
    ctx: &Ctx,
    department: Option<String>,
    all: bool,
    page: output::Paging,
    json: JsonFlag,
) -> Result<()> {
    let fetch = page.fetch()?;
    let store = ctx.store().await?;
    if let Some(d) = &department {
        catalog::require_department(&store, d)
            .await
            .map_err(|e| Error::not_found(e.into_message()))?;
    }
    let mut rows = tasks::list_page(&store, department.as_deref(), all, fetch, page.offset).await?;
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
                        t.status.to_string(),
                        output::opt(t.taken_by.as_deref()),
                        t.reason.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        if more {
            page.more_note(rows.len());
        }
    }
    Ok(())
}

async fn show(ctx: &Ctx, id: i64, json: JsonFlag) -> Result<()> {
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
        if t.status.is_unfinished() {
            println!(
                "complete it with `provisor tasks complete {} --set NAME=VALUE`, or send it back with `provisor tasks retry {}`",
                t.id, t.id
            );
        }
    }
    Ok(())
}
