//! Demo steps 6-9: the work done, the services, client areas and SSO, lifecycle.

use std::sync::Arc;

use provisor_module_api::{Panel, SsoLink};
use sea_orm::EntityTrait;
use serde_json::{json, Map, Value};

use super::{first_line, masked, obj, settle, Demo, Ordered, Panels};
use crate::output;
use provisor_billing::invoices;
use provisor_engine::{self as engine, Worker};
use provisor_runtime::Call;
use provisor_store::db_err;
use provisor_store::entities::client;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::error::Result;

/// Step 6: workers run the operations; staff complete the dedicated server's task; an
/// addon is ordered on it.
pub(super) async fn work(
    d: &Demo,
    worker: &Worker,
    bob: &client::Model,
    dedicated: i64,
) -> Result<()> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
    println!("\n-- 6. Workers run the operations (the license key arrives after an \"in progress\" poll)");
    let r = settle(worker, &store).await?;
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
        let bob = demo_staff(&store, d.rt.clock.now()).await?;
        provisor_app::accounts::staff::take_task(&store, task.id, &bob, d.rt.clock.now()).await?;
        let values = json!({"remote_id": "srv-88", "ip": "203.0.113.5", "login_url": "https://ipmi.example.invalid/srv-88"});
        provisor_engine::tasks::complete(&rt, task.id, obj(values)).await?;
        println!("   staff member bob took it and filled in remote_id srv-88, ip 203.0.113.5: the server is active");
    }
    let addon = provisor_app::order::order(
        &rt,
        &d.billing,
        &provisor_app::audit::Actor::shell(),
        &bob.email,
        "ISPmanager addon",
        Some(dedicated),
        Map::new(),
    )
    .await?;
    println!("   service #{} ISPmanager addon ordered on the server #{dedicated} (named after its domain, bound to its IP)", addon.service_id);
    settle(worker, &store).await?;
    Ok(())
}

/// Step 7: every service with its handler and the details its module recorded.
pub(super) async fn list(d: &Demo) -> Result<()> {
    let store = d.store.clone();
    println!("\n-- 7. Services");
    let services = provisor_store::entities::service::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?;
    let rows: Vec<Vec<String>> = engine::views::services(&store, &services)
        .await?
        .into_iter()
        .map(|v| {
            let detail = ["licname", "lickey", "email", "ip"]
                .iter()
                .filter_map(|k| {
                    v.attributes
                        .get(*k)
                        .and_then(Value::as_str)
                        .map(|x| format!("{k}={x}"))
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                format!("#{}", v.id),
                v.handler,
                v.status,
                v.remote_id.unwrap_or_default(),
                detail,
            ]
        })
        .collect();
    output::table(
        &["SERVICE", "HANDLER", "STATUS", "REMOTE ID", "DETAILS"],
        &rows,
    );
    Ok(())
}

/// Step 8: client-area panels and single sign-on links, minted on request.
pub(super) async fn panels_and_sso(d: &Demo, ordered: Ordered) -> Result<()> {
    let rt = Arc::clone(&d.rt);
    let Ordered {
        cs: cs_id,
        solus: solus_id,
        solus_bob: _,
        license: lic_id,
        dedicated,
    } = ordered;
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
    Ok(())
}

/// Step 9: suspend and unsuspend as operations; terminate, and a new order that reuses
/// the pooled license. Answers the new order's service.
pub(super) async fn lifecycle(
    d: &Demo,
    worker: &Worker,
    ordered: Ordered,
    ada: &client::Model,
) -> Result<i64> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
    let Panels {
        cs_api, isp_api, ..
    } = &d.panels;
    let Ordered {
        cs: cs_id,
        license: lic_id,
        ..
    } = ordered;
    println!(
        "\n-- 9. Suspend and unsuspend are operations; terminate does what each panel really does"
    );
    for kind in [OperationKind::Suspend, OperationKind::Unsuspend] {
        let op = engine::request(&rt, cs_id, kind, Value::Null, d.billing.max_attempts).await?;
        settle(worker, &store).await?;
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
    engine::request(
        &rt,
        lic_id,
        OperationKind::Terminate,
        Value::Null,
        d.billing.max_attempts,
    )
    .await?;
    settle(worker, &store).await?;
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
        &d.billing,
        &provisor_app::audit::Actor::shell(),
        &ada.email,
        "ISPmanager 6 Lite",
        None,
        obj(json!({"server": "web2"})),
    )
    .await?;
    settle(worker, &store).await?;
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
    Ok(again.service_id)
}

/// The demo's staff: an owner, and bob in the datacenter department (support), each
/// with a random password nobody is shown. Answers bob's email.
async fn demo_staff(
    store: &provisor_store::Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    use provisor_app::accounts::{staff, Actor, Password};
    use provisor_store::entities::kinds::Role;
    let random = || -> Result<String> {
        let mut b = [0u8; 16];
        getrandom::getrandom(&mut b).map_err(|e| {
            provisor_store::error::Error::Io(format!("the system's random source failed: {e}"))
        })?;
        Ok(hex::encode(b))
    };
    let person =
        |email: &str, name: &str, role, departments: Vec<String>| -> Result<staff::NewStaff> {
            Ok(staff::NewStaff {
                email: email.to_string(),
                name: name.to_string(),
                role,
                password: Password::new(random()?, email)?,
                departments,
            })
        };
    let bob = "bob@example.invalid";
    if !staff::any(store).await? {
        staff::add_owner(
            store,
            &provisor_app::audit::Actor::shell(),
            person("owner@example.invalid", "Owner", Role::Owner, vec![])?,
            now,
        )
        .await?;
    }
    if staff::find(store, bob).await.is_err() {
        let shell = Actor::Shell {
            user: "demo".to_string(),
        };
        staff::add(
            store,
            &shell,
            &provisor_app::audit::Actor::shell(),
            person(bob, "bob", Role::Support, vec!["datacenter".to_string()])?,
            now,
        )
        .await?;
    }
    Ok(bob.to_string())
}
