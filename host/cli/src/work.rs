//! `provisor work` (workers until nothing is due) and `provisor cron` (the daily run),
//! with the engine options `work` and `serve` share.

use std::sync::Arc;

use super::args::parse_day;
use super::{output, voice, Ctx};
use provisor_engine::EngineConfig;
use provisor_store::error::{Error, Result};

/// `provisor cron`: the daily run for a date.
pub(crate) async fn cron(ctx: &Ctx, date: Option<String>, dry_run: bool, json: bool) -> Result<()> {
    let date = match date {
        Some(d) => parse_day("--date", &d)?,
        None => provisor_app::today(&ctx.clock, &ctx.billing),
    };
    let rt = ctx.runtime().await?;
    let actor = provisor_app::audit::Actor::system("cron");
    let day = provisor_app::daily::run(&rt, &ctx.billing, &actor, date, dry_run).await?;
    let (billing, runs) = (&day.billing, &day.handlers);
    if json {
        output::json(&serde_json::json!({
            "date": date.to_string(), "dry_run": dry_run, "billing": voice::events_json(billing), "handlers": voice::handler_runs_json(runs)
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
                    (None, Some(n)) => format!(" ({})", voice::text(n)),
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

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
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

pub(crate) async fn work(ctx: &Ctx, args: EngineArgs, json: bool) -> Result<()> {
    let rt = ctx.runtime().await?;
    let worker = provisor_app::services::worker(Arc::clone(&rt), args.config(ctx)?);
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
