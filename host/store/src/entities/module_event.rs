//! Append-only history of every load, upgrade and refusal.

use sea_orm::entity::prelude::*;

/// One change in a module file's load history (a row of `module_events`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "module_events")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When it happened.
    pub at: DateTimeUtc,
    /// The file's name in the modules directory.
    pub file: String,
    /// The hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The module's name from its manifest, when known.
    pub name: Option<String>,
    /// The module's version from its manifest, when known.
    pub version: Option<String>,
    /// What happened: `loaded`, `refused` or `missing` (a loaded module's file
    /// removed).
    pub event: String,
    /// Why, for a refusal or a missing file.
    pub reason: Option<String>,
    /// The process that saw it: `serve[PID]` or `cli`.
    pub process: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
