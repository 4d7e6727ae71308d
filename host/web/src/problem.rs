//! Errors as `application/problem+json` (RFC 9457): the one place an [`Error`] becomes
//! an HTTP status and a problem document. `type` is a stable URI per kind of problem,
//! `detail` the message in the API's voice (fields by their JSON names, fixes as what to
//! do), and `errors` names the field at fault of a refused input.
//!
//! Must not: put a secret or a credential into a document; the messages it words come
//! from the library, which never holds one.

use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use provisor_store::error::{Error, ErrorKind};

use crate::voice;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Where the problem types live: `type` is this and the kind's name.
pub const TYPE_BASE: &str = "https://provisor.dev/problems/";

/// A problem document (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://provisor.dev/problems/invalid",
    "title": "The request is invalid",
    "status": 400,
    "detail": "limit 500 is out of range: ask for 1 to 100 rows (default 20)",
    "errors": [{"field": "limit", "detail": "limit 500 is out of range: ask for 1 to 100 rows (default 20)"}]
}))]
pub struct Problem {
    /// A stable URI naming the kind of problem (`https://provisor.dev/problems/invalid`).
    #[serde(rename = "type", serialize_with = "type_uri")]
    #[schema(value_type = String)]
    pub kind: Kind,
    /// The kind of problem, in words; the same for every problem of the kind.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request and, where one exists, what to do.
    pub detail: String,
    /// The inputs at fault, each by its JSON name (a header by its name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Headers that go with the answer (`Allow`, `WWW-Authenticate`, `Retry-After`).
    #[serde(skip)]
    #[schema(ignore)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with hands a reference"
)]
fn type_uri<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{TYPE_BASE}{}", kind.slug()))
}

/// One input at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's JSON name, a query parameter's name or a header's name.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// The kinds of problem: slug (the end of `type`), title, status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input (400).
    Invalid,
    /// No credential, or one the server does not know (401).
    Unauthenticated,
    /// Nothing there (404).
    NotFound,
    /// The credential is good but may not do this (403).
    Forbidden,
    /// The path does not take the method (405).
    MethodNotAllowed,
    /// The body stopped arriving (408).
    RequestTimeout,
    /// A clash with the state things are in (409).
    Conflict,
    /// The body is over the limit (413).
    PayloadTooLarge,
    /// An `Idempotency-Key` sent again with another request (422).
    IdempotencyKeyReused,
    /// Too many attempts; the detail says when to try again (429).
    RateLimited,
    /// The server failed (500).
    Internal,
    /// A module refused or failed the call (502).
    Module,
    /// The database or the server is unavailable for now (503).
    Unavailable,
}

impl Kind {
    /// Every kind, for the document's list and the tests.
    pub const ALL: [Kind; 13] = [
        Kind::Invalid,
        Kind::Unauthenticated,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::MethodNotAllowed,
        Kind::RequestTimeout,
        Kind::Conflict,
        Kind::PayloadTooLarge,
        Kind::IdempotencyKeyReused,
        Kind::RateLimited,
        Kind::Internal,
        Kind::Module,
        Kind::Unavailable,
    ];

    /// The end of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::Unauthenticated => "unauthenticated",
            Kind::NotFound => "not-found",
            Kind::Forbidden => "forbidden",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::RequestTimeout => "request-timeout",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::IdempotencyKeyReused => "idempotency-key-reused",
            Kind::RateLimited => "rate-limited",
            Kind::Internal => "internal",
            Kind::Module => "module",
            Kind::Unavailable => "unavailable",
        }
    }

    /// The title.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Invalid => "The request is invalid",
            Kind::Unauthenticated => "A valid credential is needed",
            Kind::NotFound => "Not found",
            Kind::Forbidden => "The credential may not do this",
            Kind::MethodNotAllowed => "The path does not take this method",
            Kind::RequestTimeout => "The request body stopped arriving",
            Kind::Conflict => "The request clashes with one still running",
            Kind::PayloadTooLarge => "The request body is too large",
            Kind::IdempotencyKeyReused => "The Idempotency-Key was used for another request",
            Kind::RateLimited => "Too many attempts",
            Kind::Internal => "The server failed",
            Kind::Module => "A module refused or failed the call",
            Kind::Unavailable => "The server cannot answer now",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Module => StatusCode::BAD_GATEWAY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The kind of problem an error of `kind` is.
    pub fn of(kind: ErrorKind) -> Kind {
        match kind {
            ErrorKind::Invalid => Kind::Invalid,
            ErrorKind::NotFound => Kind::NotFound,
            ErrorKind::Conflict => Kind::Conflict,
            ErrorKind::Module => Kind::Module,
            // The database failed: nothing was written, the same request may be sent again.
            ErrorKind::Storage => Kind::Unavailable,
            ErrorKind::Io => Kind::Internal,
            ErrorKind::Unauthenticated => Kind::Unauthenticated,
            ErrorKind::Forbidden => Kind::Forbidden,
            ErrorKind::RateLimited => Kind::RateLimited,
        }
    }
}

impl Problem {
    /// A problem of `kind` told by `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The problem an error is: its kind's status, its message in the API's words, and
    /// the field at fault when it names one.
    pub fn from_error(e: &Error) -> Problem {
        let detail = e.render(&voice::Api);
        let mut p = Problem::new(Kind::of(e.kind()), detail.clone());
        if let Some(field) = e.field() {
            p.errors.push(FieldError {
                field: field.to_string(),
                detail,
            });
        }
        p
    }

    /// The same, naming `field` as the input at fault.
    #[must_use]
    pub fn field(mut self, field: &str) -> Problem {
        self.errors.push(FieldError {
            field: field.to_string(),
            detail: self.detail.clone(),
        });
        self
    }

    /// The same, with a header on the answer.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Problem {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"type\":\"{TYPE_BASE}internal\",\"status\":500}}"))
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        Problem::from_error(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            self.to_json(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED
            && !self.headers.iter().any(|(n, _)| n == WWW_AUTHENTICATE)
        {
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        for (name, value) in self.headers {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use provisor_store::error::{Fix, Listing, Message};

    use super::*;

    #[test]
    fn every_error_kind_has_one_status() {
        let s = |k| Kind::of(k).status();
        assert_eq!(s(ErrorKind::Invalid), StatusCode::BAD_REQUEST);
        assert_eq!(s(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(s(ErrorKind::Conflict), StatusCode::CONFLICT);
        assert_eq!(s(ErrorKind::Module), StatusCode::BAD_GATEWAY);
        assert_eq!(s(ErrorKind::Storage), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(s(ErrorKind::Io), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(s(ErrorKind::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(s(ErrorKind::Forbidden), StatusCode::FORBIDDEN);
        assert_eq!(s(ErrorKind::RateLimited), StatusCode::TOO_MANY_REQUESTS);
        let slugs: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.slug()).collect();
        assert_eq!(slugs.len(), Kind::ALL.len(), "one type URI per kind");
    }

    #[test]
    fn a_refused_input_names_its_field_in_the_apis_words() {
        let e = Error::invalid(Message::about("amount", "0 must be more than zero; ").fix(
            Fix::See {
                listing: Listing::Currencies,
            },
        ));
        let v: serde_json::Value =
            serde_json::from_str(&Problem::from_error(&e).to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "https://provisor.dev/problems/invalid",
                "title": "The request is invalid",
                "status": 400,
                "detail": "amount 0 must be more than zero; see the list of currencies",
                "errors": [{"field": "amount", "detail": "amount 0 must be more than zero; see the list of currencies"}]
            })
        );
        let plain = Problem::from_error(&Error::Storage("the database is gone".into()));
        assert_eq!((plain.status, plain.errors.len()), (503, 0));
    }
}
