//! The application layer: each use case once, for the CLI, the daemon and the HTTP API.
//!
//! Owns: the order (the engine's checks and routing, billing's quote and invoice, one
//! transaction), the daily run (billing, then the modules' daily work, recorded once per
//! day), the import of a panel's existing services, what billing asks of provisioning
//! ([`driver::EngineDriver`]), the context a process opens the store and runtime from,
//! the daemon (workers, watcher, scheduler, and the HTTP server a front end hands it),
//! the idempotency keys of requests, the pagination of listings, and the accounts every
//! front end authenticates people and programs with (staff, client logins, sessions,
//! API tokens).
//! Must not: parse arguments or render output; the CLI does.

#![warn(missing_docs)]

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod config;
pub mod context;
pub mod daemon;
pub mod daily;
pub mod driver;
pub mod handlers;
pub mod idempotency;
pub mod invoices;
pub mod lock;
pub mod order;
pub mod page;
pub mod services;
pub mod sync;
#[cfg(test)]
mod testdb;

pub use config::Config;
pub use context::Ctx;

use provisor_store::clock::Clock;

/// Today, in the billing time zone: the one "today" of every use case.
pub fn today(clock: &Clock, billing: &provisor_billing::Settings) -> chrono::NaiveDate {
    billing.zone.date_of(clock.now())
}
