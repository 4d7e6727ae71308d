//! Usage billing (being written): post-paid usage from modules on the 1st, month-end
//! billable items from pushed usage, and batch usage ingestion.

use chrono::NaiveDate;

use super::run::Event;
use crate::error::Result;
use crate::runtime::Runtime;

/// Month-end collection for `date` (the last day of a month, 23:00 billing time).
pub async fn month_end(rt: &Runtime, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    let _ = (rt, date, dry_run);
    Ok(Vec::new())
}

/// Post-paid usage invoices for `date` (the 1st: the month before).
pub async fn postpaid(rt: &Runtime, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    let _ = (rt, date, dry_run);
    Ok(Vec::new())
}
