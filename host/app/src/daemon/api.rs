//! `provisor serve --listen ADDR`: the HTTP API that modules and panels push usage to.
//!
//! `POST /v1/usage` takes the same text as `provisor usage import FILE` (a JSON array or
//! JSON lines of usage records) and runs the same code: [`import::parse`], then
//! [`import::import_records`], so it is all or nothing, deduped by transaction id and
//! late usage is flagged. It answers 200 with the [`import::Imported`] summary only
//! after the import's transaction committed. `GET /v1/health` answers without a token;
//! everything else needs `Authorization: Bearer <PROVISOR_API_TOKEN>`.
//!
//! Must not: write anything but through `import_records` (and its audit entry), log or echo the token, or
//! start at all without a usable token. HTTP statuses come from [`status_of`] alone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use provisor_billing::usage::import;
use provisor_store::error::{Error, ErrorKind, Message, Result};
use provisor_store::Store;

use crate::config::ApiConfig;

/// The environment variable holding the bearer token (`api.token`).
pub const TOKEN_VAR: &str = "PROVISOR_API_TOKEN";
/// The environment variable that changes the body limit (bytes; `api.max_body_bytes`,
/// default 32 MiB, about 250,000 usage records).
pub const MAX_BODY_VAR: &str = "PROVISOR_API_MAX_BODY";
/// `PROVISOR_API_BODY_TIMEOUT_SECS`: the longest pause between two chunks of a body.
pub const BODY_TIMEOUT_VAR: &str = "PROVISOR_API_BODY_TIMEOUT_SECS";
/// The shortest token accepted.
const MIN_TOKEN_CHARS: usize = 24;
/// How long a stopping daemon waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// The one place an [`Error`] becomes an HTTP status.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Module => StatusCode::BAD_GATEWAY,
        // The database failed: nothing was written, the same request may be sent again.
        ErrorKind::Storage => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Io => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What `--listen` needs, checked before anything starts.
pub struct Config {
    listen: SocketAddr,
    /// SHA-256 of the token: compared in constant time, and of one length whatever
    /// the token's.
    token: [u8; 32],
    max_body: usize,
    limits: Limits,
}

/// What keeps slow or idle clients from holding the listener: every connection must
/// send a request's headers within `header_timeout` (also the idle time allowed
/// between requests on a kept-alive connection), a body may pause at most
/// `body_timeout` between chunks, and at most `max_connections` are open at once, no
/// more than `max_per_ip` from one address (a client over either limit gets a 503 and
/// the connection is closed at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub max_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections: 512,
            max_per_ip: 128,
        }
    }
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

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("token", &"(hidden)")
            .field("max_body", &self.max_body)
            .field("limits", &self.limits)
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Config {
    /// The API's settings from the configuration; refuses a missing, short or
    /// unsendable token, naming where it is set (`named`: `PROVISOR_API_TOKEN`, or the
    /// file's `api.token`) and how to make one.
    pub fn new(listen: SocketAddr, api: &ApiConfig, named: &str) -> Result<Config> {
        let make = "make one with `openssl rand -hex 32`";
        let token = match &api.token {
            Some(t) => t.expose(),
            None => {
                return Err(Error::invalid(Message::about(
                    "listen",
                    format!("{listen} needs an API token and {TOKEN_VAR} is not set: set it (or `token` in [api] of provisor.toml) to a secret of at least {MIN_TOKEN_CHARS} characters ({make}; e.g. `export {TOKEN_VAR}=$(openssl rand -hex 32)`); nothing was started"),
                )))
            }
        };
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
        Ok(Config {
            listen,
            token: digest(token.as_bytes()),
            max_body: api.max_body,
            limits: Limits::from_config(api),
        })
    }

    /// Binds the listening socket (port 0 picks a free one).
    pub async fn bind(self) -> Result<Bound> {
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
        Ok(Bound {
            listener,
            addr,
            config: self,
        })
    }
}

/// A bound, not yet serving, API socket.
pub struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    config: Config,
}

/// The running API.
pub struct Running {
    task: tokio::task::JoinHandle<()>,
}

impl Bound {
    /// The address bound (with the port chosen for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves requests until `stop` turns true; requests in flight then finish.
    pub fn start(
        self,
        store: Store,
        billing: provisor_billing::Settings,
        clock: provisor_store::clock::Clock,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Running {
        let limits = self.config.limits;
        let api = Arc::new(Api {
            store,
            billing,
            clock,
            token: self.config.token,
            max_body: self.config.max_body,
            body_timeout: limits.body_timeout,
        });
        let app = router(api);
        let task = tokio::spawn(accept_loop(self.listener, app, limits, stop));
        Running { task }
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
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 71\r\n\r\n{\"error\":\"too many connections are open: retry later on fewer of them\"}";

/// Accepts connections under [`Limits`] and serves each with hyper's HTTP/1 server
/// (header read timeout, which also bounds a kept-alive connection's idle time),
/// until `stop`; then lets requests in flight finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
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
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
            });
            continue;
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(Body::new))
            });
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::debug!("api: connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

impl Running {
    /// Waits (up to 30 s) for the requests in flight after the stop signal.
    pub async fn stopped(self) {
        let mut task = self.task;
        if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
            tracing::warn!(
                "HTTP API requests still running after {DRAIN:?}; stopping them (their imports roll back)"
            );
            task.abort();
        }
    }
}

struct Api {
    store: Store,
    /// Billing's settings (the configuration's `[billing]`), for the usage import.
    billing: provisor_billing::Settings,
    /// The daemon's clock: when a pushed batch is recorded as received.
    clock: provisor_store::clock::Clock,
    token: [u8; 32],
    max_body: usize,
    body_timeout: Duration,
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/health", get(health).fallback(only_get))
        .route("/v1/usage", post(usage).fallback(only_post))
        .fallback(not_found)
        .with_state(api)
}

/// A JSON reply.
fn reply(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_string(),
    )
        .into_response()
}

fn refusal(status: StatusCode, message: &str) -> Response {
    reply(status, &serde_json::json!({ "error": message }))
}

async fn health() -> Response {
    reply(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "no such path: the API has POST /v1/usage and GET /v1/health",
    )
}

fn wrong_method(allow: &'static str, path: &str) -> Response {
    let mut r = refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{path} takes {allow} only"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

async fn only_get() -> Response {
    wrong_method("GET, HEAD", "/v1/health")
}

async fn only_post() -> Response {
    wrong_method("POST", "/v1/usage")
}

/// A refused request: its status and the `{"error"}` message; a 401 also names the
/// scheme it wants (`WWW-Authenticate: Bearer`).
struct Refused {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut r = refusal(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

fn unauthorized(message: String) -> Refused {
    Refused {
        status: StatusCode::UNAUTHORIZED,
        message,
    }
}

/// Checks `Authorization: Bearer <token>` against the configured token.
fn authorize(token: &[u8; 32], headers: &HeaderMap) -> std::result::Result<(), Refused> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(unauthorized(format!(
            "the Authorization header is missing: send `Authorization: Bearer <token>` with the token set in {TOKEN_VAR} on the server"
        )));
    };
    let value = value.as_bytes();
    let presented = match value.iter().position(|b| *b == b' ') {
        Some(i) if value[..i].eq_ignore_ascii_case(b"bearer") => value[i + 1..].trim_ascii(),
        _ => {
            return Err(unauthorized(format!(
                "the Authorization header holds no bearer token: send `Authorization: Bearer <token>` with the token set in {TOKEN_VAR} on the server"
            )))
        }
    };
    if bool::from(digest(presented).ct_eq(token)) {
        Ok(())
    } else {
        Err(unauthorized(format!(
            "the bearer token is wrong: send the token set in {TOKEN_VAR} on the server"
        )))
    }
}

fn too_large(limit: usize) -> Refused {
    Refused {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the request body is over the limit of {limit} bytes ({MAX_BODY_VAR}); nothing was imported: split the batch into smaller requests"
        ),
    }
}

/// Reads the body, refusing it as soon as it is known to be over `limit`.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    pause: Duration,
) -> std::result::Result<Vec<u8>, Refused> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = body;
    // Grown as data arrives: a declared length alone reserves at most 1 MiB.
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
    loop {
        let Ok(next) = tokio::time::timeout(pause, body.frame()).await else {
            return Err(Refused {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!(
                    "the request body stopped arriving for {} s ({BODY_TIMEOUT_VAR}); nothing was imported: send it again in one go",
                    pause.as_secs()
                ),
            });
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| Refused {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "the request body could not be read ({e}); nothing was imported: send it again"
            ),
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

fn failed(e: &Error) -> Response {
    refusal(status_of(e.kind()), &e.to_string())
}

/// `POST /v1/usage`: `usage import` over HTTP.
async fn usage(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let answer = import_batch(&api, peer, &headers, body, started).await;
    let status = answer.status();
    if !status.is_success() {
        tracing::warn!("api: usage batch from {peer} refused: {status}");
    }
    answer
}

async fn import_batch(
    api: &Api,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Response {
    if let Err(r) = authorize(&api.token, headers) {
        return r.into_response();
    }
    let bytes = match read_body(headers, body, api.max_body, api.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    // Parsing tens of megabytes takes a while: off the async workers.
    let settings = api.billing;
    let parsed = tokio::task::spawn_blocking(move || {
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::Invalid(format!(
                "the request body is not UTF-8 text ({e}); nothing was imported: send a JSON array or JSON lines of usage records"
            ))
        })?;
        import::parse(&text, &settings).map(|records| (records, settings))
    })
    .await;
    let (records, settings) = match parsed {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(e)) => return failed(&e),
        Err(e) => {
            return failed(&Error::Io(format!(
                "reading the usage batch failed ({e}); nothing was imported: send it again"
            )))
        }
    };
    // Its own task: a client that hangs up does not cut the import short; the answer
    // is sent only after the transaction committed.
    let store = api.store.clone();
    let now = api.clock.now();
    // The configured token has no row of its own: the entry names it and the address.
    let actor = crate::audit::Actor {
        kind: provisor_store::entities::kinds::ActorKind::Token,
        id: None,
        name: "api token".to_string(),
        source: Some(peer.ip().to_string()),
    };
    let done = tokio::spawn(async move {
        crate::invoices::import_usage_records((&store, &settings, now), &actor, records, started)
            .await
    })
    .await;
    match done {
        Ok(Ok(imported)) => {
            tracing::info!(
                "api: usage batch from {peer}: {} record(s), {} inserted, {} duplicate(s), {} late",
                imported.records,
                imported.inserted,
                imported.duplicates,
                imported.late
            );
            match serde_json::to_value(&imported) {
                Ok(v) => reply(StatusCode::OK, &v),
                Err(e) => failed(&Error::Io(format!(
                    "the usage batch was imported but its summary could not be written ({e}); sending it again counts its records as duplicates"
                ))),
            }
        }
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&Error::Io(format!(
            "the usage import stopped ({e}); nothing was imported: send the batch again"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_one_status() {
        assert_eq!(status_of(ErrorKind::Invalid), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(ErrorKind::Module), StatusCode::BAD_GATEWAY);
        assert_eq!(
            status_of(ErrorKind::Storage),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status_of(ErrorKind::Io), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn the_token_is_checked_in_full() {
        let token = digest(b"0123456789abcdef0123456789abcdef");
        let mut h = HeaderMap::new();
        assert!(authorize(&token, &h).is_err());
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcdef"),
        );
        assert!(authorize(&token, &h).is_ok());
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef0123456789abcde"),
        );
        assert!(authorize(&token, &h).is_err());
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic 0123456789abcdef0123456789abcdef"),
        );
        assert!(authorize(&token, &h).is_err());
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn connection_slots_hold_both_limits_and_come_back_on_close() {
        let limits = Limits {
            max_connections: 3,
            max_per_ip: 2,
            ..Limits::default()
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
