//! `provisor ops` (the durable queue, "current operations") and `provisor outbox`.

use clap::Subcommand;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::Value;

use super::{output, Ctx, JsonFlag};
use provisor_engine::{self as engine, tasks};
use provisor_store::db_err;
use provisor_store::entities::status::OperationStatus;
use provisor_store::entities::{operation, outbox};
use provisor_store::error::Result;

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum OpsCmd {
    /// Current operations: state, attempts, next try, and the error of those failing,
    /// waiting or manual (cut to the terminal's width; `ops show` has it in full).
    List {
        /// queued, running, manual, done, cancelled, awaiting_payment (creates held
        /// until their order's invoice is paid), waiting (queued for a later try after a
        /// failure), or `all` (default: not finished).
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
pub(crate) enum OutboxCmd {
    /// Every queued and sent email.
    List(JsonFlag),
}

pub(crate) fn op_json(o: &operation::Model) -> Value {
    serde_json::json!({
        "id": o.id, "service_id": o.service_id, "handler_id": o.handler_id, "kind": o.kind, "status": o.status,
        "operation_key": o.operation_key, "attempts": o.attempts, "max_attempts": o.max_attempts,
        "next_run_at": o.next_run_at.to_rfc3339(), "lease_owner": o.lease_owner,
        "error": engine::listings::current_error(o),
        "last_error": o.last_error, "last_error_kind": o.last_error_kind,
        "created_at": o.created_at.to_rfc3339(), "finished_at": o.finished_at.map(|t| t.to_rfc3339()),
    })
}

pub(crate) async fn run(ctx: &Ctx, cmd: OpsCmd) -> Result<()> {
    match cmd {
        OpsCmd::List {
            status,
            service,
            handler,
            kind,
            page,
            json,
        } => {
            list(
                ctx,
                engine::listings::OperationFilter {
                    status,
                    service,
                    handler,
                    kind,
                },
                page,
                json,
            )
            .await?;
        }
        OpsCmd::Show { id, json } => show(ctx, id, json).await?,
        OpsCmd::Retry { id } => {
            let rt = ctx.runtime_without_modules().await?;
            match provisor_app::services::retry_operation(&rt, &provisor_app::audit::Actor::shell(), id).await? {
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
            let o = provisor_app::services::cancel_operation(
                &rt,
                &provisor_app::audit::Actor::shell(),
                id,
            )
            .await?;
            println!("operation #{} cancelled", o.id);
        }
    }
    Ok(())
}

async fn list(
    ctx: &Ctx,
    filter: engine::listings::OperationFilter,
    page: output::Paging,
    json: JsonFlag,
) -> Result<()> {
    let fetch = page.fetch()?;
    let store = ctx.store().await?;
    let now = ctx.clock.now();
    let mut rows = engine::listings::operations(&store, &filter, fetch, page.offset, now).await?;
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
                        o.kind.to_string(),
                        o.status.to_string(),
                        format!("{}/{}", o.attempts, o.max_attempts),
                        if o.status == OperationStatus::Queued {
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
    Ok(())
}

async fn show(ctx: &Ctx, id: i64, json: JsonFlag) -> Result<()> {
    let store = ctx.store().await?;
    let (o, attempts) = engine::views::operation_detail(&store, id).await?;
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
        if engine::listings::is_waiting(&o, ctx.clock.now()) {
            println!(
                "waiting: next try at {} (`provisor ops retry {}` makes it due now)",
                o.next_run_at.format("%Y-%m-%d %H:%M:%S"),
                o.id
            );
        }
        for (i, a) in attempts.into_iter().enumerate() {
            let number = i + 1;
            let restarted = if i64::from(a.attempt) == number as i64 {
                String::new()
            } else {
                format!(" (try {} after a retry)", a.attempt)
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
    Ok(())
}

pub(crate) async fn outbox_list(ctx: &Ctx, json: bool) -> Result<()> {
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
                        m.kind.to_string(),
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
