//! CLI commands for usage billing: which plans bill usage and how, unit prices,
//! `usage import FILE`, and the billable items behind a month-end invoice.
//! Thin: every rule lives in `provisor_billing::usage`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{output, Ctx, JsonFlag};
use provisor_billing::usage;
use provisor_store::error::Result;

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub enum UsageCmd {
    /// Marks a plan as billing usage: `postpaid` (the module's usage, invoiced on the
    /// 1st for the month before), `month-end` (the module's usage collected into
    /// billable items on the last day at 23:00 billing time, invoiced on the 1st) or
    /// `pushed` (only `usage import`, invoiced on the 1st).
    Plan {
        plan: String,
        #[arg(long)]
        mode: String,
        /// Days from the 1st's invoice to its due date.
        #[arg(long, default_value_t = 14)]
        due_days: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Sets the price of one unit of usage (token, hour, GB…) in a currency.
    Price {
        plan: String,
        #[arg(long)]
        currency: String,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// A plan's usage billing and unit prices.
    Show {
        plan: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Imports pushed usage: a JSON array or JSON lines of {transaction_id,
    /// service_id, unit, quantity, period_start | at, description?}. All or nothing;
    /// transaction ids already imported are skipped.
    Import {
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// A service's billable items with the usage rows behind each (drill-down).
    Items {
        service: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
}

fn print_plan(p: &usage::PlanUsage) {
    println!(
        "plan {}: usage {}{}",
        p.plan,
        p.mode.as_deref().unwrap_or("not billed"),
        p.due_days
            .map(|d| format!(", invoices due {d} day(s) after the 1st"))
            .unwrap_or_default()
    );
    let rows: Vec<Vec<String>> = p
        .prices
        .iter()
        .map(|x| vec![x.currency.clone(), x.unit.clone(), x.amount.clone()])
        .collect();
    if !rows.is_empty() {
        output::table(&["CURRENCY", "UNIT", "PRICE"], &rows);
    }
}

pub async fn run(ctx: &Ctx, cmd: UsageCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        UsageCmd::Plan {
            plan,
            mode,
            due_days,
            json,
        } => {
            let p = provisor_app::catalog::set_usage_mode(
                &store,
                &provisor_app::audit::Actor::shell(),
                &plan,
                &mode,
                due_days,
                ctx.clock.now(),
            )
            .await?;
            if json.json {
                output::json(&p);
            } else {
                print_plan(&p);
            }
        }
        UsageCmd::Price {
            plan,
            currency,
            unit,
            amount,
            json,
        } => {
            let p = provisor_app::catalog::set_usage_price(
                &store,
                &provisor_app::audit::Actor::shell(),
                &plan,
                (&currency, &unit),
                &amount,
                ctx.clock.now(),
            )
            .await?;
            if json.json {
                output::json(&p);
            } else {
                print_plan(&p);
            }
        }
        UsageCmd::Show { plan, json } => {
            let p = usage::show(&store, &plan).await?;
            if json.json {
                output::json(&p);
            } else {
                print_plan(&p);
            }
        }
        UsageCmd::Import { file, json } => {
            let settings = ctx.billing;
            let r = provisor_app::invoices::import_usage(
                (&store, &settings, ctx.clock.now()),
                &provisor_app::audit::Actor::shell(),
                &file,
            )
            .await?;
            if json.json {
                output::json(&r);
            } else {
                println!(
                    "imported {} of {} usage record(s) ({} duplicate transaction id(s) skipped, {} late) in {:.2} s ({:.0} records/s)",
                    r.inserted, r.records, r.duplicates, r.late, r.secs, r.records_per_sec
                );
            }
        }
        UsageCmd::Items { service, json } => {
            let items = usage::items(&store, service).await?;
            if json.json {
                output::json(&items);
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|b| {
                        vec![
                            b.id.to_string(),
                            b.product.clone(),
                            b.period_start.to_string(),
                            format!("{} {}", b.quantity, b.unit),
                            format!("{} {}", b.amount, b.currency),
                            b.usage.len().to_string(),
                            b.invoice_id.map(|i| format!("#{i}")).unwrap_or("-".into()),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "PRODUCT", "PERIOD", "QUANTITY", "AMOUNT", "ROWS", "INVOICE",
                    ],
                    &rows,
                );
            }
        }
    }
    Ok(())
}
