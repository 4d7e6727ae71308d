//! `provisor bench api`: the HTTP API under load over loopback, on SQLite. Authenticated
//! reads (`GET /v1/services/{id}`) and orders (`POST /v1/services`, each with its own
//! idempotency key) from N concurrent connections, beside `GET /v1/health` and beside
//! orders placed in process (`provisor_app::order::order`, no HTTP) in the same run.
//!
//! The server is the one `serve --listen` runs (`provisor_web::Server`), bound to a free
//! port on 127.0.0.1; the load comes from the same process (one reqwest client), so the
//! two share the machine's cores, as they do in any loopback benchmark.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, QuerySelect};
use serde::Serialize;
use serde_json::{json, Map};

use provisor_app::accounts::{self, api_tokens, staff, AccountSettings, Password};
use provisor_app::config::{Config, Flags};
use provisor_app::context::Ctx;
use provisor_app::daemon::HttpServer;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::entities::kinds::Role;
use provisor_store::entities::service;
use provisor_store::error::{Error, Result};

use crate::bench;

/// Reads must reach this many per second…
const READS_TARGET: f64 = 10_000.0;
/// …and this share of the health endpoint's rate.
const READS_VS_HEALTH_TARGET: f64 = 0.5;
/// Orders over HTTP must reach this share of the in-process order rate.
const ORDERS_VS_IN_PROCESS_TARGET: f64 = 0.8;
/// The orders over HTTP, each with its own idempotency key: the figure of the target.
const ORDERS: &str = "POST /v1/services";
/// The same without the key: not a target, it shows what the key's row costs.
const ORDERS_NO_KEY: &str = "POST, no Idempotency-Key";
/// Services ordered before the run, which the reads cycle through.
const READ_SET: usize = 200;

/// How long each phase runs.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// For this long.
    Duration(Duration),
    /// Until this many requests were answered.
    Requests(usize),
}

/// What the run measures, and how.
#[derive(Debug, Clone)]
pub struct ApiRun {
    /// Requests in flight at once (HTTP connections; in-process orderers).
    pub connections: usize,
    /// How long each phase runs.
    pub length: Length,
    /// The no-op module file.
    pub module: std::path::PathBuf,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What was measured (`GET /v1/health`, …, `order in process`).
    pub name: String,
    /// Requests answered.
    pub requests: usize,
    /// Seconds the phase took.
    pub secs: f64,
    /// Requests per second.
    pub rate: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// A ratio or rate beside its target.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is compared.
    pub name: String,
    /// The figure measured.
    pub value: f64,
    /// The least it must be.
    pub target: f64,
    /// Whether it is met.
    pub met: bool,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ApiFigures {
    /// Always `sqlite`.
    pub backend: String,
    /// Requests in flight at once.
    pub connections: usize,
    /// Health, reads, HTTP orders (with and without an idempotency key), in-process
    /// orders.
    pub phases: Vec<Phase>,
    /// Reads per second, reads ÷ health, HTTP orders ÷ in-process orders.
    pub targets: Vec<Target>,
}

/// Runs the benchmark in a fresh temporary home on SQLite.
pub async fn api(run: &ApiRun) -> Result<ApiFigures> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
    let usage_token = accounts_token()?;
    let limit = (run.connections + 16).to_string();
    let env = |name: &str| -> Result<Option<String>> {
        Ok(match name {
            "PROVISOR_API_TOKEN" => Some(usage_token.clone()),
            "PROVISOR_API_MAX_CONNECTIONS" | "PROVISOR_API_MAX_CONNECTIONS_PER_IP" => {
                Some(limit.clone())
            }
            _ => None,
        })
    };
    let flags = Flags {
        home: Some(tmp.path().to_path_buf()),
        ..Flags::default()
    };
    let config = Config::load_with(&flags, &env)?;
    let server = provisor_web::Server::new(
        "127.0.0.1:0"
            .parse()
            .map_err(|e| Error::Invalid(format!("{e}")))?,
        (&config.api, AccountSettings::from_config(&config)),
        "PROVISOR_API_TOKEN",
        provisor_billing::Settings::default(),
        provisor_store::clock::Clock::system(),
    )?;
    let ctx = Ctx::new(config)?;
    let store = ctx.store().await?;
    let (rt, client) = bench::noop_runtime(&ctx.home, &store, &run.module).await?;
    let bearer = staff_token(&store).await?;
    bench::place_orders(&rt, client.id, READ_SET, "api bench").await?;
    let ids: Vec<i64> = service::Entity::find()
        .select_only()
        .column(service::Column::Id)
        .into_tuple()
        .all(store.db())
        .await
        .map_err(db_err("reading the bench's services"))?;

    let mut server: Box<dyn HttpServer> = Box::new(server);
    let addr = server.bind().await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let drained = server.start(Arc::clone(&rt), stopped);
    let http = Http::new(&format!("http://{addr}"), &bearer, run.connections)?;
    let phases = phases(run, &rt, &http, &ids, client.id).await;
    let _ = stop.send(true);
    drop(http);
    drained.await;
    rt.retire_all();
    rt.log.flush().await;
    let phases = phases?;
    let targets = targets(&phases);
    Ok(ApiFigures {
        backend: "sqlite".into(),
        connections: run.connections,
        phases,
        targets,
    })
}

/// The phases, one after the other.
async fn phases(
    run: &ApiRun,
    rt: &Arc<Runtime>,
    http: &Http,
    ids: &[i64],
    client_id: i64,
) -> Result<Vec<Phase>> {
    let mut all = Vec::new();
    let h = http.clone();
    all.push(
        drive("GET /v1/health", run, move |_| {
            let h = h.clone();
            async move { h.get("/v1/health").await }
        })
        .await?,
    );
    let h = http.clone();
    let ids: Arc<[i64]> = ids.into();
    all.push(
        drive("GET /v1/services/{id}", run, move |i| {
            let h = h.clone();
            let id = ids[i % ids.len()];
            async move { h.get(&format!("/v1/services/{id}")).await }
        })
        .await?,
    );
    for keyed in [true, false] {
        let h = http.clone();
        let name = if keyed { ORDERS } else { ORDERS_NO_KEY };
        all.push(
            drive(name, run, move |_| {
                let h = h.clone();
                async move { h.order(client_id, keyed).await }
            })
            .await?,
        );
    }
    let rt = Arc::clone(rt);
    let client = client_id.to_string();
    all.push(
        drive("order in process", run, move |_| {
            let (rt, client) = (Arc::clone(&rt), client.clone());
            async move {
                provisor_app::order::order(
                    &rt,
                    &provisor_billing::Settings::default(),
                    &provisor_app::audit::Actor::system("bench"),
                    &client,
                    "Noop",
                    None,
                    Map::new(),
                )
                .await
                .map(|_| ())
            }
        })
        .await?,
    );
    Ok(all)
}

fn targets(phases: &[Phase]) -> Vec<Target> {
    let rate = |name: &str| {
        phases
            .iter()
            .find(|p| p.name == name)
            .map_or(0.0, |p| p.rate)
    };
    let reads = rate("GET /v1/services/{id}");
    let health = rate("GET /v1/health");
    let orders = rate(ORDERS);
    let in_process = rate("order in process");
    let target = |name: &str, value: f64, target: f64| Target {
        name: name.into(),
        value,
        target,
        met: value >= target,
    };
    vec![
        target("reads per second", reads, READS_TARGET),
        target(
            "reads ÷ health",
            reads / health.max(1e-9),
            READS_VS_HEALTH_TARGET,
        ),
        target(
            "HTTP orders ÷ in-process orders",
            orders / in_process.max(1e-9),
            ORDERS_VS_IN_PROCESS_TARGET,
        ),
    ]
}

/// Runs `one(i)` from `run.connections` tasks at once for the phase's length; answers
/// the rate and latencies. The first failure ends the phase and the run.
async fn drive<F, Fut>(name: &str, run: &ApiRun, one: F) -> Result<Phase>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (deadline, limit) = match run.length {
        Length::Duration(d) => (Some(started + d), usize::MAX),
        Length::Requests(n) => (None, n),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..run.connections {
        let (one, next) = (one.clone(), Arc::clone(&next));
        tasks.spawn(async move {
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let t = Instant::now();
                one(i).await?;
                took.push(t.elapsed());
            }
            Ok::<_, Error>(took)
        });
    }
    let mut took = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let mine = r.map_err(|e| Error::Io(format!("{name}: a load task failed: {e}")))?;
        took.extend(mine.map_err(|e| Error::Io(format!("{name}: {e}")))?);
    }
    let secs = started.elapsed().as_secs_f64();
    took.sort_unstable();
    let at = |q: f64| {
        took.get(((took.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Phase {
        name: name.into(),
        requests: took.len(),
        secs,
        rate: took.len() as f64 / secs.max(1e-9),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// The load generator's side: one client (a pool of up to `connections` kept-alive
/// connections) and the staff token it sends.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: Arc<str>,
    bearer: Arc<str>,
}

impl Http {
    fn new(base: &str, token: &str, connections: usize) -> Result<Http> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(connections)
            .build()
            .map_err(|e| Error::Io(format!("cannot build the bench's HTTP client: {e}")))?;
        Ok(Http {
            client,
            base: base.into(),
            bearer: format!("Bearer {token}").into(),
        })
    }

    async fn get(&self, path: &str) -> Result<()> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", &*self.bearer)
            .send()
            .await;
        answered(&format!("GET {path}"), r, 200).await
    }

    /// An order, with a fresh `Idempotency-Key` when `keyed`.
    async fn order(&self, client_id: i64, keyed: bool) -> Result<()> {
        let mut r = self
            .client
            .post(format!("{}/v1/services", self.base))
            .header("authorization", &*self.bearer);
        if keyed {
            r = r.header("idempotency-key", uuid::Uuid::new_v4().to_string());
        }
        let r = r
            .json(&json!({"client_id": client_id, "plan": "Noop"}))
            .send()
            .await;
        answered("POST /v1/services", r, 201).await
    }
}

/// Reads the whole answer; an error unless its status is `want`.
async fn answered(what: &str, r: reqwest::Result<reqwest::Response>, want: u16) -> Result<()> {
    let r = r.map_err(|e| Error::Io(format!("{what} failed: {e}")))?;
    let status = r.status().as_u16();
    let body = r
        .bytes()
        .await
        .map_err(|e| Error::Io(format!("{what}: reading the answer failed: {e}")))?;
    if status != want {
        return Err(Error::Io(format!(
            "{what} answered {status}, not {want}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    Ok(())
}

/// A random usage token for the server's configuration (the bench never sends it).
fn accounts_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Io(format!("the system's random source failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// An owner account and an API token acting for it, made in process; answers the
/// token (it stays in this process).
async fn staff_token(store: &provisor_store::Store) -> Result<String> {
    let email = "bench@example.invalid";
    let by = provisor_app::audit::Actor::shell();
    let now = chrono::Utc::now();
    staff::add_owner(
        store,
        &by,
        staff::NewStaff {
            email: email.into(),
            name: "Bench".into(),
            role: Role::Owner,
            password: Password::new(accounts_token()?, email)?,
            departments: Vec::new(),
        },
        now,
    )
    .await?;
    let issued = api_tokens::issue(
        store,
        &accounts::Actor::Shell {
            user: "bench".into(),
        },
        &by,
        api_tokens::NewToken {
            name: "bench".into(),
            scope: api_tokens::Scope::Staff {
                email: email.into(),
                role: None,
            },
            read_only: false,
            endpoints: Vec::new(),
            expires_at: None,
        },
        now,
    )
    .await?;
    Ok(issued.token)
}

/// Prints the figures as a table, the targets below it.
pub fn print(f: &ApiFigures) {
    println!(
        "API bench on {}, {} connections over loopback (load generator in the same process)",
        f.backend, f.connections
    );
    println!(
        "{:<24} {:>9} {:>10} {:>9} {:>9}",
        "", "requests", "rate/s", "p50 ms", "p99 ms"
    );
    for p in &f.phases {
        println!(
            "{:<24} {:>9} {:>10.0} {:>9.2} {:>9.2}",
            p.name, p.requests, p.rate, p.p50_ms, p.p99_ms
        );
    }
    for t in &f.targets {
        let fmt = |v: f64| {
            if t.target >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        };
        println!(
            "{:<32} {:>8} (target ≥ {}): {}",
            t.name,
            fmt(t.value),
            fmt(t.target),
            if t.met { "met" } else { "missed" }
        );
    }
}
