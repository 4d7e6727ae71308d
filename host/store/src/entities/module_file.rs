//! Module files seen in the modules directory: one row per file, with the latest
//! outcome of loading it. `provisor modules list` reads this, so the CLI shows what
//! the daemon loaded.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "module_files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub file: String,
    pub sha256: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub api_version: Option<String>,
    /// loaded, refused, missing.
    pub status: super::status::ModuleFileStatus,
    pub reason: Option<String>,
    pub loaded_path: Option<String>,
    pub manifest: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
