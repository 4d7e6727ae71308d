//! `provisor clients`: clients, and their credit (billing's `credit` and `ledger`).

use chrono::Utc;
use clap::Subcommand;
use serde_json::Value;

use super::billing::print_applied;
use super::{output, Ctx, JsonFlag};
use provisor_billing::ledger;
use provisor_engine::catalog;
use provisor_store::entities::client;
use provisor_store::error::Result;

#[derive(Debug, Subcommand)]
pub(crate) enum BaseClientsCmd {
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

async fn base(ctx: &Ctx, cmd: BaseClientsCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        BaseClientsCmd::Add {
            name,
            email,
            currency,
            country,
        } => {
            let c = provisor_app::catalog::add_client(
                &store,
                &provisor_app::audit::Actor::shell(),
                &name,
                &email,
                (&currency, &country),
                ctx.clock.now(),
            )
            .await?;
            println!("client #{} added: {} <{}>", c.id, c.name, c.email);
        }
        BaseClientsCmd::List { search, page, json } => {
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
        BaseClientsCmd::Show { client, json } => {
            let c = catalog::get_client(&store, &client).await?;
            let services = provisor_engine::views::client_services(&store, c.id).await?;
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

#[derive(Debug, Subcommand)]
pub(crate) enum ClientsCmd {
    #[command(flatten)]
    Base(BaseClientsCmd),
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
    /// Sets (or replaces) the password a client logs in with, or disables its login.
    Login {
        /// The client's id or email.
        client: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "disable")]
        password_stdin: bool,
        /// Disable the login (its sessions end).
        #[arg(long)]
        disable: bool,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: ClientsCmd) -> Result<()> {
    match cmd {
        ClientsCmd::Base(cmd) => base(ctx, cmd).await,
        ClientsCmd::Login {
            client,
            password_stdin,
            disable,
        } => login(ctx, &client, password_stdin, disable).await,
        ClientsCmd::Credit {
            client,
            amount,
            reason,
            json,
        } => {
            let store = ctx.store().await?;
            let a = provisor_app::invoices::credit(
                (&store, &ctx.billing, ctx.clock.now()),
                &provisor_app::audit::Actor::shell(),
                &client,
                &amount,
                &reason,
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

/// `clients login`: a client's password, or its login disabled.
async fn login(ctx: &Ctx, client: &str, password_stdin: bool, disable: bool) -> Result<()> {
    use super::staff::shell;
    use provisor_app::accounts::client_logins;
    let store = ctx.store().await?;
    let now = ctx.clock.now();
    if disable {
        let l = client_logins::disable(
            &store,
            &shell(),
            &provisor_app::audit::Actor::shell(),
            client,
            now,
        )
        .await?;
        println!(
            "login of client #{} ({}) disabled; its sessions ended",
            l.client_id, l.email
        );
        return Ok(());
    }
    let c = provisor_store::lookup::get_client(&store, client).await?;
    let password = super::staff::read_password(password_stdin, &c.email)?;
    let l = client_logins::set(
        &store,
        &shell(),
        &provisor_app::audit::Actor::shell(),
        client,
        &password,
        now,
    )
    .await?;
    println!(
        "client #{} ({}) can log in with the password set",
        l.client_id, l.email
    );
    Ok(())
}
