//! `provisor billing …`: billing runs outside the daily schedule.
//! Thin: every rule lives in `crate::billing::run`.

use clap::Subcommand;

use super::processing::parse_day;
use super::{output, Ctx, JsonFlag};
use crate::billing::run::{self, Event};
use crate::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum BillingCmd {
    /// Bills the usage of one past month again (SolusVM's "generate invoices for
    /// October 2022"): the month-end collection of its last day, then the post-paid
    /// and month-end invoices, for the services that were live in that month only. No
    /// renewals, no module daily work. Bills once, however often it runs (and with the
    /// 1st's regular run).
    Run {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// The invoices' issue date (default: today in the billing time zone).
        #[arg(long)]
        date: Option<String>,
        /// Say what would be billed; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// A `YYYY-MM` month, refused by name when it is not one; its first day.
fn parse_month(text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").map_err(|_| {
        Error::Invalid(format!(
            "--period {text:?} is not a month: write YYYY-MM (e.g. 2022-10)"
        ))
    })
}

pub async fn run(ctx: &Ctx, cmd: BillingCmd) -> Result<()> {
    match cmd {
        BillingCmd::Run {
            period,
            date,
            dry_run,
            json,
        } => {
            let month = parse_month(&period)?;
            let issue = match date {
                Some(d) => parse_day("--date", &d)?,
                None => crate::billing::usage::BillingZone::from_env()?.date_of(chrono::Utc::now()),
            };
            let rt = ctx.runtime().await?;
            let events = run::period(&rt, month, issue, dry_run).await?;
            rt.log.flush().await;
            if json.json {
                output::json(&serde_json::json!({
                    "period": month.format("%Y-%m").to_string(),
                    "issue_date": issue.to_string(),
                    "dry_run": dry_run,
                    "billing": events,
                }));
            } else {
                let failed = events.iter().filter(|e| e.failed).count();
                let verb = if dry_run { "would bill" } else { "billed" };
                println!(
                    "usage of {}: {verb} {} item(s){}",
                    month.format("%Y-%m"),
                    events.len() - failed,
                    if failed > 0 {
                        format!(", {failed} FAILED")
                    } else {
                        String::new()
                    }
                );
                for e in &events {
                    print_event(e);
                }
            }
            if let Some(which) = Event::failures(&events) {
                return Err(Error::Module {
                    context: format!("billing {}", month.format("%Y-%m")),
                    source: provisor_module_api::ModuleError::transient(format!(
                        "usage could not be read for {which}, so nothing was billed for them: fix the handler and run `provisor billing run --period {}` again (what was billed is not billed twice)",
                        month.format("%Y-%m")
                    )),
                });
            }
            Ok(())
        }
    }
}

/// One billing event as a line: `  [step] invoice N 12.00 EUR: message`.
pub(crate) fn print_event(e: &Event) {
    let money = match (&e.amount, &e.currency) {
        (Some(a), Some(c)) => format!(" {a} {c}"),
        _ => String::new(),
    };
    let invoice = e
        .invoice
        .as_deref()
        .map(|i| format!(" invoice {i}"))
        .unwrap_or_default();
    let mark = if e.failed { "FAILED " } else { "" };
    println!("  {mark}[{}]{invoice}{money}: {}", e.step, e.message);
}
