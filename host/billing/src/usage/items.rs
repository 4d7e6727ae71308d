//! The drill-down of a service's billable items and their usage rows.

use super::*;

/// Billable items of a service (drill-down), with their usage items.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    /// The billable item's row id.
    pub id: i64,
    /// The service.
    pub service_id: i64,
    /// What was used (`Container Small`).
    pub product: String,
    /// The first day of its month.
    pub period_start: NaiveDate,
    /// The last day of its month.
    pub period_end: NaiveDate,
    /// The unit of `quantity`.
    pub unit: String,
    /// Units used in the month, decimal text.
    pub quantity: String,
    /// What it costs, rounded, decimal text in `currency`.
    pub amount: String,
    /// The currency code.
    pub currency: String,
    /// The invoice it was billed on; `None` until then.
    pub invoice_id: Option<i64>,
    /// The usage rows collected into it.
    pub usage: Vec<UsageRow>,
}

/// One collected usage row.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    /// The remote's id for the row.
    pub key: String,
    /// What it is, as the module described it.
    pub description: String,
    /// Units used, decimal text.
    pub quantity: String,
    /// What it costs, unrounded, decimal text.
    pub amount: String,
    /// When the usage began (RFC 3339), if the module said.
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
