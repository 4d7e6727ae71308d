//! CLI commands for billing: currencies, tax rates, invoices and payments, client
//! credit, plan prices and deposits, and the output of ordering a priced plan.
//! Thin, like the rest of the CLI: every rule lives in `provisor_billing`.

use chrono::{NaiveDate, Utc};
use clap::Subcommand;
use serde_json::{Map, Value};

use super::processing::{self, parse_day};
use super::{output, Ctx, JsonFlag};
use provisor_billing::{
    self as billing, currencies, invoices, ledger, prices, refunds, taxes, Settings,
};
use provisor_store::error::{Error, Result};

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

#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    #[command(flatten)]
    Base(processing::ClientsCmd),
    /// Adds (positive) or takes (negative) credit in the client's currency, with a
    /// reason. Credit never goes below zero.
    Credit {
        client: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The client's credit ledger and balance.
    Ledger {
        client: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlansCmd {
    #[command(flatten)]
    Base(processing::PlansCmd),
    /// Sets (or removes) the plan's price in a currency for a period. A plan with a
    /// price is invoiced when ordered and provisioned when paid.
    Price {
        plan: String,
        #[arg(long)]
        currency: String,
        /// monthly, quarterly, semiannual or annual.
        #[arg(long)]
        period: String,
        #[arg(long, allow_hyphen_values = true, required_unless_present = "remove")]
        amount: Option<String>,
        #[arg(long, conflicts_with = "amount")]
        remove: bool,
        /// Also bill the plan's live services that have no billing schedule (imported,
        /// or made before the plan had a price) from their next period.
        #[arg(long, conflicts_with = "remove")]
        apply_to_existing: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Sets (or removes) the deposit the plan requires at sign-up, in a currency.
    /// Paid, it becomes the client's credit.
    Deposit {
        plan: String,
        #[arg(long)]
        currency: String,
        #[arg(long, allow_hyphen_values = true, required_unless_present = "remove")]
        amount: Option<String>,
        #[arg(long, conflicts_with = "amount")]
        remove: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The plan's prices and deposits.
    Prices {
        plan: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

fn day_or_today(flag: &str, text: Option<String>) -> Result<NaiveDate> {
    match text {
        Some(t) => parse_day(flag, &t),
        None => Ok(billing::day_of(Utc::now())),
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
            let c = currencies::add(
                &store,
                currencies::NewCurrency {
                    code,
                    symbol,
                    minor_units,
                    rate,
                    rounding,
                },
                Utc::now(),
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
            let c = currencies::update(&store, &code, rate, rounding, symbol, Utc::now()).await?;
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
            let t = taxes::set(&store, &country, &rate, Utc::now()).await?;
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
                i.status.clone(),
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
    let now = Utc::now();
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
            let due = due.map(|d| parse_day("--due", &d)).transpose()?;
            let issue_on = if issue {
                Some(day_or_today("--date", date)?)
            } else {
                None
            };
            let v = invoices::create(
                &store,
                &client,
                &lines,
                due,
                issue_on,
                now,
                &Settings::from_env()?,
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
        }
        InvoicesCmd::Issue {
            invoices: ids,
            date,
            json,
        } => {
            let day = day_or_today("--date", date)?;
            let done = invoices::issue_many(&store, &ids, day, now, &Settings::from_env()?).await?;
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
        }
        InvoicesCmd::Pay {
            invoice,
            amount,
            reference,
            date,
            json,
        } => {
            let day = day_or_today("--date", date)?;
            let paid = invoices::pay(
                &store,
                &invoice,
                &amount,
                &reference,
                day,
                now,
                &Settings::from_env()?,
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
        }
        InvoicesCmd::Refund {
            invoice,
            reference,
            amount,
            to,
            date,
            json,
        } => {
            let to = refunds::Destination::parse(&to)?;
            let day = day_or_today("--date", date)?;
            let request = refunds::Request {
                invoice: &invoice,
                amount: amount.as_deref(),
                reference: &reference,
                to,
                day,
            };
            let r = refunds::refund(&store, request, now, &Settings::from_env()?).await?;
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
        }
        InvoicesCmd::Cancel { invoice, json } => {
            let v = invoices::cancel(&store, &invoice, now, &Settings::from_env()?).await?;
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
        }
        InvoicesCmd::Overdue {
            date,
            dry_run,
            json,
        } => {
            let day = day_or_today("--date", date)?;
            let rows = invoices::overdue(&store, day, dry_run, now).await?;
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
        }
    }
    Ok(())
}

fn print_applied(a: &invoices::Applied) {
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

pub async fn clients(ctx: &Ctx, cmd: ClientsCmd) -> Result<()> {
    match cmd {
        ClientsCmd::Base(cmd) => processing::clients(ctx, cmd).await,
        ClientsCmd::Credit {
            client,
            amount,
            reason,
            json,
        } => {
            let store = ctx.store().await?;
            let a = ledger::adjust(
                &store,
                &client,
                &amount,
                &reason,
                Utc::now(),
                &Settings::from_env()?,
            )
            .await?;
            if json.json {
                output::json(&a);
            } else {
                println!(
                    "client #{}: {} {} ({}); balance {} {}",
                    a.client_id, a.entry.amount, a.currency, a.entry.reason, a.balance, a.currency
                );
                for x in &a.applied {
                    print_applied(x);
                }
            }
            Ok(())
        }
        ClientsCmd::Ledger { client, json } => {
            let store = ctx.store().await?;
            let l = ledger::show(&store, &client).await?;
            if json.json {
                output::json(&l);
            } else {
                println!(
                    "client #{} {}: credit balance {} {}",
                    l.client_id, l.client, l.balance, l.currency
                );
                if !l.entries.is_empty() {
                    output::table(
                        &["ID", "WHEN", "AMOUNT", "REASON"],
                        &l.entries
                            .iter()
                            .map(|e| {
                                vec![
                                    e.id.to_string(),
                                    to_the_second(&e.created_at),
                                    format!("{} {}", e.amount, e.currency),
                                    e.reason.clone(),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                }
            }
            Ok(())
        }
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC); text that is not one as it is.
fn to_the_second(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| {
            t.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| text.to_string())
}

pub async fn plans(ctx: &Ctx, cmd: PlansCmd) -> Result<()> {
    let (shown, json) = match cmd {
        PlansCmd::Base(cmd) => return processing::plans(ctx, cmd).await,
        PlansCmd::Price {
            plan,
            currency,
            period,
            amount,
            remove,
            apply_to_existing,
            json,
        } => {
            let store = ctx.store().await?;
            let amount = if remove { None } else { amount };
            let set = prices::set_price(
                &store,
                &plan,
                &currency,
                &period,
                amount.as_deref(),
                Utc::now(),
            )
            .await?;
            if apply_to_existing {
                let today = provisor_billing::usage::BillingZone::from_env()?.date_of(Utc::now());
                let done =
                    provisor_billing::schedule::apply_to_existing(&store, &plan, today, Utc::now())
                        .await?;
                if json.json {
                    output::json(&serde_json::json!({ "prices": set, "scheduled": done }));
                    return Ok(());
                }
                for d in &done {
                    println!(
                        "service #{}: billed {} from {} (its next period)",
                        d.service_id, d.period, d.next_due
                    );
                }
            } else if !json.json && !remove {
                let waiting = provisor_billing::schedule::unscheduled(&store)
                    .await?
                    .into_iter()
                    .filter(|u| u.plan == set.plan)
                    .count();
                if waiting > 0 {
                    println!(
                        "{waiting} live service(s) of plan {} have no billing schedule and will not be invoiced: run this again with --apply-to-existing to bill them from their next period (see `provisor billing unscheduled`)",
                        set.plan
                    );
                }
            }
            (set, json.json)
        }
        PlansCmd::Deposit {
            plan,
            currency,
            amount,
            remove,
            json,
        } => {
            let store = ctx.store().await?;
            let amount = if remove { None } else { amount };
            (
                prices::set_deposit(&store, &plan, &currency, amount.as_deref(), Utc::now())
                    .await?,
                json.json,
            )
        }
        PlansCmd::Prices { plan, json } => {
            let store = ctx.store().await?;
            (prices::list(&store, &plan).await?, json.json)
        }
    };
    if json {
        output::json(&shown);
        return Ok(());
    }
    if shown.prices.is_empty() && shown.deposits.is_empty() {
        println!(
            "plan {} has no prices: orders are provisioned at once, without an invoice",
            shown.plan
        );
        return Ok(());
    }
    println!("plan {}:", shown.plan);
    let mut rows: Vec<Vec<String>> = shown
        .prices
        .iter()
        .map(|p| vec![p.period.clone(), p.currency.clone(), p.amount.clone()])
        .collect();
    rows.extend(
        shown
            .deposits
            .iter()
            .map(|d| vec!["deposit".into(), d.currency.clone(), d.amount.clone()]),
    );
    output::table(&["PERIOD", "CURRENCY", "AMOUNT"], &rows);
    Ok(())
}

/// `services order`, billing-aware: a priced plan's order prints its invoice and says
/// that the create waits for payment. Unpriced plans print what they always did.
pub async fn order(
    ctx: &Ctx,
    client: String,
    plan: String,
    addon_of: Option<i64>,
    options: Vec<String>,
    date: Option<String>,
    json: bool,
) -> Result<()> {
    let day = date.map(|d| parse_day("--date", &d)).transpose()?;
    let mut chosen = Map::new();
    for item in &options {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Error::Invalid(format!("--option {item:?} must look like KEY=VALUE")))?;
        chosen.insert(k.to_string(), Value::String(v.to_string()));
    }
    let rt = ctx.runtime_without_modules().await?;
    let ordered = provisor_app::order::order_on(&rt, &client, &plan, addon_of, chosen, day).await?;
    let invoice = match ordered.invoice_id {
        Some(id) => Some(invoices::show(&rt.store, &id.to_string()).await?),
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&ordered).unwrap_or(Value::Null);
        if let (Some(inv), Value::Object(m)) = (&invoice, &mut v) {
            m.insert(
                "invoice".into(),
                serde_json::json!({
                    "id": inv.id,
                    "number": inv.number,
                    "status": inv.status,
                    "currency": inv.currency,
                    "total": inv.total,
                    "amount_due": inv.amount_due,
                }),
            );
        }
        output::json(&v);
        return Ok(());
    }
    match invoice {
        None => println!(
            "service #{} ordered (handler {}); create operation #{} queued",
            ordered.service_id, ordered.handler, ordered.operation_id
        ),
        Some(inv) if inv.status == "paid" => println!(
            "service #{} ordered (handler {}); invoice {} ({} {}) paid from credit; create operation #{} queued",
            ordered.service_id,
            ordered.handler,
            inv.number.clone().unwrap_or_default(),
            inv.total,
            inv.currency,
            ordered.operation_id
        ),
        Some(inv) => {
            let number = inv.number.clone().unwrap_or_default();
            let credit = if inv.amount_due == inv.total {
                String::new()
            } else {
                format!(" of {} {} ({} from credit)", inv.total, inv.currency, inv.amount_paid)
            };
            println!(
                "service #{} ordered (handler {}); invoice {number} issued: {} {} to pay{credit}; create operation #{} waits for payment (`provisor invoices pay {number} --amount {} --reference REF`)",
                ordered.service_id,
                ordered.handler,
                inv.amount_due,
                inv.currency,
                ordered.operation_id,
                inv.amount_due,
            );
        }
    }
    Ok(())
}
