//! CLI commands for billing: currencies, tax rates, invoices and payments (client
//! credit is in `clients`, plan prices in `plans`, a priced order in `order`).
//! Thin, like the rest of the CLI: every rule lives in `provisor_billing`.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;

use super::args::parse_day;
use super::{output, Ctx, JsonFlag};
use provisor_billing::Settings;
use provisor_billing::{self as billing, currencies, invoices, refunds, taxes};
use provisor_store::error::Result;
use provisor_store::Store;

#[derive(Debug, Subcommand)]
pub enum CurrenciesCmd {
    /// Adds a currency. The first one added is the default currency (rate 1).
    Add {
        /// ISO 4217 code, like EUR.
        code: String,
        /// The symbol shown on invoices (default: € $ £ ¥ ₽ ₹ for those codes, else the code).
        #[arg(long)]
        symbol: Option<String>,
        /// Digits after the decimal point (2 for EUR, 0 for JPY).
        #[arg(long, default_value_t = 2)]
        minor_units: u32,
        /// How many units of this currency one unit of the default currency buys
        /// (required for every currency but the first).
        #[arg(long, allow_hyphen_values = true)]
        rate: Option<String>,
        /// half-up, half-even or down.
        #[arg(long, default_value = "half-up")]
        rounding: String,
    },
    /// Changes a currency's rate, rounding rule or symbol.
    Set {
        code: String,
        #[arg(long, allow_hyphen_values = true)]
        rate: Option<String>,
        #[arg(long)]
        rounding: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
    },
    /// Every currency, the default first.
    List(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum TaxesCmd {
    /// Sets a country's tax rate in percent (exclusive; 0 for none).
    Set {
        /// ISO 3166 code, like NL.
        country: String,
        /// Percent, like 21 or 8.1.
        #[arg(allow_hyphen_values = true)]
        rate: String,
    },
    /// Every country's rate (countries not listed pay none).
    List(JsonFlag),
}

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub enum InvoicesCmd {
    /// Invoices, newest first, a page at a time.
    List {
        /// A client's id or email.
        #[arg(long)]
        client: Option<String>,
        /// draft, unpaid, paid, cancelled or refunded.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One invoice (by id or number) as readable text, or JSON.
    Show {
        invoice: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Makes a draft invoice from lines typed in (client's currency, client's country's
    /// tax rate); with --issue it is issued at once.
    Create {
        #[arg(long)]
        client: String,
        /// "DESCRIPTION;QUANTITY;UNIT_PRICE"; repeat for several lines.
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        /// The due date, YYYY-MM-DD (default: 14 days after issue).
        #[arg(long)]
        due: Option<String>,
        /// Issue it now (it gets its number).
        #[arg(long)]
        issue: bool,
        /// The issue date with --issue, YYYY-MM-DD (default: today, UTC).
        #[arg(long, requires = "issue")]
        date: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Issues drafts: each gets the next number of its issue year and becomes unpaid.
    Issue {
        #[arg(required = true)]
        invoices: Vec<String>,
        /// The issue date, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Records a payment. A reference already recorded is not recorded again.
    Pay {
        invoice: String,
        /// The amount received, in the invoice's currency.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// The bank or gateway transaction id (unique).
        #[arg(long)]
        reference: String,
        /// The day the money arrived, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Gives money paid on an invoice back: through the bank or gateway it came from
    /// (--to original) or as the client's credit (--to credit). A reference already
    /// recorded is not recorded again. Services are left as they are.
    Refund {
        invoice: String,
        /// The refund's bank or gateway transaction id (unique, like a payment's).
        #[arg(long)]
        reference: String,
        /// The amount to give back, in the invoice's currency (default: everything
        /// paid on it and not yet refunded).
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// original (back through the bank or gateway) or credit (the client's credit).
        #[arg(long, default_value = "original")]
        to: String,
        /// The day the money went back, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Cancels a draft or unpaid invoice; what was paid on it becomes credit.
    Cancel {
        invoice: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Queues an "overdue" email (once) for every unpaid invoice due before a date.
    Overdue {
        /// The day to check, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        /// List them, queue nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

fn day_or_today(
    flag: &str,
    text: Option<String>,
    zone: billing::usage::BillingZone,
    now: DateTime<Utc>,
) -> Result<NaiveDate> {
    match text {
        Some(t) => parse_day(flag, &t),
        None => Ok(zone.date_of(now)),
    }
}

pub async fn currencies_cmd(ctx: &Ctx, cmd: CurrenciesCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        CurrenciesCmd::Add {
            code,
            symbol,
            minor_units,
            rate,
            rounding,
        } => {
            let c = provisor_app::catalog::add_currency(
                &store,
                &provisor_app::audit::Actor::shell(),
                currencies::NewCurrency {
                    code,
                    symbol,
                    minor_units,
                    rate,
                    rounding,
                },
                ctx.clock.now(),
            )
            .await?;
            print_currency_added("added", &c);
        }
        CurrenciesCmd::Set {
            code,
            rate,
            rounding,
            symbol,
        } => {
            let c = provisor_app::catalog::update_currency(
                &store,
                &provisor_app::audit::Actor::shell(),
                &code,
                (rate, rounding, symbol),
                ctx.clock.now(),
            )
            .await?;
            print_currency_added("changed", &c);
        }
        CurrenciesCmd::List(flag) => {
            let rows = currencies::list(&store).await?;
            if flag.json {
                output::json(&rows);
            } else if rows.is_empty() {
                println!("no currencies; add the default one with `provisor currencies add EUR`");
            } else {
                output::table(
                    &[
                        "CODE",
                        "SYMBOL",
                        "MINOR UNITS",
                        "RATE",
                        "ROUNDING",
                        "DEFAULT",
                    ],
                    &rows
                        .iter()
                        .map(|c| {
                            vec![
                                c.code.clone(),
                                c.symbol.clone(),
                                c.minor_units.to_string(),
                                c.rate.to_string(),
                                c.rounding.as_str().to_string(),
                                if c.is_default { "yes" } else { "" }.to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    Ok(())
}

fn print_currency_added(what: &str, c: &billing::Currency) {
    let role = if c.is_default {
        "the default currency".to_string()
    } else {
        format!("rate {} per unit of the default currency", c.rate)
    };
    println!(
        "currency {} {what}: symbol {}, {} minor units, rounding {}, {role}",
        c.code,
        c.symbol,
        c.minor_units,
        c.rounding.as_str()
    );
}

pub async fn taxes_cmd(ctx: &Ctx, cmd: TaxesCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        TaxesCmd::Set { country, rate } => {
            let t = provisor_app::catalog::set_tax(
                &store,
                &provisor_app::audit::Actor::shell(),
                &country,
                &rate,
                ctx.clock.now(),
            )
            .await?;
            println!("tax rate for {}: {}%", t.country, t.rate);
        }
        TaxesCmd::List(flag) => {
            let rows = taxes::list(&store).await?;
            if flag.json {
                output::json(&rows);
            } else if rows.is_empty() {
                println!("no tax rates: invoices carry no tax (`provisor taxes set NL 21`)");
            } else {
                output::table(
                    &["COUNTRY", "RATE %"],
                    &rows
                        .iter()
                        .map(|t| vec![t.country.clone(), t.rate.clone()])
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    Ok(())
}

fn summary_rows(rows: &[invoices::InvoiceSummary]) -> Vec<Vec<String>> {
    let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    rows.iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.number.clone().unwrap_or_else(|| "-".into()),
                i.status.to_string(),
                i.client_id.to_string(),
                format!("{} {}", i.total, i.currency),
                i.amount_due.clone(),
                day(i.issue_date),
                day(i.due_date),
            ]
        })
        .collect()
}

const SUMMARY_HEADERS: [&str; 8] = [
    "ID", "NUMBER", "STATUS", "CLIENT", "TOTAL", "DUE", "ISSUED", "DUE DATE",
];

pub async fn invoices_cmd(ctx: &Ctx, cmd: InvoicesCmd) -> Result<()> {
    let store = ctx.store().await?;
    let now = ctx.clock.now();
    match cmd {
        InvoicesCmd::List {
            client,
            status,
            page,
            json,
        } => {
            let fetch = page.fetch()?;
            let mut rows = invoices::list(
                &store,
                client.as_deref(),
                status.as_deref(),
                fetch,
                page.offset,
            )
            .await?;
            let more = page.trim(&mut rows);
            if json.json {
                output::json(&rows);
            } else if rows.is_empty() {
                println!("no invoices");
            } else {
                output::table(&SUMMARY_HEADERS, &summary_rows(&rows));
                if more {
                    page.more_note(rows.len());
                }
            }
        }
        InvoicesCmd::Show { invoice, json } => {
            let v = invoices::show(&store, &invoice).await?;
            if json.json {
                output::json(&v);
            } else {
                print!("{}", invoices::render(&v));
            }
        }
        InvoicesCmd::Create {
            client,
            lines,
            due,
            issue,
            date,
            json,
        } => {
            create(
                ctx,
                &store,
                (&client, &lines),
                (due, issue, date),
                json,
                now,
            )
            .await?;
        }
        InvoicesCmd::Issue {
            invoices: ids,
            date,
            json,
        } => issue((&store, &ctx.billing), ids, date, json, now).await?,
        InvoicesCmd::Pay {
            invoice,
            amount,
            reference,
            date,
            json,
        } => {
            pay(
                (&store, &ctx.billing),
                invoice,
                amount,
                reference,
                date,
                json,
                now,
            )
            .await?;
        }
        InvoicesCmd::Refund {
            invoice,
            reference,
            amount,
            to,
            date,
            json,
        } => {
            refund(
                (&store, &ctx.billing),
                RefundArgs {
                    invoice,
                    reference,
                    amount,
                    to,
                    date,
                    json,
                },
                now,
            )
            .await?;
        }
        InvoicesCmd::Cancel { invoice, json } => {
            cancel((&store, &ctx.billing), invoice, json, now).await?;
        }
        InvoicesCmd::Overdue {
            date,
            dry_run,
            json,
        } => overdue((&store, &ctx.billing), date, dry_run, json, now).await?,
    }
    Ok(())
}

async fn pay(
    (store, settings): (&Store, &Settings),
    invoice: String,
    amount: String,
    reference: String,
    date: Option<String>,
    json: JsonFlag,
    now: DateTime<Utc>,
) -> Result<()> {
    let day = day_or_today("--date", date, settings.zone, now)?;
    let paid = provisor_app::invoices::pay(
        (store, settings, now),
        &provisor_app::audit::Actor::shell(),
        &invoice,
        (&amount, &reference),
        day,
    )
    .await?;
    if json.json {
        output::json(&paid);
    } else {
        println!("{}", paid.note);
        for a in &paid.credit_applied {
            print_applied(a);
        }
    }
    Ok(())
}

async fn issue(
    (store, settings): (&Store, &Settings),
    ids: Vec<String>,
    date: Option<String>,
    json: JsonFlag,
    now: DateTime<Utc>,
) -> Result<()> {
    let day = day_or_today("--date", date, settings.zone, now)?;
    let done = provisor_app::invoices::issue_many(
        (store, settings, now),
        &provisor_app::audit::Actor::shell(),
        &ids,
        day,
    )
    .await?;
    for v in &done {
        if !json.json {
            println!(
                "invoice #{} issued as {}: {} {} due {}, {}",
                v.id,
                v.number.clone().unwrap_or_default(),
                v.total,
                v.currency,
                v.due_date.map(|d| d.to_string()).unwrap_or_default(),
                v.status
            );
        }
    }
    if json.json {
        output::json(&done);
    }
    Ok(())
}

/// `invoices refund`'s arguments.
struct RefundArgs {
    invoice: String,
    reference: String,
    amount: Option<String>,
    to: String,
    date: Option<String>,
    json: JsonFlag,
}

async fn refund(
    (store, settings): (&Store, &Settings),
    args: RefundArgs,
    now: DateTime<Utc>,
) -> Result<()> {
    let RefundArgs {
        invoice,
        reference,
        amount,
        to,
        date,
        json,
    } = args;
    let to = refunds::Destination::parse(&to)?;
    let day = day_or_today("--date", date, settings.zone, now)?;
    let request = refunds::Request {
        invoice: &invoice,
        amount: amount.as_deref(),
        reference: &reference,
        to,
        day,
    };
    let r = provisor_app::invoices::refund(
        (store, settings, now),
        &provisor_app::audit::Actor::shell(),
        request,
    )
    .await?;
    if json.json {
        output::json(&r);
    } else {
        println!("{}", r.note);
        for a in &r.credit_applied {
            print_applied(a);
        }
        for s in &r.services {
            println!(
                "service #{s} keeps running; terminate it with `provisor services terminate {s}` if the refund ends it"
            );
        }
    }
    Ok(())
}

async fn cancel(
    (store, settings): (&Store, &Settings),
    invoice: String,
    json: JsonFlag,
    now: DateTime<Utc>,
) -> Result<()> {
    let v = provisor_app::invoices::cancel(
        (store, settings, now),
        &provisor_app::audit::Actor::shell(),
        &invoice,
    )
    .await?;
    if json.json {
        output::json(&v);
    } else {
        println!(
            "invoice {} cancelled{}",
            v.number.clone().unwrap_or_else(|| format!("#{}", v.id)),
            if v.amount_paid.trim_start_matches(['0', '.']).is_empty() {
                String::new()
            } else {
                format!(
                    "; the {} {} paid on it is now credit",
                    v.amount_paid, v.currency
                )
            }
        );
    }
    Ok(())
}

/// `invoices create`: a draft, or (with `--issue`) an issued invoice.
async fn create(
    ctx: &Ctx,
    store: &Store,
    (client, lines): (&str, &[String]),
    (due, issue, date): (Option<String>, bool, Option<String>),
    json: JsonFlag,
    now: DateTime<Utc>,
) -> Result<()> {
    let due = due.map(|d| parse_day("--due", &d)).transpose()?;
    let issue_on = if issue {
        Some(day_or_today("--date", date, ctx.billing.zone, now)?)
    } else {
        None
    };
    let v = provisor_app::invoices::create(
        (store, &ctx.billing, now),
        &provisor_app::audit::Actor::shell(),
        client,
        lines,
        (due, issue_on),
    )
    .await?;
    if json.json {
        output::json(&v);
    } else {
        match &v.number {
            Some(n) => println!(
                "invoice {n} (#{}) issued to client #{}: {} {} due {}, {}",
                v.id,
                v.client_id,
                v.total,
                v.currency,
                v.due_date.map(|d| d.to_string()).unwrap_or_default(),
                v.status
            ),
            None => println!(
                "draft invoice #{} for client #{}: {} {}; issue it with `provisor invoices issue {}`",
                v.id, v.client_id, v.total, v.currency, v.id
            ),
        }
    }
    Ok(())
}

async fn overdue(
    (store, settings): (&Store, &Settings),
    date: Option<String>,
    dry_run: bool,
    json: JsonFlag,
    now: DateTime<Utc>,
) -> Result<()> {
    let day = day_or_today("--date", date, settings.zone, now)?;
    let rows = provisor_app::invoices::overdue(
        store,
        &provisor_app::audit::Actor::shell(),
        day,
        dry_run,
        now,
    )
    .await?;
    if json.json {
        output::json(&rows);
    } else if rows.is_empty() {
        println!("no unpaid invoice was due before {day}");
    } else {
        output::table(&SUMMARY_HEADERS, &summary_rows(&rows));
        if dry_run {
            println!("dry run: no email queued");
        } else {
            println!("an overdue email is queued once per invoice");
        }
    }
    Ok(())
}

pub(crate) fn print_applied(a: &invoices::Applied) {
    println!(
        "  {} of credit to invoice {}{}{}",
        a.amount,
        a.number
            .clone()
            .unwrap_or_else(|| format!("#{}", a.invoice_id)),
        if a.paid { " (now paid)" } else { "" },
        a.released_operation
            .map(|op| format!("; create operation #{op} queued"))
            .unwrap_or_default()
    );
}
