//! Usage billing: post-paid usage from modules on the 1st, month-end billable items
//! from the modules' usage rows, and batch usage ingestion (`usage import`).
//!
//! A plan bills usage when it has a `usage_plans` row (`provisor usage plan PLAN
//! --mode …`), with per-unit prices per currency (`provisor usage price PLAN
//! --currency EUR --unit token --amount 0.01`):
//!
//! - `postpaid` (SolusVM): on the 1st the module's `usage` for the month before gives
//!   one line per VM; the line's price is quantity × the plan's unit price in the
//!   client's currency (the module's own `rate` when the plan has none).
//! - `month-end` (ComputeStacks): on the last day of the month the module's usage rows
//!   that started before 23:00 billing time are collected into billable items, one per
//!   (service, product, month); the rows stay in `usage_items` for drill-down.
//! - `pushed`: usage only arrives through `usage import`; the module is never called.
//!
//! On the 1st every client with something to bill gets **one** invoice for the month
//! before (`usage_invoices`, unique per client and period): post-paid module lines
//! (`usage_charges`, unique per service and period), uninvoiced billable items, and
//! imported usage (late records, for a period already invoiced, flagged as such).
//! Clients are invoiced in chunks, one transaction per chunk: a run stopped half-way
//! keeps whole chunks, and the next run invoices only the clients not yet invoiced.

pub mod import;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::invoices::{self, NewLine};
use super::money::{self, Currency};
use super::prices::Period;
use super::run::Event;
use super::{currencies, taxes};
use crate::Driver;
use provisor_store::entities::{
    billable_item, client, credit_entry, invoice, plan, service, usage_charge, usage_invoice,
    usage_item, usage_plan, usage_price, usage_record,
};
use provisor_store::error::{Error, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

/// How a plan bills usage.
pub const MODES: [&str; 3] = ["postpaid", "month-end", "pushed"];

/// Test hook (cargo feature `test-hooks`): stop the monthly run with an error after
/// this many chunks committed (`PROVISOR_BILLING_STOP_AFTER_CHUNKS`), to prove a re-run
/// finishes the job. Without the feature there is no such hook.
fn stop_after() -> Option<usize> {
    #[cfg(feature = "test-hooks")]
    {
        crate::settings::test_hooks::number(crate::settings::test_hooks::STOP_AFTER_CHUNKS)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        None
    }
}

/// The billing time zone (`PROVISOR_BILLING_TZ`): `UTC` (default), a fixed offset such
/// as `+02:00`, `-0530` or `UTC+1`, or an IANA name such as `Europe/Berlin`, whose
/// daylight-saving rules are built in (chrono-tz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingZone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl BillingZone {
    /// The zone `PROVISOR_BILLING_TZ` names, read by [`crate::Settings::from_env`]'s
    /// reader; for callers outside billing that have no [`crate::Settings`] yet.
    pub fn from_env() -> Result<BillingZone> {
        crate::settings::zone_from_env()
    }

    /// UTC, the default zone.
    pub fn utc() -> BillingZone {
        BillingZone::Fixed(FixedOffset::east_opt(0).expect("a zero offset is in range"))
    }

    /// Parses a billing time zone (see [`BillingZone`]).
    pub fn parse(raw: &str) -> Result<BillingZone> {
        let t = raw.trim();
        let bad = || {
            Error::Invalid(format!(
                "PROVISOR_BILLING_TZ={raw:?} is not a time zone: give UTC, a fixed offset such as +01:00 or -05:30, or an IANA name such as Europe/Berlin"
            ))
        };
        let rest = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("utc"))
            .unwrap_or(t);
        if rest.is_empty() || rest == "Z" {
            return Ok(BillingZone::utc());
        }
        if rest.starts_with(['+', '-']) {
            return parse_offset(rest).map(BillingZone::Fixed).ok_or_else(bad);
        }
        t.parse::<chrono_tz::Tz>()
            .map(BillingZone::Named)
            .map_err(|_| bad())
    }

    /// The instant a wall-clock time happens in this zone. Where clocks go back and the
    /// time happens twice, the first; where they go forward past it, the moment they
    /// land (02:30 on a spring-forward night in Berlin is 03:00 CEST).
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            BillingZone::Fixed(o) => first_instant(o, local),
            BillingZone::Named(z) => first_instant(z, local),
        }
    }

    /// The calendar day an instant falls on in this zone.
    pub fn date_of(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local(t).date()
    }

    /// The wall-clock time of an instant in this zone.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            BillingZone::Fixed(o) => t.with_timezone(o).naive_local(),
            BillingZone::Named(z) => t.with_timezone(z).naive_local(),
        }
    }

    /// When month-end collection happens on `date` (the last day of a month): 23:00
    /// there.
    pub fn month_end_cutoff(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant(date.and_hms_opt(23, 0, 0).expect("23:00"))
    }
}

fn first_instant<Z: TimeZone>(zone: &Z, local: NaiveDateTime) -> DateTime<Utc> {
    // A gap is at most a few hours long: step to its end a minute at a time.
    for minutes in 0..=24 * 60 {
        if let Some(t) = zone
            .from_local_datetime(&(local + chrono::Duration::minutes(minutes)))
            .earliest()
        {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// Parses a fixed offset: `+02:00`, `-0530`, `+1`.
fn parse_offset(t: &str) -> Option<FixedOffset> {
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 1 | 2 | 4) {
        return None;
    }
    let (h, m) = if digits.len() == 4 {
        (&digits[..2], &digits[2..])
    } else {
        (&digits[..], "0")
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The first day of `d`'s month.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

/// The first day of the month after `d`'s.
pub fn next_month(d: NaiveDate) -> NaiveDate {
    month_start(d) + Months::new(1)
}

/// The first day of the month before `d`'s.
pub fn prev_month(d: NaiveDate) -> NaiveDate {
    month_start(d) - Months::new(1)
}

/// Whether `d` is the last day of its month.
pub fn is_last_day(d: NaiveDate) -> bool {
    next_month(d).pred_opt() == Some(d)
}

fn month_name(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// A plan's usage settings as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PlanUsage {
    pub plan: String,
    pub mode: Option<String>,
    pub due_days: Option<i32>,
    pub prices: Vec<UnitPrice>,
}

/// One unit price.
#[derive(Debug, Clone, Serialize)]
pub struct UnitPrice {
    pub currency: String,
    pub unit: String,
    pub amount: String,
}

/// `usage plan PLAN --mode M --due-days N`: marks a plan as billing usage.
pub async fn set_plan(
    store: &Store,
    plan_ref: &str,
    mode: &str,
    due_days: u32,
    now: DateTime<Utc>,
) -> Result<PlanUsage> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    let mode = mode.trim().to_ascii_lowercase().replace('_', "-");
    if !MODES.contains(&mode.as_str()) {
        return Err(Error::Invalid(format!(
            "--mode {mode:?} is not known: use postpaid (module usage billed on the 1st), month-end (module usage collected on the last day) or pushed (usage import only)"
        )));
    }
    if due_days > 365 {
        return Err(Error::Invalid(format!(
            "--due-days {due_days} is more than a year: give 0 to 365"
        )));
    }
    let _turn = store.write_turn().await;
    usage_plan::Entity::insert(usage_plan::ActiveModel {
        plan_id: Set(plan.id),
        mode: Set(mode),
        due_days: Set(due_days as i32),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(usage_plan::Column::PlanId)
            .update_columns([
                usage_plan::Column::Mode,
                usage_plan::Column::DueDays,
                usage_plan::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(store.db())
    .await
    .map_err(db_err("storing the plan's usage billing"))?;
    drop(_turn);
    show_plan(store, &plan).await
}

/// `usage price PLAN --currency C --unit U --amount X`: the price of one unit.
pub async fn set_price(
    store: &Store,
    plan_ref: &str,
    currency: &str,
    unit: &str,
    amount: &str,
    now: DateTime<Utc>,
) -> Result<PlanUsage> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    let cur = currencies::require(store.db(), currency).await?;
    let unit = check_unit(unit)?;
    let value = money::parse_decimal(amount, "--amount")?;
    if value < Decimal::ZERO {
        return Err(Error::Invalid(format!(
            "--amount {amount} is negative: a unit price is 0 or more"
        )));
    }
    let _turn = store.write_turn().await;
    usage_price::Entity::insert(usage_price::ActiveModel {
        plan_id: Set(plan.id),
        currency: Set(cur.code.clone()),
        unit: Set(unit),
        amount: Set(value.normalize().to_string()),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            usage_price::Column::PlanId,
            usage_price::Column::Currency,
            usage_price::Column::Unit,
        ])
        .update_columns([usage_price::Column::Amount, usage_price::Column::UpdatedAt])
        .to_owned(),
    )
    .exec_without_returning(store.db())
    .await
    .map_err(db_err("storing the unit price"))?;
    drop(_turn);
    show_plan(store, &plan).await
}

/// A unit name: 1 to 40 letters, digits, `_`, `-`, `.`, `/`.
pub fn check_unit(unit: &str) -> Result<String> {
    let u = unit.trim();
    if u.is_empty()
        || u.len() > 40
        || !u
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
    {
        return Err(Error::Invalid(format!(
            "unit {unit:?} is not a unit name: 1 to 40 letters, digits, _ - . /"
        )));
    }
    Ok(u.to_string())
}

/// `usage show PLAN`.
pub async fn show(store: &Store, plan_ref: &str) -> Result<PlanUsage> {
    let plan = lookup::get_plan(store, plan_ref).await?;
    show_plan(store, &plan).await
}

async fn show_plan(store: &Store, plan: &plan::Model) -> Result<PlanUsage> {
    let up = usage_plan::Entity::find()
        .filter(usage_plan::Column::PlanId.eq(plan.id))
        .one(store.db())
        .await
        .map_err(db_err("reading usage plans"))?;
    let prices = usage_price::Entity::find()
        .filter(usage_price::Column::PlanId.eq(plan.id))
        .order_by_asc(usage_price::Column::Currency)
        .order_by_asc(usage_price::Column::Unit)
        .all(store.db())
        .await
        .map_err(db_err("reading unit prices"))?;
    Ok(PlanUsage {
        plan: plan.name.clone(),
        mode: up.as_ref().map(|u| u.mode.clone()),
        due_days: up.map(|u| u.due_days),
        prices: prices
            .into_iter()
            .map(|p| UnitPrice {
                currency: p.currency,
                unit: p.unit,
                amount: p.amount,
            })
            .collect(),
    })
}

/// Unit prices by plan, then currency, then unit.
pub(crate) struct Prices(HashMap<i64, HashMap<String, HashMap<String, Decimal>>>);

impl Prices {
    pub(crate) async fn load<C: ConnectionTrait>(db: &C) -> Result<Prices> {
        let rows = usage_price::Entity::find()
            .all(db)
            .await
            .map_err(db_err("reading unit prices"))?;
        let mut map: HashMap<i64, HashMap<String, HashMap<String, Decimal>>> = HashMap::new();
        for r in rows {
            let v = money::from_db(&r.amount, "unit price")?;
            map.entry(r.plan_id)
                .or_default()
                .entry(r.currency)
                .or_default()
                .insert(r.unit, v);
        }
        Ok(Prices(map))
    }

    pub(crate) fn get(&self, plan_id: i64, currency: &str, unit: &str) -> Option<Decimal> {
        self.0.get(&plan_id)?.get(currency)?.get(unit).copied()
    }
}

/// Usage plans by plan id: (mode, due days).
pub(crate) async fn usage_plans<C: ConnectionTrait>(db: &C) -> Result<HashMap<i64, (String, i32)>> {
    Ok(usage_plan::Entity::find()
        .all(db)
        .await
        .map_err(db_err("reading usage plans"))?
        .into_iter()
        .map(|u| (u.plan_id, (u.mode, u.due_days)))
        .collect())
}

/// Services on usage plans that may have usage for a period starting `ps`: not
/// pending or failed, and not terminated before the period began.
async fn billed_services<C: ConnectionTrait>(
    db: &C,
    plans: &HashMap<i64, (String, i32)>,
    ps: NaiveDate,
    mode: Option<&str>,
    made_before: Option<DateTime<Utc>>,
) -> Result<Vec<service::Model>> {
    let ids: Vec<i64> = plans
        .iter()
        .filter(|(_, (m, _))| mode.is_none_or(|x| m == x))
        .map(|(id, _)| *id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let start = Utc.from_utc_datetime(&ps.and_hms_opt(0, 0, 0).expect("midnight"));
    let mut find = service::Entity::find()
        .filter(service::Column::PlanId.is_in(ids))
        .filter(service::Column::Status.is_not_in(["pending", "failed"]));
    if let Some(end) = made_before {
        find = find.filter(service::Column::CreatedAt.lt(end));
    }
    let rows = find
        .order_by_asc(service::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading services"))?;
    Ok(rows
        .into_iter()
        .filter(|s| s.status != "terminated" || s.updated_at >= start)
        .collect())
}

/// A handler's name for a failure report (its id if it cannot be read).
async fn handler_name<C: ConnectionTrait>(db: &C, id: i64) -> String {
    match provisor_store::entities::handler::Entity::find_by_id(id)
        .one(db)
        .await
    {
        Ok(Some(h)) => h.name,
        _ => format!("#{id}"),
    }
}

fn usage_request(from: NaiveDate, to: NaiveDate) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("period_start".into(), Value::String(from.to_string()));
    m.insert("period_end".into(), Value::String(to.to_string()));
    m
}

fn dec(text: &str, what: &str) -> Result<Decimal> {
    money::parse_decimal(text.trim(), what)
}

/// Month-end collection for `date` (the last day of a month, 23:00 billing time).
pub async fn month_end(rt: &dyn Driver, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    Ok(month_end_collect(rt, date, dry_run, None).await?.0)
}

/// Usage a collection added to a billable item: what a dry run's invoices must count
/// although the collection was rolled back.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    client_id: i64,
    service_id: i64,
    product: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    unit: String,
    quantity: Decimal,
    /// Not rounded: added to the item's amount, then rounded, as the collection does.
    amount: Decimal,
    currency: String,
}

/// [`month_end`], also answering what it added to billable items.
///
/// `made_before` limits it to services made before that time (a past month billed
/// again: only what was live then).
pub(crate) async fn month_end_collect(
    rt: &dyn Driver,
    date: NaiveDate,
    dry_run: bool,
    made_before: Option<DateTime<Utc>>,
) -> Result<(Vec<Event>, Vec<Collected>)> {
    let zone = rt.settings().zone;
    if !is_last_day(date) {
        return Ok((Vec::new(), Vec::new()));
    }
    let store = rt.store();
    let cutoff = zone.month_end_cutoff(date);
    let ps = month_start(date);
    let pe = next_month(date);
    let plans = usage_plans(store.db()).await?;
    let services = billed_services(store.db(), &plans, ps, Some("month-end"), made_before).await?;
    let prices = Prices::load(store.db()).await?;
    let now = rt.clock().now();
    let mut events = Vec::new();
    let mut collected = Vec::new();
    for svc in services {
        let report: provisor_module_api::UsageReport = match rt
            .read_usage(
                svc.id,
                usage_request(prev_month(ps), pe + chrono::Days::new(1)),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                events.push(Event {
                    step: "month_end".into(),
                    client_id: Some(svc.client_id),
                    service_id: Some(svc.id),
                    message: format!(
                        "service #{}: usage could not be read ({e}); nothing collected, the next run tries again",
                        svc.id
                    ),
                    failed: true,
                    handler: Some(handler_name(store.db(), svc.handler_id).await),
                    ..Default::default()
                });
                continue;
            }
        };
        let (ev, got) =
            collect(store, &svc, report, &prices, cutoff, (ps, pe), dry_run, now).await?;
        events.extend(ev);
        collected.extend(got);
    }
    Ok((events, collected))
}

/// When a usage row started, from the module's details.
fn started_at(item: &provisor_module_api::UsageItem) -> Option<DateTime<Utc>> {
    item.details
        .get("period_start")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The product an item belongs to: the description before its first ", ".
fn product_of(item: &provisor_module_api::UsageItem) -> String {
    item.description
        .split(", ")
        .next()
        .unwrap_or(&item.description)
        .trim()
        .to_string()
}

#[allow(clippy::too_many_arguments)]
async fn collect(
    store: &Store,
    svc: &service::Model,
    report: provisor_module_api::UsageReport,
    prices: &Prices,
    cutoff: DateTime<Utc>,
    (ps, pe): (NaiveDate, NaiveDate),
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<(Vec<Event>, Vec<Collected>)> {
    let items: Vec<_> = report
        .items
        .into_iter()
        .filter(|i| started_at(i).is_none_or(|t| t < cutoff))
        .collect();
    if items.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let c = client::Entity::find_by_id(svc.client_id)
        .one(store.db())
        .await
        .map_err(db_err("reading the client"))?
        .ok_or_else(|| Error::NotFound(format!("service #{}'s client is gone", svc.id)))?;
    let cur = currencies::require(store.db(), &c.currency).await?;
    let (tx, turn) = super::begin_for_client(store, c.id).await?;
    let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    for part in keys.chunks(500) {
        for r in usage_item::Entity::find()
            .filter(usage_item::Column::ServiceId.eq(svc.id))
            .filter(usage_item::Column::Key.is_in(part.to_vec()))
            .all(&tx)
            .await
            .map_err(db_err("reading collected usage"))?
        {
            seen.insert(r.key);
        }
    }
    // New items by product, in the order they came.
    let mut by_product: BTreeMap<String, Vec<(provisor_module_api::UsageItem, Decimal, Decimal)>> =
        BTreeMap::new();
    for item in items {
        if !seen.insert(item.key.clone()) {
            continue;
        }
        let what = format!("service #{} usage item {}", svc.id, item.key);
        let qty = dec(&item.quantity, &what)?;
        let amount = match (
            prices.get(svc.plan_id, &cur.code, &item.unit),
            &item.amount,
            &item.rate,
        ) {
            (Some(p), _, _) => qty * p,
            (None, Some(a), _) => dec(a, &what)?,
            (None, None, Some(r)) => qty * dec(r, &what)?,
            (None, None, None) => {
                return Err(Error::Invalid(format!(
                    "{what} has no price: set one with `provisor usage price {} --currency {} --unit {} --amount X`",
                    svc.plan_id, cur.code, item.unit
                )))
            }
        };
        by_product
            .entry(product_of(&item))
            .or_default()
            .push((item, qty, amount));
    }
    let mut events = Vec::new();
    let mut collected = Vec::new();
    for (product, rows) in by_product {
        let qty: Decimal = rows.iter().map(|r| r.1).sum();
        let amount: Decimal = rows.iter().map(|r| r.2).sum();
        let unit = rows[0].0.unit.clone();
        let existing = billable_item::Entity::find()
            .filter(billable_item::Column::ServiceId.eq(svc.id))
            .filter(billable_item::Column::Product.eq(&product))
            .filter(billable_item::Column::PeriodStart.eq(ps))
            .one(&tx)
            .await
            .map_err(db_err("reading billable items"))?;
        let item = match existing {
            Some(b) if b.invoice_id.is_some() => {
                events.push(Event {
                    step: "month_end".into(),
                    client_id: Some(c.id),
                    service_id: Some(svc.id),
                    message: format!(
                        "service #{}: {} new {product} usage row(s) for {} arrived after the month was invoiced; left for the next month's collection",
                        svc.id,
                        rows.len(),
                        month_name(ps)
                    ),
                    ..Default::default()
                });
                continue;
            }
            Some(b) => {
                let q = dec(&b.quantity, "billable item quantity")? + qty;
                let a = money::from_db(&b.amount, "billable item amount")? + amount;
                let mut m: billable_item::ActiveModel = b.into();
                m.quantity = Set(q.normalize().to_string());
                m.amount = Set(cur.text(cur.round(a)));
                m.collected_at = Set(now);
                m.update(&tx)
                    .await
                    .map_err(db_err("updating the billable item"))?
            }
            None => billable_item::ActiveModel {
                client_id: Set(c.id),
                service_id: Set(svc.id),
                product: Set(product.clone()),
                period_start: Set(ps),
                period_end: Set(pe.pred_opt().unwrap_or(pe)),
                unit: Set(unit.clone()),
                quantity: Set(qty.normalize().to_string()),
                amount: Set(cur.text(cur.round(amount))),
                currency: Set(cur.code.clone()),
                invoice_id: Set(None),
                collected_at: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await
            .map_err(db_err("storing the billable item"))?,
        };
        collected.push(Collected {
            client_id: c.id,
            service_id: svc.id,
            product: product.clone(),
            period_start: ps,
            period_end: item.period_end,
            unit: unit.clone(),
            quantity: qty,
            amount,
            currency: cur.code.clone(),
        });
        let n = rows.len();
        let models: Vec<usage_item::ActiveModel> = rows
            .into_iter()
            .map(|(i, q, a)| usage_item::ActiveModel {
                service_id: Set(svc.id),
                key: Set(i.key.clone()),
                billable_item_id: Set(item.id),
                description: Set(i.description.clone()),
                unit: Set(i.unit.clone()),
                quantity: Set(q.normalize().to_string()),
                amount: Set(a.normalize().to_string()),
                started_at: Set(started_at(&i).map(|t| t.to_rfc3339())),
                details: Set(i.details.to_string()),
                ..Default::default()
            })
            .collect();
        for part in models.chunks(200) {
            usage_item::Entity::insert_many(part.to_vec())
                .exec_without_returning(&tx)
                .await
                .map_err(db_err("storing usage items"))?;
        }
        events.push(Event {
            step: "month_end".into(),
            client_id: Some(c.id),
            service_id: Some(svc.id),
            amount: Some(cur.text(cur.round(amount))),
            currency: Some(cur.code.clone()),
            message: format!(
                "{} service #{}: {n} usage row(s) of {product} for {} into billable item #{} ({} {unit}, {})",
                if dry_run { "would collect for" } else { "collected for" },
                svc.id,
                month_name(ps),
                item.id,
                qty.normalize(),
                cur.format(cur.round(amount))
            ),
            ..Default::default()
        });
    }
    if dry_run {
        tx.rollback().await.map_err(db_err("rolling back"))?;
    } else {
        tx.commit()
            .await
            .map_err(db_err("storing billable items"))?;
    }
    drop(turn);
    Ok((events, collected))
}

/// Post-paid usage invoices for `date` (the 1st: the month before).
pub async fn postpaid(rt: &dyn Driver, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    postpaid_with(rt, date, dry_run, &[]).await
}

/// [`postpaid`], counting `pending` collections as if they were stored (a dry run's
/// collection, rolled back, still shows on the invoices it would make).
pub(crate) async fn postpaid_with(
    rt: &dyn Driver,
    date: NaiveDate,
    dry_run: bool,
    pending: &[Collected],
) -> Result<Vec<Event>> {
    if date.day() != 1 {
        return Ok(Vec::new());
    }
    invoice_month(rt, prev_month(date), date, dry_run, pending, None).await
}

/// An imported usage record not yet invoiced: id, client, service, unit, quantity,
/// month, late.
type OpenRecord = (i64, i64, i64, String, String, NaiveDate, bool);

/// One line to bill, before it meets the invoice.
struct Pending {
    line: NewLine,
}

/// A client's invoice, ready to issue.
struct Ready {
    cid: i64,
    lines: Vec<NewLine>,
    due: NaiveDate,
    rec_ids: Vec<i64>,
    bill_ids: Vec<i64>,
}

/// A client's issued invoice.
struct Issued {
    cid: i64,
    inv_id: i64,
    n: usize,
    credit: Decimal,
    rec_ids: Vec<i64>,
    bill_ids: Vec<i64>,
}

/// Adds a collection that was not stored to the client's open billable items, as the
/// collection would have (same item: quantity and amount added, then rounded).
fn merge_pending(
    rows: &mut Vec<billable_item::Model>,
    p: &Collected,
    cur: &Currency,
    now: DateTime<Utc>,
) -> Result<()> {
    let same = rows.iter_mut().find(|b| {
        b.service_id == p.service_id && b.product == p.product && b.period_start == p.period_start
    });
    match same {
        Some(b) => {
            let q = dec(&b.quantity, "billable item quantity")? + p.quantity;
            let a = money::from_db(&b.amount, "billable item amount")? + p.amount;
            b.quantity = q.normalize().to_string();
            b.amount = cur.text(cur.round(a));
        }
        None => rows.push(billable_item::Model {
            id: 0,
            client_id: p.client_id,
            service_id: p.service_id,
            product: p.product.clone(),
            period_start: p.period_start,
            period_end: p.period_end,
            unit: p.unit.clone(),
            quantity: p.quantity.normalize().to_string(),
            amount: cur.text(cur.round(p.amount)),
            currency: p.currency.clone(),
            invoice_id: None,
            collected_at: now,
        }),
    }
    Ok(())
}

/// Sets `invoice_id` on rows of `table` (`usage_records` or `billable_items`) from
/// (row id, invoice id) pairs, 1,000 rows per statement joined to a `VALUES` list.
///
/// The values are integers this run read from the database (never input), written as
/// literals: a `VALUES` list of bound pairs is not something sea-query builds into an
/// `UPDATE … FROM`, and literals keep one statement per 1,000 rows. The text differs per
/// backend because SQLite cannot name a `VALUES` list's columns (they are `column1`,
/// `column2`) and does not take the `AS t` alias PostgreSQL's form uses.
async fn mark_invoiced<C: ConnectionTrait>(
    db: &C,
    table: &str,
    pairs: &[(i64, i64)],
) -> std::result::Result<(), sea_orm::DbErr> {
    use std::fmt::Write;
    for part in pairs.chunks(1000) {
        let mut list = String::with_capacity(part.len() * 16);
        for (k, (id, inv)) in part.iter().enumerate() {
            let sep = if k == 0 { "" } else { "," };
            let _ = write!(list, "{sep}({id},{inv})");
        }
        let sql = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!(
                "UPDATE {table} AS t SET invoice_id = v.inv FROM (VALUES {list}) AS v(id, inv) WHERE t.id = v.id"
            ),
            _ => format!(
                "UPDATE {table} SET invoice_id = v.column2 FROM (VALUES {list}) AS v WHERE {table}.id = v.column1"
            ),
        };
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Takes the chunk's clients' row locks in one statement per 10,000 clients (bound
/// ids), in id order (PostgreSQL only: SQLite has no row locks, and its single writer,
/// taken by `BEGIN IMMEDIATE`, already excludes everyone else).
async fn lock_clients<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<()> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres || ids.is_empty() {
        return Ok(());
    }
    for part in ids.chunks(10_000) {
        client::Entity::find()
            .select_only()
            .column(client::Column::Id)
            .filter(client::Column::Id.is_in(part.to_vec()))
            .order_by_asc(client::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .all(db)
            .await
            .map_err(db_err("locking the clients for billing"))?;
    }
    Ok(())
}

/// The clients among `ids` with credit (a balance above zero) in their currency:
/// the chunk's credit entries in one query.
async fn with_credit<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    clients: &HashMap<i64, client::Model>,
) -> Result<HashSet<i64>> {
    let mut balance: HashMap<i64, Decimal> = HashMap::new();
    for part in ids.chunks(10_000) {
        for r in credit_entry::Entity::find()
            .filter(credit_entry::Column::ClientId.is_in(part.to_vec()))
            .all(db)
            .await
            .map_err(db_err("reading the credit ledger"))?
        {
            if clients.get(&r.client_id).map(|c| &c.currency) != Some(&r.currency) {
                continue;
            }
            *balance.entry(r.client_id).or_default() +=
                money::from_db(&r.amount, &format!("credit entry #{}", r.id))?;
        }
    }
    Ok(balance
        .into_iter()
        .filter(|(_, b)| *b > Decimal::ZERO)
        .map(|(c, _)| c)
        .collect())
}

/// Issues a run of clients' invoices together ([`invoices::issue_batch`]).
#[allow(clippy::too_many_arguments)]
async fn issue_run<C: ConnectionTrait>(
    db: &C,
    run: Vec<Ready>,
    clients: &HashMap<i64, client::Model>,
    curs: &HashMap<String, Currency>,
    pe: NaiveDate,
    now: DateTime<Utc>,
    issued: &mut Vec<Issued>,
    made_invoices: &mut HashMap<i64, invoice::Model>,
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let mut batch = Vec::with_capacity(run.len());
    let mut rest = Vec::with_capacity(run.len());
    for r in run {
        let c = &clients[&r.cid];
        rest.push((r.cid, r.lines.len(), r.rec_ids, r.bill_ids));
        batch.push(invoices::BatchInvoice {
            client: c,
            cur: &curs[&c.currency],
            lines: r.lines,
            due_date: r.due,
        });
    }
    let made = invoices::issue_batch(db, batch, pe, now).await?;
    for (inv, (cid, n, rec_ids, bill_ids)) in made.into_iter().zip(rest) {
        issued.push(Issued {
            cid,
            inv_id: inv.id,
            n,
            credit: Decimal::ZERO,
            rec_ids,
            bill_ids,
        });
        made_invoices.insert(inv.id, inv);
    }
    Ok(())
}

/// Invoices every client with usage for the month `[ps, pe)` on `pe`, one invoice per
/// client and period, in chunks of clients with one transaction per chunk.
///
/// Only the ids of the clients to invoice are held for the whole run; each chunk reads
/// what it needs (clients, services, charges, credit, imported usage, billable items)
/// with one query per table. Clients without credit are invoiced together
/// ([`invoices::issue_batch`]: a handful of statements per chunk); a client with credit,
/// or whose invoice totals zero, goes through `insert_draft` + `issue_in`, in client
/// order, so numbers follow the clients as before.
///
/// `made_before` limits it to services made before that time (a past month billed
/// again: only what was live then).
pub(crate) async fn invoice_month(
    rt: &dyn Driver,
    ps: NaiveDate,
    pe: NaiveDate,
    dry_run: bool,
    pending: &[Collected],
    made_before: Option<DateTime<Utc>>,
) -> Result<Vec<Event>> {
    let store = rt.store();
    let plans = usage_plans(store.db()).await?;
    if plans.is_empty() {
        return Ok(Vec::new());
    }
    let plan_ids: Vec<i64> = plans.keys().copied().collect();
    let start = Utc.from_utc_datetime(&ps.and_hms_opt(0, 0, 0).expect("midnight"));
    let done: HashSet<i64> = usage_invoice::Entity::find()
        .select_only()
        .column(usage_invoice::Column::ClientId)
        .filter(usage_invoice::Column::PeriodStart.eq(ps))
        .into_tuple::<i64>()
        .all(store.db())
        .await
        .map_err(db_err("reading usage invoices"))?
        .into_iter()
        .collect();
    // The clients with a service on a usage plan (the services themselves are read
    // per chunk).
    // With `made_before`, only services made before it (never one made since).
    let live = match made_before {
        Some(t) => sea_orm::Condition::all().add(service::Column::CreatedAt.lt(t)),
        None => sea_orm::Condition::all(),
    };
    let todo: Vec<i64> = service::Entity::find()
        .select_only()
        .column(service::Column::ClientId)
        .distinct()
        .filter(service::Column::PlanId.is_in(plan_ids.clone()))
        .filter(service::Column::Status.is_not_in(["pending", "failed"]))
        .filter(live.clone())
        .order_by_asc(service::Column::ClientId)
        .into_tuple::<i64>()
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?
        .into_iter()
        .filter(|c| !done.contains(c))
        .collect();
    drop(done);
    let prices = Prices::load(store.db()).await?;
    let mut curs: HashMap<String, Currency> = HashMap::new();
    let mut tax: HashMap<String, Decimal> = HashMap::new();
    let mut events = Vec::new();
    let stop = stop_after();
    let bar = provisor_store::progress::bar(todo.len() as u64, "invoicing usage (clients)");
    for (chunk_no, chunk_ids) in todo.chunks(rt.settings().chunk).enumerate() {
        bar.inc(chunk_ids.len() as u64);
        if stop == Some(chunk_no) {
            return Err(Error::Storage(format!(
                "stopped after {chunk_no} chunk(s) (PROVISOR_BILLING_STOP_AFTER_CHUNKS)"
            )));
        }
        let mut by_client: BTreeMap<i64, Vec<service::Model>> = BTreeMap::new();
        for s in service::Entity::find()
            .filter(service::Column::ClientId.is_in(chunk_ids.to_vec()))
            .filter(service::Column::PlanId.is_in(plan_ids.clone()))
            .filter(service::Column::Status.is_not_in(["pending", "failed"]))
            .filter(live.clone())
            .order_by_asc(service::Column::Id)
            .all(store.db())
            .await
            .map_err(db_err("reading services"))?
        {
            if s.status != "terminated" || s.updated_at >= start {
                by_client.entry(s.client_id).or_default().push(s);
            }
        }
        let chunk: Vec<(i64, Vec<service::Model>)> = by_client.into_iter().collect();
        if chunk.is_empty() {
            continue;
        }
        let ids: Vec<i64> = chunk.iter().map(|(c, _)| *c).collect();
        let postpaid_ids: Vec<i64> = chunk
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|s| plans.get(&s.plan_id).map(|p| p.0.as_str()) == Some("postpaid"))
            .map(|s| s.id)
            .collect();
        let charged: HashSet<i64> = if postpaid_ids.is_empty() {
            HashSet::new()
        } else {
            usage_charge::Entity::find()
                .select_only()
                .column(usage_charge::Column::ServiceId)
                .filter(usage_charge::Column::PeriodStart.eq(ps))
                .filter(usage_charge::Column::ServiceId.is_in(postpaid_ids))
                .into_tuple::<i64>()
                .all(store.db())
                .await
                .map_err(db_err("reading usage charges"))?
                .into_iter()
                .collect()
        };
        let clients: HashMap<i64, client::Model> = client::Entity::find()
            .filter(client::Column::Id.is_in(ids.clone()))
            .all(store.db())
            .await
            .map_err(db_err("reading clients"))?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        for c in clients.values() {
            if !curs.contains_key(&c.currency) {
                curs.insert(
                    c.currency.clone(),
                    currencies::require(store.db(), &c.currency).await?,
                );
            }
            if !tax.contains_key(&c.country) {
                tax.insert(
                    c.country.clone(),
                    taxes::rate_for(store.db(), &c.country).await?,
                );
            }
        }
        // Module calls happen before the transaction: a slow module holds no lock.
        let mut lines: HashMap<i64, Vec<Pending>> = HashMap::new();
        let mut charges: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut failed: HashSet<i64> = HashSet::new();
        for (cid, svcs) in &chunk {
            let Some(c) = clients.get(cid) else { continue };
            let cur = &curs[&c.currency];
            let rate = tax[&c.country];
            for s in svcs {
                if plans.get(&s.plan_id).map(|p| p.0.as_str()) != Some("postpaid")
                    || charged.contains(&s.id)
                {
                    continue;
                }
                let got: Result<provisor_module_api::UsageReport> =
                    rt.read_usage(s.id, usage_request(ps, pe)).await;
                let report = match got {
                    Ok(r) => r,
                    Err(e) => {
                        failed.insert(*cid);
                        events.push(Event {
                            step: "postpaid".into(),
                            client_id: Some(*cid),
                            service_id: Some(s.id),
                            message: format!(
                                "client #{cid} not invoiced for {}: service #{}'s usage could not be read ({e}); the next run tries again",
                                month_name(ps),
                                s.id
                            ),
                            failed: true,
                            handler: Some(handler_name(rt.store().db(), s.handler_id).await),
                            ..Default::default()
                        });
                        continue;
                    }
                };
                for item in report.items {
                    let what = format!("service #{} usage item {}", s.id, item.key);
                    let qty = dec(&item.quantity, &what)?;
                    let price = match (prices.get(s.plan_id, &cur.code, &item.unit), &item.rate) {
                        (Some(p), _) => p,
                        (None, Some(r)) => dec(r, &what)?,
                        (None, None) => {
                            failed.insert(*cid);
                            events.push(Event {
                                step: "postpaid".into(),
                                client_id: Some(*cid),
                                service_id: Some(s.id),
                                message: format!(
                                    "client #{cid} not invoiced: {what} ({}) has no price in {}; set one with `provisor usage price {} --currency {} --unit {} --amount X`",
                                    item.unit, cur.code, s.plan_id, cur.code, item.unit
                                ),
                                ..Default::default()
                            });
                            continue;
                        }
                    };
                    lines.entry(*cid).or_default().push(Pending {
                        line: NewLine {
                            kind: "usage",
                            description: item.description.clone(),
                            quantity: qty,
                            unit_price: price,
                            tax_rate: rate,
                            service_id: Some(s.id),
                            period: Some((Period::Monthly, ps, pe.pred_opt().unwrap_or(pe))),
                        },
                    });
                }
                charges.entry(*cid).or_default().push(s.id);
            }
        }
        let (tx, turn) = super::begin_write(store).await?;
        lock_clients(&tx, &ids).await?;
        let with_credit = with_credit(&tx, &ids, &clients).await?;
        let already: HashSet<i64> = usage_invoice::Entity::find()
            .filter(usage_invoice::Column::PeriodStart.eq(ps))
            .filter(usage_invoice::Column::ClientId.is_in(ids.clone()))
            .all(&tx)
            .await
            .map_err(db_err("reading usage invoices"))?
            .into_iter()
            .map(|u| u.client_id)
            .collect();
        // Only the columns the invoice needs (the chunk's records are many).
        let records: Vec<OpenRecord> = usage_record::Entity::find()
            .select_only()
            .columns([
                usage_record::Column::Id,
                usage_record::Column::ClientId,
                usage_record::Column::ServiceId,
                usage_record::Column::Unit,
                usage_record::Column::Quantity,
                usage_record::Column::PeriodStart,
                usage_record::Column::Late,
            ])
            .filter(usage_record::Column::ClientId.is_in(ids.clone()))
            .filter(usage_record::Column::InvoiceId.is_null())
            .filter(usage_record::Column::PeriodStart.lt(pe))
            .order_by_asc(usage_record::Column::Id)
            .into_tuple()
            .all(&tx)
            .await
            .map_err(db_err("reading imported usage"))?;
        let mut recs: HashMap<i64, Vec<OpenRecord>> = HashMap::new();
        for r in records {
            recs.entry(r.1).or_default().push(r);
        }
        let items = billable_item::Entity::find()
            .filter(billable_item::Column::ClientId.is_in(ids.clone()))
            .filter(billable_item::Column::InvoiceId.is_null())
            .filter(billable_item::Column::PeriodStart.lt(pe))
            .order_by_asc(billable_item::Column::Id)
            .all(&tx)
            .await
            .map_err(db_err("reading billable items"))?;
        let mut bills: HashMap<i64, Vec<billable_item::Model>> = HashMap::new();
        for b in items {
            bills.entry(b.client_id).or_default().push(b);
        }
        let plan_of: HashMap<i64, i64> = chunk
            .iter()
            .flat_map(|(_, v)| v.iter().map(|s| (s.id, s.plan_id)))
            .collect();
        let now = rt.clock().now();
        let mut made: Vec<usage_invoice::ActiveModel> = Vec::new();
        let mut charge_rows: Vec<usage_charge::ActiveModel> = Vec::new();
        let mut rec_ids: Vec<(i64, i64)> = Vec::new();
        let mut bill_ids: Vec<(i64, i64)> = Vec::new();
        let mut pending_events: Vec<(i64, i64, usize, Decimal)> = Vec::new();
        let mut ready: Vec<Ready> = Vec::new();
        for (cid, svcs) in &chunk {
            if already.contains(cid) || failed.contains(cid) {
                continue;
            }
            let Some(c) = clients.get(cid) else { continue };
            let cur = &curs[&c.currency];
            let rate = tax[&c.country];
            let due_days = svcs
                .first()
                .and_then(|s| plans.get(&s.plan_id))
                .map(|p| p.1)
                .unwrap_or(14);
            let mut new_lines: Vec<NewLine> = lines
                .remove(cid)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.line)
                .collect();
            let mut bill_rows = bills.remove(cid).unwrap_or_default();
            for p in pending.iter().filter(|p| p.client_id == *cid) {
                merge_pending(&mut bill_rows, p, cur, now)?;
            }
            for b in &bill_rows {
                let q = dec(&b.quantity, "billable item quantity")?;
                let amount = money::from_db(&b.amount, "billable item amount")?;
                let plan_id = plan_of.get(&b.service_id).copied().unwrap_or(0);
                let (quantity, unit_price) = match prices.get(plan_id, &cur.code, &b.unit) {
                    Some(p) if cur.round(q * p) == amount => (q, p),
                    _ => (Decimal::ONE, amount),
                };
                new_lines.push(NewLine {
                    kind: "usage",
                    description: format!(
                        "{}, {}: {} {}",
                        b.product,
                        month_name(b.period_start),
                        q.normalize(),
                        b.unit
                    ),
                    quantity,
                    unit_price,
                    tax_rate: rate,
                    service_id: Some(b.service_id),
                    period: Some((Period::Monthly, b.period_start, b.period_end)),
                });
            }
            let rec_rows = recs.remove(cid).unwrap_or_default();
            // Imported usage by (service, unit, month, late).
            let mut groups: BTreeMap<(i64, String, NaiveDate, bool), Decimal> = BTreeMap::new();
            for (_, _, service_id, unit, quantity, period_start, late) in &rec_rows {
                let q = dec(quantity, "usage record quantity")?;
                *groups
                    .entry((*service_id, unit.clone(), *period_start, *late))
                    .or_default() += q;
            }
            for ((sid, unit, start, late), q) in groups {
                let plan_id = plan_of.get(&sid).copied().unwrap_or(0);
                let Some(price) = prices.get(plan_id, &cur.code, &unit) else {
                    return Err(Error::Invalid(format!(
                        "imported usage of service #{sid} in {unit} has no price in {}: set one with `provisor usage price {plan_id} --currency {} --unit {unit} --amount X`",
                        cur.code, cur.code
                    )));
                };
                new_lines.push(NewLine {
                    kind: "usage",
                    description: format!(
                        "{}service #{sid}, {}: {} {unit}",
                        if late { "Late usage: " } else { "" },
                        month_name(start),
                        q.normalize()
                    ),
                    quantity: q,
                    unit_price: price,
                    tax_rate: rate,
                    service_id: Some(sid),
                    period: Some((
                        Period::Monthly,
                        start,
                        next_month(start).pred_opt().unwrap_or(start),
                    )),
                });
            }
            if new_lines.is_empty() {
                continue;
            }
            ready.push(Ready {
                cid: c.id,
                lines: new_lines,
                due: pe + chrono::Days::new(due_days.max(0) as u64),
                rec_ids: rec_rows.iter().map(|r| r.0).collect(),
                // Items a dry run only would have collected have no row (id 0).
                bill_ids: bill_rows
                    .iter()
                    .map(|b| b.id)
                    .filter(|id| *id != 0)
                    .collect(),
            });
        }
        // Runs of clients without credit are issued together; a client with credit (or
        // a zero invoice) is issued on its own, in client order.
        let mut issued: Vec<Issued> = Vec::with_capacity(ready.len());
        let mut made_invoices: HashMap<i64, invoice::Model> = HashMap::new();
        let mut single_ids: Vec<i64> = Vec::new();
        let mut run: Vec<Ready> = Vec::new();
        for r in ready {
            let c = &clients[&r.cid];
            let cur = &curs[&c.currency];
            let alone = with_credit.contains(&c.id)
                || invoices::lines_total(&r.lines, cur) <= Decimal::ZERO;
            if !alone {
                run.push(r);
                continue;
            }
            issue_run(
                &tx,
                std::mem::take(&mut run),
                &clients,
                &curs,
                pe,
                now,
                &mut issued,
                &mut made_invoices,
            )
            .await?;
            let n = r.lines.len();
            let inv =
                invoices::insert_draft(&tx, c.id, cur, r.lines, None, Some(r.due), now).await?;
            let applied =
                invoices::issue_in(&tx, inv.clone(), c, cur, pe, now, rt.settings()).await?;
            let credit: Decimal = applied
                .iter()
                .filter(|a| a.invoice_id == inv.id)
                .filter_map(|a| money::from_db(&a.amount, "applied").ok())
                .sum();
            single_ids.push(inv.id);
            issued.push(Issued {
                cid: c.id,
                inv_id: inv.id,
                n,
                credit,
                rec_ids: r.rec_ids,
                bill_ids: r.bill_ids,
            });
        }
        issue_run(
            &tx,
            run,
            &clients,
            &curs,
            pe,
            now,
            &mut issued,
            &mut made_invoices,
        )
        .await?;
        for i in issued {
            made.push(usage_invoice::ActiveModel {
                client_id: Set(i.cid),
                period_start: Set(ps),
                invoice_id: Set(i.inv_id),
                ..Default::default()
            });
            for s in charges.remove(&i.cid).unwrap_or_default() {
                charge_rows.push(usage_charge::ActiveModel {
                    service_id: Set(s),
                    period_start: Set(ps),
                    invoice_id: Set(i.inv_id),
                    ..Default::default()
                });
            }
            rec_ids.extend(i.rec_ids.into_iter().map(|r| (r, i.inv_id)));
            bill_ids.extend(i.bill_ids.into_iter().map(|b| (b, i.inv_id)));
            pending_events.push((i.inv_id, i.cid, i.n, i.credit));
        }
        // Per chunk: the (client, period) keys, the (service, period) charges, and
        // the usage that went on the invoices, each in a few statements.
        for part in made.chunks(1000) {
            usage_invoice::Entity::insert_many(part.to_vec())
                .exec_without_returning(&tx)
                .await
                .map_err(db_err("recording usage invoices"))?;
        }
        for part in charge_rows.chunks(1000) {
            usage_charge::Entity::insert_many(part.to_vec())
                .exec_without_returning(&tx)
                .await
                .map_err(db_err("recording usage charges"))?;
        }
        mark_invoiced(&tx, "usage_records", &rec_ids)
            .await
            .map_err(db_err("marking imported usage invoiced"))?;
        mark_invoiced(&tx, "billable_items", &bill_ids)
            .await
            .map_err(db_err("marking billable items invoiced"))?;
        // Invoices issued on their own may have been paid from credit: read them again.
        for part in single_ids.chunks(1000) {
            for inv in invoice::Entity::find()
                .filter(invoice::Column::Id.is_in(part.to_vec()))
                .all(&tx)
                .await
                .map_err(db_err("reading the usage invoices"))?
            {
                made_invoices.insert(inv.id, inv);
            }
        }
        for (inv_id, cid, n, credit) in pending_events {
            let (Some(inv), Some(c)) = (made_invoices.get(&inv_id), clients.get(&cid)) else {
                continue;
            };
            let cur = &curs[&c.currency];
            let total = money::from_db(&inv.total, "invoice total")?;
            let mut message = format!(
                "{} {} for client #{}: {n} line(s) for {}, {}",
                if dry_run {
                    "would issue invoice"
                } else {
                    "invoice"
                },
                inv.number.clone().unwrap_or_default(),
                c.id,
                month_name(ps),
                cur.format(total)
            );
            if credit > Decimal::ZERO {
                message.push_str(&format!(", {} paid from credit", cur.format(credit)));
            }
            message.push_str(&format!(", status {}", inv.status));
            events.push(Event {
                step: "postpaid".into(),
                client_id: Some(c.id),
                service_id: None,
                invoice: inv.number.clone(),
                amount: Some(cur.text(total)),
                currency: Some(cur.code.clone()),
                message,
                ..Default::default()
            });
        }
        if dry_run {
            tx.rollback().await.map_err(db_err("rolling back"))?;
        } else {
            tx.commit()
                .await
                .map_err(db_err("storing usage invoices"))?;
        }
        drop(turn);
    }
    bar.finish_and_clear();
    Ok(events)
}

/// Billable items of a service (drill-down), with their usage items.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub id: i64,
    pub service_id: i64,
    pub product: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub unit: String,
    pub quantity: String,
    pub amount: String,
    pub currency: String,
    pub invoice_id: Option<i64>,
    pub usage: Vec<UsageRow>,
}

/// One collected usage row.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    pub key: String,
    pub description: String,
    pub quantity: String,
    pub amount: String,
    pub started_at: Option<String>,
}

/// `usage items SERVICE`: the service's billable items with the usage behind each.
pub async fn items(store: &Store, service_id: i64) -> Result<Vec<ItemView>> {
    let rows = billable_item::Entity::find()
        .filter(billable_item::Column::ServiceId.eq(service_id))
        .order_by_asc(billable_item::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading billable items"))?;
    let mut out = Vec::new();
    for b in rows {
        let usage = usage_item::Entity::find()
            .filter(usage_item::Column::BillableItemId.eq(b.id))
            .order_by_asc(usage_item::Column::Id)
            .all(store.db())
            .await
            .map_err(db_err("reading usage items"))?
            .into_iter()
            .map(|u| UsageRow {
                key: u.key,
                description: u.description,
                quantity: u.quantity,
                amount: u.amount,
                started_at: u.started_at,
            })
            .collect();
        out.push(ItemView {
            id: b.id,
            service_id: b.service_id,
            product: b.product,
            period_start: b.period_start,
            period_end: b.period_end,
            unit: b.unit,
            quantity: b.quantity,
            amount: b.amount,
            currency: b.currency,
            invoice_id: b.invoice_id,
            usage,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn month_boundaries() {
        assert!(!is_last_day(d("2026-01-30")));
        assert!(is_last_day(d("2026-01-31")));
        assert!(is_last_day(d("2024-02-29")));
        assert!(!is_last_day(d("2024-02-28")));
        assert!(is_last_day(d("2025-02-28")));
        assert_eq!(prev_month(d("2026-03-01")), d("2026-02-01"));
        assert_eq!(next_month(d("2024-01-31")), d("2024-02-01"));
    }

    #[test]
    fn zones() {
        let off = |raw: &str| match BillingZone::parse(raw).unwrap() {
            BillingZone::Fixed(o) => o.local_minus_utc(),
            z => panic!("{raw} parsed as {z:?}"),
        };
        assert_eq!(off(""), 0);
        assert_eq!(off("UTC"), 0);
        assert_eq!(off("+02:00"), 7200);
        assert_eq!(off("-0530"), -19800);
        assert_eq!(off("UTC+1"), 3600);
        assert!(matches!(
            BillingZone::parse("Europe/Berlin"),
            Ok(BillingZone::Named(chrono_tz::Tz::Europe__Berlin))
        ));
        for bad in ["+25:00", "Europe/Berln", "CEST+", "12"] {
            let e = BillingZone::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Europe/Berlin") && e.contains("+01:00"), "{e}");
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn month_end_cutoff_follows_daylight_saving() {
        let berlin = BillingZone::parse("Europe/Berlin").unwrap();
        let at = |day: &str, h: u32, m: u32| berlin.instant(d(day).and_hms_opt(h, m, 0).unwrap());
        // 23:00 on the last day: CET (+01:00) in January, CEST (+02:00) in March.
        assert_eq!(at("2026-01-31", 23, 0), utc("2026-01-31T22:00:00Z"));
        assert_eq!(at("2026-03-31", 23, 0), utc("2026-03-31T21:00:00Z"));
        assert_eq!(at("2026-10-31", 23, 0), utc("2026-10-31T22:00:00Z"));
        // Clocks go forward at 02:00 on 2026-03-29: 02:30 lands at 03:00 CEST.
        assert_eq!(at("2026-03-29", 2, 30), utc("2026-03-29T01:00:00Z"));
        // Clocks go back at 03:00 on 2026-10-25: 02:30 happens twice, the first counts.
        assert_eq!(at("2026-10-25", 2, 30), utc("2026-10-25T00:30:00Z"));
        // The day an instant falls on, around midnight.
        assert_eq!(berlin.date_of(utc("2026-01-31T23:30:00Z")), d("2026-02-01"));
        assert_eq!(berlin.date_of(utc("2026-07-31T21:59:00Z")), d("2026-07-31"));
        assert_eq!(berlin.date_of(utc("2026-07-31T22:00:00Z")), d("2026-08-01"));
    }
}
