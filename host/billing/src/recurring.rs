//! Prepaid recurring billing and licenses: renewal invoices ahead of the due date,
//! overdue suspends and terminates, unsuspends when paid, monthly license charges.
//!
//! A service of a priced plan gets a **billing term** when its order's invoice is paid
//! in full (`on_paid`, called in the payment's transaction): the period comes from
//! the price it was ordered at (licenses are always monthly), the term is anchored on
//! the day the invoice was paid in full, and periods are counted from that anchor in
//! calendar months clamped to month ends (Jan 31 → Feb 28/29 → Mar 31).
//!
//! The daily run for a date D ([`daily`]):
//! 1. **Renewals**, one transaction per client (the client's lock held): every live
//!    service whose next uninvoiced period starts within [`Settings::renew_days`] of D
//!    gets a line for that period; the client's lines go on one invoice issued on D
//!    (credit applied first, by `invoices::issue_in`). Each (service, period start) is
//!    a row of `renewals` under a unique index, so a date run twice, or a past date run
//!    again, bills once, and a run killed half-way leaves whole clients done or not.
//! 2. **Overdue**: an unpaid renewal invoice more than `grace_days` past its due date
//!    queues a `suspend` of each of its services, more than `terminate_days` past it a
//!    `terminate` (both through `engine::request`, recorded once in `billing_actions`).
//!
//! Paying a renewal advances the term's next due date; paying an invoice whose service
//! was suspended for it queues the `unsuspend` in the payment's transaction.
//! A service that is terminated (or has a terminate pending), or that is attached to
//! a service that is, gets no renewal: its term ends.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::invoices::{self, NewLine};
use super::money::{self, Currency};
use super::prices::{self, Period};
use super::{currencies, taxes};
use crate::event::Event;
use crate::{Driver, Settings};
use provisor_store::db_err;
use provisor_store::entities::kinds::{InvoiceLineKind, OperationKind};
use provisor_store::entities::status::{InvoiceStatus, OperationStatus, ServiceStatus};
use provisor_store::entities::{
    billing_action, billing_term, client, invoice, invoice_line, operation, payment, plan, renewal,
    service,
};
use provisor_store::error::{Error, ErrorKind, Fix, Message, Result};

mod paid;
mod renew;

pub(crate) use paid::on_paid;
use renew::renew_client;

/// The keyword of a module's plan schema that says how its plans renew:
/// `"x-provisor-renewal": "license"` makes every plan of the module a license, billed
/// monthly while attached to a live service (whatever period it was ordered at).
/// JSON Schema ignores keywords it does not know, so plans validate as before.
pub const RENEWAL_KEYWORD: &str = "x-provisor-renewal";

/// The [`RENEWAL_KEYWORD`] value of a license.
pub const RENEWS_AS_LICENSE: &str = "license";

/// Test-only (cargo feature `test-hooks`): the renewal step exits the process after
/// this many clients (to check that a run killed half-way and started again bills
/// every client once).
#[cfg(feature = "test-hooks")]
pub const TEST_CRASH_ENV: &str = crate::settings::test_hooks::CRASH_AFTER_CLIENTS;

/// The start of period `k` of a term anchored on `anchor` (`k` counted in months).
fn months_after(anchor: NaiveDate, months: u32) -> NaiveDate {
    anchor
        .checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Whole months from `anchor` to `day` (both on the anchor's month grid).
fn months_between(anchor: NaiveDate, day: NaiveDate) -> u32 {
    let a = anchor.year() * 12 + anchor.month0() as i32;
    let b = day.year() * 12 + day.month0() as i32;
    (b - a).max(0) as u32
}

/// The period that starts on `start` in a term anchored on `anchor`: (start, last day,
/// the next period's start).
pub fn period_after(
    anchor: NaiveDate,
    period: Period,
    start: NaiveDate,
) -> (NaiveDate, NaiveDate, NaiveDate) {
    let k = months_between(anchor, start);
    let next = months_after(anchor, k + period.months());
    (start, next.pred_opt().unwrap_or(start), next)
}

/// Whether the plan's services renew as licenses: its module's manifest (the one the
/// registry recorded in `module_files`, the newest loaded version) declares
/// [`RENEWAL_KEYWORD`] `license` in its plan schema. Read from the store, so billing
/// needs no runtime; a module never loaded declares nothing.
pub(crate) async fn is_license<C: ConnectionTrait>(db: &C, p: &plan::Model) -> Result<bool> {
    let manifest = provisor_store::lookup::recorded_manifest(db, &p.module).await?;
    Ok(manifest.is_some_and(|m| {
        m.plan_schema.get(RENEWAL_KEYWORD).and_then(Value::as_str) == Some(RENEWS_AS_LICENSE)
    }))
}

/// [`is_license`] read once per module for as long as this lives: one renewal run, in
/// which every term would otherwise read and parse its module's recorded manifests.
#[derive(Default)]
pub(crate) struct LicenseModules(std::sync::Mutex<std::collections::HashMap<String, bool>>);

impl LicenseModules {
    /// Whether `p`'s services renew as licenses (see [`is_license`]).
    pub(crate) async fn check<C: ConnectionTrait>(&self, db: &C, p: &plan::Model) -> Result<bool> {
        if let Some(&known) = self.known().get(&p.module) {
            return Ok(known);
        }
        let license = is_license(db, p).await?;
        self.known().insert(p.module.clone(), license);
        Ok(license)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, bool>> {
        // A panic while the map was held leaves it whole (inserts only): keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn terminate_pending<C: ConnectionTrait>(db: &C, service_id: i64) -> Result<bool> {
    Ok(operation::Entity::find()
        .filter(operation::Column::ServiceId.eq(service_id))
        .filter(operation::Column::Kind.eq(OperationKind::Terminate))
        .filter(operation::Column::Status.is_in(OperationStatus::UNFINISHED))
        .one(db)
        .await
        .map_err(db_err("reading operations"))?
        .is_some())
}

/// Why a service's billing has ended, if it has: it (or the service it is attached
/// to) is terminated or has a terminate pending.
async fn ended_because<C: ConnectionTrait>(db: &C, svc: &service::Model) -> Result<Option<String>> {
    if svc.status == ServiceStatus::Terminated {
        return Ok(Some(format!("service #{} is terminated", svc.id)));
    }
    if terminate_pending(db, svc.id).await? {
        return Ok(Some(format!("service #{} is being terminated", svc.id)));
    }
    if let Some(parent) = svc.parent_id {
        let p = service::Entity::find_by_id(parent)
            .one(db)
            .await
            .map_err(db_err("reading services"))?;
        match p {
            None => {
                return Ok(Some(format!(
                    "service #{} is attached to service #{parent}, which no longer exists",
                    svc.id
                )))
            }
            Some(p)
                if p.status == ServiceStatus::Terminated || terminate_pending(db, p.id).await? =>
            {
                return Ok(Some(format!(
                    "service #{} is attached to service #{parent}, which is terminated",
                    svc.id
                )))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// The plan's price for `period` in the client's currency, else the default
/// currency's converted; a refusal naming the fix when there is neither.
async fn price_for<C: ConnectionTrait>(
    db: &C,
    p: &plan::Model,
    period: Period,
    cur: &Currency,
) -> Result<Decimal> {
    let (rows, _) = prices::rows(db, p.id).await?;
    let what = format!("plan {} {} price", p.name, period.as_str());
    if let Some(r) = rows
        .iter()
        .find(|r| r.currency == cur.code && r.period == period.as_str())
    {
        return money::from_db(&r.amount, &what);
    }
    if let Some(d) = currencies::default_currency(db).await? {
        if let Some(r) = rows
            .iter()
            .find(|r| r.currency == d.code && r.period == period.as_str())
        {
            return money::convert(money::from_db(&r.amount, &what)?, &d, cur);
        }
    }
    Err(Error::invalid(
        Message::new(format!(
            "plan {} has no {} price in {} or in the default currency; ",
            p.name,
            period.as_str(),
            cur.code,
        ))
        .fix(Fix::PricePlan {
            plan: p.name.clone(),
            currency: Some(cur.code.clone()),
            period: Some(period.as_str()),
            existing: false,
        }),
    ))
}

async fn action_of<C: ConnectionTrait>(
    db: &C,
    invoice_id: i64,
    service_id: i64,
    action: OperationKind,
) -> Result<Option<billing_action::Model>> {
    billing_action::Entity::find()
        .filter(billing_action::Column::InvoiceId.eq(invoice_id))
        .filter(billing_action::Column::ServiceId.eq(service_id))
        .filter(billing_action::Column::Action.eq(action.as_str()))
        .one(db)
        .await
        .map_err(db_err("reading billing actions"))
}

async fn record_action<C: ConnectionTrait>(
    db: &C,
    invoice_id: i64,
    service_id: i64,
    action: OperationKind,
    operation_id: Option<i64>,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<()> {
    billing_action::Entity::insert(billing_action::ActiveModel {
        service_id: Set(service_id),
        invoice_id: Set(invoice_id),
        action: Set(action.to_string()),
        operation_id: Set(operation_id),
        run_date: Set(day),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            billing_action::Column::InvoiceId,
            billing_action::Column::ServiceId,
            billing_action::Column::Action,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(db_err("recording the billing action"))?;
    Ok(())
}

/// The test hook's client count ([`TEST_CRASH_ENV`]); never without `test-hooks`.
fn test_crash_after() -> Option<usize> {
    #[cfg(feature = "test-hooks")]
    {
        crate::settings::test_hooks::number(TEST_CRASH_ENV)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        None
    }
}

/// The recurring step of the daily run for `date`.
pub async fn daily(rt: &dyn Driver, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    let settings = rt.settings();
    let mut events = Vec::new();
    let clients: Vec<i64> = billing_term::Entity::find()
        .select_only()
        .column(billing_term::Column::ClientId)
        .filter(billing_term::Column::EndedOn.is_null())
        .distinct()
        .order_by_asc(billing_term::Column::ClientId)
        .into_tuple()
        .all(rt.store().db())
        .await
        .map_err(db_err("reading billing terms"))?;
    let crash_after = test_crash_after();
    let licenses = LicenseModules::default();
    for (n, c) in clients.into_iter().enumerate() {
        if crash_after == Some(n) {
            crash(n);
        }
        events.extend(renew_client(rt, c, date, settings, &licenses, dry_run).await?);
    }
    events.extend(overdue(rt, date, settings, dry_run).await?);
    Ok(events)
}

/// The test hook's crash: the process ends as if killed.
#[cfg(feature = "test-hooks")]
fn crash(n: usize) {
    eprintln!("{TEST_CRASH_ENV}: exiting after {n} client(s)");
    std::process::exit(137);
}

/// Without `test-hooks` there is no crash (and no count to reach one).
#[cfg(not(feature = "test-hooks"))]
fn crash(_: usize) {}

/// Unpaid renewal invoices past their grace: suspends, then terminates, through the
/// engine (each once per invoice and service).
async fn overdue(
    rt: &dyn Driver,
    date: NaiveDate,
    settings: &Settings,
    dry_run: bool,
) -> Result<Vec<Event>> {
    let db = rt.store().db();
    let now = rt.clock().now();
    let grace_end = date - chrono::Days::new(u64::from(settings.grace_days));
    let rows = invoice::Entity::find()
        .filter(invoice::Column::Status.eq(InvoiceStatus::Unpaid))
        .filter(invoice::Column::DueDate.lt(grace_end))
        .order_by_asc(invoice::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading unpaid invoices"))?;
    let mut events = Vec::new();
    for inv in rows {
        let Some(due) = inv.due_date else { continue };
        let late = (date - due).num_days();
        let services: Vec<i64> = renewal::Entity::find()
            .select_only()
            .column(renewal::Column::ServiceId)
            .filter(renewal::Column::InvoiceId.eq(inv.id))
            .distinct()
            .order_by_asc(renewal::Column::ServiceId)
            .into_tuple()
            .all(db)
            .await
            .map_err(db_err("reading renewals"))?;
        let number = inv.number.clone().unwrap_or_else(|| inv.id.to_string());
        let action = if late > i64::from(settings.terminate_days) {
            OperationKind::Terminate
        } else {
            OperationKind::Suspend
        };
        for sid in services {
            if action_of(db, inv.id, sid, action).await?.is_some() {
                continue;
            }
            // Paid meanwhile for this service, or already handled by a terminate.
            if action_of(db, inv.id, sid, OperationKind::Terminate)
                .await?
                .is_some()
            {
                continue;
            }
            let svc = provisor_store::lookup::get_service(rt.store(), sid).await?;
            let event = |message: Message| Event {
                step: "overdue".into(),
                client_id: Some(inv.client_id),
                service_id: Some(sid),
                invoice: Some(number.clone()),
                message,
                ..Default::default()
            };
            let already = match action {
                OperationKind::Suspend => svc.status == ServiceStatus::Suspended,
                _ => svc.status == ServiceStatus::Terminated || terminate_pending(db, sid).await?,
            };
            if svc.status == ServiceStatus::Terminated && action == OperationKind::Suspend {
                continue;
            }
            let what = format!("invoice {number} is {late} day(s) past its due date {due}");
            if dry_run {
                events.push(event(
                    format!("would queue {action} of service #{sid}: {what}").into(),
                ));
                continue;
            }
            if already {
                let _turn = rt.store().write_turn().await;
                record_action(db, inv.id, sid, action, None, date, now).await?;
                continue;
            }
            match rt.request(sid, action).await {
                Ok(op) => {
                    let _turn = rt.store().write_turn().await;
                    record_action(db, inv.id, sid, action, Some(op), date, now).await?;
                    events.push(event(
                        format!("{action} operation #{op} queued for service #{sid}: {what}")
                            .into(),
                    ));
                }
                Err(why) if why.kind() == ErrorKind::Invalid => events.push(event(
                    Message::new(format!("{action} of service #{sid} not queued yet ("))
                        .then(why.into_message())
                        .text(format!("); the next run tries again: {what}")),
                )),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_count_from_the_anchor_and_clamp() {
        let a = day("2026-01-31");
        assert_eq!(
            period_after(a, Period::Monthly, day("2026-02-28")),
            (day("2026-02-28"), day("2026-03-30"), day("2026-03-31"))
        );
        assert_eq!(
            period_after(a, Period::Monthly, day("2026-03-31")),
            (day("2026-03-31"), day("2026-04-29"), day("2026-04-30"))
        );
        let leap = day("2028-01-31");
        assert_eq!(Period::Monthly.next_start(leap), day("2028-02-29"));
        assert_eq!(
            period_after(leap, Period::Monthly, day("2028-02-29")).2,
            day("2028-03-31")
        );
        assert_eq!(
            period_after(day("2025-08-31"), Period::Quarterly, day("2025-11-30")).2,
            day("2026-02-28")
        );
    }
}
