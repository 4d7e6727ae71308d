//! `provisor billing …`: billing runs outside the daily schedule.
//! Thin: every rule lives in `provisor_billing::run`.

use clap::Subcommand;

use super::args::parse_day;
use super::{output, voice, Ctx, JsonFlag};
use provisor_billing::run::Event;
use provisor_store::error::{Error, Result};

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
    /// Live services that no billing run will invoice, with why and the fix: on a plan
    /// with neither a price nor usage billing, or without a billing term (imported, or
    /// made before the plan had a price).
    Unscheduled {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Gives a live service with no billing schedule one: its first period to invoice
    /// starts on --next-due (invoiced ahead of it like every renewal).
    Schedule {
        service: i64,
        /// YYYY-MM-DD.
        #[arg(long)]
        next_due: String,
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
                None => ctx.billing.zone.date_of(ctx.clock.now()),
            };
            let rt = ctx.runtime().await?;
            let events = provisor_app::daily::period(
                &rt,
                &ctx.billing,
                &provisor_app::audit::Actor::shell(),
                month,
                (issue, dry_run),
            )
            .await?;
            rt.log.flush().await;
            if json.json {
                output::json(&serde_json::json!({
                    "period": month.format("%Y-%m").to_string(),
                    "issue_date": issue.to_string(),
                    "dry_run": dry_run,
                    "billing": voice::events_json(&events),
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
        BillingCmd::Unscheduled { json } => {
            let store = ctx.store().await?;
            let rows = provisor_billing::schedule::unscheduled(&store).await?;
            if json.json {
                output::json(&rows.iter().map(UnscheduledRow::from).collect::<Vec<_>>());
            } else if rows.is_empty() {
                println!("every live service is billed (by a term or by its usage)");
            } else {
                output::table(
                    &["SERVICE", "STATUS", "CLIENT", "PLAN", "HANDLER", "WHY"],
                    &rows
                        .iter()
                        .map(|u| {
                            vec![
                                format!("#{}", u.service_id),
                                u.status.clone(),
                                u.client.clone(),
                                u.plan.clone(),
                                u.handler.clone(),
                                voice::text(&u.why),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
            Ok(())
        }
        BillingCmd::Schedule {
            service,
            next_due,
            json,
        } => {
            let next_due = parse_day("--next-due", &next_due)?;
            let rt = ctx.runtime_without_modules().await?;
            let done = provisor_app::services::schedule(
                &rt,
                &provisor_app::audit::Actor::shell(),
                service,
                next_due,
            )
            .await?;
            if json.json {
                output::json(&done);
            } else if done.started {
                println!(
                    "service #{} (plan {}) is billed {} from {}: its first invoice comes ahead of that date",
                    done.service_id, done.plan, done.period, done.next_due
                );
            } else {
                println!(
                    "service #{} already has a billing schedule; nothing changed",
                    done.service_id
                );
            }
            Ok(())
        }
    }
}

/// A row of `billing unscheduled --json`: the library's row, its reason in the command
/// line's words.
#[derive(serde::Serialize)]
struct UnscheduledRow<'a> {
    service_id: i64,
    status: &'a str,
    client_id: i64,
    client: &'a str,
    plan: &'a str,
    handler: &'a str,
    reason: &'static str,
    why: String,
}

impl<'a> From<&'a provisor_billing::schedule::Unscheduled> for UnscheduledRow<'a> {
    fn from(u: &'a provisor_billing::schedule::Unscheduled) -> Self {
        UnscheduledRow {
            service_id: u.service_id,
            status: &u.status,
            client_id: u.client_id,
            client: &u.client,
            plan: &u.plan,
            handler: &u.handler,
            reason: u.reason,
            why: voice::text(&u.why),
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
    println!(
        "  {mark}[{}]{invoice}{money}: {}",
        e.step,
        voice::text(&e.message)
    );
}
