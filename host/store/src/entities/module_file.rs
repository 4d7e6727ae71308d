//! Module files seen in the modules directory: one row per file, with the latest
//! outcome of loading it. `provisor modules list` reads this, so the CLI shows what
//! the daemon loaded.

use sea_orm::entity::prelude::*;

/// A module file in the modules directory and its latest verdict (a row of
/// `module_files`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "module_files")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The file's name in the modules directory (unique).
    #[sea_orm(unique)]
    pub file: String,
    /// The hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The module's name from its manifest, when known.
    pub name: Option<String>,
    /// The module's version from its manifest, when known.
    pub version: Option<String>,
    /// The `provisor-module-api` version the module was built against, when known.
    pub api_version: Option<String>,
    /// `loaded`, `refused` or `missing` (loaded, then its file removed).
    pub status: super::status::ModuleFileStatus,
    /// Why it was refused or is missing.
    pub reason: Option<String>,
    /// The content-addressed copy that is mapped (`modules/.loaded/…`), if any.
    pub loaded_path: Option<String>,
    /// The module's manifest as JSON, once loaded.
    pub manifest: Option<String>,
    /// When the verdict last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
