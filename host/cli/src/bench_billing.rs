//! `provisor bench billing --clients N`: N post-paid clients with 10 usage lines each,
//! the monthly run (`billing::usage::postpaid` for the 1st) timed, beside the time the
//! same database takes to insert the same number of rows in bulk, measured in the same
//! run. Usage comes from `usage import` (batched ingestion, also timed), not from module
//! calls, so the figure is billing's own cost and not a module's or a network's.
//! `--scale 10000,100000 --repeat 3` runs each size in its own process and prints the
//! medians and how the time grows with the number of clients.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, PaginatorTrait};
use serde::Serialize;

use provisor_billing::usage::{self, import};
use provisor_billing::{currencies, taxes};
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_runtime::{Limits, Runtime};
use provisor_store::clock::Clock;
use provisor_store::entities::{client, handler, invoice, plan, service};
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::{db_err, Store};

/// Usage lines (units) per client.
pub const LINES: usize = 10;

/// Records per import batch (one transaction each).
const IMPORT_BATCH: usize = 100_000;

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BillingFigures {
    pub backend: String,
    pub clients: usize,
    pub usage_records: usize,
    pub import_secs: f64,
    /// CPU seconds of the import, every thread of the process together.
    pub import_cpu_secs: f64,
    pub import_records_per_sec: f64,
    pub run_secs: f64,
    /// CPU seconds of the run, every thread of the process together.
    pub run_cpu_secs: f64,
    pub invoices: u64,
    pub invoices_per_sec: f64,
    /// Rows the run wrote that a bulk insert is compared with: invoices + lines.
    pub bulk_rows: usize,
    pub bulk_insert_secs: f64,
    pub run_over_bulk: f64,
    pub peak_rss_mb: f64,
}

/// CPU seconds this process has used so far, user and system, all its threads
/// together (`/proc/self/stat`, in Linux's fixed 100 ticks a second; 0 where there is
/// no such file). Other processes on the machine stretch a run's wall time much more
/// than its CPU time, so this compares builds measured on a busy machine.
pub fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses and may hold
            // spaces: the state, then utime and stime as the 12th and 13th.
            let rest = s.get(s.rfind(')')? + 1..)?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// Peak resident memory of this process (`VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The CLI entry.
pub async fn cli(clients: usize, json: bool) -> Result<()> {
    if clients == 0 {
        return Err(Error::Invalid("--clients must be at least 1".into()));
    }
    provisor_store::progress::enable(json);
    let spinner = provisor_store::progress::spinner(&format!("billing bench: {clients} clients"));
    let f = run(clients).await;
    spinner.finish_and_clear();
    let f = f?;
    if json {
        println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
    } else {
        println!(
            "{} {} clients: monthly run {:.2} s ({:.2} s CPU), {:.0} invoices/s ({} invoices, {} lines each); bulk insert of the same {} rows {:.2} s (run ÷ bulk = {:.1}); usage import {} records in {:.2} s ({:.2} s CPU) = {:.0} records/s; peak memory {:.0} MB",
            f.backend,
            f.clients,
            f.run_secs,
            f.run_cpu_secs,
            f.invoices_per_sec,
            f.invoices,
            LINES,
            f.bulk_rows,
            f.bulk_insert_secs,
            f.run_over_bulk,
            f.usage_records,
            f.import_secs,
            f.import_cpu_secs,
            f.import_records_per_sec,
            f.peak_rss_mb
        );
    }
    Ok(())
}

/// One size of a scaling run: the median of its repeats.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    pub clients: usize,
    pub runs_secs: Vec<f64>,
    pub median_run_secs: f64,
    pub runs_cpu_secs: Vec<f64>,
    pub median_run_cpu_secs: f64,
    pub median_bulk_insert_secs: f64,
    pub median_import_records_per_sec: f64,
    pub peak_rss_mb: f64,
    /// Against the previous size: how much longer the run took, and how many times the
    /// clients (1.0 per client would be perfectly linear).
    pub time_ratio: Option<f64>,
    pub clients_ratio: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `bench billing --scale A,B,… --repeat R`: every size in its own process (so the peak
/// memory is that size's), R times, the medians side by side.
pub fn scale(sizes: &[usize], repeat: usize, json: bool) -> Result<()> {
    if sizes.contains(&0) || repeat == 0 {
        return Err(Error::Invalid(
            "--scale sizes and --repeat must be at least 1".into(),
        ));
    }
    let exe =
        std::env::current_exe().map_err(|e| Error::io("cannot find the provisor executable", e))?;
    let mut points: Vec<ScalePoint> = Vec::new();
    for &n in sizes {
        let mut figures = Vec::with_capacity(repeat);
        for i in 0..repeat {
            let out = std::process::Command::new(&exe)
                .args(["bench", "billing", "--clients", &n.to_string(), "--json"])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| Error::io("cannot start a bench run", e))?;
            if !out.status.success() {
                return Err(Error::Storage(format!(
                    "the bench run with {n} clients (repeat {}) failed ({})",
                    i + 1,
                    out.status
                )));
            }
            let f: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                Error::Storage(format!(
                    "the bench run with {n} clients printed no figures: {e}"
                ))
            })?;
            let num = |k: &str| f[k].as_f64().unwrap_or(0.0);
            figures.push((
                num("run_secs"),
                num("bulk_insert_secs"),
                num("import_records_per_sec"),
                num("peak_rss_mb"),
                num("run_cpu_secs"),
            ));
            if !json {
                eprintln!(
                    "  {n} clients, run {}/{repeat}: {:.2} s ({:.2} s CPU)",
                    i + 1,
                    num("run_secs"),
                    num("run_cpu_secs")
                );
            }
        }
        let runs: Vec<f64> = figures.iter().map(|f| f.0).collect();
        let med = median(runs.clone());
        let cpu: Vec<f64> = figures.iter().map(|f| f.4).collect();
        let prev = points.last();
        points.push(ScalePoint {
            clients: n,
            runs_secs: runs,
            median_run_secs: med,
            median_run_cpu_secs: median(cpu.clone()),
            runs_cpu_secs: cpu,
            median_bulk_insert_secs: median(figures.iter().map(|f| f.1).collect()),
            median_import_records_per_sec: median(figures.iter().map(|f| f.2).collect()),
            peak_rss_mb: figures.iter().map(|f| f.3).fold(0.0, f64::max),
            time_ratio: prev.map(|p| med / p.median_run_secs.max(1e-9)),
            clients_ratio: prev.map(|p| n as f64 / p.clients as f64),
        });
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&points).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "clients   median run   (CPU)        invoices/s   bulk insert   import/s    peak memory   time ratio"
    );
    for p in &points {
        let ratio = match (p.time_ratio, p.clients_ratio) {
            (Some(t), Some(c)) => format!("{t:.2} for {c:.0}× the clients"),
            _ => "-".into(),
        };
        println!(
            "{:<9} {:>8.2} s   {:>8.2} s   {:>10.0}   {:>9.2} s   {:>8.0}   {:>8.0} MB   {ratio}",
            p.clients,
            p.median_run_secs,
            p.median_run_cpu_secs,
            p.clients as f64 / p.median_run_secs.max(1e-9),
            p.median_bulk_insert_secs,
            p.median_import_records_per_sec,
            p.peak_rss_mb
        );
    }
    Ok(())
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a valid date")
}

/// Builds the clients and their usage in a fresh SQLite home and runs the month.
pub async fn run(n: usize) -> Result<BillingFigures> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
    let home = Home::new(tmp.path())?;
    home.ensure()?;
    let store = Store::open(&home.sqlite_url()).await?;
    let now = Utc::now();
    let (h, p) = seed_catalog(&store, now).await?;
    seed_clients(&store, n, h, p, now).await?;
    let total = n * LINES;
    let (import_secs, import_cpu_secs) = import_usage(&store, total, now).await?;
    let db = store.db();
    let registry = Arc::new(Registry::new(
        home.clone(),
        store.clone(),
        LoadPolicy::standard(),
        false,
        "bench",
    ));
    let rt = Runtime::new(
        home.clone(),
        store.clone(),
        registry,
        Clock::system(),
        Limits::default(),
    )?;
    let began = Instant::now();
    let cpu_began = cpu_secs();
    let events = usage::postpaid(
        &provisor_app::driver::EngineDriver::new(
            &rt,
            provisor_billing::Settings::default(),
            &provisor_app::audit::Actor::system("bench"),
        ),
        day("2026-02-01"),
        false,
    )
    .await?;
    let run_secs = began.elapsed().as_secs_f64();
    let run_cpu_secs = cpu_secs() - cpu_began;
    drop(events);
    let invoices = invoice::Entity::find()
        .count(db)
        .await
        .map_err(db_err("counting invoices"))?;
    let bulk_rows = n * (LINES + 1);
    let bulk_insert_secs = bulk_insert(&store, bulk_rows).await?;
    Ok(BillingFigures {
        backend: "sqlite".into(),
        clients: n,
        usage_records: total,
        import_secs,
        import_cpu_secs,
        import_records_per_sec: total as f64 / import_secs.max(1e-9),
        run_secs,
        run_cpu_secs,
        invoices,
        invoices_per_sec: invoices as f64 / run_secs.max(1e-9),
        bulk_rows,
        bulk_insert_secs,
        run_over_bulk: run_secs / bulk_insert_secs.max(1e-9),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The bench's currency, tax, handler and metered plan with its unit prices. Answers
/// the handler's and the plan's ids.
async fn seed_catalog(store: &Store, now: chrono::DateTime<Utc>) -> Result<(i64, i64)> {
    currencies::add(
        store,
        currencies::NewCurrency {
            code: "EUR".into(),
            symbol: None,
            minor_units: 2,
            rate: None,
            rounding: "half-up".into(),
        },
        now,
    )
    .await?;
    taxes::set(store, "NL", "21", now).await?;
    let db = store.db();
    let h = handler::Entity::insert(handler::ActiveModel {
        name: Set("bench".into()),
        module: Set("bench".into()),
        settings: Set("{}".into()),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await
    .map_err(db_err("bench handler"))?
    .last_insert_id;
    let p = plan::Entity::insert(plan::ActiveModel {
        name: Set("Metered".into()),
        module: Set("bench".into()),
        template: Set(None),
        resources: Set("{}".into()),
        settings: Set("{}".into()),
        options: Set("{}".into()),
        is_addon: Set(false),
        created_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await
    .map_err(db_err("bench plan"))?
    .last_insert_id;
    usage::set_plan(store, "Metered", "pushed", 14, now).await?;
    for u in 0..LINES {
        let price = format!("0.{:03}", 5 + u);
        usage::set_price(store, "Metered", "EUR", &format!("u{u}"), &price, now).await?;
    }
    Ok((h, p))
}

/// `n` clients, each with an active service on plan `p` through handler `h`.
async fn seed_clients(
    store: &Store,
    n: usize,
    h: i64,
    p: i64,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let db = store.db();
    // Clients and their services, in bulk (the set-up is not measured).
    let ids: Vec<usize> = (0..n).collect();
    for part in ids.chunks(2000) {
        client::Entity::insert_many(part.iter().map(|i| client::ActiveModel {
            name: Set(format!("Client {i}")),
            email: Set(format!("c{i}@bench.invalid")),
            currency: Set("EUR".into()),
            country: Set(if i % 2 == 0 { "NL" } else { "DE" }.into()),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .map_err(db_err("bench clients"))?;
    }
    for part in ids.chunks(2000) {
        service::Entity::insert_many(part.iter().map(|i| service::ActiveModel {
            client_id: Set(*i as i64 + 1),
            plan_id: Set(p),
            handler_id: Set(h),
            parent_id: Set(None),
            status: Set(provisor_store::entities::status::ServiceStatus::Active),
            remote_id: Set(None),
            attributes: Set("{}".into()),
            options: Set("{}".into()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .map_err(db_err("bench services"))?;
    }
    Ok(())
}

/// `total` usage records imported in batches; answers the seconds the imports took,
/// wall and CPU.
async fn import_usage(
    store: &Store,
    total: usize,
    now: chrono::DateTime<Utc>,
) -> Result<(f64, f64)> {
    // Usage: 10 records per client, imported in batches.
    let mut import_secs = 0.0;
    let mut import_cpu_secs = 0.0;
    let mut start = 0;
    while start < total {
        let end = (start + IMPORT_BATCH).min(total);
        let records: Vec<import::NewRecord> = (start..end)
            .map(|k| {
                let (i, u) = (k / LINES, k % LINES);
                import::NewRecord {
                    transaction_id: format!("bench-{i}-{u}"),
                    service_id: i as i64 + 1,
                    unit: format!("u{u}"),
                    quantity: Decimal::from((i % 97 + 1) as i64 * (u as i64 + 1)),
                    period_start: day("2026-01-01"),
                    description: None,
                }
            })
            .collect();
        let began = Instant::now();
        let cpu_began = cpu_secs();
        let r = import::import_records(
            store,
            records,
            now,
            began,
            &provisor_billing::Settings::default(),
        )
        .await?;
        import_secs += r.secs;
        import_cpu_secs += cpu_secs() - cpu_began;
        start = end;
    }
    Ok((import_secs, import_cpu_secs))
}

/// Inserts `rows` rows shaped like invoice lines in one transaction, 500 per
/// statement; returns the seconds taken.
async fn bulk_insert(store: &Store, rows: usize) -> Result<f64> {
    let db = store.db();
    db.execute_unprepared(
        "CREATE TABLE bench_bulk (id INTEGER PRIMARY KEY, invoice_id BIGINT NOT NULL, \
         description TEXT NOT NULL, quantity TEXT NOT NULL, unit_price TEXT NOT NULL, \
         net TEXT NOT NULL, tax TEXT NOT NULL, total TEXT NOT NULL)",
    )
    .await
    .map_err(db_err("creating the bulk table"))?;
    let began = Instant::now();
    let _turn = store.write_turn().await;
    let tx = sea_orm::TransactionTrait::begin(db)
        .await
        .map_err(db_err("bulk transaction"))?;
    let mut i = 0;
    while i < rows {
        let end = (i + 500).min(rows);
        let mut sql = String::from(
            "INSERT INTO bench_bulk (invoice_id, description, quantity, unit_price, net, tax, total) VALUES ",
        );
        for k in i..end {
            if k > i {
                sql.push(',');
            }
            let _ = write!(
                sql,
                "({}, 'service #{}, 2026-01: {} u{}', '{}', '0.005', '1.00', '0.21', '1.21')",
                k / (LINES + 1),
                k,
                k % 97,
                k % LINES,
                k % 97
            );
        }
        tx.execute_unprepared(&sql)
            .await
            .map_err(db_err("bulk insert"))?;
        i = end;
    }
    tx.commit().await.map_err(db_err("bulk commit"))?;
    Ok(began.elapsed().as_secs_f64())
}
