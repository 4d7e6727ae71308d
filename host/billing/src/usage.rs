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

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
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
use super::{currencies, taxes};
use crate::event::Event;
use crate::Driver;
use provisor_store::entities::kinds::InvoiceLineKind;
use provisor_store::entities::status::ServiceStatus;
use provisor_store::entities::{
    billable_item, client, credit_entry, invoice, plan, service, usage_charge, usage_invoice,
    usage_item, usage_plan, usage_price, usage_record,
};
use provisor_store::error::{Error, Fix, Message, Name, Result};
use provisor_store::lookup;
use provisor_store::{db_err, Store};

mod collect;
pub mod import;
mod items;
mod month;

use crate::zone::month_name;
pub use crate::zone::{is_last_day, month_start, next_month, prev_month, BillingZone};
pub use collect::month_end;
pub(crate) use collect::month_end_collect;
pub use items::{items, ItemView, UsageRow};
pub use month::postpaid;
pub(crate) use month::{invoice_month, postpaid_with};

/// How a plan bills usage.
pub const MODES: [&str; 3] = ["postpaid", "month-end", "pushed"];

/// A plan's usage settings as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PlanUsage {
    /// The plan's name.
    pub plan: String,
    /// `postpaid`, `month-end` or `pushed`; `None`: the plan bills no usage.
    pub mode: Option<String>,
    /// Days from the 1st's invoice to its due date, if it bills usage.
    pub due_days: Option<i32>,
    /// Its unit prices.
    pub prices: Vec<UnitPrice>,
}

/// One unit price.
#[derive(Debug, Clone, Serialize)]
pub struct UnitPrice {
    /// The currency code.
    pub currency: String,
    /// The unit priced.
    pub unit: String,
    /// The price of one unit, decimal text.
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
        return Err(Error::invalid(Message::about(
            "mode",
            format!("{mode:?} is not known: use postpaid (module usage billed on the 1st), month-end (module usage collected on the last day) or pushed (usage import only)"),
        )));
    }
    if due_days > 365 {
        return Err(Error::invalid(Message::about(
            "due_days",
            format!("{due_days} is more than a year: give 0 to 365"),
        )));
    }
    let turn = store.write_turn().await;
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
    drop(turn);
    show_plan(store, &plan).await
}

/// The fix for usage in `unit` that has no price on the plan in `currency`: set one.
fn price_fix(plan: i64, currency: &str, unit: &str) -> Fix {
    Fix::PriceUsage {
        plan,
        currency: currency.to_string(),
        unit: unit.to_string(),
    }
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
    let value = money::parse_decimal(amount, Name::Field("amount"))?;
    if value < Decimal::ZERO {
        return Err(Error::invalid(Message::about(
            "amount",
            format!("{amount} is negative: a unit price is 0 or more"),
        )));
    }
    let turn = store.write_turn().await;
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
    drop(turn);
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
        .filter(service::Column::Status.is_not_in([ServiceStatus::Pending, ServiceStatus::Failed]));
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
        .filter(|s| s.status != ServiceStatus::Terminated || s.updated_at >= start)
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
