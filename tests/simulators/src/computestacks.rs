//! The computestacks simulator (being written; see the crate docs).
