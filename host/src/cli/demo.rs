//! `provisor demo`: a full run of what this build can do, in a fresh home, against the
//! five shipped modules. It prints a readable account and exits 0.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use provisor_module_api::Panel;
use serde_json::json;

use super::{output, Ctx};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::handlers::{self, NewHandler};
use crate::home::Home;
use crate::registry::{LoadPolicy, Registry};
use crate::runtime::{Call, Runtime};
use crate::store::Store;

/// The shipped modules' file names, as cargo builds them.
pub const SHIPPED: [&str; 5] = [
    "libprovisor_computestacks.so",
    "libprovisor_solusvm.so",
    "libprovisor_ispsystem_noc.so",
    "libprovisor_billmanager_noc_addon.so",
    "libprovisor_manual_task.so",
];

/// Options of `provisor demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the built module files are (default: the directory of this binary, i.e.
    /// target/debug after `cargo build --workspace`).
    #[arg(long)]
    modules_from: Option<PathBuf>,
    /// Keep the demo's home in this directory instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// Runs the demo.
pub async fn run(ctx: &Ctx, args: DemoArgs) -> Result<()> {
    let from = match args.modules_from {
        Some(dir) => dir,
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .ok_or_else(|| {
                Error::Io(
                    "cannot find the directory of this binary; pass --modules-from DIR".to_string(),
                )
            })?,
    };
    let _tmp;
    let home = match args.keep {
        Some(dir) => Home::new(dir)?,
        None => {
            let tmp =
                tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
            let home = Home::new(tmp.path())?;
            _tmp = tmp;
            home
        }
    };
    home.ensure()?;
    println!("== Provisor demo in {}", home.root().display());
    for file in SHIPPED {
        let src = from.join(file);
        let dest = home.modules_dir().join(
            file.trim_start_matches("lib")
                .replace("provisor_", "")
                .replace('_', "-"),
        );
        std::fs::copy(&src, &dest).map_err(|e| {
            Error::Invalid(format!(
                "module file {} is missing ({e}): build the workspace first with `cargo build --workspace`, or pass --modules-from DIR",
                src.display()
            ))
        })?;
    }
    let store = Store::open(&home.sqlite_url()).await?;
    let registry = Arc::new(Registry::new(
        home.clone(),
        store.clone(),
        LoadPolicy::standard(),
        true,
        "demo",
    ));
    registry.scan().await?;
    let rt = Runtime::new(
        home.clone(),
        store.clone(),
        Arc::clone(&registry),
        Clock::system(),
        ctx.limits.clone(),
    )?;

    println!(
        "\n-- 1. Modules dropped into {} and loaded (each checked in a child process first)",
        home.modules_dir().display()
    );
    let rows: Vec<Vec<String>> = Registry::recorded(&store)
        .await?
        .into_iter()
        .map(|m| {
            vec![
                output::opt(&m.name),
                output::opt(&m.version),
                m.status,
                m.file,
                output::opt(&m.reason),
            ]
        })
        .collect();
    output::table(&["NAME", "VERSION", "STATUS", "FILE", "REASON"], &rows);

    println!("\n-- 2. Handler settings are checked against each module's schema; secrets are never shown");
    for m in registry.loaded() {
        let secrets = crate::schema::secret_paths(&m.manifest.settings_schema);
        let required = m
            .manifest
            .settings_schema
            .get("required")
            .cloned()
            .unwrap_or(json!([]));
        println!(
            "   {:<22} required {}  secret {:?}",
            m.name(),
            required,
            secrets
        );
    }
    let bad = handlers::add(
        &store,
        &registry,
        NewHandler {
            name: "broken".into(),
            module: "manual-task".into(),
            settings: json!({"instructions": 42}),
            department: None,
            label: None,
            max_concurrent: None,
            enabled: true,
        },
    )
    .await;
    if let Err(e) = bad {
        println!("   refused as expected: {e}");
    }
    crate::catalog::add_department(&store, "datacenter", Some("dc@example.invalid".into())).await?;
    let staff = handlers::add(
        &store,
        &registry,
        NewHandler {
            name: "dedicated-staff".into(),
            module: "manual-task".into(),
            settings: json!({"instructions": "Runbook: https://wiki.example.invalid/dedicated"}),
            department: Some("datacenter".into()),
            label: Some("AMS-1".into()),
            max_concurrent: Some(4),
            enabled: true,
        },
    )
    .await?;
    println!(
        "   handler {} added: module {}, department {}, label {}",
        staff.name,
        staff.module,
        output::opt(&staff.department),
        output::opt(&staff.label)
    );
    let info = handlers::test(&rt, "dedicated-staff").await?;
    println!("   connection test: {}", info.message);

    println!("\n-- 3. A client orders; the service and its create operation are written at once");
    let client =
        crate::catalog::add_client(&store, "Ada Lovelace", "ada@example.invalid", "EUR", "NL")
            .await?;
    let plan = crate::catalog::add_plan(
        &store,
        &registry,
        crate::catalog::NewPlan {
            name: "Dedicated L".into(),
            handlers: vec!["dedicated-staff".into()],
            template: None,
            resources: json!({"cpu": 16}).as_object().cloned().unwrap_or_default(),
            settings: json!({"checklist": "rack, cable, install Debian"}),
            options: json!({"ram": {"64": {"ram_gb": 64}, "128": {"ram_gb": 128}}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            is_addon: false,
        },
    )
    .await?;
    let rt = Arc::new(rt);
    let ordered = crate::engine::order(
        &rt,
        &client.email,
        &plan.name,
        None,
        json!({"ram": "128"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
    .await?;
    println!("   service #{} ordered by {} on plan {} (ram 128), create operation #{} queued for handler {}", ordered.service_id, client.name, plan.name, ordered.operation_id, ordered.handler);

    println!("\n-- 4. A worker runs the operation; manual-task answers that a person must act");
    let worker =
        crate::engine::Worker::new(Arc::clone(&rt), crate::engine::EngineConfig::default());
    let report = worker.run_until_idle().await?;
    println!(
        "   worker: {} done, {} turned into tasks",
        report.done, report.manual
    );
    let open = crate::engine::tasks::list(&store, Some("datacenter"), false).await?;
    let task = open
        .first()
        .ok_or_else(|| Error::Io("the demo expected a task".into()))?;
    println!(
        "   task #{} for {}: {}",
        task.id, task.department, task.reason
    );
    let fields: Vec<provisor_module_api::FormField> =
        serde_json::from_str(&task.fields).unwrap_or_default();
    for f in &fields {
        println!(
            "     [{}] {:<12} {}",
            if f.required { "x" } else { " " },
            f.name,
            f.label
        );
    }
    crate::engine::tasks::take(&store, task.id, "bob").await?;
    let values = json!({"remote_id": "srv-88", "ip": "192.0.2.10", "login_url": "https://ipmi.example.invalid/srv-88"});
    crate::engine::tasks::complete(
        &rt,
        task.id,
        values.as_object().cloned().unwrap_or_default(),
    )
    .await?;
    let svc = crate::engine::get_service(&store, ordered.service_id).await?;
    println!("   bob took it and filled in remote_id=srv-88, ip, login_url: service #{} is now {} (remote id {})", svc.id, svc.status, svc.remote_id.clone().unwrap_or_default());
    for m in crate::store::entities::outbox::Entity::find()
        .all(store.db())
        .await
        .map_err(crate::store::db_err("reading the outbox"))?
    {
        println!(
            "   welcome email queued to {}: {:?}",
            m.recipient, m.subject
        );
    }

    println!("\n-- 5. The client area panel and a single sign-on link, from the module");
    let panel: Panel =
        crate::engine::call_now(&rt, svc.id, Call::ClientArea, Default::default()).await?;
    println!("   {}", panel.title);
    for row in &panel.rows {
        println!("   {:<12} {}", row.label, row.value);
    }
    let audience = json!({"audience": "client"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let sso: provisor_module_api::SsoLink =
        crate::engine::call_now(&rt, svc.id, Call::Sso, audience).await?;
    println!("   single sign-on link for the client: {}", sso.url);

    println!("\n-- 6. A suspend is an operation too; with manual-task it is a task as well");
    let op = crate::engine::request(&rt, svc.id, "suspend", serde_json::Value::Null).await?;
    worker.run_until_idle().await?;
    let t = crate::engine::tasks::list(&store, Some("datacenter"), false).await?;
    if let Some(t) = t.first() {
        crate::engine::tasks::complete(&rt, t.id, Default::default()).await?;
    }
    let svc = crate::engine::get_service(&store, svc.id).await?;
    println!(
        "   operation #{} suspend: service #{} is {}",
        op.id, svc.id, svc.status
    );

    println!(
        "\n-- 7. The four remote modules are skeletons so far: they load and validate settings"
    );
    for name in [
        "computestacks",
        "solusvm",
        "ispsystem-noc",
        "billmanager-noc-addon",
    ] {
        if let Some(m) = registry.get(name) {
            let caps: Vec<&str> = m.manifest.capabilities.iter().map(|c| c.as_str()).collect();
            println!(
                "   {:<22} {} capabilities: {}",
                name,
                m.manifest.version,
                if caps.is_empty() {
                    "none yet".to_string()
                } else {
                    caps.join(", ")
                }
            );
        }
    }

    rt.retire_all();
    rt.log.flush().await;
    let logged = crate::store::entities::module_log::Entity::find()
        .all(store.db())
        .await
        .map(|rows| rows.len())
        .unwrap_or(0);
    use sea_orm::EntityTrait;
    println!("\n-- 8. The module log recorded {logged} calls and lines, secrets redacted");
    println!(
        "\nDone. Not in this build yet: the remote panels' simulators and modules, and billing."
    );
    Ok(())
}
