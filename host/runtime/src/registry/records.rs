//! What the registry records of every outcome: one `module_files` row per file (its
//! latest verdict) and one `module_events` row per change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use provisor_module_api::Manifest;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use provisor_store::entities::status::ModuleFileStatus;
use provisor_store::entities::{module_event, module_file};
use provisor_store::error::Result;
use provisor_store::{db_err, Store};

/// One outcome of a scan, as recorded.
#[derive(Debug, Clone)]
pub(super) struct Record {
    file: String,
    sha256: String,
    name: Option<String>,
    version: Option<String>,
    api_version: Option<String>,
    /// `None`: the file is gone and its row is forgotten.
    status: Option<ModuleFileStatus>,
    reason: Option<String>,
    loaded_path: Option<String>,
    manifest: Option<String>,
}

impl Record {
    pub(super) fn base(file: &str, sha256: &str, status: Option<ModuleFileStatus>) -> Record {
        Record {
            file: file.to_string(),
            sha256: sha256.to_string(),
            name: None,
            version: None,
            api_version: None,
            status,
            reason: None,
            loaded_path: None,
            manifest: None,
        }
    }
    pub(super) fn loaded(
        file: &str,
        sha256: &str,
        manifest: &Manifest,
        loaded_path: &Path,
    ) -> Record {
        Record {
            api_version: Some(manifest.api_version.clone()),
            loaded_path: Some(loaded_path.display().to_string()),
            manifest: serde_json::to_string(manifest).ok(),
            ..Record::base(file, sha256, Some(ModuleFileStatus::Loaded))
                .named(&manifest.name, &manifest.version)
        }
    }
    pub(super) fn refused(
        file: &str,
        sha256: &str,
        manifest: Option<&Manifest>,
        reason: String,
    ) -> Record {
        Record {
            reason: Some(reason),
            api_version: manifest.map(|m| m.api_version.clone()),
            ..Record::base(file, sha256, Some(ModuleFileStatus::Refused))
        }
    }
    /// The file of a loaded module (`name` `version`, its copy at `loaded_path`) is gone.
    pub(super) fn missing(
        file: &str,
        sha256: &str,
        name: &str,
        version: &str,
        loaded_path: &Path,
    ) -> Record {
        Record {
            reason: Some(
                "file removed; the module keeps serving until the daemon restarts".to_string(),
            ),
            loaded_path: Some(loaded_path.display().to_string()),
            ..Record::base(file, sha256, Some(ModuleFileStatus::Missing)).named(name, version)
        }
    }
    pub(super) fn forget(file: &str) -> Record {
        Record::base(file, "", None)
    }
    /// Keeps the path of the loaded copy that goes on serving despite this refusal.
    pub(super) fn serving(mut self, loaded_path: Option<&Path>) -> Record {
        if let Some(p) = loaded_path {
            self.loaded_path = Some(p.display().to_string());
        }
        self
    }
    pub(super) fn named(mut self, name: &str, version: &str) -> Record {
        self.name = Some(name.to_string());
        self.version = Some(version.to_string());
        self
    }
}

/// Writes the outcomes of a scan: changed rows, an event per change, and forgets rows
/// of files that are gone and held nothing (`loaded_files` are the files loaded now).
pub(super) async fn write_records(
    store: &Store,
    process: &str,
    records: &[Record],
    files: &[(String, PathBuf)],
    loaded_files: Vec<String>,
) -> Result<()> {
    let db = store.db();
    // Wall time: when this process saw the file on disk, not a business date (a pinned
    // clock would give every load and refusal of a run the same instant).
    let now = Utc::now();
    let before: HashMap<String, module_file::Model> = module_file::Entity::find()
        .all(db)
        .await
        .map_err(db_err("reading recorded module files"))?
        .into_iter()
        .map(|m| (m.file.clone(), m))
        .collect();
    for r in records {
        let Some(status) = r.status else {
            module_file::Entity::delete_many()
                .filter(module_file::Column::File.eq(&r.file))
                .exec(db)
                .await
                .map_err(db_err("recording a removed module file"))?;
            continue;
        };
        let unchanged = before.get(&r.file).is_some_and(|old| {
            old.sha256 == r.sha256
                && old.status == status
                && old.reason == r.reason
                && old.version == r.version
        });
        if unchanged {
            continue;
        }
        let row = module_file::ActiveModel {
            file: Set(r.file.clone()),
            sha256: Set(r.sha256.clone()),
            name: Set(r.name.clone()),
            version: Set(r.version.clone()),
            api_version: Set(r.api_version.clone()),
            status: Set(status),
            reason: Set(r.reason.clone()),
            loaded_path: Set(r.loaded_path.clone()),
            manifest: Set(r.manifest.clone()),
            updated_at: Set(now),
            ..Default::default()
        };
        module_file::Entity::insert(row)
            .on_conflict(
                OnConflict::column(module_file::Column::File)
                    .update_columns([
                        module_file::Column::Sha256,
                        module_file::Column::Name,
                        module_file::Column::Version,
                        module_file::Column::ApiVersion,
                        module_file::Column::Status,
                        module_file::Column::Reason,
                        module_file::Column::LoadedPath,
                        module_file::Column::Manifest,
                        module_file::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(db)
            .await
            .map_err(db_err("recording a module file"))?;
        let event = module_event::ActiveModel {
            at: Set(now),
            file: Set(r.file.clone()),
            sha256: Set(r.sha256.clone()),
            name: Set(r.name.clone()),
            version: Set(r.version.clone()),
            event: Set(status.to_string()),
            reason: Set(r.reason.clone()),
            process: Set(process.to_string()),
            ..Default::default()
        };
        module_event::Entity::insert(event)
            .exec(db)
            .await
            .map_err(db_err("recording a module event"))?;
    }
    // Rows for files that are no longer in the directory and held nothing.
    let present: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
    module_file::Entity::delete_many()
        .filter(module_file::Column::File.is_not_in(present))
        .filter(module_file::Column::File.is_not_in(loaded_files))
        .exec(db)
        .await
        .map_err(db_err("forgetting removed module files"))?;
    Ok(())
}
