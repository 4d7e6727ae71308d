//! The billing part of the daily run (`provisor cron --date D`): each step for date D in
//! a fixed order, every charge keyed by (service, period) so a date run twice, or a
//! past period run again, bills once. A dry run goes through the same steps and writes
//! nothing (each step rolls its transactions back and reports what it would have done).
//!
//! Steps, in order: month-end collection of pushed usage into billable items
//! (`usage::month_end`, on the last day and again on the 1st for the month before),
//! post-paid usage invoices on the 1st (`usage::postpaid`), and
//! prepaid renewals, overdue suspends and terminates, and license billing
//! (`recurring::daily`).

use chrono::{Datelike, NaiveDate};

use super::{recurring, usage};
use crate::Driver;
use provisor_store::error::Result;

pub use crate::event::Event;

/// Runs every billing step for `date`.
///
/// On the 1st, the last day's month-end collection runs again first: a daily run done
/// before 23:00 on the last day collected only what had started by then, and rows
/// started before the cutoff that the module shows now still belong to that month's
/// items (collection is keyed per row, so nothing is collected twice).
pub async fn day(rt: &dyn Driver, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    // Bad settings are refused before any step writes anything.
    rt.settings().check()?;
    let mut events = Vec::new();
    // What a dry run collected is rolled back; its invoices still count it.
    let mut pending = Vec::new();
    if date.day() == 1 {
        if let Some(last) = date.pred_opt() {
            let (ev, got) = usage::month_end_collect(rt, last, dry_run, None).await?;
            events.extend(ev);
            if dry_run {
                pending = got;
            }
        }
    }
    events.extend(usage::month_end(rt, date, dry_run).await?);
    events.extend(usage::postpaid_with(rt, date, dry_run, &pending).await?);
    events.extend(recurring::daily(rt, date, dry_run).await?);
    Ok(events)
}

/// Re-runs the usage invoicing of one past month (`provisor billing run --period
/// YYYY-MM`), like SolusVM's "generate invoices for October 2022": the month-end
/// collection of its last day, then the post-paid and month-end invoices of the month,
/// issued on `issue_date`. Only services that were live during the month are billed,
/// for their usage in the month; renewals and the modules' daily work are not run.
/// Keyed like the daily run (one usage invoice per client and month, one billable item
/// per usage row), so it bills once however often it runs, before or after the 1st's
/// regular run.
pub async fn period(
    rt: &dyn Driver,
    month: NaiveDate,
    issue_date: NaiveDate,
    dry_run: bool,
) -> Result<Vec<Event>> {
    let ps = usage::month_start(month);
    let pe = usage::next_month(ps);
    if issue_date < pe {
        return Err(provisor_store::error::Error::Invalid(format!(
            "{} has not ended on {issue_date}: a month is billed from its next day ({pe}) on",
            ps.format("%Y-%m")
        )));
    }
    let last = pe.pred_opt().unwrap_or(ps);
    // Made before the month ended (in the billing time zone): live during it.
    let zone = rt.settings().zone;
    let made_before = zone.instant(pe.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut events = Vec::new();
    let (ev, collected) = usage::month_end_collect(rt, last, dry_run, Some(made_before)).await?;
    events.extend(ev);
    let pending = if dry_run { collected } else { Vec::new() };
    events.extend(
        usage::invoice_month(rt, ps, issue_date, dry_run, &pending, Some(made_before)).await?,
    );
    Ok(events)
}
