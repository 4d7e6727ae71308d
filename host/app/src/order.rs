//! The order use case: the engine checks and routes the order, billing quotes it, and
//! one transaction writes the service, its `create` operation and (for a priced plan)
//! the invoice the create waits on.

use chrono::NaiveDate;
use sea_orm::TransactionTrait;
use serde_json::{Map, Value};

use crate::audit::{self, Action, Actor};
use provisor_billing::Settings;
use provisor_engine::Ordered;
use provisor_runtime::Runtime;
use provisor_store::db_err;
use provisor_store::error::Result;

/// Orders a plan for a client today (the billing zone's day), for `actor`.
pub async fn order(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    client_ref: &str,
    plan_ref: &str,
    addon_of: Option<i64>,
    options: Map<String, Value>,
) -> Result<Ordered> {
    order_on(
        rt,
        settings,
        actor,
        (client_ref, plan_ref),
        addon_of,
        options,
        None,
    )
    .await
}

/// [`order`], taken on `day` (an order received earlier and entered now, or a day of
/// a simulated timeline, as `cron --date` runs one): a priced plan's invoice is issued
/// on that day and its first period starts then. The `service.order` audit entry is
/// written in the order's transaction.
pub async fn order_on(
    rt: &Runtime,
    settings: &Settings,
    actor: &Actor,
    (client_ref, plan_ref): (&str, &str),
    addon_of: Option<i64>,
    options: Map<String, Value>,
    day: Option<NaiveDate>,
) -> Result<Ordered> {
    let store = &rt.store;
    let order = provisor_engine::check_order(rt, client_ref, plan_ref, addon_of, options).await?;
    // Billing gate: a plan with prices or a deposit is invoiced first (read here,
    // before the transaction); `None` queues the create at once.
    let quote = provisor_billing::orders::quote(store, &order.client, &order.plan).await?;
    let now = rt.clock.now();
    let today = crate::today(&rt.clock, settings);
    let _turn = store.write_turn().await;
    let tx = store.db().begin().await.map_err(db_err("ordering"))?;
    let (svc, op) = provisor_engine::place(&tx, &order, now, settings.max_attempts).await?;
    // The create waits as `awaiting_payment` and the invoice is issued in this
    // transaction; paying it (or credit) queues the create.
    let invoice_id = match quote {
        Some(q) => Some(
            provisor_billing::orders::hold_and_invoice(
                &tx,
                &order.client,
                &svc,
                &op,
                q,
                day.unwrap_or(today),
                now,
                settings,
            )
            .await?,
        ),
        None => None,
    };
    let after = serde_json::json!({
        "status": svc.status,
        "client_id": order.client.id,
        "plan_id": order.plan.id,
        "handler": order.handler.name,
        "addon_of": addon_of,
        "operation_id": op.id,
        "invoice_id": invoice_id,
    });
    let id = Some(svc.id.to_string());
    audit::record(&tx, actor, Action::ServiceOrder, id, None, Some(after), now).await?;
    tx.commit().await.map_err(db_err("ordering"))?;
    Ok(Ordered {
        service_id: svc.id,
        operation_id: op.id,
        handler: order.handler.name,
        invoice_id,
    })
}
