//! The drill-down of a service's billable items and their usage rows.

use super::*;

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
