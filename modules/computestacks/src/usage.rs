//! Usage: the user's `billing_usages` in the period, read page by page, one billed
//! item per row.

use provisor_module_api::serde_json::{json, Value};
use provisor_module_api::*;

use crate::*;

/// Usage rows asked for per page (the controller's default is 30).
const USAGE_PER_PAGE: u32 = 100;
/// A bound on usage pages read for one period, against a reply that never ends.
const MAX_USAGE_PAGES: u32 = 1_000;

impl ComputeStacks {
    /// The usage report for a period: see [`Module::usage`].
    pub(crate) fn usage_report(&self, request: &UsageRequest) -> Result<UsageReport, ModuleError> {
        let service = &request.service;
        let period = |text: &str, which: &str| {
            text::parse_time(text).ok_or_else(|| {
                ModuleError::permanent(format!(
                    "usage for service #{}: the host sent {which} {text:?}, not a YYYY-MM-DD date",
                    service.id
                ))
            })
        };
        let start = period(&request.period_start, "period_start")?;
        let end = period(&request.period_end, "period_end")?;
        let id = self.require_user_id(service)?;
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let what = format!(
                "read usage of ComputeStacks user {id} (GET /api/admin/users/{id}/billing_usages page {page})"
            );
            let path = format!("users/{id}/billing_usages?page={page}&per_page={USAGE_PER_PAGE}");
            let reply = self.send(&what, &self.api("GET", &path))?;
            if record_missing(&reply) {
                return Err(Self::gone(service, id));
            }
            let reply = self.check(&what, reply)?;
            let rows = Self::user_rows(&what, &reply, "billing_usages")?;
            // ASSUMPTION: rows come newest first (`order(created_at: :desc)`) and are
            // recorded after their period starts, so once a whole page was created
            // before the period, no later page holds a row of it.
            let mut all_older = !rows.is_empty();
            for row in &rows {
                let bad = |field: &str| {
                    ModuleError::transient(format!("{what}: a usage row has no readable {field}"))
                        .with_detail(excerpt(&row.to_string(), 300))
                };
                let row_id = match row.get("id") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(bad("id")),
                };
                let ps = row
                    .get("period_start")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time)
                    .ok_or_else(|| bad("period_start"))?;
                let created = row
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time);
                if created.is_none_or(|c| c >= start) {
                    all_older = false;
                }
                if ps < start || ps >= end {
                    continue;
                }
                let pe = row
                    .get("period_end")
                    .and_then(Value::as_str)
                    .and_then(text::parse_time)
                    .ok_or_else(|| bad("period_end"))?;
                let quantity = row.get("qty").and_then(decimal).ok_or_else(|| bad("qty"))?;
                let rate = row.get("rate").and_then(decimal);
                let amount = row.get("total").and_then(decimal);
                let product = row
                    .pointer("/subscription_product/product")
                    .or_else(|| row.get("product"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let product_name = ["name", "label"]
                    .iter()
                    .find_map(|k| product.get(*k).and_then(Value::as_str))
                    .unwrap_or("ComputeStacks usage")
                    .to_string();
                items.push(UsageItem {
                    key: row_id,
                    description: format!(
                        "{product_name}, {} to {}",
                        text::short_time(ps),
                        text::short_time(pe)
                    ),
                    unit: "hour".into(),
                    quantity,
                    rate,
                    amount,
                    details: json!({
                        "period_start": format_time(ps),
                        "period_end": format_time(pe),
                        "rate_period": row.get("rate_period").cloned().unwrap_or(Value::Null),
                        "qty_total": row.get("qty_total").and_then(decimal),
                        "processed": row.get("processed").cloned().unwrap_or(Value::Null),
                        "external_id": row.get("external_id").cloned().unwrap_or(Value::Null),
                        "product_id": product.get("id").cloned().unwrap_or(Value::Null),
                        "subscription_product_id": row.pointer("/subscription_product/id").cloned().unwrap_or(Value::Null),
                        "cs_user_id": id,
                    }),
                });
            }
            match next_page(&reply, page, rows.len()) {
                Some(next) if !all_older && next <= MAX_USAGE_PAGES => page = next,
                Some(_) if !all_older => {
                    return Err(ModuleError::permanent(format!(
                        "read usage of ComputeStacks user {id}: more than {MAX_USAGE_PAGES} pages of usage rows; ask the controller's admin to prune them"
                    )))
                }
                _ => break,
            }
        }
        // Oldest first, as an invoice reads.
        items.reverse();
        Ok(UsageReport { items })
    }
}
