//! The module registry: which processing modules are loaded, from which files, and
//! why any file was refused.
//!
//! Owns: scanning `$PROVISOR_HOME/modules/`, the checks every file passes before it is
//! mapped, the content-addressed copies in `modules/.loaded/` (a mapped `.so` is never
//! overwritten: `abi_stable` never unloads), the version rules (upgrade, no downgrade,
//! one file per module name), and the `module_files`/`module_events` rows that let
//! `provisor modules list` in another process show the daemon's truth.
//! Must not: call into module instances; `runtime` does that.

pub mod loader;
mod records;
pub mod watcher;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use provisor_module_api::abi::ModuleRoot_Ref;
use provisor_module_api::{Capability, Manifest};
use sea_orm::{EntityTrait, QueryOrder};

pub use loader::LoadPolicy;
use provisor_store::entities::status::ModuleFileStatus;
use provisor_store::entities::{module_event, module_file};
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::{db_err, Store};
use records::Record;

/// A module loaded into this process.
pub struct LoadedModule {
    /// What the module says it is.
    pub manifest: Manifest,
    /// `manifest.version`, parsed.
    pub version: semver::Version,
    /// The file in the modules directory it came from (file name only).
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The content-addressed copy that is mapped.
    pub loaded_path: PathBuf,
    /// Increases with every load in this process; instances built from an older
    /// generation are retired.
    pub generation: u64,
    root: ModuleRoot_Ref,
}

impl LoadedModule {
    /// The module's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
    /// The plan presets the module offers (read from the loaded library on request).
    pub fn presets(&self) -> std::result::Result<Vec<provisor_module_api::PlanPreset>, String> {
        loader::read_presets(self.root)
    }
    /// The root module (to instantiate handlers).
    pub fn root(&self) -> ModuleRoot_Ref {
        self.root
    }
    /// Whether the manifest lists a capability.
    pub fn supports(&self, cap: Capability) -> bool {
        self.manifest.capabilities.contains(&cap)
    }
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// What a scan did, for the daemon's log and for retiring instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// A module was loaded for the first time.
    Loaded {
        /// The module's name.
        name: String,
        /// Its version.
        version: String,
        /// Its file in the modules directory.
        file: String,
    },
    /// A module was replaced by a newer version.
    Upgraded {
        /// The module's name.
        name: String,
        /// The version it had.
        from: String,
        /// The version it has now.
        to: String,
        /// The new version's file in the modules directory.
        file: String,
    },
    /// A file was refused.
    Refused {
        /// The file in the modules directory.
        file: String,
        /// Why, with the fix where there is one.
        reason: String,
    },
    /// A file that held a loaded module disappeared; the module keeps serving.
    Missing {
        /// The module's name.
        name: String,
        /// The file that is gone.
        file: String,
    },
}

impl std::fmt::Display for ScanEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanEvent::Loaded { name, version, file } => write!(f, "module {name} {version} loaded from {file}"),
            ScanEvent::Upgraded { name, from, to, file } => write!(f, "module {name} upgraded {from} -> {to} from {file}; calls in flight finish on {from}"),
            ScanEvent::Refused { file, reason } => write!(f, "module file {file} refused: {reason}"),
            ScanEvent::Missing { name, file } => write!(f, "module file {file} was removed; module {name} keeps serving until restart"),
        }
    }
}

#[derive(Debug, Clone)]
struct FileSeen {
    size: u64,
    mtime: Option<SystemTime>,
    sha256: String,
}

#[derive(Default)]
struct State {
    by_name: HashMap<String, Arc<LoadedModule>>,
    seen: HashMap<String, FileSeen>,
    proven: HashMap<String, Manifest>,
    recorded: HashMap<String, module_file::Model>,
    generation: u64,
}

/// The registry of loaded modules.
pub struct Registry {
    home: Home,
    store: Store,
    policy: LoadPolicy,
    record: bool,
    process: String,
    state: Mutex<State>,
}

/// The outcome of checking one file without installing it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The file's SHA-256.
    pub sha256: String,
    /// Its manifest, or why it was refused.
    pub result: std::result::Result<Manifest, String>,
}

impl Registry {
    /// A registry over `home`. With `record`, every outcome is written to the database
    /// (the daemon, or a CLI when no daemon runs).
    pub fn new(
        home: Home,
        store: Store,
        policy: LoadPolicy,
        record: bool,
        process: &str,
    ) -> Registry {
        Registry {
            home,
            store,
            policy,
            record,
            process: process.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere while holding it; the data is still
        // consistent (every update is a single insert/remove), so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The loaded module called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedModule>> {
        self.state().by_name.get(name).cloned()
    }

    /// Every loaded module, by name.
    pub fn loaded(&self) -> Vec<Arc<LoadedModule>> {
        let mut all: Vec<_> = self.state().by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Checks a file the way a scan would, without installing or recording anything.
    pub fn inspect(&self, path: &Path) -> Result<Inspection> {
        let bytes = read_named(path)?;
        let sha256 = loader::sha256_hex(&bytes);
        let result = self.check_and_probe(path, &bytes);
        Ok(Inspection { sha256, result })
    }

    fn check_and_probe(&self, path: &Path, bytes: &[u8]) -> std::result::Result<Manifest, String> {
        loader::check_file_modes(path, self.policy.strict_modes)?;
        if !loader::looks_like_elf(bytes) {
            return Err("it is not an ELF shared library (wrong file, or random bytes named .so): build the module as a cdylib and copy the .so".to_string());
        }
        let sha = loader::sha256_hex(bytes);
        if let Some(manifest) = self.state().proven.get(&sha) {
            // These exact bytes already loaded cleanly in a probe.
            return Ok(manifest.clone());
        }
        let probed = match &self.policy.probe_exe {
            Some(exe) => loader::probe_in_child(exe, path, self.policy.probe_timeout),
            None => Ok(Manifest {
                name: String::new(),
                version: String::new(),
                api_version: String::new(),
                description: String::new(),
                capabilities: Vec::new(),
                settings_schema: serde_json::Value::Null,
                plan_schema: serde_json::Value::Null,
            }),
        };
        if let Ok(manifest) = &probed {
            if !manifest.name.is_empty() {
                self.state().proven.insert(sha, manifest.clone());
            }
        }
        probed
    }

    /// Remembers files that earlier processes loaded cleanly (by SHA-256), so they are
    /// not probed again.
    pub async fn learn_proven(&self) -> Result<()> {
        let rows = Registry::recorded(&self.store).await?;
        let mut st = self.state();
        st.recorded = rows.iter().map(|r| (r.file.clone(), r.clone())).collect();
        for row in rows {
            if matches!(
                row.status,
                ModuleFileStatus::Loaded | ModuleFileStatus::Missing
            ) {
                if let Some(manifest) = row
                    .manifest
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Manifest>(t).ok())
                {
                    st.proven.insert(row.sha256, manifest);
                }
            }
        }
        Ok(())
    }

    /// Copies a checked file into the modules directory as `<module name>.so`
    /// (atomically) and loads it. Nothing is copied if the file is refused.
    pub async fn install(&self, path: &Path) -> Result<Vec<ScanEvent>> {
        let inspection = self.inspect(path)?;
        let manifest = inspection.result.map_err(|reason| {
            Error::Invalid(format!("module file {} refused: {reason}", path.display()))
        })?;
        let manifest = if manifest.name.is_empty() {
            // No probe process: load here to learn the name.
            loader::load_in_process(path)
                .map_err(|reason| {
                    Error::Invalid(format!("module file {} refused: {reason}", path.display()))
                })?
                .1
        } else {
            manifest
        };
        if let Some(loaded) = self.get(&manifest.name) {
            let new = semver::Version::parse(&manifest.version)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            if new < loaded.version {
                return Err(Error::Invalid(format!(
                    "module file {} refused: it is {} {}, older than the loaded {} (a downgrade); remove the loaded file by hand if you really mean to go back",
                    path.display(), manifest.name, manifest.version, loaded.version
                )));
            }
        }
        let dest = self
            .home
            .modules_dir()
            .join(format!("{}.so", manifest.name));
        let bytes = read_named(path)?;
        self.home.ensure()?;
        loader::write_atomically(&dest, &bytes, 0o644)
            .map_err(|e| Error::io(format!("cannot copy the module to {}", dest.display()), e))?;
        self.scan().await
    }

    /// Scans the modules directory: loads new files, upgrades changed ones, refuses
    /// what must be refused, and records every outcome.
    pub async fn scan(&self) -> Result<Vec<ScanEvent>> {
        let files = self.module_files()?;
        settle(&files).await;
        let mut events = Vec::new();
        let mut records: Vec<Record> = Vec::new();
        self.forget_gone(&files, &mut events, &mut records);
        for (file, path) in &files {
            if let Some((event, record)) = self.look_at(file, path, &files) {
                events.push(event);
                records.push(record);
            }
        }
        if self.record {
            let loaded_files: Vec<String> = self.loaded().iter().map(|m| m.file.clone()).collect();
            records::write_records(&self.store, &self.process, &records, &files, loaded_files)
                .await?;
        } else {
            self.adopt_served();
        }
        let daemon = self.process.starts_with("serve");
        for e in &events {
            match e {
                ScanEvent::Refused { .. } if daemon => tracing::warn!("{e}"),
                _ if daemon => tracing::info!("{e}"),
                _ => tracing::debug!("{e}"),
            }
        }
        Ok(events)
    }

    /// The `.so` files of the modules directory (not hidden ones), by name.
    fn module_files(&self) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.home.modules_dir();
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            Error::io(
                format!("cannot read the modules directory {}", dir.display()),
                e,
            )
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            #[allow(
                clippy::case_sensitive_file_extension_comparisons,
                reason = "a module file is named `*.so` exactly; `x.SO` is not one"
            )]
            if name.starts_with('.') || !name.ends_with(".so") {
                continue;
            }
            files.push((name, entry.path()));
        }
        files.sort();
        Ok(files)
    }

    /// Files that went away. When one held a module, files refused because of it
    /// (two files claiming one name) are looked at again.
    fn forget_gone(
        &self,
        files: &[(String, PathBuf)],
        events: &mut Vec<ScanEvent>,
        records: &mut Vec<Record>,
    ) {
        let present: Vec<&String> = files.iter().map(|(f, _)| f).collect();
        let gone: Vec<String> = {
            let mut st = self.state();
            let gone: Vec<String> = st
                .seen
                .keys()
                .filter(|f| !present.contains(f))
                .cloned()
                .collect();
            for f in &gone {
                st.seen.remove(f);
            }
            gone
        };
        for file in &gone {
            let held = self.loaded().into_iter().find(|m| &m.file == file);
            if let Some(m) = held {
                events.push(ScanEvent::Missing {
                    name: m.name().to_string(),
                    file: file.clone(),
                });
                records.push(Record::missing(
                    file,
                    &m.sha256,
                    m.name(),
                    &m.manifest.version,
                    &m.loaded_path,
                ));
                let loaded_files: Vec<String> =
                    self.loaded().iter().map(|m| m.file.clone()).collect();
                self.state().seen.retain(|f, _| loaded_files.contains(f));
            } else {
                records.push(Record::forget(file));
            }
        }
    }

    /// Looks at one file of the directory: `None` when nothing changed since it was
    /// last seen (or its refusal was already recorded), else what it means.
    fn look_at(
        &self,
        file: &str,
        path: &Path,
        files: &[(String, PathBuf)],
    ) -> Option<(ScanEvent, Record)> {
        // The entry's own metadata: a symlink, directory, FIFO or device is refused
        // here with its reason and never opened (reading a FIFO blocks forever, a
        // link to /dev/zero never ends).
        let meta = std::fs::symlink_metadata(path).ok()?;
        let mtime = meta.modified().ok();
        let not_regular = if meta.file_type().is_file() {
            None
        } else {
            Some(loader::not_a_regular_file(path).unwrap_or_else(|| {
                "it is not a regular file: copy the module file itself here".to_string()
            }))
        };
        let unchanged = {
            let st = self.state();
            st.seen
                .get(file)
                .is_some_and(|s| s.size == meta.len() && s.mtime == mtime)
        };
        if unchanged {
            return None;
        }
        let read = match not_regular {
            Some(reason) => Err(reason),
            None => loader::read_module_file(path, false).map_err(|e| e.reason().to_string()),
        };
        let seen = |sha256: String| FileSeen {
            size: meta.len(),
            mtime,
            sha256,
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(reason) => {
                // Remembered like a file's contents, so the refusal is recorded once
                // and again only when the entry changes.
                let key = format!("refused:{reason}");
                let again = {
                    let mut st = self.state();
                    let again = st.seen.get(file).is_some_and(|s| s.sha256 == key);
                    st.seen.insert(file.to_string(), seen(key));
                    again
                };
                if again {
                    return None;
                }
                let event = ScanEvent::Refused {
                    file: file.to_string(),
                    reason: reason.clone(),
                };
                return Some((event, Record::refused(file, "", None, reason)));
            }
        };
        let sha256 = loader::sha256_hex(&bytes);
        let same_content = {
            let mut st = self.state();
            let same = st.seen.get(file).is_some_and(|s| s.sha256 == sha256);
            st.seen.insert(file.to_string(), seen(sha256.clone()));
            same
        };
        if same_content {
            return None;
        }
        Some(self.consider(file, path, &bytes, &sha256, files))
    }

    /// Decides what one changed file means.
    fn consider(
        &self,
        file: &str,
        path: &Path,
        bytes: &[u8],
        sha256: &str,
        files: &[(String, PathBuf)],
    ) -> (ScanEvent, Record) {
        let refuse = |reason: String| {
            (
                ScanEvent::Refused {
                    file: file.to_string(),
                    reason: reason.clone(),
                },
                Record::refused(file, sha256, None, reason),
            )
        };
        let probed = match self.check_and_probe(path, bytes) {
            Ok(m) => m,
            Err(reason) => return refuse(reason),
        };
        // Refuse by version before mapping anything: a refused file is never loaded.
        if !probed.name.is_empty() {
            if let Err((reason, serving)) = self.version_rules(&probed, file, sha256, files) {
                return (
                    ScanEvent::Refused {
                        file: file.to_string(),
                        reason: reason.clone(),
                    },
                    Record::refused(file, sha256, Some(&probed), reason)
                        .named(&probed.name, &probed.version)
                        .serving(serving.as_deref()),
                );
            }
        }
        // Map a content-addressed copy, never the dropped file itself.
        let stem = file.trim_end_matches(".so");
        let loaded_path = self
            .home
            .loaded_dir()
            .join(format!("{stem}-{}.so", &sha256[..16]));
        if !loaded_path.exists() {
            if let Err(e) = std::fs::create_dir_all(self.home.loaded_dir())
                .and_then(|()| loader::write_atomically(&loaded_path, bytes, 0o555))
            {
                return refuse(format!("cannot copy it to {}: {e}", loaded_path.display()));
            }
        }
        let (root, manifest) = match loader::load_in_process(&loaded_path) {
            Ok(ok) => ok,
            Err(reason) => return refuse(reason),
        };
        let name = manifest.name.clone();
        if let Err((reason, serving)) = self.version_rules(&manifest, file, sha256, files) {
            return (
                ScanEvent::Refused {
                    file: file.to_string(),
                    reason: reason.clone(),
                },
                Record::refused(file, sha256, Some(&manifest), reason)
                    .named(&name, &manifest.version)
                    .serving(serving.as_deref()),
            );
        }
        let current = match self.register(manifest.clone(), root, file, sha256, &loaded_path) {
            Ok(previous) => previous,
            Err(reason) => return refuse(reason),
        };
        let record = Record::loaded(file, sha256, &manifest, &loaded_path);
        let event = match current.filter(|cur| cur.manifest.version != manifest.version) {
            Some(cur) => ScanEvent::Upgraded {
                name,
                from: cur.version.to_string(),
                to: manifest.version.clone(),
                file: file.to_string(),
            },
            None => ScanEvent::Loaded {
                name,
                version: manifest.version.clone(),
                file: file.to_string(),
            },
        };
        (event, record)
    }

    /// The rules a loadable file must also pass: one file per module name, no
    /// downgrade, no same-version rebuild; with a daemon running, its verdict on these
    /// exact bytes. On refusal, also names the loaded copy that keeps serving.
    fn version_rules(
        &self,
        manifest: &Manifest,
        file: &str,
        sha256: &str,
        files: &[(String, PathBuf)],
    ) -> std::result::Result<(), (String, Option<PathBuf>)> {
        let name = &manifest.name;
        let version = semver::Version::parse(&manifest.version).map_err(|e| {
            (
                format!(
                    "its version {:?} is not semantic versioning: {e}",
                    manifest.version
                ),
                None,
            )
        })?;
        let st = self.state();
        if !self.record {
            if let Some(row) = st
                .recorded
                .get(file)
                .filter(|r| r.sha256 == sha256 && r.status == ModuleFileStatus::Refused)
            {
                let reason = row
                    .reason
                    .clone()
                    .unwrap_or_else(|| "refused by the running daemon".to_string());
                return Err((reason, None));
            }
        }
        // What serves this name now: loaded here, or recorded for this very file.
        let (cur_file, cur_version, cur_sha, cur_path) = match st.by_name.get(name) {
            Some(cur) => (
                cur.file.clone(),
                cur.version.clone(),
                cur.sha256.clone(),
                Some(cur.loaded_path.clone()),
            ),
            None => match st.recorded.get(file).filter(|r| {
                r.status == ModuleFileStatus::Loaded && r.name.as_deref() == Some(name.as_str())
            }) {
                Some(row) => match row
                    .version
                    .as_deref()
                    .and_then(|v| semver::Version::parse(v).ok())
                {
                    Some(v) => (
                        row.file.clone(),
                        v,
                        row.sha256.clone(),
                        row.loaded_path.clone().map(PathBuf::from),
                    ),
                    None => return Ok(()),
                },
                None => return Ok(()),
            },
        };
        let cur_file_present = files.iter().any(|(f, _)| *f == cur_file);
        if cur_file != file && cur_file_present {
            return Err((
                format!("two files claim module {name}: {cur_file} (loaded, {cur_version}) and {file} ({version}); remove one of them"),
                cur_path,
            ));
        }
        if version < cur_version {
            return Err((
                format!("it is {name} {version}, older than the loaded {cur_version} (downgrades are refused; the loaded version keeps serving)"),
                cur_path,
            ));
        }
        if version == cur_version && cur_sha != sha256 {
            return Err((
                format!("it is {name} {version} like the loaded build but its contents differ; bump the version to upgrade (the loaded build keeps serving)"),
                cur_path,
            ));
        }
        Ok(())
    }

    /// Makes a mapped module the one serving its name; answers the one it replaces.
    fn register(
        &self,
        manifest: Manifest,
        root: ModuleRoot_Ref,
        file: &str,
        sha256: &str,
        loaded_path: &Path,
    ) -> std::result::Result<Option<Arc<LoadedModule>>, String> {
        let version = semver::Version::parse(&manifest.version).map_err(|e| {
            format!(
                "its version {:?} is not semantic versioning: {e}",
                manifest.version
            )
        })?;
        let mut st = self.state();
        st.generation += 1;
        let module = Arc::new(LoadedModule {
            version,
            file: file.to_string(),
            sha256: sha256.to_string(),
            loaded_path: loaded_path.to_path_buf(),
            generation: st.generation,
            root,
            manifest,
        });
        Ok(st.by_name.insert(module.manifest.name.clone(), module))
    }

    /// With a daemon running: maps the copies the daemon serves that this process has
    /// not loaded from the modules directory (its file was replaced by one the daemon
    /// refused), so CLI calls run the same code the daemon runs.
    fn adopt_served(&self) {
        let rows: Vec<module_file::Model> = self.state().recorded.values().cloned().collect();
        for row in rows {
            let (Some(path), Some(name)) = (row.loaded_path.as_deref(), row.name.as_deref()) else {
                continue;
            };
            if self.get(name).is_some() || !Path::new(path).exists() {
                continue;
            }
            let mapped = loader::load_in_process(Path::new(path)).and_then(|(root, manifest)| {
                self.register(manifest, root, &row.file, &row.sha256, Path::new(path))
            });
            match mapped {
                Ok(_) => {}
                Err(reason) => tracing::debug!("cannot map the daemon's copy {path}: {reason}"),
            }
        }
    }

    /// The recorded module files (what `provisor modules list` shows).
    pub async fn recorded(store: &Store) -> Result<Vec<module_file::Model>> {
        module_file::Entity::find()
            .order_by_asc(module_file::Column::File)
            .all(store.db())
            .await
            .map_err(db_err("reading the module list"))
    }

    /// The manifest of the highest version of `module` recorded as loaded (by this or
    /// another process), if any.
    pub async fn recorded_manifest(store: &Store, module: &str) -> Result<Option<Manifest>> {
        provisor_store::lookup::recorded_manifest(store.db(), module).await
    }

    /// The recorded history of loads, upgrades and refusals, newest first.
    pub async fn history(store: &Store, limit: u64) -> Result<Vec<module_event::Model>> {
        use sea_orm::QuerySelect;
        module_event::Entity::find()
            .order_by_desc(module_event::Column::Id)
            .limit(limit)
            .all(store.db())
            .await
            .map_err(db_err("reading the module history"))
    }
}

/// A file modified in the last moments may still be being copied in: let it settle
/// before reading it.
async fn settle(files: &[(String, PathBuf)]) {
    let settle = std::time::Duration::from_millis(200);
    let youngest = files
        .iter()
        .filter_map(|(_, p)| {
            std::fs::symlink_metadata(p)
                .ok()?
                .modified()
                .ok()?
                .elapsed()
                .ok()
        })
        .min();
    if let Some(age) = youngest.filter(|age| *age < settle) {
        tokio::time::sleep(settle.saturating_sub(age)).await;
    }
}

/// Reads a module file named on the command line (a link to a regular file is fine
/// there): a missing path is not found, anything else unreadable is refused.
fn read_named(path: &Path) -> Result<Vec<u8>> {
    loader::read_module_file(path, true).map_err(|e| match e {
        loader::ReadError::Missing(reason) => Error::NotFound(format!(
            "module file {} not found: {reason}",
            path.display()
        )),
        loader::ReadError::Refused(reason) => {
            Error::Invalid(format!("module file {} refused: {reason}", path.display()))
        }
    })
}
