//! The `Idempotency-Key` layer on every POST route: the first request under a key runs
//! and its answer is stored (by `provisor_app::idempotency`); the same key with the
//! same method, path and body gets that answer again (`Idempotent-Replayed: true`)
//! without a second effect; the same key with another request is a 422; a request
//! whose twin is still running waits for it (up to a bound) and then replays. Answers
//! 5xx are not stored: the key may be sent again.
//!
//! Must not: run a handler twice for one stored key; replay an answer to another owner
//! (keys are per principal, set by the auth layer, which runs first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use provisor_app::idempotency::{self as keys, Begun};
use provisor_store::error::Error;

use crate::auth::{self, Principal, ANONYMOUS};
use crate::body;
use crate::problem::{Kind, Problem, PROBLEM_JSON};
use crate::state::Api;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The answer header of a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How often a request polls for its running twin.
const POLL: Duration = Duration::from_millis(50);

fn key_of(value: &HeaderValue) -> Result<String, Problem> {
    let b = value.as_bytes();
    if (1..=255).contains(&b.len()) && b.iter().all(|c| (0x20..0x7f).contains(c)) {
        Ok(String::from_utf8_lossy(b).into_owned())
    } else {
        Err(Problem::new(
            Kind::Invalid,
            "the Idempotency-Key header must be 1 to 255 printable ASCII characters: send a fresh random key (a UUID) for each new request",
        )
        .field("Idempotency-Key"))
    }
}

fn hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn replay(status: u16, body: String) -> Response {
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let kind = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    let mut r = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response();
    r.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    r
}

/// The layer; its state is the API and the route's body limit.
pub(crate) async fn layer(
    State((api, limit)): State<(Arc<Api>, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(value) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match key_of(value) {
        Ok(k) => k,
        Err(p) => return p.into_response(),
    };
    let (parts, body) = req.into_parts();
    let bytes = match body::read(&parts.headers, body, limit, api.body_timeout).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let owner = parts
        .extensions
        .get::<Principal>()
        .map_or(ANONYMOUS.to_string(), auth::owner);
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let hash = hash(&method, &path, &bytes);
    let request = keys::Request {
        owner: &owner,
        key: &key,
        method: &method,
        path: &path,
        hash: &hash,
    };
    let deadline = Instant::now() + api.idempotency_wait;
    loop {
        let begun = match keys::begin(&api.store, &request, api.clock.now()).await {
            Ok(b) => b,
            Err(e) => return Problem::from_error(&e).into_response(),
        };
        match begun {
            Begun::New(ticket) => {
                let req = Request::from_parts(parts, Body::from(bytes));
                return run(api, ticket, req, next).await;
            }
            Begun::Replay { status, body } => return replay(status, body),
            Begun::Mismatch => {
                return Problem::new(
                    Kind::IdempotencyKeyReused,
                    "this Idempotency-Key was already used for another request (another method, path or body): send a new key for a new request, or the same request for the same key",
                )
                .field("Idempotency-Key")
                .into_response()
            }
            Begun::Running if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Begun::Running => {
                return Problem::from_error(&Error::conflict(format!(
                    "a request with this Idempotency-Key is still running after {} s: send it again later, with the same key, to get its answer",
                    api.idempotency_wait.as_secs()
                )))
                .field("Idempotency-Key")
                .into_response()
            }
        }
    }
}

/// Runs the request under its new key in a task of its own, so a client that hangs up
/// does not leave the key running, and stores the answer (or forgets a 5xx).
async fn run(api: Arc<Api>, ticket: keys::Ticket, req: Request, next: Next) -> Response {
    let task = tokio::spawn(async move {
        let answer = next.run(req).await;
        let (parts, body) = answer.into_parts();
        let bytes: Bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let _ = keys::abandon(&api.store, ticket).await;
                return Problem::new(
                    Kind::Internal,
                    format!("the answer could not be written ({e}); send the request again with the same key"),
                )
                .into_response();
            }
        };
        let text = std::str::from_utf8(&bytes).ok();
        let stored = match text {
            Some(t) if !parts.status.is_server_error() => {
                keys::finish(
                    &api.store,
                    ticket,
                    parts.status.as_u16(),
                    t.to_string(),
                    api.clock.now(),
                )
                .await
            }
            _ => keys::abandon(&api.store, ticket).await,
        };
        if let Err(e) = stored {
            tracing::error!("api: the answer of an idempotent request was not stored: {e}");
        }
        Response::from_parts(parts, Body::from(bytes))
    });
    match task.await {
        Ok(r) => r,
        Err(e) => Problem::new(
            Kind::Internal,
            format!("the request stopped ({e}); send it again with the same key"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(key_of(&HeaderValue::from_static("a-uuid 1")).is_ok());
        assert!(key_of(&HeaderValue::from_str(&"k".repeat(255)).unwrap()).is_ok());
        assert!(key_of(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_err());
        assert!(key_of(&HeaderValue::from_static("")).is_err());
        let p = key_of(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).unwrap_err();
        assert_eq!(p.errors[0].field, "Idempotency-Key");
        assert_ne!(
            hash("POST", "/v1/usage", b"a"),
            hash("POST", "/v1/usag", b"ea")
        );
    }
}
