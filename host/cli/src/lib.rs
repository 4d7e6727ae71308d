//! The `provisor` command line. Thin: it parses arguments, opens what a command needs,
//! calls the library and prints. Every listing takes `--json`. Errors name the thing,
//! the reason and the fix, and exit non-zero (2 bad input, 3 not found, 4 module
//! failure, 5 storage, 6 not authenticated, 7 forbidden, 8 rate-limited, 1 anything
//! else).

//!
//! One file per command group: the group's clap definitions beside its handlers, which
//! parse, call `provisor_app` or the lower crates, and render. No business rule lives
//! here: what may be done is decided by the function called.

mod args;
mod audit;
pub mod bench;
pub mod bench_api;
pub mod bench_billing;
mod bench_cmd;
mod billing;
mod billing_run;
mod clients;
mod config_cmd;
mod demo;
mod departments;
mod handlers;
mod log;
mod modules;
mod ops;
mod order;
mod output;
mod plans;
mod services;
mod setup;
mod staff;
mod tasks;
mod usage;
mod voice;
mod work;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
pub use provisor_app::Ctx;

use provisor_app::daemon::{self, ServeOptions};
use provisor_store::error::{Error, ErrorKind, Result};

/// Provisor: billing and provisioning for hosting providers.
#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
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

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Creates the home directory (0700), the database (0600), the secret key
    /// (`secret.key`, 0600, unless PROVISOR_SECRET_KEY or PROVISOR_SECRET_KEY_FILE
    /// gives one) and a commented provisor.toml (every key at its default) if there is
    /// none; refuses a world-writable directory. Asks for the first owner (at a
    /// terminal, or with --owner-email, --owner-name and --password-stdin) while there
    /// is no staff account.
    Init(setup::InitArgs),
    /// The configuration in effect (provisor.toml, environment, flags).
    #[command(subcommand)]
    Config(config_cmd::ConfigCmd),
    /// The key that seals the handlers' secret settings.
    #[command(subcommand)]
    Secrets(setup::SecretsCmd),
    /// Processing modules: list, inspect, install, history.
    #[command(subcommand)]
    Modules(modules::ModulesCmd),
    /// Handlers: a module plus its connection settings.
    #[command(subcommand)]
    Handlers(handlers::HandlersCmd),
    /// Staff accounts: roles, departments, passwords, TOTP.
    #[command(subcommand)]
    Staff(staff::StaffCmd),
    /// API tokens: issue (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(staff::TokensCmd),
    /// Departments: who takes manual tasks.
    #[command(subcommand)]
    Departments(departments::DepartmentsCmd),
    /// Clients, and their credit (billing adds `credit` and `ledger`).
    #[command(subcommand)]
    Clients(clients::ClientsCmd),
    /// Tariff plans, with their prices and deposits.
    #[command(subcommand)]
    Plans(plans::PlansCmd),
    /// Services: order, list, show, and queue lifecycle operations.
    #[command(subcommand)]
    Services(services::ServicesCmd),
    /// Operations: the durable queue ("current operations").
    #[command(subcommand)]
    Ops(ops::OpsCmd),
    /// Manual tasks for departments.
    #[command(subcommand)]
    Tasks(tasks::TasksCmd),
    /// Emails waiting to be sent.
    #[command(subcommand)]
    Outbox(ops::OutboxCmd),
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
        engine: work::EngineArgs,
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
    /// The audit log: who changed what, newest first (before and after in --json).
    Audit(audit::AuditArgs),
    /// Benchmarks (figures beside a baseline measured in the same run).
    #[command(subcommand)]
    Bench(bench_cmd::BenchCmd),
    /// Runs a demonstration in a fresh home and prints what happened.
    Demo(demo::DemoArgs),
    /// Loads one module file and prints its manifest as JSON (used internally to
    /// check a file in a separate process).
    #[command(name = "__probe", hide = true)]
    Probe { file: PathBuf },
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
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
    engine: work::EngineArgs,
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
            eprintln!("error: {}", voice::error(&e));
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
            eprintln!("error: {}", voice::error(&e));
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
        ErrorKind::Io | ErrorKind::Conflict => 1,
        ErrorKind::Unauthenticated => 6,
        ErrorKind::Forbidden => 7,
        ErrorKind::RateLimited => 8,
    }
}

/// Logs to standard error at `log.filter` (`PROVISOR_LOG`), else `warn` (`info` for serve).
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
        Command::Handlers(
            handlers::HandlersCmd::Import { json, .. } | handlers::HandlersCmd::Sync { json, .. },
        )
        | Command::Billing(billing_run::BillingCmd::Run { json, .. })
        | Command::Cron { json, .. }
        | Command::Bench(
            bench_cmd::BenchCmd::Ops { json, .. }
            | bench_cmd::BenchCmd::Api { json, .. }
            | bench_cmd::BenchCmd::Billing { json, .. },
        ) => json.json,
        #[allow(unreachable_patterns)]
        _ => return,
    };
    provisor_store::progress::enable(json);
}

async fn run(cli: Cli, ctx: Ctx) -> Result<()> {
    progress_for(&cli.command);
    match cli.command {
        Command::Init(args) => setup::init(&ctx, args).await,
        Command::Staff(cmd) => staff::run(&ctx, cmd).await,
        Command::Tokens(cmd) => staff::tokens(&ctx, cmd).await,
        Command::Secrets(cmd) => setup::secrets(&ctx, cmd).await,
        Command::Config(cmd) => {
            config_cmd::run(&ctx, cmd);
            Ok(())
        }
        Command::Modules(cmd) => modules::run(&ctx, cmd).await,
        Command::Handlers(cmd) => handlers::run(&ctx, cmd).await,
        Command::Serve(args) => {
            let opts = ServeOptions {
                check_interval: Duration::from_secs(args.check_interval),
                scan_interval: Duration::from_millis(args.scan_interval_ms.max(100)),
                cron_hour: args.cron_hour,
                engine: if args.no_workers {
                    None
                } else {
                    Some(args.engine.config(&ctx)?)
                },
            };
            // A bad token refuses the start before anything is taken or opened.
            let http = match args.listen {
                Some(addr) => Some(Box::new(provisor_web::Server::new(
                    addr,
                    (
                        &ctx.config.api,
                        provisor_app::accounts::AccountSettings::from_config(&ctx.config),
                    ),
                    &ctx.config.named("api.token"),
                    ctx.billing,
                    ctx.clock.clone(),
                )?) as Box<dyn daemon::HttpServer>),
                None => None,
            };
            daemon::serve(&ctx, opts, http).await
        }
        Command::Demo(args) => demo::run(&ctx, args).await,
        Command::Bench(cmd) => bench_cmd::run(cmd).await,
        Command::Departments(cmd) => departments::run(&ctx, cmd).await,
        Command::Clients(cmd) => clients::run(&ctx, cmd).await,
        Command::Plans(cmd) => plans::run(&ctx, cmd).await,
        Command::Currencies(cmd) => billing::currencies_cmd(&ctx, cmd).await,
        Command::Taxes(cmd) => billing::taxes_cmd(&ctx, cmd).await,
        Command::Invoices(cmd) => billing::invoices_cmd(&ctx, cmd).await,
        Command::Usage(cmd) => usage::run(&ctx, cmd).await,
        Command::Billing(cmd) => billing_run::run(&ctx, cmd).await,
        Command::Services(cmd) => services::run(&ctx, cmd).await,
        Command::Ops(cmd) => ops::run(&ctx, cmd).await,
        Command::Tasks(cmd) => tasks::run(&ctx, cmd).await,
        Command::Outbox(ops::OutboxCmd::List(flag)) => ops::outbox_list(&ctx, flag.json).await,
        Command::Work { engine, json, .. } => work::work(&ctx, engine, json.json).await,
        Command::Cron {
            date,
            dry_run,
            json,
        } => work::cron(&ctx, date, dry_run, json.json).await,
        Command::Log {
            handler,
            service,
            page,
            json,
        } => log::show(&ctx, handler, service, page, json.json).await,
        Command::Audit(args) => audit::show(&ctx, args).await,
        Command::Probe { .. } => Ok(()),
    }
}
