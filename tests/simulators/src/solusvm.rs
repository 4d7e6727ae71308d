//! The solusvm simulator (being written; see the crate docs).
