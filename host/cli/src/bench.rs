//! `provisor bench ops`: how many services go from order to active per second through
//! a no-op module, on SQLite and on PostgreSQL, each printed beside the raw rate of
//! single-row write transactions on the same database measured in the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::{json, Map};

use provisor_engine::catalog::{self, NewPlan};
use provisor_engine::handlers::{self, NewHandler};
use provisor_engine::EngineConfig;
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_runtime::{Limits, Runtime};
use provisor_store::clock::Clock;
use provisor_store::entities::service;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::{db_err, Store};

/// What one backend measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpsFigures {
    pub backend: String,
    pub services: usize,
    pub order_secs: f64,
    pub work_secs: f64,
    /// Operations the worker ran to done per second, draining the backlog.
    pub ops_per_sec: f64,
    /// Orders (service + create operation, one transaction each) per second.
    pub orders_per_sec: f64,
    /// Services per second from first order to last active, the phases one after the
    /// other.
    pub order_to_active_per_sec: f64,
    pub raw_write_tx_per_sec: f64,
}

/// The no-op module file: `--module`, or the bench-noop fixture next to this binary.
pub fn default_module() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let p = dir.join("libprovisor_fixture_bench_noop.so");
    p.exists().then_some(p)
}

/// Runs the benchmark on one database URL (a fresh, empty database).
pub async fn ops_on(
    url: &str,
    label: &str,
    module: &std::path::Path,
    count: usize,
    concurrency: usize,
) -> Result<OpsFigures> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
    let home = Home::new(tmp.path())?;
    home.ensure()?;
    let url = if url.is_empty() {
        home.sqlite_url()
    } else {
        url.to_string()
    };
    let store = Store::open(&url).await?;
    let raw = raw_write_rate(&store, count.min(5000)).await?;
    let (rt, client) = noop_runtime(&home, &store, module).await?;
    // Phase 1: the orders. Phase 2: the worker drains the backlog; its rate is the
    // queue's capacity, the figure the targets are about.
    let order_secs = place_orders(&rt, client.id, count, label).await?;
    let spinner =
        provisor_store::progress::spinner(&format!("{label}: working through {count} operations"));
    let work_started = Instant::now();
    let worker = provisor_app::services::worker(
        Arc::clone(&rt),
        EngineConfig {
            concurrency,
            ..EngineConfig::default()
        },
    );
    let report = worker.run_until_idle().await;
    spinner.finish_and_clear();
    let report = report?;
    let work_secs = work_started.elapsed().as_secs_f64();
    if report.done as usize != count {
        return Err(Error::Io(format!(
            "{label}: only {} of {count} operations finished: {report:?}",
            report.done
        )));
    }
    let active = service::Entity::find()
        .filter(service::Column::Status.eq(ServiceStatus::Active))
        .count(store.db())
        .await
        .map_err(db_err("counting active services"))? as usize;
    if active != count {
        return Err(Error::Io(format!(
            "{label}: {active} of {count} services are active after the run"
        )));
    }
    rt.retire_all();
    rt.log.flush().await;
    Ok(OpsFigures {
        backend: label.to_string(),
        services: count,
        order_secs,
        work_secs,
        ops_per_sec: count as f64 / work_secs,
        orders_per_sec: count as f64 / order_secs,
        order_to_active_per_sec: count as f64 / (order_secs + work_secs),
        raw_write_tx_per_sec: raw,
    })
}

/// The no-op module copied into `home` and loaded, a runtime over `store`, and the
/// bench's catalog (see [`bench_catalog`]). Answers the runtime and the client.
pub(crate) async fn noop_runtime(
    home: &Home,
    store: &Store,
    module: &std::path::Path,
) -> Result<(Arc<Runtime>, provisor_store::entities::client::Model)> {
    std::fs::copy(module, home.modules_dir().join("bench-noop.so"))
        .map_err(|e| Error::io(format!("cannot copy {}", module.display()), e))?;
    let registry = Arc::new(Registry::new(
        home.clone(),
        store.clone(),
        LoadPolicy::direct(),
        true,
        "bench",
    ));
    registry.scan().await?;
    let name = registry
        .loaded()
        .first()
        .map(|m| m.name().to_string())
        .ok_or_else(|| Error::Invalid(format!("{} did not load", module.display())))?;
    let rt = Arc::new(Runtime::new(
        home.clone(),
        store.clone(),
        Arc::clone(&registry),
        Clock::system(),
        Limits::default(),
    )?);
    let client = bench_catalog(store, &registry, name).await?;
    Ok((rt, client))
}

/// The bench's catalog: a department, the no-op handler (module `module`), a client and
/// a plan on the handler. Answers the client.
async fn bench_catalog(
    store: &Store,
    registry: &Registry,
    module: String,
) -> Result<provisor_store::entities::client::Model> {
    catalog::add_department(store, "bench", None, chrono::Utc::now()).await?;
    handlers::add(
        store,
        registry,
        NewHandler {
            name: "noop".into(),
            module,
            settings: json!({}),
            department: Some("bench".into()),
            label: None,
            max_concurrent: None,
            enabled: true,
        },
        chrono::Utc::now(),
    )
    .await?;
    let client = catalog::add_client(
        store,
        "Bench",
        "bench@example.invalid",
        "EUR",
        "NL",
        chrono::Utc::now(),
    )
    .await?;
    catalog::add_plan(
        store,
        registry,
        NewPlan {
            name: "Noop".into(),
            handlers: vec!["noop".into()],
            template: None,
            resources: Map::new(),
            settings: json!({}),
            options: Map::new(),
            is_addon: false,
        },
        chrono::Utc::now(),
    )
    .await?;

    Ok(client)
}

/// Phase 1 of the run: `count` orders placed by several clients at once. Answers the
/// seconds it took.
pub(crate) async fn place_orders(
    rt: &Arc<Runtime>,
    client_id: i64,
    count: usize,
    label: &str,
) -> Result<f64> {
    // Orders arrive from ORDERERS clients at once.
    const ORDERERS: usize = 8;
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bar = provisor_store::progress::bar(count as u64, &format!("{label}: ordering"));
    let mut orderers = tokio::task::JoinSet::new();
    for _ in 0..ORDERERS {
        let (rt, next, bar) = (Arc::clone(rt), Arc::clone(&next), bar.clone());
        let client = client_id.to_string();
        orderers.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                provisor_app::order::order(
                    &rt,
                    &provisor_billing::Settings::default(),
                    &provisor_app::audit::Actor::system("bench"),
                    &client,
                    "Noop",
                    None,
                    Map::new(),
                )
                .await?;
                bar.inc(1);
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(r) = orderers.join_next().await {
        r.map_err(|e| Error::Io(format!("an ordering task failed: {e}")))??;
    }
    bar.finish_and_clear();
    Ok(started.elapsed().as_secs_f64())
}

/// Single-row write transactions per second on this database, one after another.
async fn raw_write_rate(store: &Store, n: usize) -> Result<f64> {
    let db = store.db();
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS bench_rows (id BIGINT PRIMARY KEY, v TEXT NOT NULL)",
    )
    .await
    .map_err(db_err("creating the bench table"))?;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "INSERT INTO bench_rows (id, v) VALUES ($1, $2)",
        _ => "INSERT INTO bench_rows (id, v) VALUES (?, ?)",
    };
    let started = Instant::now();
    for i in 0..n {
        let tx = db.begin().await.map_err(db_err("bench transaction"))?;
        tx.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [(i as i64).into(), "row".into()],
        ))
        .await
        .map_err(db_err("bench insert"))?;
        tx.commit().await.map_err(db_err("bench commit"))?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Creates a fresh PostgreSQL database beside `url`'s and returns its URL. Connects
/// without `Store::open`: the database named in `url` is left as it is, unmigrated.
pub async fn fresh_pg(url: &str) -> Result<String> {
    let admin = sea_orm::Database::connect(url).await.map_err(|e| {
        Error::Storage(format!(
            "cannot open the database {}: {e}; check the URL and that the server is running",
            provisor_store::redact_url(url)
        ))
    })?;
    let name = format!(
        "provisor_bench_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_subsec_nanos()
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(db_err("creating the bench database"))?;
    // Keep the query (`?sslmode=disable`…): only the database name changes.
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = path
        .rsplit_once('/')
        .map(|(b, _)| b)
        .ok_or_else(|| Error::Invalid(format!("{url} has no database name")))?;
    Ok(format!("{base}/{name}{query}"))
}

/// Prints one backend's figures.
pub fn print(f: &OpsFigures) {
    println!(
        "{:<9} {} services: operations {:.0}/s (pending→active, worker draining the backlog, {:.2} s); orders {:.0}/s (8 concurrent clients, {:.2} s); order→active overall {:.0}/s; raw single-row write transactions, one after another: {:.0}/s (operations ÷ raw = {:.2})",
        f.backend,
        f.services,
        f.ops_per_sec,
        f.work_secs,
        f.orders_per_sec,
        f.order_secs,
        f.order_to_active_per_sec,
        f.raw_write_tx_per_sec,
        f.ops_per_sec / f.raw_write_tx_per_sec.max(1e-9)
    );
}
