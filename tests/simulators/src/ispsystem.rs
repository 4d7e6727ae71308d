//! The ispsystem simulator (being written; see the crate docs).
