//! What staff change in the catalog and billing's tables — clients, departments, plans,
//! prices, deposits, usage prices, currencies, taxes — each recorded in the audit log
//! with its actor. The engine and billing own these transactions, so each entry is
//! written right after the change commits (`docs/audit.md`).
//! Must not: hold the rules; `provisor_engine::catalog` and billing do.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{record_after, Action, Actor};
use provisor_billing::currencies::{self, NewCurrency};
use provisor_billing::{prices, taxes, usage, Currency};
use provisor_engine::catalog::{self, NewPlan, PlanView, PresetView};
use provisor_runtime::registry::Registry;
use provisor_store::entities::{client, department};
use provisor_store::error::Result;
use provisor_store::Store;

/// Adds a client.
pub async fn add_client(
    store: &Store,
    actor: &Actor,
    name: &str,
    email: &str,
    (currency, country): (&str, &str),
    now: DateTime<Utc>,
) -> Result<client::Model> {
    let c = catalog::add_client(store, name, email, currency, country, now).await?;
    let after =
        json!({"name": c.name, "email": c.email, "currency": c.currency, "country": c.country});
    record_after(
        store,
        actor,
        Action::ClientAdd,
        Some(c.id.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(c)
}

/// Adds a department.
pub async fn add_department(
    store: &Store,
    actor: &Actor,
    name: &str,
    email: Option<String>,
    now: DateTime<Utc>,
) -> Result<department::Model> {
    let d = catalog::add_department(store, name, email, now).await?;
    let after = json!({"name": d.name, "email": d.email});
    record_after(
        store,
        actor,
        Action::DepartmentAdd,
        Some(d.name.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(d)
}

/// Adds a plan.
pub async fn add_plan(
    store: &Store,
    registry: &Registry,
    actor: &Actor,
    new: NewPlan,
    now: DateTime<Utc>,
) -> Result<PlanView> {
    let v = catalog::add_plan(store, registry, new, now).await?;
    let after =
        json!({"name": v.name, "module": v.module, "handlers": v.handlers, "addon": v.is_addon});
    record_after(
        store,
        actor,
        Action::PlanAdd,
        Some(v.id.to_string()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(v)
}

/// Creates a handler's module's presets (those in `only`, or all): one `plan.add` entry
/// per plan created.
pub async fn create_presets(
    store: &Store,
    registry: &Registry,
    actor: &Actor,
    handler: &str,
    only: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<PresetView>> {
    let views = catalog::create_presets(store, registry, handler, only, now).await?;
    for v in views.iter().filter(|v| v.status == "created") {
        let after = json!({"name": v.name, "handler": handler, "addon": v.addon, "preset": true});
        record_after(
            store,
            actor,
            Action::PlanAdd,
            Some(v.name.clone()),
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(views)
}

/// Sets (`Some`) or removes (`None`) a plan's price for a currency and period.
pub async fn set_price(
    store: &Store,
    actor: &Actor,
    plan: &str,
    (currency, period): (&str, &str),
    amount: Option<&str>,
    now: DateTime<Utc>,
) -> Result<prices::PlanPrices> {
    let set = prices::set_price(store, plan, currency, period, amount, now).await?;
    let after = json!({"currency": currency.to_uppercase(), "period": period, "amount": amount});
    record_after(
        store,
        actor,
        Action::PlanPrice,
        Some(set.plan.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(set)
}

/// Sets (`Some`) or removes (`None`) a plan's sign-up deposit for a currency.
pub async fn set_deposit(
    store: &Store,
    actor: &Actor,
    plan: &str,
    currency: &str,
    amount: Option<&str>,
    now: DateTime<Utc>,
) -> Result<prices::PlanPrices> {
    let set = prices::set_deposit(store, plan, currency, amount, now).await?;
    let after = json!({"currency": currency.to_uppercase(), "amount": amount});
    record_after(
        store,
        actor,
        Action::PlanDeposit,
        Some(set.plan.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(set)
}

/// Sets a plan's usage billing mode.
pub async fn set_usage_mode(
    store: &Store,
    actor: &Actor,
    plan: &str,
    mode: &str,
    due_days: u32,
    now: DateTime<Utc>,
) -> Result<usage::PlanUsage> {
    let p = usage::set_plan(store, plan, mode, due_days, now).await?;
    let after = json!({"mode": p.mode, "due_days": p.due_days});
    record_after(
        store,
        actor,
        Action::PlanUsage,
        Some(p.plan.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(p)
}

/// Sets a plan's usage unit price in a currency.
pub async fn set_usage_price(
    store: &Store,
    actor: &Actor,
    plan: &str,
    (currency, unit): (&str, &str),
    amount: &str,
    now: DateTime<Utc>,
) -> Result<usage::PlanUsage> {
    let p = usage::set_price(store, plan, currency, unit, amount, now).await?;
    let after = json!({"currency": currency.to_uppercase(), "unit": unit, "amount": amount});
    record_after(
        store,
        actor,
        Action::PlanUsagePrice,
        Some(p.plan.clone()),
        None,
        Some(after),
        now,
    )
    .await?;
    Ok(p)
}

fn currency_json(c: &Currency) -> serde_json::Value {
    json!({"symbol": c.symbol, "minor_units": c.minor_units, "rate": c.rate.to_string(), "rounding": c.rounding, "default": c.is_default})
}

/// Adds a currency.
pub async fn add_currency(
    store: &Store,
    actor: &Actor,
    new: NewCurrency,
    now: DateTime<Utc>,
) -> Result<Currency> {
    let c = currencies::add(store, new, now).await?;
    record_after(
        store,
        actor,
        Action::CurrencyAdd,
        Some(c.code.clone()),
        None,
        Some(currency_json(&c)),
        now,
    )
    .await?;
    Ok(c)
}

/// Changes a currency's rate, rounding or symbol.
pub async fn update_currency(
    store: &Store,
    actor: &Actor,
    code: &str,
    (rate, rounding, symbol): (Option<String>, Option<String>, Option<String>),
    now: DateTime<Utc>,
) -> Result<Currency> {
    let before = currencies::find(store.db(), code)
        .await?
        .map(|c| currency_json(&c));
    let c = currencies::update(store, code, rate, rounding, symbol, now).await?;
    record_after(
        store,
        actor,
        Action::CurrencyUpdate,
        Some(c.code.clone()),
        before,
        Some(currency_json(&c)),
        now,
    )
    .await?;
    Ok(c)
}

/// Sets a country's tax rate.
pub async fn set_tax(
    store: &Store,
    actor: &Actor,
    country: &str,
    rate: &str,
    now: DateTime<Utc>,
) -> Result<taxes::TaxRate> {
    let t = taxes::set(store, country, rate, now).await?;
    record_after(
        store,
        actor,
        Action::TaxSet,
        Some(t.country.clone()),
        None,
        Some(json!({"rate": t.rate})),
        now,
    )
    .await?;
    Ok(t)
}

/// Gives the plan's live services without a billing term one from their next period
/// (see [`provisor_billing::schedule::apply_to_existing`]): one `service.schedule`
/// entry each.
pub async fn apply_to_existing(
    store: &Store,
    actor: &Actor,
    plan: &str,
    today: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<provisor_billing::schedule::Scheduled>> {
    let done = provisor_billing::schedule::apply_to_existing(store, plan, today, now).await?;
    for s in done.iter().filter(|s| s.started) {
        let after = json!({"plan": s.plan, "period": s.period, "next_due": s.next_due});
        let id = Some(s.service_id.to_string());
        record_after(
            store,
            actor,
            Action::ServiceSchedule,
            id,
            None,
            Some(after),
            now,
        )
        .await?;
    }
    Ok(done)
}
