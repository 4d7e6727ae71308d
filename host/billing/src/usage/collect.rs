//! Month-end collection: the modules' usage rows that started before 23:00 billing
//! time on a month's last day become billable items, one per (service, product, month).

use super::*;

/// Month-end collection for `date` (the last day of a month, 23:00 billing time).
pub async fn month_end(rt: &dyn Driver, date: NaiveDate, dry_run: bool) -> Result<Vec<Event>> {
    Ok(month_end_collect(rt, date, dry_run, None).await?.0)
}

/// Usage a collection added to a billable item: what a dry run's invoices must count
/// although the collection was rolled back.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    pub(super) client_id: i64,
    pub(super) service_id: i64,
    pub(super) product: String,
    pub(super) period_start: NaiveDate,
    pub(super) period_end: NaiveDate,
    pub(super) unit: String,
    pub(super) quantity: Decimal,
    /// Not rounded: added to the item's amount, then rounded, as the collection does.
    pub(super) amount: Decimal,
    pub(super) currency: String,
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
                    ).into(),
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

/// A usage row to collect, with its quantity and amount.
type Row = (provisor_module_api::UsageItem, Decimal, Decimal);

/// Collects one service's report for the month `[ps, pe)`: the rows that started
/// before `cutoff` and were not collected yet go, per product, into the month's
/// billable item, in one transaction holding the client's lock.
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
    let (tx, turn) = crate::begin_for_client(store, c.id).await?;
    let by_product = new_rows(&tx, svc, items, prices, &cur).await?;
    let into = Target {
        client: &c,
        svc,
        cur: &cur,
        month: (ps, pe),
        dry_run,
        now,
    };
    let mut events = Vec::new();
    let mut collected = Vec::new();
    for (product, rows) in by_product {
        let (event, got) = into.product(&tx, product, rows).await?;
        events.push(event);
        collected.extend(got);
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

/// The rows not collected before, priced, by product, in the order they came.
async fn new_rows<C: ConnectionTrait>(
    tx: &C,
    svc: &service::Model,
    items: Vec<provisor_module_api::UsageItem>,
    prices: &Prices,
    cur: &Currency,
) -> Result<BTreeMap<String, Vec<Row>>> {
    let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    for part in keys.chunks(500) {
        for r in usage_item::Entity::find()
            .filter(usage_item::Column::ServiceId.eq(svc.id))
            .filter(usage_item::Column::Key.is_in(part.to_vec()))
            .all(tx)
            .await
            .map_err(db_err("reading collected usage"))?
        {
            seen.insert(r.key);
        }
    }
    let mut by_product: BTreeMap<String, Vec<Row>> = BTreeMap::new();
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
                return Err(Error::invalid(
                    Message::new(format!("{what} has no price: ")).fix(price_fix(
                        svc.plan_id,
                        &cur.code,
                        &item.unit,
                    )),
                ))
            }
        };
        by_product
            .entry(product_of(&item))
            .or_default()
            .push((item, qty, amount));
    }
    Ok(by_product)
}

/// Where a service's rows are collected: its client, currency and month.
struct Target<'a> {
    client: &'a client::Model,
    svc: &'a service::Model,
    cur: &'a Currency,
    month: (NaiveDate, NaiveDate),
    dry_run: bool,
    now: DateTime<Utc>,
}

impl Target<'_> {
    /// Adds one product's rows to its billable item for the month (made if need be)
    /// and stores the rows; a month already invoiced keeps them for the next one.
    async fn product<C: ConnectionTrait>(
        &self,
        tx: &C,
        product: String,
        rows: Vec<Row>,
    ) -> Result<(Event, Option<Collected>)> {
        let (c, svc, cur, now) = (self.client, self.svc, self.cur, self.now);
        let (ps, pe) = self.month;
        let qty: Decimal = rows.iter().map(|r| r.1).sum();
        let amount: Decimal = rows.iter().map(|r| r.2).sum();
        let unit = rows[0].0.unit.clone();
        let existing = billable_item::Entity::find()
            .filter(billable_item::Column::ServiceId.eq(svc.id))
            .filter(billable_item::Column::Product.eq(&product))
            .filter(billable_item::Column::PeriodStart.eq(ps))
            .one(tx)
            .await
            .map_err(db_err("reading billable items"))?;
        let item = match existing {
            Some(b) if b.invoice_id.is_some() => {
                let event = Event {
                    step: "month_end".into(),
                    client_id: Some(c.id),
                    service_id: Some(svc.id),
                    message: format!(
                        "service #{}: {} new {product} usage row(s) for {} arrived after the month was invoiced; left for the next month's collection",
                        svc.id,
                        rows.len(),
                        month_name(ps)
                    ).into(),
                    ..Default::default()
                };
                return Ok((event, None));
            }
            Some(b) => {
                let q = dec(&b.quantity, "billable item quantity")? + qty;
                let a = money::from_db(&b.amount, "billable item amount")? + amount;
                let mut m: billable_item::ActiveModel = b.into();
                m.quantity = Set(q.normalize().to_string());
                m.amount = Set(cur.text(cur.round(a)));
                m.collected_at = Set(now);
                m.update(tx)
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
            .insert(tx)
            .await
            .map_err(db_err("storing the billable item"))?,
        };
        let collected = Collected {
            client_id: c.id,
            service_id: svc.id,
            product: product.clone(),
            period_start: ps,
            period_end: item.period_end,
            unit: unit.clone(),
            quantity: qty,
            amount,
            currency: cur.code.clone(),
        };
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
                .exec_without_returning(tx)
                .await
                .map_err(db_err("storing usage items"))?;
        }
        let event = Event {
            step: "month_end".into(),
            client_id: Some(c.id),
            service_id: Some(svc.id),
            amount: Some(cur.text(cur.round(amount))),
            currency: Some(cur.code.clone()),
            message: format!(
                "{} service #{}: {n} usage row(s) of {product} for {} into billable item #{} ({} {unit}, {})",
                if self.dry_run { "would collect for" } else { "collected for" },
                svc.id,
                month_name(ps),
                item.id,
                qty.normalize(),
                cur.format(cur.round(amount))
            ).into(),
            ..Default::default()
        };
        Ok((event, Some(collected)))
    }
}
