//! `provisor services order`, billing-aware: a priced plan's order prints its invoice
//! and says that the create waits for payment.

use serde_json::{Map, Value};

use super::args::parse_day;
use super::{output, Ctx};
use provisor_billing::invoices;
use provisor_store::entities::status::InvoiceStatus;
use provisor_store::error::{Error, Result};

/// `services order`, billing-aware: a priced plan's order prints its invoice and says
/// that the create waits for payment. Unpriced plans print what they always did.
pub(crate) async fn order(
    ctx: &Ctx,
    client: String,
    plan: String,
    addon_of: Option<i64>,
    options: Vec<String>,
    date: Option<String>,
    json: bool,
) -> Result<()> {
    let day = date.map(|d| parse_day("--date", &d)).transpose()?;
    let mut chosen = Map::new();
    for item in &options {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Error::Invalid(format!("--option {item:?} must look like KEY=VALUE")))?;
        chosen.insert(k.to_string(), Value::String(v.to_string()));
    }
    let rt = ctx.runtime_without_modules().await?;
    let ordered = provisor_app::order::order_on(
        &rt,
        &ctx.billing,
        &provisor_app::audit::Actor::shell(),
        (&client, &plan),
        addon_of,
        chosen,
        day,
    )
    .await?;
    let invoice = match ordered.invoice_id {
        Some(id) => Some(invoices::show(&rt.store, &id.to_string()).await?),
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&ordered).unwrap_or(Value::Null);
        if let (Some(inv), Value::Object(m)) = (&invoice, &mut v) {
            m.insert(
                "invoice".into(),
                serde_json::json!({
                    "id": inv.id,
                    "number": inv.number,
                    "status": inv.status,
                    "currency": inv.currency,
                    "total": inv.total,
                    "amount_due": inv.amount_due,
                }),
            );
        }
        output::json(&v);
        return Ok(());
    }
    match invoice {
        None => println!(
            "service #{} ordered (handler {}); create operation #{} queued",
            ordered.service_id, ordered.handler, ordered.operation_id
        ),
        Some(inv) if inv.status == InvoiceStatus::Paid => println!(
            "service #{} ordered (handler {}); invoice {} ({} {}) paid from credit; create operation #{} queued",
            ordered.service_id,
            ordered.handler,
            inv.number.clone().unwrap_or_default(),
            inv.total,
            inv.currency,
            ordered.operation_id
        ),
        Some(inv) => {
            let number = inv.number.clone().unwrap_or_default();
            let credit = if inv.amount_due == inv.total {
                String::new()
            } else {
                format!(" of {} {} ({} from credit)", inv.total, inv.currency, inv.amount_paid)
            };
            println!(
                "service #{} ordered (handler {}); invoice {number} issued: {} {} to pay{credit}; create operation #{} waits for payment (`provisor invoices pay {number} --amount {} --reference REF`)",
                ordered.service_id,
                ordered.handler,
                inv.amount_due,
                inv.currency,
                ordered.operation_id,
                inv.amount_due,
            );
        }
    }
    Ok(())
}
