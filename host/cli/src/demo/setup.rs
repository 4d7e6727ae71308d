//! Demo steps 1-3: the simulated panels, the modules loaded, the handlers set up.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::{cs, isp, solus};
use super::{Demo, Panels, SHIPPED};
use crate::output;
use crate::Ctx;
use provisor_engine::handlers::{self, NewHandler};
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_runtime::Runtime;
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::Store;

/// Step 1: the shipped simulators, on loopback.
pub(super) fn panels(home: &Home) -> Result<Panels> {
    println!(
        "\n-- 1. The remote panels: the shipped simulators, on loopback, state in {}/simulators",
        home.root().display()
    );
    let state = home.root().join("simulators");
    let sim_err =
        |what: &str, e: std::io::Error| Error::io(format!("cannot start the {what} simulator"), e);
    let (cs_sim, cs_api) =
        cs::start_with_api(Some(&state), 0).map_err(|e| sim_err("ComputeStacks", e))?;
    let (solus_sim, solus_api) =
        solus::start(Some(&state), 0).map_err(|e| sim_err("SolusVM", e))?;
    let (isp_sim, isp_api) =
        isp::start_with_handle(Some(&state), 0).map_err(|e| sim_err("ISPsystem", e))?;
    isp_api.set_key_delay(1);
    println!(
        "   ComputeStacks admin API   {}/api/admin  (Basic auth)",
        cs_sim.url()
    );
    println!(
        "   SolusVM 2 API v1          {}/api/v1     (bearer token)",
        solus_sim.url()
    );
    println!(
        "   ISPsystem billmgr         {}  (authinfo; reseller balance {})",
        isp::api_url(&isp_sim),
        isp_api.balance()
    );
    Ok(Panels {
        cs_sim,
        cs_api,
        solus_sim,
        solus_api,
        isp_sim,
        isp_api,
    })
}

/// Step 2: the five modules copied into the home and loaded.
pub(super) async fn modules(ctx: &Ctx, home: Home, from: &Path, panels: Panels) -> Result<Demo> {
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
    let ring = provisor_store::KeyRing::for_home(&home.secret_key())?;
    let store = Store::open_with_secrets(&home.sqlite_url(), ring).await?;
    let registry = Arc::new(Registry::new(
        home.clone(),
        store.clone(),
        LoadPolicy::standard(),
        true,
        "demo",
    ));
    registry.scan().await?;
    let rt = Arc::new(Runtime::new(
        home.clone(),
        store.clone(),
        Arc::clone(&registry),
        ctx.clock.clone(),
        ctx.limits(),
    )?);
    println!(
        "\n-- 2. The five modules dropped into {} and loaded (each checked in a child process first)",
        home.modules_dir().display()
    );
    let rows: Vec<Vec<String>> = registry
        .loaded()
        .iter()
        .map(|m| {
            let caps: Vec<&str> = m.manifest.capabilities.iter().map(|c| c.as_str()).collect();
            vec![
                m.name().to_string(),
                m.manifest.version.clone(),
                caps.join(" "),
            ]
        })
        .collect();
    output::table(&["MODULE", "VERSION", "CAPABILITIES"], &rows);
    Ok(Demo {
        home,
        store,
        registry,
        rt,
        panels,
        billing: ctx.billing,
    })
}

/// Step 3: departments and handlers, settings checked against each module's schema.
pub(super) async fn handlers(d: &Demo) -> Result<()> {
    let store = d.store.clone();
    let registry = Arc::clone(&d.registry);
    let rt = Arc::clone(&d.rt);
    let Panels {
        cs_sim,
        solus_sim,
        isp_sim,
        ..
    } = &d.panels;
    println!(
        "\n-- 3. Handlers: settings checked against each module's schema, secrets never shown"
    );
    let bad = handlers::add(
        &store,
        &registry,
        NewHandler {
            name: "broken".into(),
            module: "computestacks".into(),
            settings: json!({"url": cs_sim.url(), "api_key": cs::API_KEY}),
            department: None,
            label: None,
            max_concurrent: None,
            enabled: true,
        },
        d.rt.clock.now(),
    )
    .await;
    if let Err(e) = bad {
        println!("   refused as expected: {}", crate::voice::error(&e));
    }
    for dept in ["cloud", "licenses", "datacenter"] {
        provisor_engine::catalog::add_department(
            &store,
            dept,
            Some(format!("{dept}@example.invalid")),
            d.rt.clock.now(),
        )
        .await?;
    }
    let isp_settings = json!({
        "url": isp::api_url(isp_sim),
        "username": isp::USERNAME,
        "password": isp::PASSWORD,
        "key_poll_secs": 1,
        "sso_url": format!("{}/billmgr", isp_sim.url()),
    });
    let setups = [
        (
            "cs-ams",
            "computestacks",
            json!({"url": cs_sim.url(), "api_key": cs::API_KEY, "api_secret": cs::API_SECRET}),
            "cloud",
        ),
        (
            "solus-fra",
            "solusvm",
            json!({"url": solus_sim.url(), "api_token": solus::API_TOKEN, "token_price": {"EUR": "0.01"}}),
            "cloud",
        ),
        ("noc", "ispsystem-noc", isp_settings.clone(), "licenses"),
        (
            "noc-addon",
            "billmanager-noc-addon",
            isp_settings,
            "licenses",
        ),
        (
            "dc-staff",
            "manual-task",
            json!({"instructions": "Runbook: https://wiki.example.invalid/dedicated"}),
            "datacenter",
        ),
    ];
    for (name, module, settings, dept) in setups {
        let h = handlers::add(
            &store,
            &registry,
            NewHandler {
                name: name.into(),
                module: module.into(),
                settings,
                department: Some(dept.into()),
                label: None,
                max_concurrent: None,
                enabled: true,
            },
            d.rt.clock.now(),
        )
        .await?;
        let check = match handlers::test(&rt, &h.name).await {
            Ok(info) => info.message,
            Err(e) => format!("(no connection test: {e})"),
        };
        println!(
            "   {:<10} {:<22} department {:<10} test: {}",
            h.name, h.module, dept, check
        );
    }
    let shown = handlers::view(&handlers::get(&store, "cs-ams").await?, &registry);
    println!(
        "   cs-ams settings as shown to admins: {}",
        serde_json::to_string(&shown.settings).unwrap_or_default()
    );
    Ok(())
}
