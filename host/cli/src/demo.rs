//! `provisor demo`: a full run of what this build can do, in a fresh home: it starts the
//! shipped simulators of ComputeStacks, SolusVM 2 and ISPsystem's billing, loads the five
//! shipped modules, sets up handlers, plans and clients, orders services through every
//! module, runs the work to completion, and prints a readable account. Exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use provisor_module_api::{Panel, SsoLink, UsageReport};
use provisor_simulators::{computestacks as cs, ispsystem as isp, solusvm as solus};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Map, Value};

use super::{output, Ctx};
use provisor_billing::usage::BillingZone;
use provisor_billing::{self as billing, currencies, invoices, ledger, prices, taxes, usage};
use provisor_engine::handlers::{self, NewHandler};
use provisor_engine::{self as engine, EngineConfig, Worker};
use provisor_runtime::registry::{LoadPolicy, Registry};
use provisor_runtime::{Call, Runtime};
use provisor_store::clock::Clock;
use provisor_store::entities::{billing_term, module_log, operation, outbox};
use provisor_store::error::{Error, Result};
use provisor_store::home::Home;
use provisor_store::{db_err, Store};

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
    let began = Instant::now();
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
    let mut _tmp = None;
    // `--keep DIR`, or a home named with --home / PROVISOR_HOME: the demo's home stays
    // there for `provisor invoices list` and the rest. Only a new or empty directory:
    // the demo never writes into a home that holds something.
    let kept = args
        .keep
        .or_else(|| ctx.home_given.then(|| ctx.home.root().to_path_buf()));
    let home = match kept {
        Some(dir) => {
            let busy = std::fs::read_dir(&dir)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if busy {
                return Err(Error::Invalid(format!(
                    "{} is not empty: the demo sets up a fresh home and never writes into one that holds something; name a new directory with --keep DIR",
                    dir.display()
                )));
            }
            Home::new(dir)?
        }
        None => {
            let tmp =
                tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary home", e))?;
            let home = Home::new(tmp.path())?;
            _tmp = Some(tmp);
            home
        }
    };
    home.ensure()?;
    println!("== Provisor demo in {}", home.root().display());

    // ---------------------------------------------------------------------------
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

    // ---------------------------------------------------------------------------
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
        Clock::system(),
        ctx.limits.clone(),
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

    // ---------------------------------------------------------------------------
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
    )
    .await;
    if let Err(e) = bad {
        println!("   refused as expected: {e}");
    }
    for dept in ["cloud", "licenses", "datacenter"] {
        provisor_engine::catalog::add_department(
            &store,
            dept,
            Some(format!("{dept}@example.invalid")),
        )
        .await?;
    }
    let isp_settings = json!({
        "url": isp::api_url(&isp_sim),
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

    // ---------------------------------------------------------------------------
    println!("\n-- 4. Catalog: currency and tax, clients, plans and their prices");
    let now = chrono::Utc::now();
    currencies::add(
        &store,
        currencies::NewCurrency {
            code: "EUR".into(),
            symbol: Some("€".into()),
            minor_units: 2,
            rate: None,
            rounding: "half-up".into(),
        },
        now,
    )
    .await?;
    taxes::set(&store, "NL", "21", now).await?;
    taxes::set(&store, "DE", "19", now).await?;
    println!("   currency EUR (the default); VAT NL 21 %, DE 19 %");
    let ada = provisor_engine::catalog::add_client(
        &store,
        "Ada Lovelace",
        "ada@example.invalid",
        "EUR",
        "NL",
    )
    .await?;
    let bob = provisor_engine::catalog::add_client(
        &store,
        "Bob Builder",
        "bob@example.invalid",
        "EUR",
        "DE",
    )
    .await?;
    let plans = [
        ("Cloud Starter", "cs-ams", json!({}), json!({}), false),
        ("VPS Post-paid", "solus-fra", json!({}), json!({}), false),
        (
            "ISPmanager 6 Lite",
            "noc",
            json!({"pricelist": 55227}),
            json!({"server": {"web1": {"ip": "192.0.2.10", "domain": "web1.example"}, "web2": {"ip": "192.0.2.20", "domain": "web2.example"}}}),
            false,
        ),
        (
            "Dedicated L",
            "dc-staff",
            json!({"checklist": "rack, cable, install Debian"}),
            json!({"hostname": {"vps": {"domain": "vps.example"}}}),
            false,
        ),
        (
            "ISPmanager addon",
            "noc-addon",
            json!({"license_type": "ispmanager6-lite", "lifetime_months": 12}),
            json!({}),
            true,
        ),
    ];
    for (name, handler, settings, options, is_addon) in plans {
        provisor_engine::catalog::add_plan(
            &store,
            &registry,
            provisor_engine::catalog::NewPlan {
                name: name.into(),
                handlers: vec![handler.into()],
                template: None,
                resources: Map::new(),
                settings,
                options: obj(options),
                is_addon,
            },
        )
        .await?;
        println!(
            "   plan {:<18} → handler {}{}",
            name,
            handler,
            if is_addon { " (an addon)" } else { "" }
        );
    }
    println!(
        "   clients: {} <{}>, {} <{}>",
        ada.name, ada.email, bob.name, bob.email
    );
    // ComputeStacks: a deposit at sign-up that becomes credit, usage collected at month
    // end; SolusVM: post-paid tokens; licenses: a monthly price paid up front.
    prices::set_deposit(&store, "Cloud Starter", "EUR", Some("25.00"), now).await?;
    usage::set_plan(&store, "Cloud Starter", "month-end", 10, now).await?;
    usage::set_plan(&store, "VPS Post-paid", "postpaid", 14, now).await?;
    usage::set_price(&store, "VPS Post-paid", "EUR", "token", "0.01", now).await?;
    prices::set_price(
        &store,
        "ISPmanager 6 Lite",
        "EUR",
        "monthly",
        Some("9.00"),
        now,
    )
    .await?;
    println!("   Cloud Starter: a €25.00 deposit, then usage collected at month end (ComputeStacks' billable items)");
    println!("   VPS Post-paid: SolusVM tokens at €0.01, invoiced on the 1st for the month before");
    println!("   ISPmanager 6 Lite: €9.00 a month, paid before the license is bought");

    // ---------------------------------------------------------------------------
    println!("\n-- 5. Orders through every module; each writes the service and its create operation at once");
    let orders: [(&str, &str, Value); 5] = [
        ("ada", "Cloud Starter", json!({})),
        ("ada", "VPS Post-paid", json!({})),
        ("bob", "VPS Post-paid", json!({})),
        ("ada", "ISPmanager 6 Lite", json!({"server": "web1"})),
        ("bob", "Dedicated L", json!({"hostname": "vps"})),
    ];
    let mut ids = Vec::new();
    for (who, plan, options) in orders {
        let client = if who == "ada" { &ada } else { &bob };
        let o = provisor_app::order::order(&rt, &client.email, plan, None, obj(options)).await?;
        let held = match o.invoice_id {
            Some(inv) => {
                let v = invoices::show(&store, &inv.to_string()).await?;
                format!(
                    " (waits for invoice {} of €{})",
                    v.number.clone().unwrap_or_default(),
                    v.total
                )
            }
            None => String::new(),
        };
        println!(
            "   service #{} {:<18} for {:<12} → operation #{} on {}{held}",
            o.service_id, plan, client.name, o.operation_id, o.handler
        );
        ids.push((o.service_id, o.invoice_id));
    }
    let (cs_id, solus_id, solus_bob, lic_id, dedicated) =
        (ids[0].0, ids[1].0, ids[2].0, ids[3].0, ids[4].0);
    // Ada pays: the license by bank transfer, the deposit by card; a paid deposit is
    // credit, and paying releases each create.
    let today = BillingZone::from_env()?.date_of(now);
    for ((_, invoice), reference) in [(ids[3], "BANK-1001"), (ids[0], "CARD-2001")] {
        let Some(inv) = invoice else { continue };
        let v = invoices::show(&store, &inv.to_string()).await?;
        invoices::pay(
            &store,
            &inv.to_string(),
            &v.amount_due,
            reference,
            today,
            now,
            &provisor_billing::Settings::from_env()?,
        )
        .await?;
        println!(
            "   Ada pays invoice {} (€{}, payment {reference}): its service's create is released",
            v.number.unwrap_or_default(),
            v.total
        );
    }
    let ledger = ledger::show(&store, &ada.email).await?;
    println!("   Ada's credit from the paid deposit: €{}", ledger.balance);

    println!("\n-- 6. Workers run the operations (the license key arrives after an \"in progress\" poll)");
    let worker = Worker::new(Arc::clone(&rt), EngineConfig::default());
    let r = settle(&worker, &store).await?;
    println!(
        "   {} done, {} polls in progress, {} retries, {} handed to people",
        r.0, r.1, r.2, r.3
    );
    let open = provisor_engine::tasks::list(&store, Some("datacenter"), false).await?;
    if let Some(task) = open.first() {
        println!(
            "   task #{} for department {}: {}",
            task.id, task.department, task.reason
        );
        provisor_engine::tasks::take(&store, task.id, "bob").await?;
        let values = json!({"remote_id": "srv-88", "ip": "203.0.113.5", "login_url": "https://ipmi.example.invalid/srv-88"});
        provisor_engine::tasks::complete(&rt, task.id, obj(values)).await?;
        println!("   staff member bob took it and filled in remote_id srv-88, ip 203.0.113.5: the server is active");
    }
    let addon = provisor_app::order::order(
        &rt,
        &bob.email,
        "ISPmanager addon",
        Some(dedicated),
        Map::new(),
    )
    .await?;
    println!("   service #{} ISPmanager addon ordered on the server #{dedicated} (named after its domain, bound to its IP)", addon.service_id);
    settle(&worker, &store).await?;

    // ---------------------------------------------------------------------------
    println!("\n-- 7. Services");
    let mut rows = Vec::new();
    for s in provisor_store::entities::service::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?
    {
        let attrs: Map<String, Value> = serde_json::from_str(&s.attributes).unwrap_or_default();
        let detail = ["licname", "lickey", "email", "ip"]
            .iter()
            .filter_map(|k| {
                attrs
                    .get(*k)
                    .and_then(Value::as_str)
                    .map(|v| format!("{k}={v}"))
            })
            .collect::<Vec<_>>()
            .join(" ");
        let handler = provisor_store::entities::handler::Entity::find_by_id(s.handler_id)
            .one(store.db())
            .await
            .map_err(db_err("reading handlers"))?
            .map(|h| h.name)
            .unwrap_or_default();
        rows.push(vec![
            format!("#{}", s.id),
            handler,
            s.status,
            s.remote_id.unwrap_or_default(),
            detail,
        ]);
    }
    output::table(
        &["SERVICE", "HANDLER", "STATUS", "REMOTE ID", "DETAILS"],
        &rows,
    );

    // ---------------------------------------------------------------------------
    println!("\n-- 8. Client-area panels and single sign-on links, minted on request");
    for id in [cs_id, solus_id, lic_id, dedicated] {
        match engine::call_now::<Panel>(&rt, id, Call::ClientArea, Map::new()).await {
            Ok(panel) => {
                println!("   service #{id}: {}", panel.title);
                for row in panel.rows.iter().take(6) {
                    println!("     {:<16} {}", row.label, row.value);
                }
            }
            Err(e) => println!("   service #{id}: no client area ({e})"),
        }
        for audience in ["client", "admin"] {
            match engine::call_now::<SsoLink>(
                &rt,
                id,
                Call::Sso,
                obj(json!({"audience": audience})),
            )
            .await
            {
                Ok(link) => println!("     SSO for the {audience:<6} {}", masked(&link.url)),
                Err(e) => println!(
                    "     SSO for the {audience:<6} not offered: {}",
                    first_line(&e.to_string())
                ),
            }
        }
    }

    // ---------------------------------------------------------------------------
    println!(
        "\n-- 9. Suspend and unsuspend are operations; terminate does what each panel really does"
    );
    for kind in ["suspend", "unsuspend"] {
        let op = engine::request(&rt, cs_id, kind, Value::Null).await?;
        settle(&worker, &store).await?;
        let svc = engine::get_service(&store, cs_id).await?;
        let remote = svc
            .remote_id
            .as_deref()
            .and_then(|r| r.parse().ok())
            .and_then(|id| cs_api.user(id));
        println!(
            "   {kind} #{cs_id} (operation #{}): service {}, ComputeStacks user active={}",
            op.id,
            svc.status,
            remote
                .map(|u| u.active.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    let balance_before = isp_api.balance();
    engine::request(&rt, lic_id, "terminate", Value::Null).await?;
    settle(&worker, &store).await?;
    let pooled = isp_api
        .licenses()
        .into_iter()
        .find(|l| l.licname == "free.lic");
    println!(
        "   terminate #{lic_id}: the license is suspended and pooled as {} with IP {}",
        pooled.as_ref().map(|l| l.licname.as_str()).unwrap_or("?"),
        pooled.as_ref().map(|l| l.ip.as_str()).unwrap_or("?")
    );
    let again = provisor_app::order::order(
        &rt,
        &ada.email,
        "ISPmanager 6 Lite",
        None,
        obj(json!({"server": "web2"})),
    )
    .await?;
    settle(&worker, &store).await?;
    let svc = engine::get_service(&store, again.service_id).await?;
    if let Some(inv) = again.invoice_id {
        let v = invoices::show(&store, &inv.to_string()).await?;
        println!(
            "   a new order (#{}) for Ada: invoice {} (€{}) {} from her credit at once",
            again.service_id,
            v.number.unwrap_or_default(),
            v.total,
            v.status
        );
    }
    println!(
        "   the new order (#{}) reused license {} from the pool: reseller balance {} before, {} after, {} licenses bought in all",
        again.service_id,
        svc.remote_id.unwrap_or_default(),
        balance_before,
        isp_api.balance(),
        isp_api.licenses().len()
    );

    // ---------------------------------------------------------------------------
    let month_start = usage::month_start(today);
    let month = month_start.format("%Y-%m").to_string();
    let next_first = usage::next_month(month_start);
    println!("\n-- 10. Post-paid usage from SolusVM this month ({month}): started hours × token rate, capped by the monthly cap");
    for (service, name, hours) in [(solus_id, "web-1", 700u64), (solus_bob, "db-1", 30)] {
        let svc = engine::get_service(&store, service).await?;
        let uid: u64 = svc
            .remote_id
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        if let Ok(vm) = solus_api.create_server(uid, 1, name) {
            let _ = solus_api.record_uptime_hours(vm.id, &month, hours);
        }
        let report: UsageReport = engine::call_now(
            &rt,
            service,
            Call::Usage,
            obj(json!({"period_start": month_start.to_string(), "period_end": next_first.to_string()})),
        )
        .await?;
        for item in report.items {
            println!(
                "   service #{service} {:<10} {} {} (rate {}, amount {})",
                item.description,
                item.quantity,
                item.unit,
                item.rate.unwrap_or_default(),
                item.amount.unwrap_or_default()
            );
        }
    }

    // ---------------------------------------------------------------------------
    let last = next_first.pred_opt().unwrap_or(today);
    println!("\n-- 11. Billing: the month-end collection ({last}), the 1st's run ({next_first}) and a license renewal (`provisor cron --date D`)");
    // ComputeStacks records a row per day of container time (the whole month here);
    // the month's last day collects them into billable items at 23:00, the 1st
    // invoices them.
    let cs_user: u64 = engine::get_service(&store, cs_id)
        .await?
        .remote_id
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let days_in_month = (next_first - month_start).num_days().max(0) as u64;
    let rows: Vec<cs::UsageSeed> = (0..days_in_month)
        .filter_map(|d| {
            let day = month_start.checked_add_days(chrono::Days::new(d))?;
            let next = day.succ_opt()?;
            Some(cs::UsageSeed {
                period_start: format!("{day}T00:00:00Z"),
                period_end: format!("{next}T00:00:00Z"),
                product: "Container Small".into(),
                rate: "0.0125".into(),
                rate_period: 1,
                qty: "24".into(),
                qty_total: None,
                total: None,
                processed: false,
                external_id: None,
                created_at: None,
            })
        })
        .collect();
    let _ = cs_api.add_usage(cs_user, &rows);
    // The license renews a week before its next due date.
    let renew_day = billing_term::Entity::find()
        .filter(billing_term::Column::ServiceId.eq(again.service_id))
        .one(store.db())
        .await
        .map_err(db_err("reading billing terms"))?
        .map(|t| t.next_due - chrono::Days::new(7));
    let mut days = vec![last, next_first];
    days.extend(renew_day);
    days.sort();
    days.dedup();
    for day in days {
        let events =
            billing::run::day(&provisor_app::driver::EngineDriver::new(&rt)?, day, false).await?;
        println!("   {day}: {} item(s)", events.len());
        for e in events.iter().filter(|e| e.step != "credit") {
            println!("     [{}] {}", e.step, e.message);
        }
    }
    let all = invoices::list(&store, None, None, 50, 0).await?;
    let mut rows = Vec::new();
    for i in all.iter().rev() {
        let v = invoices::show(&store, &i.id.to_string()).await?;
        let what = v
            .lines
            .first()
            .map(|l| l.description.clone())
            .unwrap_or_default();
        rows.push(vec![
            v.number.clone().unwrap_or_default(),
            v.client_name.clone(),
            v.issue_date.map(|d| d.to_string()).unwrap_or_default(),
            format!("€{}", v.total),
            v.status.clone(),
            what,
        ]);
    }
    output::table(
        &[
            "INVOICE",
            "CLIENT",
            "ISSUED",
            "TOTAL",
            "STATUS",
            "FIRST LINE",
        ],
        &rows,
    );

    // ---------------------------------------------------------------------------
    let runs = engine::daily::run(&rt, today, false).await?;
    println!("\n-- 12. The modules' daily run for {today} (`provisor cron`): every handler's renewals, pools and lifetimes");
    for r in &runs {
        println!(
            "   {:<10} {:<14} {} service(s), {} action(s)",
            r.handler,
            r.status,
            r.services,
            r.actions.len()
        );
    }

    // ---------------------------------------------------------------------------
    rt.retire_all();
    rt.log.flush().await;
    let mails = outbox::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading the outbox"))?;
    println!(
        "\n-- 13. {} email(s) queued in the outbox (welcomes and invoices)",
        mails.len()
    );
    for m in mails.iter().take(8) {
        println!("   to {:<22} {}", m.recipient, m.subject);
    }
    let logged = module_log::Entity::find()
        .count(store.db())
        .await
        .map_err(db_err("reading the module log"))?;
    let http = module_log::Entity::find()
        .filter(module_log::Column::Kind.eq("http"))
        .count(store.db())
        .await
        .map_err(db_err("reading the module log"))?;
    println!("   the module log holds {logged} rows ({http} HTTP exchanges with the panels), secrets redacted");
    let keep_hint = if _tmp.is_none() {
        format!(
            "; the home stays in {}: try `provisor --home {} invoices list`",
            home.root().display(),
            home.root().display()
        )
    } else {
        "; `provisor demo --keep DIR` keeps the home for `provisor invoices list`".to_string()
    };
    println!(
        "\nDone in {:.1} s{keep_hint}. Billing is explained in `docs/billing.md`.",
        began.elapsed().as_secs_f64()
    );
    drop((cs_sim, solus_sim, isp_sim));
    Ok(())
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A single sign-on link with its one-time credential hidden (`token=…(32)`): the demo
/// shows that a link was minted, never a credential someone could use.
fn masked(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if matches!(k, "token" | "key" | "otp" | "auth" | "hash") => {
                format!("{k}=…({} characters, hidden)", v.len())
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Runs the worker until no operation is queued or running, waiting out "in progress"
/// polls. Answers (done, in progress, retried, manual).
async fn settle(worker: &Worker, store: &Store) -> Result<(u64, u64, u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut totals = (0, 0, 0, 0);
    loop {
        let r = worker.run_until_idle().await?;
        totals.0 += r.done;
        totals.1 += r.in_progress;
        totals.2 += r.retried;
        totals.3 += r.manual;
        let waiting = operation::Entity::find()
            .filter(operation::Column::Status.is_in(["queued", "running"]))
            .count(store.db())
            .await
            .map_err(db_err("reading operations"))?;
        if waiting == 0 {
            return Ok(totals);
        }
        if Instant::now() > deadline {
            return Err(Error::Io(format!(
                "{waiting} operation(s) still waiting after 40 s: see `provisor ops list`"
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
