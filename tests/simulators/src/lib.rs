//! Loopback simulators of the remote panels Provisor's modules speak to.
//!
//! Each simulator is a real HTTP/1.1 server on `127.0.0.1` that implements the paths,
//! authentication, field names, status codes, paging and error bodies of one panel's API
//! as `../shared/reference/remote-apis.md` describes them. Where the public record is
//! silent the simulator defines a shape and says so (`ASSUMPTION:` in the code).
//!
//! The parts every simulator shares live here:
//! * [`server`]: the HTTP server, one tokio task per connection, with [`faults`] applied
//!   before (error, 5xx, drop, timeout, slow) or after (reply lost) the request is handled.
//! * [`faults`]: per-endpoint fault rules, settable in process or over HTTP at
//!   `POST /__sim/faults` so tests that drive the real binary can set them too.
//! * [`state`]: a simulator's state, saved as JSON to a file after every change, so a
//!   simulator restarted on the same directory carries on where it stopped.

pub mod faults;
pub mod server;
pub mod state;

pub use faults::{Fault, FaultRule, Faults};
pub use server::{Api, Reply, Request, Simulator};
pub use state::Persisted;

pub mod computestacks;
pub mod ispsystem;
pub mod solusvm;
