//! Demo steps 10-13: post-paid usage, the billing runs, the modules' daily run, and the
//! outbox and module log.

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use chrono::NaiveDate;
use provisor_billing::{self as billing, invoices, usage};
use provisor_engine as engine;
use provisor_module_api::UsageReport;
use provisor_runtime::Call;
use provisor_store::db_err;
use provisor_store::entities::{billing_term, module_log, outbox};
use provisor_store::error::Result;

use super::{cs, obj, Demo, Ordered, Panels};
use crate::output;

/// Step 10: post-paid usage from SolusVM this month.
pub(super) async fn usage(d: &Demo, ordered: Ordered, today: NaiveDate) -> Result<()> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
    let Panels { solus_api, .. } = &d.panels;
    let Ordered {
        solus: solus_id,
        solus_bob,
        ..
    } = ordered;
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
    Ok(())
}

/// Step 11: the month-end collection, the 1st's run and a license renewal, then every
/// invoice.
pub(super) async fn runs(d: &Demo, cs_id: i64, again: i64, today: NaiveDate) -> Result<()> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
    let Panels { cs_api, .. } = &d.panels;
    let month_start = usage::month_start(today);
    let next_first = usage::next_month(month_start);
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
        .filter(billing_term::Column::ServiceId.eq(again))
        .one(store.db())
        .await
        .map_err(db_err("reading billing terms"))?
        .map(|t| t.next_due - chrono::Days::new(7));
    let mut days = vec![last, next_first];
    days.extend(renew_day);
    days.sort();
    days.dedup();
    for day in days {
        let events = billing::run::day(
            &provisor_app::driver::EngineDriver::new(
                &rt,
                d.billing,
                &provisor_app::audit::Actor::system("cron"),
            ),
            day,
            false,
        )
        .await?;
        println!("   {day}: {} item(s)", events.len());
        for e in events.iter().filter(|e| e.step != "credit") {
            println!("     [{}] {}", e.step, crate::voice::text(&e.message));
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
            v.status.to_string(),
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
    Ok(())
}

/// Step 12: the modules' daily run.
pub(super) async fn daily(d: &Demo, today: NaiveDate) -> Result<()> {
    let rt = Arc::clone(&d.rt);
    let runs = engine::daily::run(&rt, today, false, d.billing.max_attempts).await?;
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
    Ok(())
}

/// Step 13: the outbox and the module log.
pub(super) async fn outbox(d: &Demo) -> Result<()> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
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
    Ok(())
}
