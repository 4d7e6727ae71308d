//! What every answer carries, whatever route or refusal made it: the security headers,
//! a request id, CORS (closed unless `api.cors_origins` names the page's origin), and
//! a refusal as a problem document even when axum itself made it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ALLOW,
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ORIGIN, REFERRER_POLICY, VARY,
    WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::{Kind, Problem};

/// The request id header: taken from the request when it holds a sane one (so a proxy's
/// id follows the request through), else made; always on the answer and in the log.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The allowed origins.
pub(crate) struct Cors {
    pub(crate) origins: Vec<String>,
}

fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            (1..=64).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("-"))
        })
}

/// The origin of the request when `api.cors_origins` lists it.
fn allowed_origin(cors: &Cors, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    cors.origins
        .iter()
        .any(|o| o == text)
        .then(|| origin.clone())
}

/// A refusal that is not a problem document yet (a rejection of axum's own, in plain
/// text) made one, its text as the detail; every other answer as it is.
async fn as_problem(r: Response) -> Response {
    let status = r.status();
    let kind = match status.as_u16() {
        400 => Kind::Invalid,
        404 => Kind::NotFound,
        405 => Kind::MethodNotAllowed,
        408 => Kind::RequestTimeout,
        413 => Kind::PayloadTooLarge,
        500 => Kind::Internal,
        503 => Kind::Unavailable,
        _ => return r,
    };
    let typed = r
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/"));
    if typed {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() {
        kind.title().to_string()
    } else {
        text
    };
    let mut p = Problem::new(kind, detail);
    for name in [ALLOW, WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            p = p.header(name, v.clone());
        }
    }
    p.into_response()
}

/// The layer: a CORS preflight from an allowed origin is answered here; every other
/// request runs, and its answer gets the headers.
pub(crate) async fn secure(State(cors): State<Arc<Cors>>, req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    let origin = allowed_origin(&cors, req.headers());
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut answer = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST"),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, content-type, idempotency-key, x-request-id",
                ),
            );
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            r
        }
        _ => {
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let r = as_problem(next.run(req).await).await;
            tracing::debug!(request_id = ?id, "api: {method} {path}: {}", r.status());
            r
        }
    };
    let h = answer.headers_mut();
    h.insert(REQUEST_ID, id);
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.append(VARY, HeaderValue::from_static("origin"));
    if let Some(o) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, idempotent-replayed"),
        );
    }
    answer
}
