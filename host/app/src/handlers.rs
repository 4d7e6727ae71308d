//! What staff change about handlers and modules — handlers added, enabled, disabled,
//! their panels' accounts imported or reconciled, module files installed, the secret key
//! rotated — each recorded in the audit log with its actor, right after the change
//! commits (`docs/audit.md`). A handler's settings are recorded only as the names of
//! their keys, never a value.
//! Must not: validate settings or load modules; the engine and the registry do.

use std::path::Path;

use serde_json::{json, Value};

use crate::audit::{record_after, Action, Actor};
use crate::sync::{self, ImportOptions, SyncReport};
use crate::Ctx;
use provisor_engine::handlers::{self, HandlerView, NewHandler};
use provisor_runtime::registry::{LoadPolicy, Registry, ScanEvent};
use provisor_runtime::Runtime;
use provisor_store::error::{Error, Result};
use provisor_store::secrets::Rotation;
use provisor_store::Store;

/// The names of a settings object's keys, sorted: what the log keeps of settings.
fn keys(settings: &Value) -> Vec<String> {
    let mut k: Vec<String> = settings
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Adds a handler (see [`provisor_engine::handlers::add`]).
pub async fn add(
    store: &Store,
    registry: &Registry,
    actor: &Actor,
    new: NewHandler,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HandlerView> {
    let setting_keys = keys(&new.settings);
    let v = handlers::add(store, registry, new, now).await?;
    let after = json!({
        "module": v.module,
        "enabled": v.enabled,
        "department": v.department,
        "settings": setting_keys,
    });
    record_after(
        store,
        actor,
        Action::HandlerAdd,
        Some(v.name.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(v)
}

/// Enables or disables a handler; answers whether that changed anything (an entry is
/// recorded only then).
pub async fn set_enabled(
    store: &Store,
    actor: &Actor,
    name: &str,
    enabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let changed = handlers::set_enabled(store, name, enabled, now).await?;
    if changed {
        let action = if enabled {
            Action::HandlerEnable
        } else {
            Action::HandlerDisable
        };
        record_after(
            store,
            actor,
            action,
            Some(name.to_string()),
            Some(json!({"enabled": !enabled})),
            Some(json!({"enabled": enabled})),
            now,
        )
        .await?;
    }
    Ok(changed)
}

/// Runs the module's connection test for a handler and records its outcome on the
/// handler (see [`provisor_engine::handlers::test`]); not an audited change, as from
/// the command line.
pub async fn test(rt: &Runtime, name: &str) -> Result<provisor_module_api::ConnectionInfo> {
    handlers::test(rt, name).await
}

/// Imports a handler's panel accounts as services (see [`crate::sync::import`]).
pub async fn import(
    rt: &Runtime,
    actor: &Actor,
    name: &str,
    opts: &ImportOptions,
) -> Result<SyncReport> {
    let report = sync::import(rt, name, opts).await?;
    record_report(rt, actor, Action::HandlerImport, name, &report).await?;
    Ok(report)
}

/// Reconciles a handler's services with its panel (see [`crate::sync::sync`]).
pub async fn reconcile(rt: &Runtime, actor: &Actor, name: &str) -> Result<SyncReport> {
    let report = sync::sync(rt, name).await?;
    record_report(rt, actor, Action::HandlerSync, name, &report).await?;
    Ok(report)
}

async fn record_report(
    rt: &Runtime,
    actor: &Actor,
    action: Action,
    name: &str,
    r: &SyncReport,
) -> Result<()> {
    let after = json!({
        "seen": r.seen,
        "imported": r.imported,
        "already_known": r.already_known,
        "clients_created": r.clients_created,
        "scheduled": r.scheduled,
        "state_changes": r.state_changes,
        "missing_remotely": r.missing_remotely,
    });
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        action,
        Some(name.to_string()),
        None,
        Some(after),
        now,
    )
    .await
}

/// Installs a module file into the modules directory (copied in, checked, loaded unless
/// a daemon runs, which picks it up): what happened, one event each. An entry is recorded
/// whenever the file was copied in (also when the checks then refused it).
pub async fn install_module(ctx: &Ctx, actor: &Actor, file: &Path) -> Result<Vec<ScanEvent>> {
    let store = ctx.store().await?;
    let daemon = crate::daemon::is_running(&ctx.home);
    let registry = Registry::new(
        ctx.home.clone(),
        store.clone(),
        LoadPolicy::standard(),
        !daemon,
        "cli",
    );
    registry.learn_proven().await?;
    registry.scan().await?;
    let events = registry.install(file).await?;
    if !events.is_empty() {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let after = json!({
            "file": name,
            "events": events.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        let now = ctx.clock.now();
        record_after(
            &store,
            actor,
            Action::ModuleInstall,
            name,
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(events)
}

/// What an uploaded module file became.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Its file in the modules directory.
    pub file: String,
    /// The module's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What the registry did, one line each (empty when the same file was there, or the
    /// daemon's own scan loaded it first).
    pub events: Vec<String>,
}

/// Installs an uploaded module file (its bytes) into the running daemon's registry,
/// checked exactly as a file dropped into the modules directory. The bytes are written
/// to a private file beside the modules directory first and removed after; a file the
/// checks refuse is never copied in, and one the load then refuses is taken out again,
/// so nothing refused is left in the modules directory. A refusal is an invalid-input
/// error naming the reason. The entry names the installed file and what became of it.
pub async fn upload_module(rt: &Runtime, actor: &Actor, bytes: &[u8]) -> Result<Uploaded> {
    use std::os::unix::fs::PermissionsExt;
    let staged = rt
        .home
        .root()
        .join(format!(".upload-{}-{}.so", std::process::id(), uuid_like()));
    rt.home.ensure()?;
    std::fs::write(&staged, bytes)
        .and_then(|()| std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644)))
        .map_err(|e| Error::io("cannot stage the uploaded module file", e))?;
    let shown = staged.display().to_string();
    let installed = async {
        let events = rt.registry.install(&staged).await?;
        // Checked and proven by the install: this reads the probe's answer again.
        let manifest = rt
            .registry
            .inspect(&staged)?
            .result
            .map_err(Error::Invalid)?;
        Ok::<_, Error>((events, manifest))
    }
    .await;
    let _ = std::fs::remove_file(&staged);
    let (events, manifest) = installed.map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(
            m.replace(&format!("module file {shown}"), "the uploaded module file")
                .replace(&shown, "the uploaded file"),
        ),
        other => other,
    })?;
    let file = format!("{}.so", manifest.name);
    let verdict = verdict(
        rt,
        &file,
        &provisor_runtime::registry::loader::sha256_hex(bytes),
    )
    .await?;
    let events: Vec<String> = events.iter().map(ToString::to_string).collect();
    let after = json!({"file": file, "events": events, "verdict": verdict.as_ref().err()});
    record_after(
        &rt.store,
        actor,
        Action::ModuleInstall,
        Some(file.clone()),
        None,
        Some(after),
        rt.clock.now(),
    )
    .await?;
    if let Err(reason) = verdict {
        let _ = std::fs::remove_file(rt.home.modules_dir().join(&file));
        rt.registry.scan().await?;
        return Err(Error::Invalid(format!(
            "the uploaded module file was refused: {reason}; nothing was installed"
        )));
    }
    Ok(Uploaded {
        file,
        name: manifest.name,
        version: manifest.version,
        events,
    })
}

/// The registry's verdict on `file` with these contents: loaded, or refused and why.
/// The daemon's own scan may be the one that takes the file in, so this waits (a few
/// seconds at most) for the verdict to be recorded.
async fn verdict(
    rt: &Runtime,
    file: &str,
    sha256: &str,
) -> Result<std::result::Result<(), String>> {
    use provisor_store::entities::status::ModuleFileStatus;
    for _ in 0..100 {
        let rows = Registry::recorded(&rt.store).await?;
        if let Some(r) = rows.iter().find(|r| r.file == file && r.sha256 == sha256) {
            return Ok(match r.status {
                ModuleFileStatus::Refused => Err(r.reason.clone().unwrap_or_default()),
                _ => Ok(()),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(Error::Invalid(format!(
        "the uploaded module file was copied in as {file} but no verdict on it was recorded within 10 s: list the module files to see its state"
    )))
}

/// A name no other staged upload has at the same time.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Re-seals every handler secret with the current key (see
/// [`provisor_store::secrets::rotate`]); the entry names the key ids, never a key.
pub async fn rotate_secrets(ctx: &Ctx, actor: &Actor) -> Result<Rotation> {
    let store = ctx.store().await?;
    let done = provisor_store::secrets::rotate(&store).await?;
    let after = json!({
        "key_id": done.key_id,
        "retired": done.retired,
        "handlers": done.handlers,
        "values": done.values,
    });
    let now = ctx.clock.now();
    record_after(
        &store,
        actor,
        Action::SecretsRotate,
        None,
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(done)
}
