//! Prepaid recurring billing and licenses (being written): renewal invoices ahead of the
//! due date, overdue suspends and terminates, monthly license charges.

use chrono::NaiveDate;

use super::run::Event;
use crate::error::Result;
use crate::runtime::Runtime;

/// The recurring step of the daily run for `date`.
pub async fn daily(rt: &Runtime, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    let _ = (rt, date, dry_run);
    Ok(Vec::new())
}
