//! `usage import FILE`: pushed usage records, all or nothing.
//!
//! The file is a JSON array of records or one record per line (JSON lines):
//! `{"transaction_id": "tx-1", "service_id": 4, "unit": "GB", "quantity": "12.5",
//! "period_start": "2026-01-01"}` (or `"at": "2026-01-17T10:00:00Z"` instead of
//! `period_start`; an optional `description`). Every record is checked first: the
//! service exists and its plan bills usage, the unit is priced for that plan in the
//! client's currency, the quantity is a decimal of 0 or more, the date exists. One bad
//! record refuses the file and nothing is written. A transaction id already imported
//! (or repeated in the file) is skipped: a unique index backs it. Usage for a month
//! already invoiced is kept as **late** and goes on the next usage invoice, flagged.
//! Rows are written in one transaction, in multi-row inserts of [`CHUNK`] rows.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::Value;

use super::{check_unit, month_start, BillingZone, Prices};
use crate::money;
use crate::Settings;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::entities::{client, service, usage_invoice, usage_plan, usage_record};
use provisor_store::error::{Error, Fix, Message, Result};
use provisor_store::{db_err, Store};

/// Rows per multi-row insert.
pub const CHUNK: usize = 2000;

/// Errors listed before the rest are counted.
const MAX_ERRORS: usize = 20;

/// One record to import, checked.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// The sender's id for the record; a record sent twice is imported once.
    pub transaction_id: String,
    /// The service it is of.
    pub service_id: i64,
    /// The unit of `quantity`.
    pub unit: String,
    /// Units used.
    pub quantity: Decimal,
    /// The first day of the usage's month.
    pub period_start: NaiveDate,
    /// A description for the invoice line, if given.
    pub description: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// Records in the file.
    pub records: usize,
    /// Records stored.
    pub inserted: u64,
    /// Transaction ids already imported, or repeated in the file.
    pub duplicates: u64,
    /// Records for a month already invoiced (they go on the next invoice).
    pub late: usize,
    /// How long the import took, in seconds.
    pub secs: f64,
    /// Records read per second.
    pub records_per_sec: f64,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses one record; `at` says where it is in the file.
fn parse_record(v: &Value, at: &str, zone: BillingZone) -> std::result::Result<NewRecord, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{at}: not a JSON object"))?;
    let tid = o
        .get("transaction_id")
        .and_then(text_of)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control))
        .ok_or_else(|| {
            format!("{at}: transaction_id is missing (a string of 1 to 200 characters)")
        })?;
    let sid = o
        .get("service_id")
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .ok_or_else(|| format!("{at} ({tid}): service_id is missing or not a number"))?;
    let unit = o
        .get("unit")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at} ({tid}): unit is missing"))?;
    let unit = check_unit(unit).map_err(|e| format!("{at} ({tid}): {e}"))?;
    let qtext = o.get("quantity").and_then(text_of).ok_or_else(|| {
        format!("{at} ({tid}): quantity is missing (a decimal, as text or number)")
    })?;
    let quantity =
        money::parse_decimal(qtext.trim(), "quantity").map_err(|e| format!("{at} ({tid}): {e}"))?;
    if quantity < Decimal::ZERO {
        return Err(format!("{at} ({tid}): quantity {qtext} is negative"));
    }
    let day = match (
        o.get("period_start").and_then(Value::as_str),
        o.get("at").and_then(Value::as_str),
    ) {
        (Some(p), _) => NaiveDate::parse_from_str(p.trim(), "%Y-%m-%d").map_err(|_| {
            format!("{at} ({tid}): period_start {p:?} is not a date that exists (YYYY-MM-DD)")
        })?,
        (None, Some(t)) => zone.date_of(
            DateTime::parse_from_rfc3339(t.trim())
                .map_err(|_| {
                    format!("{at} ({tid}): at {t:?} is not an RFC 3339 time (2026-01-17T10:00:00Z)")
                })?
                .with_timezone(&Utc),
        ),
        (None, None) => {
            return Err(format!(
                "{at} ({tid}): give period_start (YYYY-MM-DD) or at (RFC 3339)"
            ))
        }
    };
    let description = match o.get("description").and_then(Value::as_str) {
        Some(d) => {
            let n = d.chars().count();
            if n > provisor_store::input::TEXT_MAX {
                return Err(format!(
                    "{at} ({tid}): description is {n} characters long; the limit is {}",
                    provisor_store::input::TEXT_MAX
                ));
            }
            Some(d.replace(|c: char| c.is_control(), " "))
        }
        None => None,
    };
    Ok(NewRecord {
        transaction_id: tid,
        service_id: sid,
        unit,
        quantity,
        period_start: month_start(day),
        description,
    })
}

/// How long before its row was written a service's usage may start: a service
/// imported from a panel (or moved from another system) carries usage from before.
const YEARS_BEFORE_RECORDED: i32 = 10;

/// Whether usage for the month `period` can belong to the service: not after the
/// current month, not after the month a terminated service ended, and not more than
/// [`YEARS_BEFORE_RECORDED`] years before the service was recorded.
fn within_life(
    s: &service::Model,
    period: NaiveDate,
    this_month: NaiveDate,
    zone: BillingZone,
) -> std::result::Result<(), String> {
    if period > this_month {
        return Err(format!(
            "period {period} is in the future (this month is {this_month}); usage is pushed for a month that has begun"
        ));
    }
    if s.status == ServiceStatus::Terminated {
        let ended = month_start(zone.date_of(s.updated_at));
        if period > ended {
            return Err(format!(
                "period {period} is after service #{} was terminated ({ended}); it used nothing then",
                s.id
            ));
        }
    }
    let recorded = month_start(zone.date_of(s.created_at));
    let earliest = recorded
        .with_year(recorded.year() - YEARS_BEFORE_RECORDED)
        .unwrap_or(recorded);
    if period < earliest {
        return Err(format!(
            "period {period} is before service #{}'s life (it was recorded on {}; usage may go back to {earliest}); check the date",
            s.id,
            zone.date_of(s.created_at)
        ));
    }
    Ok(())
}

/// Parses a JSON array or JSON lines; every bad record is reported. The settings'
/// zone gives an `at` its month.
pub fn parse(text: &str, settings: &Settings) -> Result<Vec<NewRecord>> {
    let zone = settings.zone;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    if text.trim_start().starts_with('[') {
        let all: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            Error::Invalid(format!(
                "the file is not a JSON array of records ({e}); nothing was imported"
            ))
        })?;
        for (i, v) in all.iter().enumerate() {
            match parse_record(v, &format!("record {}", i + 1), zone) {
                Ok(r) => out.push(r),
                Err(e) => errors.push(Message::new(e)),
            }
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("line {}", i + 1);
            match serde_json::from_str::<Value>(line) {
                Ok(v) => match parse_record(&v, &at, zone) {
                    Ok(r) => out.push(r),
                    Err(e) => errors.push(Message::new(e)),
                },
                Err(e) => errors.push(Message::new(format!("{at}: not JSON ({e})"))),
            }
        }
    }
    refuse(errors)?;
    Ok(out)
}

fn refuse(errors: Vec<Message>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    let mut msg = Message::new(format!("{n} bad usage record(s); nothing was imported:"));
    for e in errors.into_iter().take(MAX_ERRORS) {
        msg = msg.text("\n  ").then(e);
    }
    if n > MAX_ERRORS {
        msg = msg.text(format!("\n  … and {} more", n - MAX_ERRORS));
    }
    Err(Error::invalid(msg))
}

/// `usage import FILE`.
pub async fn import_file(
    store: &Store,
    path: &std::path::Path,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Imported> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let started = Instant::now();
    let records = parse(&text, settings)?;
    import_records(store, records, now, started, settings).await
}

/// Checks every record, then writes them all in one transaction (or none).
pub async fn import_records(
    store: &Store,
    records: Vec<NewRecord>,
    now: DateTime<Utc>,
    started: Instant,
    settings: &Settings,
) -> Result<Imported> {
    let n = records.len();
    let (services, currency) = services_of(store, &records).await?;
    let plans: HashSet<i64> = usage_plan::Entity::find()
        .all(store.db())
        .await
        .map_err(db_err("reading usage plans"))?
        .into_iter()
        .map(|u| u.plan_id)
        .collect();
    let prices = Prices::load(store.db()).await?;
    let zone = settings.zone;
    let this_month = month_start(zone.date_of(now));
    let errors = record_errors(
        &records, &services, &currency, &plans, &prices, zone, this_month,
    );
    refuse(errors)?;
    // Months already invoiced, per client: their usage is late.
    let mut months: Vec<NaiveDate> = records.iter().map(|r| r.period_start).collect();
    months.sort_unstable();
    months.dedup();
    let invoiced: HashSet<(i64, NaiveDate)> = if months.is_empty() {
        HashSet::new()
    } else {
        usage_invoice::Entity::find()
            .filter(usage_invoice::Column::PeriodStart.is_in(months))
            .all(store.db())
            .await
            .map_err(db_err("reading usage invoices"))?
            .into_iter()
            .map(|u| (u.client_id, u.period_start))
            .collect()
    };
    let mut late = 0;
    let mut seen: HashSet<&str> = HashSet::with_capacity(n);
    let mut rows: Vec<(&NewRecord, i64, bool)> = Vec::with_capacity(n);
    for r in &records {
        if !seen.insert(r.transaction_id.as_str()) {
            continue;
        }
        let s = &services[&r.service_id];
        let is_late = invoiced.contains(&(s.client_id, r.period_start));
        late += usize::from(is_late);
        rows.push((r, s.client_id, is_late));
    }
    drop(seen);
    // Multi-row inserts with bound parameters (10 a row, so a chunk of [`CHUNK`] rows
    // stays under SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement);
    // the values arrive over HTTP, so none is ever written into the SQL text.
    let (tx, turn) = crate::begin_write(store).await?;
    let mut inserted = 0u64;
    for part in rows.chunks(CHUNK) {
        let models = part
            .iter()
            .map(|(r, client_id, is_late)| usage_record::ActiveModel {
                transaction_id: Set(r.transaction_id.clone()),
                service_id: Set(r.service_id),
                client_id: Set(*client_id),
                unit: Set(r.unit.clone()),
                quantity: Set(r.quantity.normalize().to_string()),
                period_start: Set(r.period_start),
                description: Set(r.description.clone()),
                late: Set(*is_late),
                invoice_id: Set(None),
                imported_at: Set(now),
                ..Default::default()
            });
        inserted += usage_record::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(usage_record::Column::TransactionId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await
            .map_err(db_err("storing usage records"))?;
    }
    tx.commit().await.map_err(db_err("storing usage records"))?;
    drop(turn);
    let secs = started.elapsed().as_secs_f64();
    Ok(Imported {
        records: n,
        inserted,
        duplicates: n as u64 - inserted,
        late: late.min(inserted as usize),
        secs,
        records_per_sec: n as f64 / secs.max(1e-9),
    })
}

/// The records' services, and their clients' currencies, by id.
async fn services_of(
    store: &Store,
    records: &[NewRecord],
) -> Result<(HashMap<i64, service::Model>, HashMap<i64, String>)> {
    let mut ids: Vec<i64> = records.iter().map(|r| r.service_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut services: HashMap<i64, service::Model> = HashMap::new();
    for part in ids.chunks(2000) {
        for s in service::Entity::find()
            .filter(service::Column::Id.is_in(part.to_vec()))
            .all(store.db())
            .await
            .map_err(db_err("reading services"))?
        {
            services.insert(s.id, s);
        }
    }
    let mut cids: Vec<i64> = services.values().map(|s| s.client_id).collect();
    cids.sort_unstable();
    cids.dedup();
    let mut currency: HashMap<i64, String> = HashMap::new();
    for part in cids.chunks(2000) {
        for c in client::Entity::find()
            .filter(client::Column::Id.is_in(part.to_vec()))
            .all(store.db())
            .await
            .map_err(db_err("reading clients"))?
        {
            currency.insert(c.id, c.currency);
        }
    }
    Ok((services, currency))
}

/// What is wrong with each record: its service is unknown, the month is outside the
/// service's life, its plan bills no usage, or the unit has no price.
fn record_errors(
    records: &[NewRecord],
    services: &HashMap<i64, service::Model>,
    currency: &HashMap<i64, String>,
    plans: &HashSet<i64>,
    prices: &Prices,
    zone: BillingZone,
    this_month: NaiveDate,
) -> Vec<Message> {
    let mut errors = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let at = || format!("record {} ({})", i + 1, r.transaction_id);
        let Some(s) = services.get(&r.service_id) else {
            errors.push(Message::new(format!(
                "{}: service #{} does not exist",
                at(),
                r.service_id
            )));
            continue;
        };
        if let Err(why) = within_life(s, r.period_start, this_month, zone) {
            errors.push(Message::new(format!("{}: {why}", at())));
            continue;
        }
        if !plans.contains(&s.plan_id) {
            errors.push(
                Message::new(format!(
                    "{}: service #{}'s plan #{} does not bill usage: ",
                    at(),
                    s.id,
                    s.plan_id
                ))
                .fix(Fix::UsageMode {
                    plan: s.plan_id,
                    mode: "pushed",
                }),
            );
            continue;
        }
        let cur = currency.get(&s.client_id).map(String::as_str).unwrap_or("");
        if prices.get(s.plan_id, cur, &r.unit).is_none() {
            errors.push(
                Message::new(format!(
                    "{}: unit {:?} is not known for service #{} (plan #{} has no {} price in {cur}): fix the record or ",
                    at(),
                    r.unit,
                    s.id,
                    s.plan_id,
                    r.unit
                ))
                .fix(super::price_fix(s.plan_id, cur, &r.unit)),
            );
        }
    }
    errors
}
