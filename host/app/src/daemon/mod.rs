//! `provisor serve`: the long-running process. It owns the recorded module state while
//! it runs (a lock file tells CLI processes so), loads modules dropped into the
//! modules directory within seconds, upgrades them in place of the old version,
//! notices handler changes made by other processes, and checks connections. With
//! `--listen` it also runs an HTTP server beside its loop: the front end that serves the
//! API (the `provisor-web` crate, above this one) hands it over as an [`HttpServer`],
//! so the daemon runs it under its own lock and shutdown signal without depending on it.
//!
//! Must not: change services itself; later, the operations engine's workers run here.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use crate::context::Ctx;
pub use crate::lock::is_running;
use provisor_billing::usage::{is_last_day, BillingZone};
use provisor_engine::handlers;
use provisor_module_api::{Capability, ConnectionInfo};
use provisor_runtime::registry::{watcher, LoadPolicy, Registry, ScanEvent};
use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::entities::handler;
use provisor_store::error::{Error, Result};

/// How the daemon paces itself.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Between connection checks of enabled handlers; zero turns them off.
    pub check_interval: Duration,
    /// Between rescans of the modules directory.
    pub scan_interval: Duration,
    /// Run a worker with these settings (`None`: no workers).
    pub engine: Option<provisor_engine::EngineConfig>,
    /// The UTC hour from which the day's daily run is done (once per day).
    pub cron_hour: u32,
}

/// A future that ends when a stopped [`HttpServer`] has let its requests in flight
/// finish (or gave up on them).
pub type Stopped = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An HTTP server the daemon runs beside its loop (`serve --listen`). The web crate
/// implements it; the daemon only binds it (after taking its lock, before loading
/// modules), starts it with the daemon's runtime and stop signal, and waits for it to
/// drain when it stops. Its settings were checked when it was built, so a refused
/// setting stops the start before anything is taken or opened.
#[async_trait::async_trait]
pub trait HttpServer: Send {
    /// Binds the listening socket; the address bound (with the port chosen for port 0).
    async fn bind(&mut self) -> Result<SocketAddr>;

    /// Serves requests on the bound socket until `stop` turns true; the future returned
    /// ends once the requests in flight then finished.
    fn start(
        self: Box<Self>,
        rt: Arc<Runtime>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Stopped;
}

#[derive(Debug, Clone, PartialEq)]
struct HandlerSeen {
    enabled: bool,
    settings: String,
    module: String,
}

/// Runs until SIGINT or SIGTERM, with `http` (the API, when one listens) beside it.
pub async fn serve(ctx: &Ctx, opts: ServeOptions, http: Option<Box<dyn HttpServer>>) -> Result<()> {
    if http.is_none() && ctx.config.api.token.is_some() {
        tracing::info!(
            "{} is set but no address to listen on is given: the HTTP API is off",
            ctx.config.named("api.token")
        );
    }
    // The schedule follows the billing time zone (checked when the configuration was
    // read).
    let billing = ctx.billing;
    let _lock = crate::lock::take(&ctx.home)?;
    let api_bound = match http {
        Some(mut server) => {
            let addr = server.bind().await?;
            Some((server, addr))
        }
        None => None,
    };
    let rt = open_runtime(ctx).await?;
    let registry = Arc::clone(&rt.registry);
    let (_watcher, changes) = watcher::watch(&ctx.home.modules_dir())?;
    let seen = refresh_handlers(&rt, &HashMap::new()).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api_running = api_bound.map(|(server, addr)| {
        println!("api listening on http://{addr}");
        server.start(Arc::clone(&rt), stop_tx.subscribe())
    });
    println!(
        "provisor serve: ready; home {}, {} module(s) loaded, {} handler(s)",
        ctx.home.root().display(),
        registry.loaded().len(),
        seen.len()
    );
    let _ = std::io::stdout().flush();

    let worker = opts.engine.clone().map(|cfg| {
        let worker = crate::services::worker(Arc::clone(&rt), cfg);
        tracing::info!("worker {} started", worker.id());
        tokio::spawn(async move {
            if let Err(e) = worker.run_forever(stop_rx).await {
                tracing::error!("the worker stopped: {e}");
            }
        })
    });
    let (checking, cron_task) = run_until_signal(&rt, &opts, billing, changes, seen).await?;
    println!("provisor serve: stopping");
    let _ = stop_tx.send(true);
    if let Some(api) = api_running {
        // Requests in flight finish: an import answers only after it committed.
        api.await;
    }
    if let Some(w) = worker {
        // Operations in flight finish (or their lease runs out and another worker
        // takes them after a crash).
        let _ = w.await;
    }
    for (_, task) in checking {
        task.abort();
    }
    if let Some(t) = cron_task {
        // A daily run cut short is safe: it commits per client and is run again.
        t.abort();
    }
    rt.retire_all();
    rt.log.flush().await;
    Ok(())
}

/// The daemon's runtime: the registry (modules proven before and scanned now) and the
/// runtime over it, recording its stuck calls.
async fn open_runtime(ctx: &Ctx) -> Result<Arc<Runtime>> {
    let store = ctx.store().await?;
    let registry = Arc::new(Registry::new(
        ctx.home.clone(),
        store.clone(),
        LoadPolicy::standard(),
        true,
        &format!("serve[{}]", std::process::id()),
    ));
    // This process's stuck calls are what `handlers list` shows; a daemon that starts
    // has none (the threads of an earlier one went with it).
    handlers::reset_stuck_calls(&store).await?;
    let rt = Arc::new(Runtime::new(
        ctx.home.clone(),
        store.clone(),
        Arc::clone(&registry),
        ctx.clock.clone(),
        provisor_runtime::Limits {
            record_stuck_calls: true,
            ..ctx.limits()
        },
    )?);
    registry.learn_proven().await?;
    registry.scan().await?;
    Ok(rt)
}

/// The tasks still running when the loop ends: connection checks, the daily run.
type Running = (
    HashMap<String, tokio::task::JoinHandle<()>>,
    Option<tokio::task::JoinHandle<()>>,
);

/// The daemon's loop until SIGINT or SIGTERM: module rescans (on a change or a tick),
/// handler changes, the daily run at its hour, connection checks.
async fn run_until_signal(
    rt: &Arc<Runtime>,
    opts: &ServeOptions,
    billing: provisor_billing::Settings,
    mut changes: tokio::sync::mpsc::Receiver<()>,
    mut seen: HashMap<String, HandlerSeen>,
) -> Result<Running> {
    let mut scan_tick = tokio::time::interval(opts.scan_interval);
    let mut handler_tick = tokio::time::interval(Duration::from_millis(500));
    let mut check_tick = tokio::time::interval(if opts.check_interval.is_zero() {
        Duration::from_secs(3600 * 24 * 365)
    } else {
        opts.check_interval
    });
    let checks_on = !opts.check_interval.is_zero();
    let mut cron_tick = tokio::time::interval(Duration::from_secs(30));
    let cron_done: Arc<std::sync::Mutex<Done>> = Arc::default();
    let mut cron_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut checking: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::io("cannot listen for SIGTERM", e))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            Some(()) = changes.recv() => {
                // Let a burst of events (a copy in progress) settle into one scan.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while changes.try_recv().is_ok() {}
                rescan(rt).await;
            }
            _ = scan_tick.tick() => rescan(rt).await,
            _ = handler_tick.tick() => {
                match refresh_handlers(rt, &seen).await {
                    Ok(now) => seen = now,
                    Err(e) => tracing::error!("cannot read handlers: {e}"),
                }
            }
            _ = cron_tick.tick() => {
                if cron_task.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    let rt = Arc::clone(rt);
                    let done = Arc::clone(&cron_done);
                    let hour = opts.cron_hour;
                    cron_task = Some(tokio::spawn(async move { scheduled(&rt, billing, hour, &done).await }));
                }
            }
            _ = check_tick.tick(), if checks_on => {
                checking.retain(|_, task| !task.is_finished());
                for h in handlers::list(&rt.store).await.unwrap_or_default() {
                    if h.enabled && !checking.contains_key(&h.name) {
                        let rt = Arc::clone(rt);
                        let name = h.name.clone();
                        checking.insert(name, tokio::spawn(async move { check(&rt, h).await }));
                    }
                }
            }
        }
    }
    Ok((checking, cron_task))
}

async fn rescan(rt: &Runtime) {
    match rt.registry.scan().await {
        Ok(events) => {
            for e in events {
                if let ScanEvent::Upgraded { name, .. } = &e {
                    rt.retire_module(name);
                }
            }
        }
        Err(e) => tracing::error!("cannot scan the modules directory: {e}"),
    }
}

/// Reads the handlers table, logs what other processes changed, and retires instances
/// whose settings or module changed.
async fn refresh_handlers(
    rt: &Runtime,
    before: &HashMap<String, HandlerSeen>,
) -> Result<HashMap<String, HandlerSeen>> {
    let rows = handlers::list(&rt.store).await?;
    let mut now = HashMap::new();
    for h in rows {
        let cur = HandlerSeen {
            enabled: h.enabled,
            settings: h.settings.clone(),
            module: h.module.clone(),
        };
        match before.get(&h.name) {
            None if !before.is_empty() => {
                tracing::info!(handler = %h.name, "handler {} added (module {}, {})", h.name, h.module, if h.enabled { "enabled" } else { "disabled" });
            }
            Some(old) if old.enabled != cur.enabled => {
                if cur.enabled {
                    tracing::info!(handler = %h.name, "handler {} enabled: takes new services", h.name);
                } else {
                    tracing::info!(handler = %h.name, "handler {} disabled: takes no new services; its existing services are still processed", h.name);
                }
            }
            Some(old) if old.settings != cur.settings || old.module != cur.module => {
                tracing::info!(handler = %h.name, "handler {} changed; its next call uses a new instance", h.name);
                rt.retire_handler(&h.name);
            }
            _ => {}
        }
        now.insert(h.name, cur);
    }
    for name in before.keys().filter(|n| !now.contains_key(*n)) {
        tracing::info!(handler = %name, "handler {name} removed");
        rt.retire_handler(name);
    }
    Ok(now)
}

async fn check(rt: &Runtime, h: handler::Model) {
    let instance = match rt.instance(&h).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(handler = %h.name, "connection check: {e}");
            let _ =
                handlers::record_check(&rt.store, &h, false, &e.to_string(), rt.clock.now()).await;
            return;
        }
    };
    if !instance.module.supports(Capability::TestConnection) {
        return;
    }
    let result: std::result::Result<ConnectionInfo, _> = instance
        .call(
            Call::TestConnection,
            &serde_json::json!({}),
            CallContext::default(),
        )
        .await;
    let (ok, message) = match result {
        Ok(info) => (true, info.message),
        Err(e) => (false, e.to_string()),
    };
    if ok {
        tracing::info!(handler = %h.name, "connection check ok: {message}");
    } else {
        tracing::warn!(handler = %h.name, "connection check failed: {message}");
    }
    let _ = handlers::record_check(&rt.store, &h, ok, &message, rt.clock.now()).await;
}

/// The last days the scheduled runs were done by this process.
#[derive(Debug, Default)]
struct Done {
    daily: Option<NaiveDate>,
    month_end: Option<NaiveDate>,
    /// After a failed daily run: not before this.
    retry_at: Option<std::time::Instant>,
}

/// How long the schedule waits before running a failed day again (a panel that could
/// not answer is not asked every 30 s).
const DAILY_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// What the schedule asks for at `now`, in the billing time zone `zone`.
#[derive(Debug, PartialEq, Eq)]
struct Due {
    /// The billing zone's date.
    day: NaiveDate,
    /// The day's daily run: the zone's clock has reached `hour`.
    daily: bool,
    /// The month-end collection again: the day is a month's last and its 23:00 has come.
    month_end: bool,
}

fn due(now: DateTime<Utc>, zone: BillingZone, hour: u32) -> Due {
    let local = zone.local(now);
    let day = local.date();
    Due {
        day,
        daily: local.hour() >= hour,
        month_end: is_last_day(day) && now >= zone.month_end_cutoff(day),
    }
}

/// The scheduled runs, checked every 30 s: the day's daily run (billing, then every
/// handler's `daily`) once the billing zone's clock has reached `hour`, if the
/// `daily_runs` table does not record it as done; and on a month's last day, the
/// month-end collection again at 23:00 billing time, so the month's items hold all usage
/// started before the cutoff (the 1st's run collects once more before invoicing). The
/// day is recorded after the run; a run that fails, or a daemon stopped during it, is
/// tried again (both are safe to repeat).
async fn scheduled(
    rt: &Runtime,
    billing: provisor_billing::Settings,
    hour: u32,
    done: &std::sync::Mutex<Done>,
) {
    let due = due(rt.clock.now(), billing.zone, hour);
    let day = due.day;
    let (daily_done, month_end_done) = done
        .lock()
        .map(|d| {
            let waiting = d.retry_at.is_some_and(|t| std::time::Instant::now() < t);
            (d.daily == Some(day) || waiting, d.month_end == Some(day))
        })
        .unwrap_or((false, false));
    if due.daily && !daily_done {
        match daily_once(rt, &billing, day).await {
            Ok(Some((billed, handlers))) => tracing::info!(
                "daily run for {day} done: {billed} billing item(s), {handlers} handler(s)"
            ),
            Ok(None) => {
                tracing::info!("daily run for {day} already done (recorded); not run again");
            }
            Err(e) => {
                tracing::error!(
                    "daily run for {day} failed: {e}; trying again in {} minutes",
                    DAILY_RETRY.as_secs() / 60
                );
                if let Ok(mut d) = done.lock() {
                    d.retry_at = Some(std::time::Instant::now() + DAILY_RETRY);
                }
                return;
            }
        }
        if let Ok(mut d) = done.lock() {
            d.daily = Some(day);
        }
    }
    if due.month_end && !month_end_done {
        match crate::daily::month_end(rt, &billing, &crate::audit::Actor::system("scheduler"), day)
            .await
        {
            Ok(events) => {
                for e in &events {
                    if e.failed {
                        // The 1st's run collects for the last day again before it invoices.
                        tracing::error!("month-end collection for {day}: {}", e.message);
                    } else {
                        tracing::info!("month-end collection for {day}: {}", e.message);
                    }
                }
                tracing::info!(
                    "month-end collection for {day} at 23:00 billing time done: {} item(s)",
                    events.len()
                );
            }
            Err(e) => {
                tracing::error!("month-end collection for {day} failed: {e}; trying again shortly");
                return;
            }
        }
        if let Ok(mut d) = done.lock() {
            d.month_end = Some(day);
        }
    }
}

async fn daily_once(
    rt: &Runtime,
    billing: &provisor_billing::Settings,
    day: NaiveDate,
) -> Result<Option<(usize, usize)>> {
    let Some(outcome) =
        crate::daily::run_once(rt, billing, &crate::audit::Actor::system("scheduler"), day).await?
    else {
        return Ok(None);
    };
    for e in &outcome.billing {
        if e.failed {
            tracing::error!("daily run for {day}: [{}] {}", e.step, e.message);
        } else {
            tracing::info!("daily run for {day}: [{}] {}", e.step, e.message);
        }
    }
    for r in outcome.handlers.iter().filter(|r| r.status == "failed") {
        tracing::warn!(
            "daily run for {day}: handler {} failed: {}",
            r.handler,
            r.error.as_deref().unwrap_or("")
        );
    }
    // Usage that could not be read is billed by a later run of the same date: the day
    // was not recorded, and the schedule tries again after `DAILY_RETRY`.
    if let Some(which) = outcome.usage_failures() {
        return Err(Error::Module {
            context: format!("billing for {day}"),
            source: provisor_module_api::ModuleError::transient(format!(
                "usage could not be read for {which}; nothing was billed for them"
            )),
        });
    }
    Ok(Some((outcome.billing.len(), outcome.handlers.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_schedule_follows_the_billing_time_zone() {
        let utc = BillingZone::parse("UTC").unwrap();
        let berlin = BillingZone::parse("Europe/Berlin").unwrap();
        // UTC, cron hour 3: not before 03:00; the month-end pass from 23:00 on the 31st.
        let d = due(at("2026-01-31T02:59:00Z"), utc, 3);
        assert_eq!(
            (d.day, d.daily, d.month_end),
            (day("2026-01-31"), false, false)
        );
        let d = due(at("2026-01-31T03:00:00Z"), utc, 3);
        assert_eq!((d.daily, d.month_end), (true, false));
        let d = due(at("2026-01-31T23:00:00Z"), utc, 3);
        assert_eq!((d.daily, d.month_end), (true, true));
        // Not the last day: never a month-end pass.
        assert!(!due(at("2026-01-30T23:30:00Z"), utc, 3).month_end);
        // Berlin in winter (+01:00): 02:00Z is 03:00 there; 23:00 is 22:00Z.
        let d = due(at("2026-01-31T01:59:00Z"), berlin, 3);
        assert_eq!((d.day, d.daily), (day("2026-01-31"), false));
        assert!(due(at("2026-01-31T02:00:00Z"), berlin, 3).daily);
        assert!(!due(at("2026-01-31T21:59:00Z"), berlin, 3).month_end);
        assert!(due(at("2026-01-31T22:00:00Z"), berlin, 3).month_end);
        // 23:30Z on the 31st is already 1 February in Berlin: the 1st's daily run.
        let d = due(at("2026-01-31T23:30:00Z"), berlin, 0);
        assert_eq!(
            (d.day, d.daily, d.month_end),
            (day("2026-02-01"), true, false)
        );
        // Summer (+02:00): the last day of June closes at 21:00Z.
        assert!(!due(at("2026-06-30T20:59:00Z"), berlin, 3).month_end);
        assert!(due(at("2026-06-30T21:00:00Z"), berlin, 3).month_end);
    }
}
