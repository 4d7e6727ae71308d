//! The listener of `provisor serve --listen ADDR`: one TCP socket serving HTTP/1.1 and
//! HTTP/2 (prior knowledge, h2c) under connection limits, header and body timeouts,
//! and a graceful drain. [`Server`] is what the CLI hands the daemon
//! (`provisor_app::daemon::HttpServer`): the daemon binds and starts it under its lock
//! and stop signal, and never depends on this crate.
//!
//! Must not: log or echo a credential; start at all without a usable token.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower::ServiceExt;

use provisor_app::accounts::AccountSettings;
use provisor_app::config::ApiConfig;
use provisor_app::daemon::{HttpServer, Stopped};
use provisor_runtime::Runtime;
use provisor_store::clock::Clock;
use provisor_store::error::{Error, Message, Result};
use provisor_store::Store;

use crate::problem::{Kind, Problem};
use crate::state::{Api, JSON_MAX_BODY};
use crate::{openapi, routes};

pub use crate::state::TOKEN_VAR;
/// The shortest token accepted.
const MIN_TOKEN_CHARS: usize = 24;
/// How long a stopping daemon waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(30);
/// How long a request waits for its twin under the same idempotency key.
const IDEMPOTENCY_WAIT: Duration = Duration::from_secs(60);
/// How often the server prunes idempotency keys older than a day.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// What an HTTP/2 connection starts with (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What keeps slow or idle clients from holding the listener: every connection must
/// send a request's headers (HTTP/1.1) or its preface (HTTP/2) within
/// `header_timeout` (also the idle time allowed between HTTP/1.1 requests, and the
/// answer time of HTTP/2 pings), a body may pause at most `body_timeout` between
/// chunks, and at most `max_connections` are open at once, no more than `max_per_ip`
/// from one address (a client over either limit gets a 503 and the connection is
/// closed at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See above.
    pub header_timeout: Duration,
    /// See above.
    pub body_timeout: Duration,
    /// See above.
    pub max_connections: usize,
    /// See above.
    pub max_per_ip: usize,
}

impl Limits {
    /// The limits `[api]` of the configuration sets (checked when it was read).
    pub fn from_config(api: &ApiConfig) -> Limits {
        Limits {
            header_timeout: api.header_timeout,
            body_timeout: api.body_timeout,
            max_connections: api.max_connections,
            max_per_ip: api.max_per_ip,
        }
    }
}

/// The HTTP API, checked and ready to bind: what `serve --listen` hands the daemon.
pub struct Server {
    listen: SocketAddr,
    accounts: AccountSettings,
    max_body: usize,
    limits: Limits,
    cors_origins: Vec<String>,
    billing: provisor_billing::Settings,
    clock: Clock,
    listener: Option<tokio::net::TcpListener>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listen)
            .field("max_body", &self.max_body)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Checks the usage token: set, long enough, sendable in a header. `named` says where
/// it is set (`PROVISOR_API_TOKEN`, or the file's `api.token`).
fn usage_token(listen: SocketAddr, api: &ApiConfig, named: &str) -> Result<()> {
    let make = "make one with `openssl rand -hex 32`";
    let Some(token) = &api.token else {
        return Err(Error::invalid(Message::about(
            "listen",
            format!("{listen} needs an API token and {TOKEN_VAR} is not set: set it (or `token` in [api] of provisor.toml) to a secret of at least {MIN_TOKEN_CHARS} characters ({make}; e.g. `export {TOKEN_VAR}=$(openssl rand -hex 32)`); nothing was started"),
        )));
    };
    let token = token.expose();
    let n = token.chars().count();
    if n < MIN_TOKEN_CHARS {
        return Err(Error::Invalid(format!(
            "{named} is too short ({n} characters; at least {MIN_TOKEN_CHARS}): {make}; nothing was started"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Invalid(format!(
            "{named} holds spaces, control or non-ASCII characters, which an Authorization header cannot carry: {make}; nothing was started"
        )));
    }
    Ok(())
}

impl Server {
    /// The API's settings from the configuration, refused before anything starts when
    /// the usage token is missing, short or unsendable. `named` is where the token is
    /// set; `accounts` is what authentication needs (from the same configuration).
    pub fn new(
        listen: SocketAddr,
        (api, accounts): (&ApiConfig, AccountSettings),
        named: &str,
        billing: provisor_billing::Settings,
        clock: Clock,
    ) -> Result<Server> {
        usage_token(listen, api, named)?;
        Ok(Server {
            listen,
            accounts,
            max_body: api.max_body,
            limits: Limits::from_config(api),
            cors_origins: api.cors_origins.clone(),
            billing,
            clock,
            listener: None,
        })
    }

    /// The router over `rt`, as the listener serves it (also for in-process tests).
    pub fn router(&self, rt: Arc<Runtime>) -> Router {
        let api = Arc::new(Api {
            store: rt.store.clone(),
            rt,
            billing: self.billing,
            clock: self.clock.clone(),
            accounts: self.accounts.clone(),
            max_body: self.max_body,
            json_max_body: JSON_MAX_BODY.min(self.max_body),
            body_timeout: self.limits.body_timeout,
            idempotency_wait: IDEMPOTENCY_WAIT,
            cors_origins: self.cors_origins.clone(),
        });
        routes::router(api, openapi::json())
    }
}

#[async_trait::async_trait]
impl HttpServer for Server {
    async fn bind(&mut self) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| {
                Error::io(
                    format!(
                        "cannot listen on {}: free the port or choose another address",
                        self.listen
                    ),
                    e,
                )
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(format!("cannot read the address of {}", self.listen), e))?;
        self.listener = Some(listener);
        Ok(addr)
    }

    fn start(
        self: Box<Self>,
        rt: Arc<Runtime>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Stopped {
        let store = rt.store.clone();
        let app = self.router(rt);
        let limits = self.limits;
        let clock = self.clock.clone();
        let Some(listener) = self.listener else {
            return Box::pin(async {
                tracing::error!("the HTTP API was started without a bound socket");
            });
        };
        let prune = tokio::spawn(prune_keys(store, clock));
        let mut task = tokio::spawn(accept_loop(listener, app, limits, stop));
        Box::pin(async move {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                tracing::warn!(
                    "HTTP API requests still running after {DRAIN:?}; stopping them (their imports roll back)"
                );
                task.abort();
            }
            prune.abort();
        })
    }
}

/// Removes idempotency keys older than a day, every hour.
async fn prune_keys(store: Store, clock: Clock) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        match provisor_app::idempotency::prune(&store, clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("api: {n} idempotency key(s) older than a day removed"),
            Err(e) => tracing::warn!("api: pruning idempotency keys failed: {e}"),
        }
    }
}

/// Connections open at once, in all and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A slot in [`Open`], given back when the connection closes.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Slot {
    fn take(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut o = open.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = o.per_ip.get(&ip).copied().unwrap_or(0);
        if o.total >= limits.max_connections || mine >= limits.max_per_ip {
            return None;
        }
        o.total += 1;
        *o.per_ip.entry(ip).or_insert(0) += 1;
        Some(Slot {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                o.per_ip.remove(&self.ip);
            }
        }
    }
}

/// What a client over the connection limits is told before the connection closes.
fn busy() -> Vec<u8> {
    let body = Problem::new(
        Kind::Unavailable,
        "too many connections are open: retry later on fewer of them",
    )
    .to_json();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: application/problem+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Which protocol a connection speaks, by its first bytes: HTTP/2 when it starts with
/// the preface, HTTP/1.1 otherwise; `None` when it sent too little within `wait` (or
/// closed), so an idle connection is dropped before either protocol's timers start.
async fn speaks_h2(stream: &TcpStream, wait: Duration) -> Option<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    tokio::time::timeout(wait, async {
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A partial preface: wait for the rest.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .ok()
    .flatten()
}

/// Serves one connection with hyper's HTTP/1.1 (header read timeout, which also
/// bounds a kept-alive connection's idle time) or HTTP/2 server (pings at the header
/// timeout, closed when one goes unanswered), watched for the graceful drain.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    graceful: hyper_util::server::graceful::Watcher,
) {
    let Some(h2) = speaks_h2(&stream, limits.header_timeout).await else {
        return;
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
    let io = TokioIo::new(stream);
    let ended = if h2 {
        let mut http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http.timer(TokioTimer::new())
            .keep_alive_interval(Some(limits.header_timeout))
            .keep_alive_timeout(limits.header_timeout);
        graceful.watch(http.serve_connection(io, service)).await
    } else {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        graceful.watch(http.serve_connection(io, service)).await
    };
    if let Err(e) = ended {
        tracing::debug!("api: connection from {peer} ended: {e}");
    }
}

/// Accepts connections under [`Limits`] until `stop`; then lets requests in flight
/// finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("api: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(slot) = Slot::take(&open, peer.ip(), &limits) else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(&busy())).await;
            });
            continue;
        };
        let app = app.clone();
        let graceful = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, peer, app, limits, graceful).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_hold_both_limits_and_come_back_on_close() {
        let limits = Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections: 3,
            max_per_ip: 2,
        };
        let open = Arc::new(Mutex::new(Open::default()));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = Slot::take(&open, a, &limits).expect("first");
        let _a2 = Slot::take(&open, a, &limits).expect("second");
        assert!(Slot::take(&open, a, &limits).is_none(), "per address");
        let _b1 = Slot::take(&open, b, &limits).expect("another address");
        assert!(Slot::take(&open, b, &limits).is_none(), "in all");
        drop(a1);
        assert!(
            Slot::take(&open, b, &limits).is_some(),
            "a closed slot is free"
        );
    }
}
