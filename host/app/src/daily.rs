//! The daily run, once for `provisor cron` and the daemon's schedule: billing for the
//! day (month-end collection, usage and renewal invoices, overdue suspends and
//! terminates), then the modules' own daily work per handler. A day whose run read
//! every usage it needed is recorded in `daily_runs`, so the daemon does not run it
//! again; running a day again by hand is safe (what was billed or queued is keyed).

use chrono::NaiveDate;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Serialize;

use provisor_billing::run::Event;
use provisor_engine::daily::HandlerRun;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::entities::daily_run;
use provisor_store::error::Result;

use provisor_billing::Settings;

use crate::audit::{record_after, Action, Actor};
use crate::driver::EngineDriver;

/// What one day's run did.
#[derive(Debug, Serialize)]
pub struct DailyRun {
    /// The billing day.
    pub date: NaiveDate,
    /// Whether nothing was written (what would happen).
    pub dry_run: bool,
    /// Billing's events, in order.
    pub billing: Vec<Event>,
    /// The modules' daily work, per handler.
    pub handlers: Vec<HandlerRun>,
}

impl DailyRun {
    /// Handlers whose usage could not be read (nothing was billed for their services;
    /// a later run of the same day bills them), if any.
    pub fn usage_failures(&self) -> Option<String> {
        Event::failures(&self.billing)
    }

    /// Handlers whose modules' daily work failed.
    pub fn failed_handlers(&self) -> Vec<&str> {
        self.handlers
            .iter()
            .filter(|r| r.status == "failed")
            .map(|r| r.handler.as_str())
            .collect()
    }
}

/// Runs the day `date`: billing first (it reads the day's state), then the modules'
/// daily work. Records the day unless it is a dry run or some usage could not be read,
/// and, unless it is a dry run, one `daily.run` audit entry by `actor` with its counts.
pub async fn run(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    date: NaiveDate,
    dry_run: bool,
) -> Result<DailyRun> {
    let billing =
        provisor_billing::run::day(&EngineDriver::new(rt, *settings, actor), date, dry_run).await?;
    let handlers = provisor_engine::daily::run(rt, date, dry_run, settings.max_attempts).await?;
    let outcome = DailyRun {
        date,
        dry_run,
        billing,
        handlers,
    };
    if !dry_run && outcome.usage_failures().is_none() {
        record(rt, date).await?;
    }
    if !dry_run {
        let after = serde_json::json!({
            "billing": counts(&outcome.billing),
            "handlers": outcome.handlers.len(),
            "failed_handlers": outcome.failed_handlers(),
            "module_actions": outcome.handlers.iter().map(|h| h.actions.len()).sum::<usize>(),
            "recorded": outcome.usage_failures().is_none(),
        });
        let now = rt.clock.now();
        record_after(
            &rt.store,
            actor,
            Action::DailyRun,
            Some(date.to_string()),
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(outcome)
}

/// Billing's events counted by step (`renewal: 2`), failed ones as `failed`.
fn counts(events: &[Event]) -> serde_json::Map<String, serde_json::Value> {
    let mut by_step = std::collections::BTreeMap::<String, u64>::new();
    for e in events {
        let step = if e.failed { "failed" } else { e.step.as_str() };
        *by_step.entry(step.to_string()).or_default() += 1;
    }
    by_step.into_iter().map(|(k, v)| (k, v.into())).collect()
}

/// [`run`] unless the day is already recorded (`None` then): the daemon's schedule.
pub async fn run_once(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    date: NaiveDate,
) -> Result<Option<DailyRun>> {
    let recorded = daily_run::Entity::find_by_id(date)
        .one(rt.store.db())
        .await
        .map_err(db_err("reading the daily runs"))?;
    if recorded.is_some() {
        return Ok(None);
    }
    run(rt, settings, actor, date, false).await.map(Some)
}

async fn record(rt: &Runtime, date: NaiveDate) -> Result<()> {
    let _turn = rt.store.write_turn().await;
    daily_run::Entity::insert(daily_run::ActiveModel {
        day: Set(date),
        ran_at: Set(rt.clock.now()),
    })
    .on_conflict(
        OnConflict::column(daily_run::Column::Day)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(rt.store.db())
    .await
    .map_err(db_err("recording the daily run"))?;
    Ok(())
}

/// The month-end collection at 23:00 billing time on a month's last day, recorded as a
/// `billing.run` audit entry by `actor` with its counts.
pub async fn month_end(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    date: NaiveDate,
) -> Result<Vec<Event>> {
    let events =
        provisor_billing::usage::month_end(&EngineDriver::new(rt, *settings, actor), date, false)
            .await?;
    let after = serde_json::json!({"step": "month_end", "billing": counts(&events)});
    let now = rt.clock.now();
    record_after(
        &rt.store,
        actor,
        Action::BillingRun,
        Some(date.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(events)
}

/// Bills one past month again (`provisor billing run --period`): see
/// [`provisor_billing::run::period`]. Unless it is a dry run, recorded as a
/// `billing.run` audit entry by `actor` with its counts.
pub async fn period(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    month: NaiveDate,
    (issue_date, dry_run): (NaiveDate, bool),
) -> Result<Vec<Event>> {
    let events = provisor_billing::run::period(
        &EngineDriver::new(rt, *settings, actor),
        month,
        issue_date,
        dry_run,
    )
    .await?;
    if !dry_run {
        let after = serde_json::json!({
            "period": month.format("%Y-%m").to_string(),
            "issue_date": issue_date,
            "billing": counts(&events),
        });
        let now = rt.clock.now();
        record_after(
            &rt.store,
            actor,
            Action::BillingRun,
            Some(month.format("%Y-%m").to_string()),
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(events)
}
