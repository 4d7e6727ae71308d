//! Billing schedules for services that have none. A service of a priced plan gets its
//! billing term when its order's invoice is paid (`recurring::on_paid`); a service that
//! never went through a paid order — an account brought in by `handlers import`, or a
//! service whose plan got its first price later — would never be invoiced. This module
//! gives such services a term from a date (`billing schedule`, `handlers import
//! --next-due`, `plans price --apply-to-existing`) and finds the live services that
//! will never be invoiced, with why (`billing unscheduled`).
//!
//! Must not: invoice anything itself (the daily run's renewal step does, from the term),
//! or touch a service that already has a term.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Months, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use super::prices::{self, Period};
use provisor_store::entities::status::ServiceStatus;
use provisor_store::entities::{billing_term, client, handler, plan, service};
use provisor_store::error::{Error, Fix, Message, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// Statuses of a service that lives on the panel and should be billed.
const LIVE: [ServiceStatus; 2] = [ServiceStatus::Active, ServiceStatus::Suspended];

/// The period a plan's services are billed in: licenses monthly; otherwise the
/// plan's shortest priced period (monthly first). `None` when the plan has no price.
pub(crate) async fn plan_period<C: ConnectionTrait>(
    db: &C,
    p: &plan::Model,
) -> Result<Option<Period>> {
    if super::recurring::is_license(db, p).await? {
        return Ok(Some(Period::Monthly));
    }
    let (rows, _) = prices::rows(db, p.id).await?;
    Ok(Period::ALL
        .into_iter()
        .find(|period| rows.iter().any(|r| r.period == period.as_str())))
}

/// Whether the plan bills usage (post-paid, month-end or pushed): its services are
/// invoiced from their usage on the 1st, with no term.
async fn bills_usage<C: ConnectionTrait>(db: &C, plan_id: i64) -> Result<bool> {
    Ok(super::usage::usage_plans(db).await?.contains_key(&plan_id))
}

/// Refuses a plan whose services cannot get a term, naming the fix; answers the period.
pub async fn period_for_terms<C: ConnectionTrait>(db: &C, p: &plan::Model) -> Result<Period> {
    if bills_usage(db, p.id).await? {
        return Err(Error::Invalid(format!(
            "plan {} bills usage: its services are invoiced on the 1st from their usage and need no next due date",
            p.name
        )));
    }
    plan_period(db, p).await?.ok_or_else(|| {
        Error::invalid(
            Message::new(format!(
                "plan {} has no price, so its services cannot be billed: ",
                p.name
            ))
            .fix(Fix::PricePlan {
                plan: p.name.clone(),
                currency: None,
                period: Some(Period::Monthly.as_str()),
                existing: false,
            })
            .text(" first"),
        )
    })
}

/// Gives a service a billing term from `next_due` (its first period to invoice starts
/// there), in `db`. Answers false when the service already has one (nothing changed).
pub async fn start_term<C: ConnectionTrait>(
    db: &C,
    svc: &service::Model,
    period: Period,
    next_due: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool> {
    let written = billing_term::Entity::insert(billing_term::ActiveModel {
        service_id: Set(svc.id),
        client_id: Set(svc.client_id),
        period: Set(period.as_str().to_string()),
        anchor: Set(next_due),
        invoiced_until: Set(next_due),
        next_due: Set(next_due),
        ended_on: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(billing_term::Column::ServiceId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(db_err("starting the billing term"))?;
    Ok(written > 0)
}

/// What scheduling one service did.
#[derive(Debug, Clone, Serialize)]
pub struct Scheduled {
    /// The service.
    pub service_id: i64,
    /// Its plan's name.
    pub plan: String,
    /// The billing period of its term.
    pub period: String,
    /// The day its next period is due.
    pub next_due: NaiveDate,
    /// False when the service already had a term (nothing changed).
    pub started: bool,
}

/// `billing schedule SERVICE --next-due D`: the service's billing term starts on D.
pub async fn schedule(
    store: &Store,
    service_id: i64,
    next_due: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Scheduled> {
    let svc = provisor_store::lookup::get_service(store, service_id).await?;
    if !LIVE.contains(&svc.status) {
        return Err(Error::Invalid(format!(
            "service #{service_id} is {}; only an active or suspended service is billed",
            svc.status
        )));
    }
    let p = plan_of(store, &svc).await?;
    let period = period_for_terms(store.db(), &p).await?;
    let (tx, _turn) = super::begin_for_client(store, svc.client_id).await?;
    let started = start_term(&tx, &svc, period, next_due, now).await?;
    tx.commit()
        .await
        .map_err(db_err("starting the billing term"))?;
    Ok(Scheduled {
        service_id,
        plan: p.name,
        period: period.as_str().to_string(),
        next_due,
        started,
    })
}

async fn plan_of(store: &Store, svc: &service::Model) -> Result<plan::Model> {
    plan::Entity::find_by_id(svc.plan_id)
        .one(store.db())
        .await
        .map_err(db_err("reading plans"))?
        .ok_or_else(|| Error::NotFound(format!("service #{}'s plan is gone", svc.id)))
}

/// The first start of a period on the grid anchored on `anchor` that is on or after
/// `today` (the service's own day of the month, from the day it was made).
pub fn next_period_start(anchor: NaiveDate, period: Period, today: NaiveDate) -> NaiveDate {
    let mut k = 0u32;
    loop {
        let start = anchor
            .checked_add_months(Months::new(k * period.months()))
            .unwrap_or(NaiveDate::MAX);
        if start >= today || start == NaiveDate::MAX {
            return start;
        }
        k += 1;
    }
}

/// `plans price … --apply-to-existing`: every live service of the plan without a term
/// gets one from its next period (its own day of the month, counted from the day it was
/// made, on or after `today`); nothing before is billed. One transaction per client.
pub async fn apply_to_existing(
    store: &Store,
    plan_ref: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<Scheduled>> {
    let p = lookup::get_plan(store, plan_ref).await?;
    let period = period_for_terms(store.db(), &p).await?;
    let without = live_without_term(store, Some(p.id)).await?;
    let mut by_client: HashMap<i64, Vec<service::Model>> = HashMap::new();
    for s in without {
        by_client.entry(s.client_id).or_default().push(s);
    }
    let mut clients: Vec<i64> = by_client.keys().copied().collect();
    clients.sort_unstable();
    let mut done = Vec::new();
    for cid in clients {
        let (tx, _turn) = super::begin_for_client(store, cid).await?;
        for s in &by_client[&cid] {
            let next = next_period_start(super::day_of(s.created_at), period, today);
            let started = start_term(&tx, s, period, next, now).await?;
            done.push(Scheduled {
                service_id: s.id,
                plan: p.name.clone(),
                period: period.as_str().to_string(),
                next_due: next,
                started,
            });
        }
        tx.commit()
            .await
            .map_err(db_err("starting billing terms"))?;
    }
    done.sort_by_key(|s| s.service_id);
    Ok(done)
}

/// Live services with no billing term, of one plan or all.
async fn live_without_term(store: &Store, plan_id: Option<i64>) -> Result<Vec<service::Model>> {
    let mut q = service::Entity::find()
        .filter(service::Column::Status.is_in(LIVE))
        .order_by_asc(service::Column::Id);
    if let Some(id) = plan_id {
        q = q.filter(service::Column::PlanId.eq(id));
    }
    let live = q
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?;
    let with_term: HashSet<i64> = billing_term::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading billing terms"))?
        .into_iter()
        .map(|t| t.service_id)
        .collect();
    Ok(live
        .into_iter()
        .filter(|s| !with_term.contains(&s.id))
        .collect())
}

/// A live service that will never be invoiced, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unscheduled {
    /// The service.
    pub service_id: i64,
    /// Its status.
    pub status: String,
    /// Its client's id.
    pub client_id: i64,
    /// Its client's name.
    pub client: String,
    /// Its plan's name.
    pub plan: String,
    /// Its handler's name.
    pub handler: String,
    /// `plan_has_no_price` or `no_billing_term`.
    pub reason: &'static str,
    /// The reason and the fix.
    pub why: Message,
}

/// `billing unscheduled`: live services (active or suspended) that no run will invoice:
/// on a plan with neither a price nor usage billing, or on a priced plan without a
/// billing term (imported, or made before the plan had a price). Services on usage
/// plans are billed from their usage and are not listed.
pub async fn unscheduled(store: &Store) -> Result<Vec<Unscheduled>> {
    let usage = super::usage::usage_plans(store.db()).await?;
    let services = live_without_term(store, None).await?;
    let plans: HashMap<i64, plan::Model> = plan::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading plans"))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let clients: HashMap<i64, String> = client::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading clients"))?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let handlers: HashMap<i64, String> = handler::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading handlers"))?
        .into_iter()
        .map(|h| (h.id, h.name))
        .collect();
    let mut periods: HashMap<i64, Option<Period>> = HashMap::new();
    let mut out = Vec::new();
    for s in services {
        if usage.contains_key(&s.plan_id) {
            continue;
        }
        let Some(p) = plans.get(&s.plan_id) else {
            continue;
        };
        let period = match periods.get(&p.id) {
            Some(known) => *known,
            None => {
                let found = plan_period(store.db(), p).await?;
                periods.insert(p.id, found);
                found
            }
        };
        let (reason, why) = match period {
            None => (
                "plan_has_no_price",
                Message::new(format!(
                    "plan {} has no price (and bills no usage): ",
                    p.name
                ))
                .fix(Fix::PricePlan {
                    plan: p.name.clone(),
                    currency: None,
                    period: Some(Period::Monthly.as_str()),
                    existing: true,
                }),
            ),
            Some(_) => (
                "no_billing_term",
                Message::new(format!(
                    "no billing term: it was not ordered through a paid invoice (imported, or made before plan {} had a price); ",
                    p.name
                ))
                .fix(Fix::ScheduleService { service: s.id }),
            ),
        };
        out.push(Unscheduled {
            service_id: s.id,
            status: s.status.to_string(),
            client_id: s.client_id,
            client: clients.get(&s.client_id).cloned().unwrap_or_default(),
            plan: p.name.clone(),
            handler: handlers.get(&s.handler_id).cloned().unwrap_or_default(),
            reason,
            why,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_next_period_keeps_the_services_day_of_the_month() {
        let made = day("2026-03-15");
        assert_eq!(
            next_period_start(made, Period::Monthly, day("2026-12-03")),
            day("2026-12-15")
        );
        assert_eq!(
            next_period_start(made, Period::Monthly, day("2026-12-15")),
            day("2026-12-15")
        );
        assert_eq!(
            next_period_start(made, Period::Annual, day("2026-12-03")),
            day("2027-03-15")
        );
        // A service made on the 31st: the grid clamps to month ends.
        assert_eq!(
            next_period_start(day("2026-01-31"), Period::Monthly, day("2026-02-10")),
            day("2026-02-28")
        );
        // Made in the future of `today` (a date given by hand): its own day.
        assert_eq!(
            next_period_start(day("2027-01-05"), Period::Monthly, day("2026-12-03")),
            day("2027-01-05")
        );
    }
}
