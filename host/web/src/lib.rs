//! Provisor's HTTP API, the front end beside the command line: the listener
//! ([`listen`]: HTTP/1.1 and HTTP/2 on one socket, connection limits, timeouts,
//! graceful drain), the route table every route is served from ([`table`]), errors as
//! `application/problem+json` ([`problem`]), authentication ([`auth`]: a trait the
//! accounts work implements), idempotency keys on every POST ([`idempotency`]), cursor
//! pagination ([`page`]), the security headers and CORS, and the OpenAPI document
//! ([`openapi`]).
//!
//! Owns: HTTP. Must not: hold a business rule: a handler parses, calls app, renders.
//! The daemon (in app) runs the [`Server`] it is handed and knows nothing of this crate.

#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod headers;
pub mod idempotency;
pub mod listen;
pub mod openapi;
pub mod page;
pub mod problem;
mod routes;
mod state;
pub mod table;
mod voice;

pub use listen::Server;
pub use state::JSON_MAX_BODY;

#[cfg(test)]
mod tests;
