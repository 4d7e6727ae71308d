//! `provisor demo`: a full run of what this build can do, in a fresh home: it starts the
//! shipped simulators of ComputeStacks, SolusVM 2 and ISPsystem's billing, loads the five
//! shipped modules, sets up handlers, plans and clients, orders services through every
//! module, runs the work to completion, and prints a readable account. Exits 0.
//!
//! One file per group of the printed steps: `setup` (1-3: panels, modules, handlers),
//! `catalog` (4-5: catalog and orders), `services` (6-9: work, services, panels,
//! lifecycle), `billing` (10-13: usage, billing runs, the daily run, the outbox).

mod billing;
mod catalog;
mod services;
mod setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use provisor_simulators::{computestacks as cs, ispsystem as isp, solusvm as solus, Simulator};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Map, Value};

use super::Ctx;
use provisor_engine::{EngineConfig, Worker};
use provisor_runtime::registry::Registry;
use provisor_runtime::Runtime;
use provisor_store::entities::operation;
use provisor_store::entities::status::OperationStatus;
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::{db_err, Store};

/// The shipped modules' file names, as cargo builds them.
pub const SHIPPED: [&str; 5] = [
    "libprovisor_computestacks.so",
    "libprovisor_solusvm.so",
    "libprovisor_ispsystem_noc.so",
    "libprovisor_billmanager_noc_addon.so",
    "libprovisor_manual_task.so",
];

/// Options of `provisor demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the built module files are (default: the directory of this binary, i.e.
    /// target/debug after `cargo build --workspace`).
    #[arg(long)]
    modules_from: Option<PathBuf>,
    /// Keep the demo's home in this directory instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// The simulated remote panels (step 1), with their handles for seeding and checking.
struct Panels {
    cs_sim: Simulator,
    cs_api: Arc<cs::ComputeStacksApi>,
    solus_sim: Simulator,
    solus_api: Arc<solus::SolusVm>,
    isp_sim: Simulator,
    isp_api: Arc<isp::Billmgr>,
}

/// What every step works with once the modules are loaded (step 2).
struct Demo {
    home: Home,
    store: Store,
    registry: Arc<Registry>,
    rt: Arc<Runtime>,
    panels: Panels,
    /// Billing's settings (the invoking configuration's `[billing]`).
    billing: provisor_billing::Settings,
}

/// The services ordered in step 5.
#[derive(Debug, Clone, Copy)]
struct Ordered {
    cs: i64,
    solus: i64,
    solus_bob: i64,
    license: i64,
    dedicated: i64,
}

/// Runs the demo.
pub async fn run(ctx: &Ctx, args: DemoArgs) -> Result<()> {
    let began = Instant::now();
    let from = match args.modules_from {
        Some(dir) => dir,
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            .ok_or_else(|| {
                Error::Io(
                    "cannot find the directory of this binary; pass --modules-from DIR".to_string(),
                )
            })?,
    };
    // `--keep DIR`, or a home named with --home / PROVISOR_HOME: the demo's home stays
    // there for `provisor invoices list` and the rest.
    let kept = args
        .keep
        .or_else(|| ctx.home_given().then(|| ctx.home.root().to_path_buf()));
    let (home, tmp) = demo_home(kept)?;
    home.ensure()?;
    println!("== Provisor demo in {}", home.root().display());

    let panels = setup::panels(&home)?;
    let d = setup::modules(ctx, home, &from, panels).await?;
    setup::handlers(&d).await?;
    let (ada, bob, now) = catalog::catalog(&d).await?;
    let (ordered, today) = catalog::orders(&d, &ada, &bob, now).await?;
    let worker = provisor_app::services::worker(Arc::clone(&d.rt), EngineConfig::default());
    services::work(&d, &worker, &bob, ordered.dedicated).await?;
    services::list(&d).await?;
    services::panels_and_sso(&d, ordered).await?;
    let again = services::lifecycle(&d, &worker, ordered, &ada).await?;
    billing::usage(&d, ordered, today).await?;
    billing::runs(&d, ordered.cs, again, today).await?;
    billing::daily(&d, today).await?;
    billing::outbox(&d).await?;

    let keep_hint = if tmp.is_none() {
        format!(
            "; the home stays in {}: try `provisor --home {} invoices list`",
            d.home.root().display(),
            d.home.root().display()
        )
    } else {
        "; `provisor demo --keep DIR` keeps the home for `provisor invoices list`".to_string()
    };
    println!(
        "\nDone in {:.1} s{keep_hint}. Billing is explained in `docs/billing.md`.",
        began.elapsed().as_secs_f64()
    );
    drop(d);
    drop(tmp);
    Ok(())
}

/// The demo's home: `kept` when given (only a new or empty directory: the demo never
/// writes into a home that holds something), else a temporary directory, returned
/// beside it so that it lives as long as the demo.
fn demo_home(kept: Option<PathBuf>) -> Result<(Home, Option<tempfile::TempDir>)> {
    match kept {
        Some(dir) => {
            let busy = std::fs::read_dir(&dir)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if busy {
                return Err(Error::Invalid(format!(
                    "{} is not empty: the demo sets up a fresh home and never writes into one that holds something; name a new directory with --keep DIR",
                    dir.display()
                )));
            }
            Ok((Home::new(dir)?, None))
        }
        None => {
            let tmp =
                tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
            let home = Home::new(tmp.path())?;
            Ok((home, Some(tmp)))
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A single sign-on link with its one-time credential hidden (`token=…(32)`): the demo
/// shows that a link was minted, never a credential someone could use.
fn masked(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if matches!(k, "token" | "key" | "otp" | "auth" | "hash") => {
                format!("{k}=…({} characters, hidden)", v.len())
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
/// Runs the worker until no operation is queued or running, waiting out "in progress"
/// polls. Answers (done, in progress, retried, manual).
async fn settle(worker: &Worker, store: &Store) -> Result<(u64, u64, u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut totals = (0, 0, 0, 0);
    loop {
        let r = worker.run_until_idle().await?;
        totals.0 += r.done;
        totals.1 += r.in_progress;
        totals.2 += r.retried;
        totals.3 += r.manual;
        let waiting = operation::Entity::find()
            .filter(
                operation::Column::Status
                    .is_in([OperationStatus::Queued, OperationStatus::Running]),
            )
            .count(store.db())
            .await
            .map_err(db_err("reading operations"))?;
        if waiting == 0 {
            return Ok(totals);
        }
        if Instant::now() > deadline {
            return Err(Error::Io(format!(
                "{waiting} operation(s) still waiting after 40 s: see `provisor ops list`"
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
