//! `provisor handlers`: a module plus its connection settings; import and sync of the
//! remote accounts; one module call by hand.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::args::{parse_day, read_json_object, read_settings};
use super::{output, Ctx, JsonFlag};
use provisor_engine::catalog;
use provisor_engine::handlers::{self, NewHandler};
use provisor_store::error::{Error, Result};

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum HandlersCmd {
    /// Adds a handler; its settings are validated against the module's schema first.
    Add {
        name: String,
        #[arg(long)]
        module: String,
        /// A JSON file with the connection settings (`-` reads standard input).
        #[arg(long)]
        settings: PathBuf,
        /// The department that takes this handler's manual tasks.
        #[arg(long)]
        department: Option<String>,
        /// A label, e.g. the data centre.
        #[arg(long)]
        label: Option<String>,
        /// At most this many operations at once through this handler.
        #[arg(long)]
        max_concurrent: Option<i32>,
        /// Add it disabled.
        #[arg(long)]
        disabled: bool,
        /// Also create the tariff plans the module offers (`plans presets`), each once.
        #[arg(long)]
        with_presets: bool,
    },
    /// Every handler.
    List(JsonFlag),
    /// One handler, secrets redacted.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Lets the handler take new services.
    Enable { name: String },
    /// Stops new services going to the handler; existing ones are still processed.
    Disable { name: String },
    /// Runs the module's connection test for the handler.
    Test {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Records the handler's existing remote accounts as services, without
    /// provisioning them (clients are matched by email, created where missing).
    Import {
        name: String,
        /// Put every imported account on this plan (one the handler serves).
        #[arg(long)]
        plan: Option<String>,
        /// Bill the imported services from this date (YYYY-MM-DD): each gets a billing
        /// term whose first period starts then. The plan must have a price.
        #[arg(long)]
        next_due: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Reconciles the states of the handler's services with its remote accounts.
    Sync {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Runs one module call by hand and prints its JSON answer (for module authors and
    /// debugging). Lifecycle calls made this way change no service.
    Call {
        name: String,
        /// test_connection, create, suspend, unsuspend, terminate, change_plan, renew,
        /// usage, sso, list_accounts, client_area, admin_actions, run_action, daily.
        call: String,
        /// A JSON file with the request (`-` reads standard input); default `{}`.
        #[arg(long)]
        request: Option<PathBuf>,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: HandlersCmd) -> Result<()> {
    match cmd {
        HandlersCmd::Add {
            name,
            module,
            settings,
            department,
            label,
            max_concurrent,
            disabled,
            with_presets,
        } => {
            let new = NewHandler {
                name,
                module,
                settings: read_settings(&settings)?,
                department,
                label,
                max_concurrent,
                enabled: !disabled,
            };
            add(ctx, new, with_presets).await
        }
        HandlersCmd::List(flag) => list(ctx, flag).await,
        HandlersCmd::Show { name, json } => show(ctx, name, json).await,
        HandlersCmd::Enable { name } => {
            let store = ctx.store().await?;
            let changed = provisor_app::handlers::set_enabled(
                &store,
                &provisor_app::audit::Actor::shell(),
                &name,
                true,
                ctx.clock.now(),
            )
            .await?;
            println!(
                "handler {name} {}",
                if changed {
                    "enabled"
                } else {
                    "was already enabled"
                }
            );
            Ok(())
        }
        HandlersCmd::Disable { name } => {
            let store = ctx.store().await?;
            let changed = provisor_app::handlers::set_enabled(
                &store,
                &provisor_app::audit::Actor::shell(),
                &name,
                false,
                ctx.clock.now(),
            )
            .await?;
            println!(
                "handler {name} {}; it takes no new services, its existing services are still processed",
                if changed { "disabled" } else { "was already disabled" }
            );
            Ok(())
        }
        HandlersCmd::Import {
            name,
            plan,
            next_due,
            json,
        } => import(ctx, name, plan, next_due, json).await,
        HandlersCmd::Sync { name, json } => sync(ctx, name, json).await,
        HandlersCmd::Call {
            name,
            call,
            request,
        } => call_by_hand(ctx, name, call, request).await,
        HandlersCmd::Test { name, json } => {
            let rt = ctx.runtime().await?;
            let result = handlers::test(&rt, &name).await;
            rt.retire_all();
            rt.log.flush().await;
            let info = result?;
            if json.json {
                output::json(&info);
            } else {
                println!("handler {name}: ok: {}", info.message);
            }
            Ok(())
        }
    }
}

/// Adds the handler, then creates the module's catalog presets or says they are offered.
async fn add(ctx: &Ctx, new: NewHandler, with_presets: bool) -> Result<()> {
    let rt = ctx.runtime().await?;
    let view = provisor_app::handlers::add(
        &rt.store,
        &rt.registry,
        &provisor_app::audit::Actor::shell(),
        new,
        ctx.clock.now(),
    )
    .await?;
    println!(
        "handler {} added (module {}, {})",
        view.name,
        view.module,
        if view.enabled { "enabled" } else { "disabled" }
    );
    // The module's catalog presets: created now, or offered.
    if with_presets {
        let made = provisor_app::catalog::create_presets(
            &rt.store,
            &rt.registry,
            &provisor_app::audit::Actor::shell(),
            &view.name,
            &[],
            ctx.clock.now(),
        )
        .await?;
        for p in &made {
            println!("  plan {}: {}", p.name, p.status);
        }
    } else {
        let offered: Vec<String> = catalog::presets(&rt.store, &rt.registry, &view.name)
            .await?
            .into_iter()
            .filter(|(_, v)| v.status == "offered")
            .map(|(p, _)| p.name)
            .collect();
        if !offered.is_empty() {
            println!(
                "module {} offers {} tariff plan(s) ({}): see them with `provisor plans presets {}` and create them with `--create`",
                view.module,
                offered.len(),
                offered.join(", "),
                view.name
            );
        }
    }
    Ok(())
}

async fn list(ctx: &Ctx, flag: JsonFlag) -> Result<()> {
    let rt = ctx.runtime().await?;
    let views: Vec<_> = handlers::list(&rt.store)
        .await?
        .iter()
        .map(|h| handlers::view(h, &rt.registry))
        .collect();
    if flag.json {
        output::json(&views);
    } else if views.is_empty() {
        println!("no handlers; add one with `provisor handlers add NAME --module M --settings FILE.json`");
    } else {
        output::table(
            &[
                "NAME",
                "MODULE",
                "ENABLED",
                "DEPARTMENT",
                "LABEL",
                "LAST CHECK",
                "STUCK CALLS",
            ],
            &views
                .iter()
                .map(|v| {
                    let check = match (v.last_check_ok, &v.last_check_message) {
                        (Some(true), _) => "ok".to_string(),
                        (Some(false), Some(m)) => format!("failed: {m}"),
                        _ => "-".to_string(),
                    };
                    vec![
                        v.name.clone(),
                        v.module.clone(),
                        if v.enabled { "yes" } else { "no" }.to_string(),
                        output::opt(v.department.as_deref()),
                        output::opt(v.label.as_deref()),
                        check,
                        match v.stuck_calls {
                            0 => "-".to_string(),
                            n => format!("{n} (see handlers show)"),
                        },
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

async fn show(ctx: &Ctx, name: String, json: JsonFlag) -> Result<()> {
    let rt = ctx.runtime().await?;
    let h = handlers::get(&rt.store, &name).await?;
    let v = handlers::view(&h, &rt.registry);
    if json.json {
        output::json(&v);
    } else {
        println!("name:        {}", v.name);
        println!("module:      {}", v.module);
        println!(
            "enabled:     {}",
            if v.enabled {
                "yes"
            } else {
                "no (takes no new services; existing ones are still processed)"
            }
        );
        println!("department:  {}", output::opt(v.department.as_deref()));
        println!(
            "label:       {}",
            output::cell(&output::opt(v.label.as_deref()))
        );
        println!(
            "max at once: {}",
            v.max_concurrent
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unlimited".into())
        );
        println!(
            "last check:  {}",
            match (&v.last_check_at, v.last_check_ok) {
                (Some(at), Some(ok)) => format!(
                    "{at} {} {}",
                    if ok { "ok" } else { "failed" },
                    output::opt(v.last_check_message.as_deref())
                ),
                _ => "never".to_string(),
            }
        );
        if v.stuck_calls > 0 {
            println!(
                "stuck calls: {} (abandoned past the call limit, still inside the module; at the cap the handler is not called and its operations wait)",
                v.stuck_calls
            );
        }
        println!(
            "settings:    {}",
            serde_json::to_string_pretty(&v.settings)
                .unwrap_or_default()
                .replace('\n', "\n             ")
        );
    }
    Ok(())
}

async fn import(
    ctx: &Ctx,
    name: String,
    plan: Option<String>,
    next_due: Option<String>,
    json: JsonFlag,
) -> Result<()> {
    let opts = provisor_app::sync::ImportOptions {
        plan,
        next_due: next_due.map(|d| parse_day("--next-due", &d)).transpose()?,
    };
    let rt = ctx.runtime().await?;
    let spinner =
        provisor_store::progress::spinner(&format!("importing handler {name}'s remote accounts"));
    let report =
        provisor_app::handlers::import(&rt, &provisor_app::audit::Actor::shell(), &name, &opts)
            .await;
    spinner.finish_and_clear();
    rt.retire_all();
    rt.log.flush().await;
    let report = report?;
    if json.json {
        output::json(&report);
    } else {
        println!(
            "handler {name}: {} account(s) on {} page(s); {} imported, {} already known, {} client(s) created",
            report.seen, report.pages, report.imported, report.already_known, report.clients_created
        );
        if let Some(d) = opts.next_due {
            println!("  {} imported service(s) billed from {d}", report.scheduled);
        } else if report.imported > 0 {
            println!(
                "  imported services are not billed until they have a schedule: `provisor billing unscheduled` lists them (import with --next-due D to bill them from D)"
            );
        }
    }
    Ok(())
}

async fn sync(ctx: &Ctx, name: String, json: JsonFlag) -> Result<()> {
    let rt = ctx.runtime().await?;
    let spinner = provisor_store::progress::spinner(&format!(
        "reconciling handler {name}'s services with its remote accounts"
    ));
    let report =
        provisor_app::handlers::reconcile(&rt, &provisor_app::audit::Actor::shell(), &name).await;
    spinner.finish_and_clear();
    rt.retire_all();
    rt.log.flush().await;
    let report = report?;
    if json.json {
        output::json(&report);
    } else {
        println!(
            "handler {name}: {} remote account(s) on {} page(s)",
            report.seen, report.pages
        );
        for c in &report.state_changes {
            println!("  {c}");
        }
        if !report.missing_remotely.is_empty() {
            println!(
                "  not found remotely: services {:?}",
                report.missing_remotely
            );
        }
    }
    Ok(())
}

async fn call_by_hand(
    ctx: &Ctx,
    name: String,
    call: String,
    request: Option<PathBuf>,
) -> Result<()> {
    let call = provisor_runtime::Call::parse(&call)?;
    let request = match request {
        Some(path) => read_json_object(&path, "request")?,
        None => Value::Object(serde_json::Map::new()),
    };
    let rt = ctx.runtime().await?;
    let h = handlers::get(&rt.store, &name).await?;
    let instance = rt.instance(&h).await?;
    let ctx_call = provisor_runtime::CallContext {
        service_id: request.pointer("/service/id").and_then(Value::as_i64),
        ..Default::default()
    };
    let result = instance.call_raw(call, request.to_string(), ctx_call).await;
    drop(instance);
    rt.retire_all();
    rt.log.flush().await;
    let text = result.map_err(|source| Error::Module {
        context: format!("handler {name}: {}", call.as_str()),
        source,
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => output::json(&v),
        Err(_) => println!("{text}"),
    }
    Ok(())
}
