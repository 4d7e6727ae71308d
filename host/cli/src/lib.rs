//! The `provisor` command line. Thin: it parses arguments, opens what a command needs,
//! calls the library and prints. Every listing takes `--json`. Errors name the thing,
//! the reason and the fix, and exit non-zero (2 bad input, 3 not found, 4 module
//! failure, 5 storage, 1 anything else).

pub mod bench;
pub mod bench_billing;
mod billing;
mod billing_run;
mod config_cmd;
mod demo;
mod output;
mod processing;
mod usage;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
pub use provisor_app::Ctx;
use serde::Serialize;
use serde_json::Value;

use provisor_app::daemon::{self, ServeOptions};
use provisor_engine::catalog;
use provisor_engine::handlers::{self, NewHandler};
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_store::error::{Error, ErrorKind, Result};
use provisor_store::schema;

/// Provisor: billing and provisioning for hosting providers.
#[derive(Debug, Parser)]
#[command(name = "provisor", version, about, propagate_version = true)]
pub struct Cli {
    /// The Provisor home (database, modules, provisor.toml). Else PROVISOR_HOME, else
    /// ./provisor-home
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    /// Use this database instead of the embedded SQLite (postgres://… or sqlite://…).
    /// Overrides DATABASE_URL and `database.url` in provisor.toml.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Seconds a module call may take before it is abandoned as failed (transient).
    /// Overrides PROVISOR_CALL_TIMEOUT and `modules.call_timeout_secs` (default 60).
    #[arg(long, global = true)]
    call_timeout: Option<u64>,
    /// Abandoned calls a handler may have stuck in its module before the host stops
    /// calling it (its operations then wait) until one returns. Overrides
    /// PROVISOR_MAX_STUCK_CALLS and `modules.max_stuck_calls` (default 4).
    #[arg(long, global = true)]
    max_stuck_calls: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates the home directory (0700), the database (0600), the secret key
    /// (`secret.key`, 0600, unless PROVISOR_SECRET_KEY or PROVISOR_SECRET_KEY_FILE
    /// gives one) and a commented provisor.toml (every key at its default) if there is
    /// none; refuses a world-writable directory.
    Init,
    /// The configuration in effect (provisor.toml, environment, flags).
    #[command(subcommand)]
    Config(config_cmd::ConfigCmd),
    /// The key that seals the handlers' secret settings.
    #[command(subcommand)]
    Secrets(SecretsCmd),
    /// Processing modules: list, inspect, install, history.
    #[command(subcommand)]
    Modules(ModulesCmd),
    /// Handlers: a module plus its connection settings.
    #[command(subcommand)]
    Handlers(HandlersCmd),
    /// Departments: who takes manual tasks.
    #[command(subcommand)]
    Departments(processing::DepartmentsCmd),
    /// Clients, and their credit (billing adds `credit` and `ledger`).
    #[command(subcommand)]
    Clients(billing::ClientsCmd),
    /// Tariff plans, with their prices and deposits.
    #[command(subcommand)]
    Plans(billing::PlansCmd),
    /// Services: order, list, show, and queue lifecycle operations.
    #[command(subcommand)]
    Services(processing::ServicesCmd),
    /// Operations: the durable queue ("current operations").
    #[command(subcommand)]
    Ops(processing::OpsCmd),
    /// Manual tasks for departments.
    #[command(subcommand)]
    Tasks(processing::TasksCmd),
    /// Emails waiting to be sent.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Billing: currencies and exchange rates.
    #[command(subcommand)]
    Currencies(billing::CurrenciesCmd),
    /// Billing: tax rates per country.
    #[command(subcommand)]
    Taxes(billing::TaxesCmd),
    /// Billing: invoices and payments.
    #[command(subcommand)]
    Invoices(billing::InvoicesCmd),
    /// Billing: usage plans, unit prices, `usage import FILE`, billable items.
    #[command(subcommand)]
    Usage(usage::UsageCmd),
    /// Billing runs outside the daily schedule: a past month's usage again.
    #[command(subcommand)]
    Billing(billing_run::BillingCmd),
    /// Runs workers until no operation is due (for scripts and tests).
    Work {
        /// Required: stop when nothing is due (continuous work is `provisor serve`).
        #[arg(long, required = true)]
        until_idle: bool,
        #[command(flatten)]
        engine: processing::EngineArgs,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The daily run for a date: every handler's `daily` (renewals, license pools,
    /// addon lifetimes, enabled or disabled handlers alike); what modules ask for is
    /// queued as operations (`work --until-idle` or `serve` carries them out).
    Cron {
        /// The day to run, YYYY-MM-DD (default: today in the billing time zone,
        /// PROVISOR_BILLING_TZ, UTC unless set).
        #[arg(long)]
        date: Option<String>,
        /// Say which handlers would be called, call nothing, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Runs the daemon: workers, the modules watcher, handler changes, connection
    /// checks.
    Serve(ServeArgs),
    /// The module log: every module call, HTTP exchange and module log line, newest
    /// first, secrets redacted.
    Log {
        #[arg(long)]
        handler: Option<String>,
        #[arg(long)]
        service: Option<i64>,
        #[command(flatten)]
        page: output::Paging,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Benchmarks (figures beside a baseline measured in the same run).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Runs a demonstration in a fresh home and prints what happened.
    Demo(demo::DemoArgs),
    /// Loads one module file and prints its manifest as JSON (used internally to
    /// check a file in a separate process).
    #[command(name = "__probe", hide = true)]
    Probe { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum ModulesCmd {
    /// Every module file with its status (what the running daemon loaded).
    List(JsonFlag),
    /// Checks a module file and shows its manifest, without installing it.
    Inspect {
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Checks a module file fully, then copies it into the modules directory.
    Install { file: PathBuf },
    /// Every load, upgrade and refusal, newest first.
    History {
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Orders services through a no-op module from order to active: ops/s on SQLite
    /// and (with --pg or PROVISOR_TEST_PG) PostgreSQL, beside raw write transactions.
    Ops {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// The no-op module (default: the bench-noop fixture next to this binary).
        #[arg(long)]
        module: Option<PathBuf>,
        /// A PostgreSQL server URL; a fresh database is created beside it.
        #[arg(long, env = "PROVISOR_TEST_PG")]
        pg: Option<String>,
        /// Operations the worker runs at once (module calls in flight).
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Post-paid usage billing: N clients with 10 imported usage lines each, the
    /// monthly run timed beside a bulk insert of as many rows (SQLite).
    Billing {
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Instead of one run: each of these client counts (comma-separated, e.g.
        /// 10000,100000) in its own process, --repeat times, printing the median times
        /// and how the time grows against the number of clients.
        #[arg(long, value_delimiter = ',', conflicts_with = "clients")]
        scale: Vec<usize>,
        /// Runs per size with --scale (the median is reported).
        #[arg(long, default_value_t = 3, requires = "scale")]
        repeat: usize,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCmd {
    /// Every queued and sent email.
    List(JsonFlag),
}

#[derive(Debug, Subcommand)]
enum HandlersCmd {
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

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Seconds between connection checks of enabled handlers (0 disables them).
    #[arg(long, default_value_t = 300)]
    check_interval: u64,
    /// Milliseconds between rescans of the modules directory (the watcher is faster).
    #[arg(long, default_value_t = 1000)]
    scan_interval_ms: u64,
    /// Run no workers (modules and handlers only).
    #[arg(long)]
    no_workers: bool,
    /// The hour (0-23, in the billing time zone PROVISOR_BILLING_TZ, UTC unless set)
    /// from which the day's daily run (`provisor cron`) is done, once per day: the days
    /// done are recorded, so a restart runs no day twice. On a month's last day the
    /// month-end collection runs again at 23:00 there.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..24))]
    cron_hour: u32,
    /// Serve the HTTP API (POST /v1/usage, GET /v1/health) on IP:PORT, e.g.
    /// 127.0.0.1:8470 (port 0 picks a free one). Needs PROVISOR_API_TOKEN (at least 24
    /// characters: `openssl rand -hex 32`); put a TLS reverse proxy in front when not on
    /// loopback. Without it nothing listens.
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    engine: processing::EngineArgs,
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if let Command::Probe { file } = &cli.command {
        return match provisor_runtime::registry::loader::run_probe(file) {
            Ok(()) => 0,
            Err(_) => 1,
        };
    }
    let serving = matches!(cli.command, Command::Serve(_));
    let ctx = match context(&cli).and_then(|ctx| init_tracing(serving, &ctx).map(|()| ctx)) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code(&e);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = match rt.block_on(run(cli, ctx)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
    };
    // Calls that hung are abandoned, not waited for.
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

fn exit_code(e: &Error) -> i32 {
    match e.kind() {
        ErrorKind::Invalid => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Module => 4,
        ErrorKind::Storage => 5,
        ErrorKind::Io => 1,
    }
}

/// Logs to standard error at `log.filter` (PROVISOR_LOG), else `warn` (`info` for serve).
fn init_tracing(serving: bool, ctx: &Ctx) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = match &ctx.config.log.filter {
        None => EnvFilter::new(default),
        Some(f) => EnvFilter::try_new(f).map_err(|e| {
            Error::Invalid(format!(
                "{} = {f:?} is not a log filter ({e}): give e.g. warn, info or info,provisor=debug",
                ctx.config.named("log.filter")
            ))
        })?,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    Ok(())
}

#[derive(Debug, Subcommand)]
enum SecretsCmd {
    /// Makes a new key and seals every handler's secrets with it in one transaction;
    /// the key file keeps the old key until that has committed. With the key in
    /// PROVISOR_SECRET_KEY, put the new key first in the list (`NEW,OLD`), run this,
    /// then drop the old one.
    Rotate(JsonFlag),
}

/// The application context for this command line: the configuration (provisor.toml,
/// the environment, then these flags), read once.
fn context(cli: &Cli) -> Result<Ctx> {
    let retry_secs = match &cli.command {
        Command::Work { engine, .. } => engine.retry_secs,
        Command::Serve(args) => args.engine.retry_secs,
        _ => None,
    };
    let flags = provisor_app::config::Flags {
        home: cli.home.clone(),
        database_url: cli.database_url.clone(),
        call_timeout: cli.call_timeout,
        max_stuck_calls: cli.max_stuck_calls,
        retry_secs,
    };
    Ctx::new(provisor_app::Config::load(&flags)?)
}

/// Switches progress drawing on for the long runs, unless they print JSON (it shows only
/// when standard error is a terminal: see `provisor_store::progress`).
fn progress_for(command: &Command) {
    let json = match command {
        Command::Handlers(HandlersCmd::Import { json, .. })
        | Command::Handlers(HandlersCmd::Sync { json, .. })
        | Command::Billing(billing_run::BillingCmd::Run { json, .. })
        | Command::Cron { json, .. }
        | Command::Bench(BenchCmd::Ops { json, .. })
        | Command::Bench(BenchCmd::Billing { json, .. }) => json.json,
        #[allow(unreachable_patterns)]
        _ => return,
    };
    provisor_store::progress::enable(json);
}

async fn run(cli: Cli, ctx: Ctx) -> Result<()> {
    progress_for(&cli.command);
    match cli.command {
        Command::Init => {
            if let Some(note) = ctx.home.init()? {
                println!("{note}");
            }
            if provisor_app::config::write_template(ctx.home.root())? {
                println!(
                    "wrote {} (every setting at its default, commented out)",
                    ctx.config.file.display()
                );
            }
            let store = ctx.store().await?;
            println!(
                "initialised {} (database {})",
                ctx.home.root().display(),
                store.url_shown()
            );
            if let Some(ring) = store.secrets() {
                println!(
                    "handler secrets are sealed with key {} from {}: back it up, without it they cannot be read",
                    ring.current_id(),
                    ring.source()
                );
            }
            println!(
                "drop module files into {} or run `provisor modules install FILE`",
                ctx.home.modules_dir().display()
            );
            Ok(())
        }
        Command::Secrets(SecretsCmd::Rotate(flag)) => {
            let store = ctx.store().await?;
            let done = provisor_store::secrets::rotate(&store).await?;
            if flag.json {
                output::json(&done);
            } else {
                println!(
                    "sealed {} secret value(s) of {} handler(s) with key {}; {} now holds only that key{}",
                    done.values,
                    done.handlers,
                    done.key_id,
                    done.source,
                    if done.retired.is_empty() {
                        String::new()
                    } else {
                        format!(" (retired: {})", done.retired.join(", "))
                    }
                );
            }
            Ok(())
        }
        Command::Config(cmd) => config_cmd::run(&ctx, cmd),
        Command::Modules(cmd) => modules(&ctx, cmd).await,
        Command::Handlers(cmd) => handlers_cmd(&ctx, cmd).await,
        Command::Serve(args) => {
            let opts = ServeOptions {
                check_interval: Duration::from_secs(args.check_interval),
                scan_interval: Duration::from_millis(args.scan_interval_ms.max(100)),
                cron_hour: args.cron_hour,
                listen: args.listen,
                engine: if args.no_workers {
                    None
                } else {
                    Some(args.engine.config(&ctx)?)
                },
            };
            daemon::serve(&ctx, opts).await
        }
        Command::Demo(args) => demo::run(&ctx, args).await,
        Command::Bench(BenchCmd::Ops {
            count,
            module,
            pg,
            concurrency,
            json,
        }) => {
            if count == 0 || concurrency == 0 {
                return Err(Error::Invalid(
                    "--count and --concurrency must be at least 1".into(),
                ));
            }
            let module = module.or_else(crate::bench::default_module).ok_or_else(|| {
                Error::Invalid("no no-op module: build the workspace (cargo build --workspace) or pass --module FILE".into())
            })?;
            let mut all = Vec::new();
            let f = crate::bench::ops_on("", "sqlite", &module, count, concurrency).await?;
            if !json.json {
                crate::bench::print(&f);
            }
            all.push(f);
            if let Some(pg) = pg {
                let url = crate::bench::fresh_pg(&pg).await?;
                let f = crate::bench::ops_on(&url, "postgres", &module, count, concurrency).await?;
                if !json.json {
                    crate::bench::print(&f);
                }
                all.push(f);
            }
            if json.json {
                output::json(&all);
            }
            Ok(())
        }
        Command::Bench(BenchCmd::Billing {
            clients,
            scale,
            repeat,
            json,
        }) => {
            if scale.is_empty() {
                crate::bench_billing::cli(clients, json.json).await
            } else {
                crate::bench_billing::scale(&scale, repeat, json.json)
            }
        }
        Command::Departments(cmd) => processing::departments(&ctx, cmd).await,
        // Billing: clients and plans gain billing subcommands; currencies, taxes and
        // invoices (cli/billing.rs).
        Command::Clients(cmd) => billing::clients(&ctx, cmd).await,
        Command::Plans(cmd) => billing::plans(&ctx, cmd).await,
        Command::Currencies(cmd) => billing::currencies_cmd(&ctx, cmd).await,
        Command::Taxes(cmd) => billing::taxes_cmd(&ctx, cmd).await,
        Command::Invoices(cmd) => billing::invoices_cmd(&ctx, cmd).await,
        Command::Usage(cmd) => usage::run(&ctx, cmd).await,
        Command::Billing(cmd) => billing_run::run(&ctx, cmd).await,
        Command::Services(cmd) => processing::services(&ctx, cmd).await,
        Command::Ops(cmd) => processing::ops(&ctx, cmd).await,
        Command::Tasks(cmd) => processing::tasks_cmd(&ctx, cmd).await,
        Command::Outbox(OutboxCmd::List(flag)) => processing::outbox_list(&ctx, flag.json).await,
        Command::Work { engine, json, .. } => processing::work(&ctx, engine, json.json).await,
        Command::Cron {
            date,
            dry_run,
            json,
        } => processing::cron(&ctx, date, dry_run, json.json).await,
        Command::Log {
            handler,
            service,
            page,
            json,
        } => show_log(&ctx, handler, service, page, json.json).await,
        Command::Probe { .. } => Ok(()),
    }
}

#[derive(Serialize)]
struct ModuleRow {
    file: String,
    name: Option<String>,
    version: Option<String>,
    api_version: Option<String>,
    status: String,
    reason: Option<String>,
    sha256: String,
    capabilities: Vec<String>,
    updated_at: String,
}

async fn modules(ctx: &Ctx, cmd: ModulesCmd) -> Result<()> {
    match cmd {
        ModulesCmd::List(flag) => {
            let rt = ctx.runtime().await?;
            let rows: Vec<ModuleRow> = Registry::recorded(&rt.store)
                .await?
                .into_iter()
                .map(|m| ModuleRow {
                    capabilities: m
                        .manifest
                        .as_deref()
                        .and_then(|t| serde_json::from_str::<provisor_module_api::Manifest>(t).ok())
                        .map(|mf| {
                            mf.capabilities
                                .iter()
                                .map(|c| c.as_str().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    file: m.file,
                    name: m.name,
                    version: m.version,
                    api_version: m.api_version,
                    status: m.status,
                    reason: m.reason,
                    sha256: m.sha256,
                    updated_at: m.updated_at.to_rfc3339(),
                })
                .collect();
            if flag.json {
                output::json(&rows);
            } else if rows.is_empty() {
                println!("no module files in {}", ctx.home.modules_dir().display());
            } else {
                output::table(
                    &["NAME", "VERSION", "STATUS", "FILE", "REASON"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                output::opt(&r.name),
                                output::opt(&r.version),
                                r.status.clone(),
                                r.file.clone(),
                                output::opt(&r.reason),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
            Ok(())
        }
        ModulesCmd::Inspect { file, json } => {
            let store = ctx.store().await?;
            let registry = Registry::new(
                ctx.home.clone(),
                store,
                LoadPolicy::standard(),
                false,
                "cli",
            );
            let file = absolute(&file)?;
            let inspection = registry.inspect(&file)?;
            match inspection.result {
                Ok(manifest) => {
                    if json.json {
                        output::json(
                            &serde_json::json!({"file": file, "sha256": inspection.sha256, "manifest": manifest}),
                        );
                    } else {
                        print_manifest(&file, &inspection.sha256, &manifest);
                    }
                    Ok(())
                }
                Err(reason) => Err(Error::Invalid(format!(
                    "module file {} refused: {reason}",
                    file.display()
                ))),
            }
        }
        ModulesCmd::Install { file } => {
            let file = absolute(&file)?;
            let store = ctx.store().await?;
            let daemon = daemon::is_running(&ctx.home);
            let registry = Registry::new(
                ctx.home.clone(),
                store.clone(),
                LoadPolicy::standard(),
                !daemon,
                "cli",
            );
            registry.learn_proven().await?;
            registry.scan().await?;
            let events = registry.install(&file).await?;
            let mut refused = None;
            for e in &events {
                println!("{e}");
                if let provisor_runtime::registry::ScanEvent::Refused { reason, .. } = e {
                    refused = Some(reason.clone());
                }
            }
            if events.is_empty() {
                println!("{} is already installed (same contents)", file.display());
            }
            if daemon {
                println!("the running daemon picks it up within seconds; `provisor modules list` shows its status");
            }
            match refused {
                Some(reason) => Err(Error::Invalid(format!(
                    "module file {} was copied in but refused: {reason}",
                    file.display()
                ))),
                None => Ok(()),
            }
        }
        ModulesCmd::History { limit, json } => {
            let store = ctx.store().await?;
            let events = Registry::history(&store, limit).await?;
            if json.json {
                let rows: Vec<Value> = events
                    .iter()
                    .map(|e| serde_json::json!({"at": e.at.to_rfc3339(), "file": e.file, "sha256": e.sha256, "name": e.name, "version": e.version, "event": e.event, "reason": e.reason, "process": e.process}))
                    .collect();
                output::json(&rows);
            } else {
                output::table(
                    &["AT", "EVENT", "NAME", "VERSION", "FILE", "REASON"],
                    &events
                        .iter()
                        .map(|e| {
                            vec![
                                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                                e.event.clone(),
                                output::opt(&e.name),
                                output::opt(&e.version),
                                e.file.clone(),
                                output::opt(&e.reason),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
            Ok(())
        }
    }
}

fn print_manifest(file: &Path, sha256: &str, m: &provisor_module_api::Manifest) {
    println!("file:          {}", file.display());
    println!("sha256:        {sha256}");
    println!("module:        {} {}", m.name, m.version);
    println!("built against: provisor-module-api {}", m.api_version);
    if !m.description.is_empty() {
        println!("description:   {}", m.description);
    }
    let caps: Vec<&str> = m.capabilities.iter().map(|c| c.as_str()).collect();
    println!(
        "capabilities:  {}",
        if caps.is_empty() {
            "none".to_string()
        } else {
            caps.join(", ")
        }
    );
    let secrets = schema::secret_paths(&m.settings_schema);
    let required: Vec<String> = m
        .settings_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = m
        .settings_schema
        .get("properties")
        .and_then(Value::as_object)
    {
        println!("handler settings:");
        for (name, sub) in props {
            let ty = sub
                .get("type")
                .map(|t| t.to_string().trim_matches('"').to_string())
                .unwrap_or_else(|| "any".to_string());
            let mut flags = Vec::new();
            if required.contains(name) {
                flags.push("required");
            }
            if secrets.contains(&format!("/{name}")) {
                flags.push("secret");
            }
            let desc = sub.get("description").and_then(Value::as_str).unwrap_or("");
            println!("  {name:<20} {ty:<10} {:<18} {desc}", flags.join(", "));
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current directory", e))?
            .join(path))
    }
}

fn read_settings(path: &Path) -> Result<Value> {
    read_json_object(path, "settings")
}

/// Reads a JSON object from `path` (or standard input for `-`); `what` names the file
/// in errors ("the settings file", "the request file"). A missing file is not found.
fn read_json_object(path: &Path, what: &str) -> Result<Value> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io(format!("cannot read {what} from standard input"), e))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| {
            let msg = format!("cannot read the {what} file {}: {e}", path.display());
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(msg)
            } else {
                Error::Invalid(msg)
            }
        })?
    };
    let map = schema::parse_object(&text, &format!("the {what} file {}", path.display()))?;
    Ok(Value::Object(map))
}

async fn handlers_cmd(ctx: &Ctx, cmd: HandlersCmd) -> Result<()> {
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
            let settings = read_settings(&settings)?;
            let rt = ctx.runtime().await?;
            let view = handlers::add(
                &rt.store,
                &rt.registry,
                NewHandler {
                    name,
                    module,
                    settings,
                    department,
                    label,
                    max_concurrent,
                    enabled: !disabled,
                },
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
                let made =
                    catalog::create_presets(&rt.store, &rt.registry, &view.name, &[]).await?;
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
        HandlersCmd::List(flag) => {
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
                                output::opt(&v.department),
                                output::opt(&v.label),
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
        HandlersCmd::Show { name, json } => {
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
                println!("department:  {}", output::opt(&v.department));
                println!("label:       {}", output::cell(&output::opt(&v.label)));
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
                            output::opt(&v.last_check_message)
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
        HandlersCmd::Enable { name } => {
            let store = ctx.store().await?;
            let changed = handlers::set_enabled(&store, &name, true).await?;
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
            let changed = handlers::set_enabled(&store, &name, false).await?;
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
        } => {
            let opts = provisor_app::sync::ImportOptions {
                plan,
                next_due: next_due
                    .map(|d| processing::parse_day("--next-due", &d))
                    .transpose()?,
            };
            let rt = ctx.runtime().await?;
            let spinner = provisor_store::progress::spinner(&format!(
                "importing handler {name}'s remote accounts"
            ));
            let report = provisor_app::sync::import(&rt, &name, &opts).await;
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
        HandlersCmd::Sync { name, json } => {
            let rt = ctx.runtime().await?;
            let spinner = provisor_store::progress::spinner(&format!(
                "reconciling handler {name}'s services with its remote accounts"
            ));
            let report = provisor_app::sync::sync(&rt, &name).await;
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
        HandlersCmd::Call {
            name,
            call,
            request,
        } => {
            let call = provisor_runtime::Call::parse(&call)?;
            let request = match request {
                Some(path) => read_json_object(&path, "request")?,
                None => Value::Object(Default::default()),
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

async fn show_log(
    ctx: &Ctx,
    handler: Option<String>,
    service: Option<i64>,
    page: output::Paging,
    json: bool,
) -> Result<()> {
    use provisor_store::entities::module_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let fetch = page.fetch()?;
    let store = ctx.store().await?;
    let mut q = module_log::Entity::find()
        .order_by_desc(module_log::Column::Id)
        .offset(page.offset)
        .limit(fetch);
    if let Some(h) = &handler {
        handlers::get(&store, h).await?;
        q = q.filter(module_log::Column::Handler.eq(h.clone()));
    }
    if let Some(s) = service {
        q = q.filter(module_log::Column::ServiceId.eq(s));
    }
    let mut rows = q
        .all(store.db())
        .await
        .map_err(provisor_store::db_err("reading the module log"))?;
    let more = page.trim(&mut rows);
    if json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::json!({"id": r.id, "at": r.at.to_rfc3339(), "handler": r.handler, "module": r.module, "module_version": r.module_version, "service_id": r.service_id, "operation_id": r.operation_id, "attempt": r.attempt, "kind": r.kind, "call": r.call, "request": r.request, "response": r.response, "outcome": r.outcome, "duration_ms": r.duration_ms}))
            .collect();
        output::json(&out);
    } else if rows.is_empty() {
        println!("the module log is empty");
    } else {
        output::table(
            &["AT", "HANDLER", "SERVICE", "KIND", "CALL", "OUTCOME", "MS"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        r.handler.clone(),
                        r.service_id
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.kind.clone(),
                        r.call.clone(),
                        r.outcome.clone(),
                        r.duration_ms.to_string(),
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
