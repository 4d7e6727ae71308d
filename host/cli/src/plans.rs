//! `provisor plans`: tariff plans, their presets, prices and deposits.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Map, Value};

use super::{output, Ctx, JsonFlag};
use provisor_billing::prices;
use provisor_engine::catalog::{self, NewPlan};
use provisor_store::error::{Error, Result};

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum BasePlansCmd {
    /// Adds a tariff plan processed by one or more handlers (in order of preference).
    Add {
        name: String,
        /// A handler that processes the plan; repeat for several.
        #[arg(long = "handler", required = true)]
        handlers: Vec<String>,
        /// The remote account template (package, user group, pricelist).
        #[arg(long)]
        template: Option<String>,
        /// Resources passed to the module, as a JSON object (or @FILE).
        #[arg(long)]
        resources: Option<String>,
        /// Plan settings for the module, as a JSON object (or @FILE).
        #[arg(long)]
        settings: Option<String>,
        /// Configurable options: {"ram": {"4": {"ram_gb": 4}, "8": {"ram_gb": 8}}} (or @FILE).
        #[arg(long)]
        options: Option<String>,
        /// The plan is an addon, ordered for an existing service.
        #[arg(long)]
        addon: bool,
    },
    /// Every plan.
    List(JsonFlag),
    /// One plan.
    Show {
        plan: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The tariff plans a handler's module offers to create (ISPsystem's price lists,
    /// say); with --create, creates those not in the catalog yet, as plans served by
    /// the handler (no prices: those are yours).
    Presets {
        handler: String,
        /// Create them (each once; a plan of the same name is left alone).
        #[arg(long)]
        create: bool,
        /// Only this preset (repeat for several); default all.
        #[arg(long = "only", requires = "create")]
        only: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

fn parse_json_arg(text: Option<String>, what: &str) -> Result<Value> {
    let Some(text) = text else {
        return Ok(Value::Object(Map::new()));
    };
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(PathBuf::from(path))
            .map_err(|e| Error::Invalid(format!("cannot read {what} from {path}: {e}")))?,
        None => text,
    };
    Ok(Value::Object(provisor_store::schema::parse_object(
        &text, what,
    )?))
}

async fn base(ctx: &Ctx, cmd: BasePlansCmd) -> Result<()> {
    match cmd {
        BasePlansCmd::Add {
            name,
            handlers,
            template,
            resources,
            settings,
            options,
            addon,
        } => {
            let resources = parse_json_arg(resources, "--resources")?;
            let settings = parse_json_arg(settings, "--settings")?;
            let options = parse_json_arg(options, "--options")?;
            let rt = ctx.runtime().await?;
            let view = provisor_app::catalog::add_plan(
                &rt.store,
                &rt.registry,
                &provisor_app::audit::Actor::shell(),
                NewPlan {
                    name,
                    handlers,
                    template,
                    resources: resources.as_object().cloned().unwrap_or_default(),
                    settings,
                    options: options.as_object().cloned().unwrap_or_default(),
                    is_addon: addon,
                },
                ctx.clock.now(),
            )
            .await?;
            println!(
                "plan #{} {} added (module {}, handlers {})",
                view.id,
                view.name,
                view.module,
                view.handlers.join(", ")
            );
        }
        BasePlansCmd::List(flag) => list(ctx, flag).await?,
        BasePlansCmd::Presets {
            handler,
            create,
            only,
            json,
        } => presets(ctx, handler, create, only, json).await?,
        BasePlansCmd::Show { plan, json } => {
            let store = ctx.store().await?;
            let p = catalog::get_plan(&store, &plan).await?;
            let v = catalog::view_plan(&store, &p).await?;
            if json.json {
                output::json(&v);
            } else {
                println!(
                    "plan #{} {} (module {}{})",
                    v.id,
                    v.name,
                    v.module,
                    if v.is_addon { ", addon" } else { "" }
                );
                println!("handlers:  {}", v.handlers.join(", "));
                println!("template:  {}", output::opt(v.template.as_deref()));
                println!("resources: {}", v.resources);
                println!("settings:  {}", v.settings);
                println!("options:   {}", v.options);
            }
        }
    }
    Ok(())
}

async fn list(ctx: &Ctx, flag: JsonFlag) -> Result<()> {
    let store = ctx.store().await?;
    let views = provisor_engine::views::plans(&store).await?;
    if flag.json {
        output::json(&views);
    } else {
        output::table(
            &["ID", "NAME", "MODULE", "HANDLERS", "ADDON"],
            &views
                .iter()
                .map(|v| {
                    vec![
                        v.id.to_string(),
                        v.name.clone(),
                        v.module.clone(),
                        v.handlers.join(","),
                        if v.is_addon { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

async fn presets(
    ctx: &Ctx,
    handler: String,
    create: bool,
    only: Vec<String>,
    json: JsonFlag,
) -> Result<()> {
    let rt = ctx.runtime().await?;
    let views = if create {
        provisor_app::catalog::create_presets(
            &rt.store,
            &rt.registry,
            &provisor_app::audit::Actor::shell(),
            &handler,
            &only,
            ctx.clock.now(),
        )
        .await?
    } else {
        catalog::presets(&rt.store, &rt.registry, &handler)
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    };
    if json.json {
        output::json(&views);
    } else if views.is_empty() {
        println!("handler {handler}'s module offers no plan presets");
    } else {
        output::table(
            &["PRESET", "KIND", "LIST PRICE", "STATUS", "DESCRIPTION"],
            &views
                .iter()
                .map(|v| {
                    vec![
                        v.name.clone(),
                        if v.addon { "addon" } else { "plan" }.to_string(),
                        v.list_price
                            .as_ref()
                            .map(|p| {
                                let note = if p.note.is_empty() {
                                    String::new()
                                } else {
                                    format!(" + {}", p.note)
                                };
                                let cur = p.currency.as_deref().unwrap_or("(default currency)");
                                format!("{} {cur} {}{note}", p.amount, p.period)
                            })
                            .unwrap_or_else(|| "-".into()),
                        v.status.to_string(),
                        v.description.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let offered = views.iter().filter(|v| v.status == "offered").count();
        if offered > 0 {
            println!(
                "{offered} not in the catalog yet: `provisor plans presets {handler} --create` creates them (list prices are shown, never set: add yours with `provisor plans price`)"
            );
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum PlansCmd {
    #[command(flatten)]
    Base(BasePlansCmd),
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

pub(crate) async fn run(ctx: &Ctx, cmd: PlansCmd) -> Result<()> {
    let (shown, json) = match cmd {
        PlansCmd::Base(cmd) => return base(ctx, cmd).await,
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
            let set = provisor_app::catalog::set_price(
                &store,
                &provisor_app::audit::Actor::shell(),
                &plan,
                (&currency, &period),
                amount.as_deref(),
                ctx.clock.now(),
            )
            .await?;
            if apply_to_existing {
                let today = ctx.billing.zone.date_of(ctx.clock.now());
                let done = provisor_app::catalog::apply_to_existing(
                    &store,
                    &provisor_app::audit::Actor::shell(),
                    &plan,
                    today,
                    ctx.clock.now(),
                )
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
                provisor_app::catalog::set_deposit(
                    &store,
                    &provisor_app::audit::Actor::shell(),
                    &plan,
                    &currency,
                    amount.as_deref(),
                    ctx.clock.now(),
                )
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
