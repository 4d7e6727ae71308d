//! `provisor bench ops`: how many services go from order to active per second through
//! a no-op module, on SQLite and on PostgreSQL, each printed beside the raw rate of
//! single-row write transactions on the same database measured in the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{json, Map};

use crate::catalog::{self, NewPlan};
use crate::clock::Clock;
use crate::engine::{self, EngineConfig, Worker};
use crate::error::{Error, Result};
use crate::handlers::{self, NewHandler};
use crate::home::Home;
use crate::registry::{LoadPolicy, Registry};
use crate::runtime::{Limits, Runtime};
use crate::store::{db_err, Store};

/// What one backend measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpsFigures {
    pub backend: String,
    pub services: usize,
    pub order_secs: f64,
    pub work_secs: f64,
    pub ops_per_sec: f64,
    pub processing_ops_per_sec: f64,
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
    catalog::add_department(&store, "bench", None).await?;
    handlers::add(
        &store,
        &registry,
        NewHandler {
            name: "noop".into(),
            module: name,
            settings: json!({}),
            department: Some("bench".into()),
            label: None,
            max_concurrent: None,
            enabled: true,
        },
    )
    .await?;
    let client = catalog::add_client(&store, "Bench", "bench@example.invalid", "EUR", "NL").await?;
    catalog::add_plan(
        &store,
        &registry,
        NewPlan {
            name: "Noop".into(),
            handlers: vec!["noop".into()],
            template: None,
            resources: Map::new(),
            settings: json!({}),
            options: Map::new(),
            is_addon: false,
        },
    )
    .await?;

    let started = Instant::now();
    for _ in 0..count {
        engine::order(&rt, &client.id.to_string(), "Noop", None, Map::new()).await?;
    }
    let order_secs = started.elapsed().as_secs_f64();
    let work_started = Instant::now();
    let worker = Worker::new(
        Arc::clone(&rt),
        EngineConfig {
            concurrency,
            ..EngineConfig::default()
        },
    );
    let report = worker.run_until_idle().await?;
    let work_secs = work_started.elapsed().as_secs_f64();
    if report.done as usize != count {
        return Err(Error::Io(format!(
            "{label}: only {} of {count} operations finished: {report:?}",
            report.done
        )));
    }
    let total = started.elapsed().as_secs_f64();
    rt.retire_all();
    rt.log.flush().await;
    Ok(OpsFigures {
        backend: label.to_string(),
        services: count,
        order_secs,
        work_secs,
        ops_per_sec: count as f64 / total,
        processing_ops_per_sec: count as f64 / work_secs,
        raw_write_tx_per_sec: raw,
    })
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

/// Creates a fresh PostgreSQL database beside `url`'s and returns its URL.
pub async fn fresh_pg(url: &str) -> Result<String> {
    let admin = Store::open(url).await?;
    let name = format!(
        "provisor_bench_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_subsec_nanos()
    );
    admin
        .db()
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(db_err("creating the bench database"))?;
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .ok_or_else(|| Error::Invalid(format!("{url} has no database name")))?;
    Ok(format!("{base}/{name}"))
}

/// Prints one backend's figures.
pub fn print(f: &OpsFigures) {
    println!(
        "{:<9} {} services order→active in {:.2} s: {:.0} ops/s (ordering {:.0}/s, workers {:.0} ops/s); single-row write transactions on the same database: {:.0}/s (ops/s ÷ raw = {:.2})",
        f.backend,
        f.services,
        f.order_secs + f.work_secs,
        f.ops_per_sec,
        f.services as f64 / f.order_secs.max(1e-9),
        f.processing_ops_per_sec,
        f.raw_write_tx_per_sec,
        f.ops_per_sec / f.raw_write_tx_per_sec.max(1e-9)
    );
}
