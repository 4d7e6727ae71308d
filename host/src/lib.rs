//! Provisor: a billing and provisioning core for hosting providers.
//!
//! The binary (`src/main.rs`) is a thin layer over this library. See
//! `docs/architecture.md` for the code map and the invariant each part keeps.

pub mod bench;
pub mod bench_billing;
pub mod billing;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod handlers;
pub mod home;
pub mod input;
pub mod modlog;
pub mod progress;
pub mod registry;
pub mod runtime;
pub mod schema;
pub mod store;

pub use error::{Error, ErrorKind, Result};
