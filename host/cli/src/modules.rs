//! `provisor modules`: module files, their status, inspection, install and history.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use serde_json::Value;

use super::args::absolute;
use super::{output, Ctx, JsonFlag};
use provisor_app::daemon;
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_store::error::{Error, Result};
use provisor_store::schema;

#[derive(Debug, Subcommand)]
pub(crate) enum ModulesCmd {
    /// Every module file with its status (what the running daemon loaded).
    List(JsonFlag),
    /// Checks a module file and shows its manifest, without installing it.
    Inspect {
        file: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Checks a module file fully, then copies it into the modules directory.
    Install { file: PathBuf },
    /// Every load, upgrade and refusal, newest first.
    History {
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Serialize)]
struct ModuleRow {
    file: String,
    name: Option<String>,
    version: Option<String>,
    api_version: Option<String>,
    status: String,
    reason: Option<String>,
    sha256: String,
    capabilities: Vec<String>,
    updated_at: String,
}

pub(crate) async fn run(ctx: &Ctx, cmd: ModulesCmd) -> Result<()> {
    match cmd {
        ModulesCmd::List(flag) => list(ctx, flag).await,
        ModulesCmd::Inspect { file, json } => inspect(ctx, file, json).await,
        ModulesCmd::Install { file } => install(ctx, file).await,
        ModulesCmd::History { limit, json } => history(ctx, limit, json).await,
    }
}

async fn list(ctx: &Ctx, flag: JsonFlag) -> Result<()> {
    let rt = ctx.runtime().await?;
    let rows: Vec<ModuleRow> = Registry::recorded(&rt.store)
        .await?
        .into_iter()
        .map(|m| ModuleRow {
            capabilities: m
                .manifest
                .as_deref()
                .and_then(|t| serde_json::from_str::<provisor_module_api::Manifest>(t).ok())
                .map(|mf| {
                    mf.capabilities
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            file: m.file,
            name: m.name,
            version: m.version,
            api_version: m.api_version,
            status: m.status.to_string(),
            reason: m.reason,
            sha256: m.sha256,
            updated_at: m.updated_at.to_rfc3339(),
        })
        .collect();
    if flag.json {
        output::json(&rows);
    } else if rows.is_empty() {
        println!("no module files in {}", ctx.home.modules_dir().display());
    } else {
        output::table(
            &["NAME", "VERSION", "STATUS", "FILE", "REASON"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        output::opt(r.name.as_deref()),
                        output::opt(r.version.as_deref()),
                        r.status.clone(),
                        r.file.clone(),
                        output::opt(r.reason.as_deref()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

async fn inspect(ctx: &Ctx, file: PathBuf, json: JsonFlag) -> Result<()> {
    let store = ctx.store().await?;
    let registry = Registry::new(
        ctx.home.clone(),
        store,
        LoadPolicy::standard(),
        false,
        "cli",
    );
    let file = absolute(&file)?;
    let inspection = registry.inspect(&file)?;
    match inspection.result {
        Ok(manifest) => {
            if json.json {
                output::json(
                    &serde_json::json!({"file": file, "sha256": inspection.sha256, "manifest": manifest}),
                );
            } else {
                print_manifest(&file, &inspection.sha256, &manifest);
            }
            Ok(())
        }
        Err(reason) => Err(Error::Invalid(format!(
            "module file {} refused: {reason}",
            file.display()
        ))),
    }
}

async fn install(ctx: &Ctx, file: PathBuf) -> Result<()> {
    let file = absolute(&file)?;
    let daemon = daemon::is_running(&ctx.home);
    let events =
        provisor_app::handlers::install_module(ctx, &provisor_app::audit::Actor::shell(), &file)
            .await?;
    let mut refused = None;
    for e in &events {
        println!("{e}");
        if let provisor_runtime::registry::ScanEvent::Refused { reason, .. } = e {
            refused = Some(reason.clone());
        }
    }
    if events.is_empty() {
        println!("{} is already installed (same contents)", file.display());
    }
    if daemon {
        println!("the running daemon picks it up within seconds; `provisor modules list` shows its status");
    }
    match refused {
        Some(reason) => Err(Error::Invalid(format!(
            "module file {} was copied in but refused: {reason}",
            file.display()
        ))),
        None => Ok(()),
    }
}

async fn history(ctx: &Ctx, limit: u64, json: JsonFlag) -> Result<()> {
    let store = ctx.store().await?;
    let events = Registry::history(&store, limit).await?;
    if json.json {
        let rows: Vec<Value> = events
            .iter()
            .map(|e| serde_json::json!({"at": e.at.to_rfc3339(), "file": e.file, "sha256": e.sha256, "name": e.name, "version": e.version, "event": e.event, "reason": e.reason, "process": e.process}))
            .collect();
        output::json(&rows);
    } else {
        output::table(
            &["AT", "EVENT", "NAME", "VERSION", "FILE", "REASON"],
            &events
                .iter()
                .map(|e| {
                    vec![
                        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        e.event.clone(),
                        output::opt(e.name.as_deref()),
                        output::opt(e.version.as_deref()),
                        e.file.clone(),
                        output::opt(e.reason.as_deref()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

fn print_manifest(file: &Path, sha256: &str, m: &provisor_module_api::Manifest) {
    println!("file:          {}", file.display());
    println!("sha256:        {sha256}");
    println!("module:        {} {}", m.name, m.version);
    println!("built against: provisor-module-api {}", m.api_version);
    if !m.description.is_empty() {
        println!("description:   {}", m.description);
    }
    let caps: Vec<&str> = m.capabilities.iter().map(|c| c.as_str()).collect();
    println!(
        "capabilities:  {}",
        if caps.is_empty() {
            "none".to_string()
        } else {
            caps.join(", ")
        }
    );
    let secrets = schema::secret_paths(&m.settings_schema);
    let required: Vec<String> = m
        .settings_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = m
        .settings_schema
        .get("properties")
        .and_then(Value::as_object)
    {
        println!("handler settings:");
        for (name, sub) in props {
            let ty = sub
                .get("type")
                .map(|t| t.to_string().trim_matches('"').to_string())
                .unwrap_or_else(|| "any".to_string());
            let mut flags = Vec::new();
            if required.contains(name) {
                flags.push("required");
            }
            if secrets.contains(&format!("/{name}")) {
                flags.push("secret");
            }
            let desc = sub.get("description").and_then(Value::as_str).unwrap_or("");
            println!("  {name:<20} {ty:<10} {:<18} {desc}", flags.join(", "));
        }
    }
}
