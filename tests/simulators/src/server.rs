//! The HTTP server every simulator runs on, and the request and reply types an [`Api`]
//! sees.
//!
//! Each simulator runs on its own thread with its own tokio runtime, so it serves the
//! same whether the caller is a synchronous test or an async command (`provisor demo`).
//! Faults are applied here, around [`Api::handle`], so every API gets every fault.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::faults::{Fault, FaultRule, Faults};

/// A request as an [`Api`] sees it: decoded path and query, lower-case header names,
/// the whole body.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query (`/api/admin/users/5`).
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first query parameter called `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Path segments after the leading `/` (`["api", "admin", "users", "5"]`).
    pub fn segments(&self) -> Vec<&str> {
        self.path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Result<Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("the body is not JSON: {e}"))
    }

    /// Query parameters followed by `application/x-www-form-urlencoded` body fields
    /// (how billmgr accepts its parameters: either place works).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut all = self.query.clone();
        if let Ok(text) = std::str::from_utf8(&self.body) {
            all.extend(parse_form(text));
        }
        all
    }

    /// The first parameter called `name` in [`Request::params`].
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The `user:password` pair of an `Authorization: Basic …` header.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
        let (user, pass) = decoded.split_once(':')?;
        Some((user.to_string(), pass.to_string()))
    }

    /// The token of an `Authorization: Bearer …` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

/// A reply: status, headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Extra headers (`Content-Type` is set by the constructors).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(value).expect("JSON values serialise"),
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// An XML reply.
    pub fn xml(status: u16, text: impl Into<String>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }

    /// A plain-text (or HTML) reply.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

/// One remote panel's API.
pub trait Api: Send + Sync + 'static {
    /// A short name for logs (`computestacks`).
    fn name(&self) -> &'static str;

    /// The key faults and statistics use for this request, with ids replaced by
    /// placeholders: `"POST /api/admin/users/{id}/suspension"`, or
    /// `"billmgr soft.order.param"`.
    fn endpoint(&self, req: &Request) -> String;

    /// Handles a request (authentication included) and changes state as the panel would.
    fn handle(&self, req: &Request) -> Reply;

    /// The API's own error body for an injected [`Fault::Error`].
    fn error_reply(&self, status: u16, message: &str) -> Reply;

    /// Test-only endpoints under `/__sim/` beyond the shared ones (seeding accounts,
    /// moving the simulator's clock, reading state). `None`: not found.
    fn control(&self, req: &Request) -> Option<Reply> {
        let _ = req;
        None
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    faults: Arc<Faults>,
    api: Arc<dyn Api>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts `api` on `127.0.0.1:port` (0: any free port).
    pub fn start(api: Arc<dyn Api>, port: u16) -> io::Result<Simulator> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (api2, faults2) = (api.clone(), faults.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("sim-{}", api.name()))
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("sim-{}", api.name()))
            .spawn(move || {
                runtime.block_on(serve(std_listener, api2, faults2, stop_rx));
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Simulator {
            addr,
            faults,
            api,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault rules and statistics.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The API behind the server.
    pub fn api(&self) -> &Arc<dyn Api> {
        &self.api
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    api: Arc<dyn Api>,
    faults: Arc<Faults>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "simulator could not listen");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let (api, faults) = (api.clone(), faults.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (api, faults) = (api.clone(), faults.clone());
                async move { respond(api, faults, req).await }
            });
            // An `Err` from the service closes the connection without a reply: that is
            // how drops, timeouts and lost replies reach the client.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why a connection was closed on purpose.
#[derive(Debug)]
struct Closed(&'static str);

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Closed {}

async fn respond(
    api: Arc<dyn Api>,
    faults: Arc<Faults>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Closed> {
    let Ok(request) = read_request(req).await else {
        return Err(Closed("unreadable request"));
    };
    if request.path.starts_with("/__sim/") {
        let reply = control(&*api, &faults, &request);
        return Ok(to_response(reply));
    }
    let endpoint = api.endpoint(&request);
    let fault = faults.pick(&endpoint);
    let reply = match fault {
        None => run(&api, request).await,
        Some(Fault::Error { status, message }) => api.error_reply(status, &message),
        Some(Fault::ServerError { status }) => Reply::text(
            status,
            format!("<html><body><h1>{status}</h1>upstream unavailable</body></html>"),
        ),
        Some(Fault::Drop) => return Err(Closed("injected drop")),
        Some(Fault::Timeout { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return Err(Closed("injected timeout"));
        }
        Some(Fault::Slow { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            run(&api, request).await
        }
        Some(Fault::Garbled { prefix }) => {
            let mut reply = run(&api, request).await;
            let mut body = prefix.into_bytes();
            body.extend_from_slice(&reply.body);
            reply.body = body;
            reply
        }
        Some(Fault::LostReply) => {
            let _ = run(&api, request).await;
            return Err(Closed("injected lost reply"));
        }
    };
    Ok(to_response(reply))
}

/// Runs the handler off the async threads (handlers take locks and write files).
async fn run(api: &Arc<dyn Api>, request: Request) -> Reply {
    let api = api.clone();
    tokio::task::spawn_blocking(move || api.handle(&request))
        .await
        .unwrap_or_else(|_| Reply::text(500, "simulator handler panicked"))
}

fn control(api: &dyn Api, faults: &Faults, req: &Request) -> Reply {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/__sim/faults") => {
            let rules: Result<Vec<FaultRule>, _> = match req.json() {
                Ok(Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
                Ok(value) => serde_json::from_value(value).map(|r| vec![r]),
                Err(e) => return Reply::json(400, &serde_json::json!({ "error": e })),
            };
            match rules {
                Ok(rules) => {
                    let n = rules.len();
                    for r in rules {
                        faults.add(r);
                    }
                    Reply::json(200, &serde_json::json!({ "added": n }))
                }
                Err(e) => Reply::json(400, &serde_json::json!({ "error": e.to_string() })),
            }
        }
        ("DELETE", "/__sim/faults") => {
            faults.clear();
            Reply::json(200, &serde_json::json!({ "cleared": true }))
        }
        ("GET", "/__sim/faults") => Reply::json(200, &faults.rules()),
        ("POST", "/__sim/seed") => match req.query("seed").and_then(|s| s.parse().ok()) {
            Some(seed) => {
                faults.seed(seed);
                Reply::json(200, &serde_json::json!({ "seed": seed }))
            }
            None => Reply::json(400, &serde_json::json!({ "error": "?seed=N is required" })),
        },
        ("GET", "/__sim/stats") => Reply::json(200, &faults.stats()),
        _ => api.control(req).unwrap_or_else(|| {
            Reply::json(
                404,
                &serde_json::json!({ "error": "unknown simulator control endpoint" }),
            )
        }),
    }
}

async fn read_request(req: hyper::Request<Incoming>) -> Result<Request, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    let query = parts.uri.query().map(parse_form).unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Ok(Request {
        method: parts.method.as_str().to_string(),
        path: percent_decode(parts.uri.path()),
        query,
        headers,
        body,
    })
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| {
            let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"bad reply")));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}

/// Parses `a=1&b=x%20y` (also `+` for space).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard Base64 (with or without padding); `None` when the text is not Base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    }
    let clean: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// Standard Base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(
            parse_form("x=1+2&y=%41"),
            vec![("x".into(), "1 2".into()), ("y".into(), "A".into())]
        );
        assert_eq!(
            base64_decode(&base64_encode(b"key:secret")).unwrap(),
            b"key:secret"
        );
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
