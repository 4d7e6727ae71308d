//! The month's usage invoices: on the 1st, one invoice per client for the month
//! before (post-paid module lines, billable items, imported usage), in chunks of
//! clients with one transaction per chunk.

use std::fmt::Write as _;

use super::*;

use super::collect::Collected;

mod batch;

use batch::{
    chunk_services, issue_run, lock_clients, mark_invoiced, merge_pending, with_credit, Issued,
    OpenRecord, Pending, Ready,
};

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

/// What every chunk of a month's run shares: the month, the usage plans and prices,
/// and the currencies and tax rates read so far.
struct MonthRun<'a> {
    rt: &'a dyn Driver,
    ps: NaiveDate,
    pe: NaiveDate,
    dry_run: bool,
    pending: &'a [Collected],
    plans: HashMap<i64, (String, i32)>,
    /// With `made_before`, only services made before it (never one made since).
    live: sea_orm::Condition,
    /// The month's first instant: a service terminated before it is not billed.
    start: DateTime<Utc>,
    prices: Prices,
    curs: HashMap<String, Currency>,
    tax: HashMap<String, Decimal>,
}

/// A chunk's clients and what is read for them before its transaction.
struct Chunk {
    /// The clients, in id order, each with its billed services.
    services: Vec<(i64, Vec<service::Model>)>,
    ids: Vec<i64>,
    clients: HashMap<i64, client::Model>,
    /// Post-paid services already charged for the month.
    charged: HashSet<i64>,
}

/// The modules' usage for a chunk: lines and post-paid services charged, per client,
/// and the clients left out because a read failed.
#[derive(Default)]
struct ModuleUsage {
    lines: HashMap<i64, Vec<Pending>>,
    charges: HashMap<i64, Vec<i64>>,
    failed: HashSet<i64>,
}

/// What a chunk's transaction reads under the clients' locks.
struct Open {
    with_credit: HashSet<i64>,
    /// Clients invoiced for the month meanwhile.
    already: HashSet<i64>,
    recs: HashMap<i64, Vec<OpenRecord>>,
    bills: HashMap<i64, Vec<billable_item::Model>>,
    plan_of: HashMap<i64, i64>,
}

/// A chunk's issued invoices: in issue order, by id, and those issued one at a time
/// (which credit may have paid).
#[derive(Default)]
struct Made {
    issued: Vec<Issued>,
    invoices: HashMap<i64, invoice::Model>,
    single_ids: Vec<i64>,
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
    let live = match made_before {
        Some(t) => sea_orm::Condition::all().add(service::Column::CreatedAt.lt(t)),
        None => sea_orm::Condition::all(),
    };
    let todo = clients_to_invoice(store.db(), ps, &plan_ids, &live).await?;
    let prices = Prices::load(store.db()).await?;
    let mut run = MonthRun {
        rt,
        ps,
        pe,
        dry_run,
        pending,
        plans,
        live,
        start,
        prices,
        curs: HashMap::new(),
        tax: HashMap::new(),
    };
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
        let Some(chunk) = run.read_chunk(chunk_ids).await? else {
            continue;
        };
        let usage = run.read_usage(&chunk, &mut events).await?;
        run.write_chunk(chunk, usage, &mut events).await?;
    }
    bar.finish_and_clear();
    Ok(events)
}

/// The clients with a service on a usage plan not yet invoiced for the month, in id
/// order (the services themselves are read per chunk).
async fn clients_to_invoice<C: ConnectionTrait>(
    db: &C,
    ps: NaiveDate,
    plan_ids: &[i64],
    live: &sea_orm::Condition,
) -> Result<Vec<i64>> {
    let done: HashSet<i64> = usage_invoice::Entity::find()
        .select_only()
        .column(usage_invoice::Column::ClientId)
        .filter(usage_invoice::Column::PeriodStart.eq(ps))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map_err(db_err("reading usage invoices"))?
        .into_iter()
        .collect();
    Ok(service::Entity::find()
        .select_only()
        .column(service::Column::ClientId)
        .distinct()
        .filter(service::Column::PlanId.is_in(plan_ids.to_vec()))
        .filter(service::Column::Status.is_not_in([ServiceStatus::Pending, ServiceStatus::Failed]))
        .filter(live.clone())
        .order_by_asc(service::Column::ClientId)
        .into_tuple::<i64>()
        .all(db)
        .await
        .map_err(db_err("reading services"))?
        .into_iter()
        .filter(|c| !done.contains(c))
        .collect())
}

impl MonthRun<'_> {
    fn is_postpaid(&self, s: &service::Model) -> bool {
        self.plans.get(&s.plan_id).map(|p| p.0.as_str()) == Some("postpaid")
    }

    /// Reads a chunk's services, post-paid charges already made, clients, and their
    /// currencies and tax rates (`None`: none of its clients has a service to bill).
    async fn read_chunk(&mut self, chunk_ids: &[i64]) -> Result<Option<Chunk>> {
        let db = self.rt.store().db();
        let mut by_client: BTreeMap<i64, Vec<service::Model>> = BTreeMap::new();
        for s in chunk_services(db, chunk_ids, &self.plans, &self.live).await? {
            if s.status != ServiceStatus::Terminated || s.updated_at >= self.start {
                by_client.entry(s.client_id).or_default().push(s);
            }
        }
        let services: Vec<(i64, Vec<service::Model>)> = by_client.into_iter().collect();
        if services.is_empty() {
            return Ok(None);
        }
        let ids: Vec<i64> = services.iter().map(|(c, _)| *c).collect();
        let postpaid_ids: Vec<i64> = services
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|s| self.is_postpaid(s))
            .map(|s| s.id)
            .collect();
        let charged: HashSet<i64> = if postpaid_ids.is_empty() {
            HashSet::new()
        } else {
            usage_charge::Entity::find()
                .select_only()
                .column(usage_charge::Column::ServiceId)
                .filter(usage_charge::Column::PeriodStart.eq(self.ps))
                .filter(usage_charge::Column::ServiceId.is_in(postpaid_ids))
                .into_tuple::<i64>()
                .all(db)
                .await
                .map_err(db_err("reading usage charges"))?
                .into_iter()
                .collect()
        };
        let clients: HashMap<i64, client::Model> = client::Entity::find()
            .filter(client::Column::Id.is_in(ids.clone()))
            .all(db)
            .await
            .map_err(db_err("reading clients"))?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        for c in clients.values() {
            if !self.curs.contains_key(&c.currency) {
                self.curs.insert(
                    c.currency.clone(),
                    currencies::require(db, &c.currency).await?,
                );
            }
            if !self.tax.contains_key(&c.country) {
                self.tax
                    .insert(c.country.clone(), taxes::rate_for(db, &c.country).await?);
            }
        }
        Ok(Some(Chunk {
            services,
            ids,
            clients,
            charged,
        }))
    }

    /// Reads the post-paid services' usage from their modules, before the chunk's
    /// transaction: a slow module holds no lock.
    async fn read_usage(&self, chunk: &Chunk, events: &mut Vec<Event>) -> Result<ModuleUsage> {
        let mut usage = ModuleUsage::default();
        for (cid, svcs) in &chunk.services {
            let Some(c) = chunk.clients.get(cid) else {
                continue;
            };
            for s in svcs {
                if !self.is_postpaid(s) || chunk.charged.contains(&s.id) {
                    continue;
                }
                let got: Result<provisor_module_api::UsageReport> = self
                    .rt
                    .read_usage(s.id, usage_request(self.ps, self.pe))
                    .await;
                let report = match got {
                    Ok(r) => r,
                    Err(e) => {
                        usage.failed.insert(*cid);
                        events.push(Event {
                            step: "postpaid".into(),
                            client_id: Some(*cid),
                            service_id: Some(s.id),
                            message: format!(
                                "client #{cid} not invoiced for {}: service #{}'s usage could not be read ({e}); the next run tries again",
                                month_name(self.ps),
                                s.id
                            ).into(),
                            failed: true,
                            handler: Some(handler_name(self.rt.store().db(), s.handler_id).await),
                            ..Default::default()
                        });
                        continue;
                    }
                };
                self.report_lines(c, s, report, &mut usage, events)?;
                usage.charges.entry(*cid).or_default().push(s.id);
            }
        }
        Ok(usage)
    }

    /// A post-paid service's usage report as invoice lines, priced at the plan's unit
    /// price in the client's currency (the module's own rate when the plan has none).
    fn report_lines(
        &self,
        c: &client::Model,
        s: &service::Model,
        report: provisor_module_api::UsageReport,
        usage: &mut ModuleUsage,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let cid = c.id;
        let cur = &self.curs[&c.currency];
        let rate = self.tax[&c.country];
        for item in report.items {
            let what = format!("service #{} usage item {}", s.id, item.key);
            let qty = dec(&item.quantity, &what)?;
            let price = match (
                self.prices.get(s.plan_id, &cur.code, &item.unit),
                &item.rate,
            ) {
                (Some(p), _) => p,
                (None, Some(r)) => dec(r, &what)?,
                (None, None) => {
                    usage.failed.insert(cid);
                    events.push(Event {
                        step: "postpaid".into(),
                        client_id: Some(cid),
                        service_id: Some(s.id),
                        message: Message::new(format!(
                            "client #{cid} not invoiced: {what} ({}) has no price in {}; ",
                            item.unit, cur.code
                        ))
                        .fix(price_fix(s.plan_id, &cur.code, &item.unit)),
                        ..Default::default()
                    });
                    continue;
                }
            };
            usage.lines.entry(cid).or_default().push(Pending {
                line: NewLine {
                    kind: InvoiceLineKind::Usage,
                    description: item.description.clone(),
                    quantity: qty,
                    unit_price: price,
                    tax_rate: rate,
                    service_id: Some(s.id),
                    period: Some((
                        Period::Monthly,
                        self.ps,
                        self.pe.pred_opt().unwrap_or(self.pe),
                    )),
                },
            });
        }
        Ok(())
    }

    /// The chunk's transaction: takes the clients' locks, reads what is still open,
    /// issues the invoices, records them and marks what went on them; a dry run rolls
    /// it all back.
    async fn write_chunk(
        &self,
        chunk: Chunk,
        mut usage: ModuleUsage,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let (tx, turn) = crate::begin_write(self.rt.store()).await?;
        lock_clients(&tx, &chunk.ids).await?;
        let mut open = self.open_rows(&tx, &chunk).await?;
        let now = self.rt.clock().now();
        let ready = self.ready_invoices(&chunk, &mut usage, &mut open, now)?;
        let mut made = self
            .issue_ready(&tx, &chunk.clients, &open.with_credit, ready, now)
            .await?;
        let issued = std::mem::take(&mut made.issued);
        let to_report = self.record_issued(&tx, issued, &mut usage.charges).await?;
        // Invoices issued on their own may have been paid from credit: read them again.
        for part in made.single_ids.chunks(1000) {
            for inv in invoice::Entity::find()
                .filter(invoice::Column::Id.is_in(part.to_vec()))
                .all(&tx)
                .await
                .map_err(db_err("reading the usage invoices"))?
            {
                made.invoices.insert(inv.id, inv);
            }
        }
        self.issued_events(&chunk.clients, &made.invoices, to_report, events)?;
        if self.dry_run {
            tx.rollback().await.map_err(db_err("rolling back"))?;
        } else {
            tx.commit()
                .await
                .map_err(db_err("storing usage invoices"))?;
        }
        drop(turn);
        Ok(())
    }

    /// Under the locks: the clients with credit, those invoiced meanwhile, and their
    /// uninvoiced imported usage and billable items.
    async fn open_rows<C: ConnectionTrait>(&self, tx: &C, chunk: &Chunk) -> Result<Open> {
        let ids = &chunk.ids;
        let with_credit = with_credit(tx, ids, &chunk.clients).await?;
        let already: HashSet<i64> = usage_invoice::Entity::find()
            .filter(usage_invoice::Column::PeriodStart.eq(self.ps))
            .filter(usage_invoice::Column::ClientId.is_in(ids.clone()))
            .all(tx)
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
            .filter(usage_record::Column::PeriodStart.lt(self.pe))
            .order_by_asc(usage_record::Column::Id)
            .into_tuple()
            .all(tx)
            .await
            .map_err(db_err("reading imported usage"))?;
        let mut recs: HashMap<i64, Vec<OpenRecord>> = HashMap::new();
        for r in records {
            recs.entry(r.1).or_default().push(r);
        }
        let items = billable_item::Entity::find()
            .filter(billable_item::Column::ClientId.is_in(ids.clone()))
            .filter(billable_item::Column::InvoiceId.is_null())
            .filter(billable_item::Column::PeriodStart.lt(self.pe))
            .order_by_asc(billable_item::Column::Id)
            .all(tx)
            .await
            .map_err(db_err("reading billable items"))?;
        let mut bills: HashMap<i64, Vec<billable_item::Model>> = HashMap::new();
        for b in items {
            bills.entry(b.client_id).or_default().push(b);
        }
        let plan_of: HashMap<i64, i64> = chunk
            .services
            .iter()
            .flat_map(|(_, v)| v.iter().map(|s| (s.id, s.plan_id)))
            .collect();
        Ok(Open {
            with_credit,
            already,
            recs,
            bills,
            plan_of,
        })
    }

    /// Each client's invoice, ready to issue: the module lines, the billable items
    /// (with what a dry run only collected) and the imported usage. A client already
    /// invoiced, whose usage could not be read, or with nothing to bill, gets none.
    fn ready_invoices(
        &self,
        chunk: &Chunk,
        usage: &mut ModuleUsage,
        open: &mut Open,
        now: DateTime<Utc>,
    ) -> Result<Vec<Ready>> {
        let mut ready = Vec::new();
        for (cid, svcs) in &chunk.services {
            if open.already.contains(cid) || usage.failed.contains(cid) {
                continue;
            }
            let Some(c) = chunk.clients.get(cid) else {
                continue;
            };
            let cur = &self.curs[&c.currency];
            let due_days = svcs
                .first()
                .and_then(|s| self.plans.get(&s.plan_id))
                .map(|p| p.1)
                .unwrap_or(14);
            let mut new_lines: Vec<NewLine> = usage
                .lines
                .remove(cid)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.line)
                .collect();
            let mut bill_rows = open.bills.remove(cid).unwrap_or_default();
            for p in self.pending.iter().filter(|p| p.client_id == *cid) {
                merge_pending(&mut bill_rows, p, cur, now)?;
            }
            self.item_lines(c, &bill_rows, &open.plan_of, &mut new_lines)?;
            let rec_rows = open.recs.remove(cid).unwrap_or_default();
            self.record_lines(c, &rec_rows, &open.plan_of, &mut new_lines)?;
            if new_lines.is_empty() {
                continue;
            }
            ready.push(Ready {
                cid: c.id,
                lines: new_lines,
                due: self.pe + chrono::Days::new(due_days.max(0) as u64),
                rec_ids: rec_rows.iter().map(|r| r.0).collect(),
                // Items a dry run only would have collected have no row (id 0).
                bill_ids: bill_rows
                    .iter()
                    .map(|b| b.id)
                    .filter(|id| *id != 0)
                    .collect(),
            });
        }
        Ok(ready)
    }

    /// A line per billable item: quantity × unit price when the plan's price gives
    /// the item's amount, else one unit of the amount.
    fn item_lines(
        &self,
        c: &client::Model,
        bill_rows: &[billable_item::Model],
        plan_of: &HashMap<i64, i64>,
        new_lines: &mut Vec<NewLine>,
    ) -> Result<()> {
        let cur = &self.curs[&c.currency];
        let rate = self.tax[&c.country];
        for b in bill_rows {
            let q = dec(&b.quantity, "billable item quantity")?;
            let amount = money::from_db(&b.amount, "billable item amount")?;
            let plan_id = plan_of.get(&b.service_id).copied().unwrap_or(0);
            let (quantity, unit_price) = match self.prices.get(plan_id, &cur.code, &b.unit) {
                Some(p) if cur.round(q * p) == amount => (q, p),
                _ => (Decimal::ONE, amount),
            };
            new_lines.push(NewLine {
                kind: InvoiceLineKind::Usage,
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
        Ok(())
    }

    /// A line per (service, unit, month, late) of imported usage.
    fn record_lines(
        &self,
        c: &client::Model,
        rec_rows: &[OpenRecord],
        plan_of: &HashMap<i64, i64>,
        new_lines: &mut Vec<NewLine>,
    ) -> Result<()> {
        let cur = &self.curs[&c.currency];
        let rate = self.tax[&c.country];
        let mut groups: BTreeMap<(i64, String, NaiveDate, bool), Decimal> = BTreeMap::new();
        for (_, _, service_id, unit, quantity, period_start, late) in rec_rows {
            let q = dec(quantity, "usage record quantity")?;
            *groups
                .entry((*service_id, unit.clone(), *period_start, *late))
                .or_default() += q;
        }
        for ((sid, unit, start, late), q) in groups {
            let plan_id = plan_of.get(&sid).copied().unwrap_or(0);
            let Some(price) = self.prices.get(plan_id, &cur.code, &unit) else {
                return Err(Error::invalid(
                    Message::new(format!(
                        "imported usage of service #{sid} in {unit} has no price in {}: ",
                        cur.code
                    ))
                    .fix(price_fix(plan_id, &cur.code, &unit)),
                ));
            };
            new_lines.push(NewLine {
                kind: InvoiceLineKind::Usage,
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
        Ok(())
    }

    /// Issues the chunk's invoices: runs of clients without credit together; a client
    /// with credit (or a zero invoice) on its own, in client order.
    async fn issue_ready<C: ConnectionTrait>(
        &self,
        tx: &C,
        clients: &HashMap<i64, client::Model>,
        with_credit: &HashSet<i64>,
        ready: Vec<Ready>,
        now: DateTime<Utc>,
    ) -> Result<Made> {
        let pe = self.pe;
        let mut made = Made {
            issued: Vec::with_capacity(ready.len()),
            ..Default::default()
        };
        let mut run: Vec<Ready> = Vec::new();
        for r in ready {
            let c = &clients[&r.cid];
            let cur = &self.curs[&c.currency];
            let alone = with_credit.contains(&c.id)
                || invoices::lines_total(&r.lines, cur) <= Decimal::ZERO;
            if !alone {
                run.push(r);
                continue;
            }
            issue_run(
                tx,
                std::mem::take(&mut run),
                clients,
                &self.curs,
                pe,
                now,
                &mut made.issued,
                &mut made.invoices,
            )
            .await?;
            let n = r.lines.len();
            let inv =
                invoices::insert_draft(tx, c.id, cur, r.lines, None, Some(r.due), now).await?;
            let applied =
                invoices::issue_in(tx, inv.clone(), c, cur, pe, now, self.rt.settings()).await?;
            let credit: Decimal = applied
                .iter()
                .filter(|a| a.invoice_id == inv.id)
                .filter_map(|a| money::from_db(&a.amount, "applied").ok())
                .sum();
            made.single_ids.push(inv.id);
            made.issued.push(Issued {
                cid: c.id,
                inv_id: inv.id,
                n,
                credit,
                rec_ids: r.rec_ids,
                bill_ids: r.bill_ids,
            });
        }
        issue_run(
            tx,
            run,
            clients,
            &self.curs,
            pe,
            now,
            &mut made.issued,
            &mut made.invoices,
        )
        .await?;
        Ok(made)
    }

    /// Records the chunk's (client, period) keys and (service, period) charges and
    /// marks the usage that went on the invoices, each in a few statements; answers
    /// (invoice, client, lines, credit) per invoice for its event.
    async fn record_issued<C: ConnectionTrait>(
        &self,
        tx: &C,
        issued: Vec<Issued>,
        charges: &mut HashMap<i64, Vec<i64>>,
    ) -> Result<Vec<(i64, i64, usize, Decimal)>> {
        let ps = self.ps;
        let mut made: Vec<usage_invoice::ActiveModel> = Vec::new();
        let mut charge_rows: Vec<usage_charge::ActiveModel> = Vec::new();
        let mut rec_ids: Vec<(i64, i64)> = Vec::new();
        let mut bill_ids: Vec<(i64, i64)> = Vec::new();
        let mut to_report: Vec<(i64, i64, usize, Decimal)> = Vec::new();
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
            to_report.push((i.inv_id, i.cid, i.n, i.credit));
        }
        for part in made.chunks(1000) {
            usage_invoice::Entity::insert_many(part.to_vec())
                .exec_without_returning(tx)
                .await
                .map_err(db_err("recording usage invoices"))?;
        }
        for part in charge_rows.chunks(1000) {
            usage_charge::Entity::insert_many(part.to_vec())
                .exec_without_returning(tx)
                .await
                .map_err(db_err("recording usage charges"))?;
        }
        mark_invoiced(tx, "usage_records", &rec_ids)
            .await
            .map_err(db_err("marking imported usage invoiced"))?;
        mark_invoiced(tx, "billable_items", &bill_ids)
            .await
            .map_err(db_err("marking billable items invoiced"))?;
        Ok(to_report)
    }

    /// An event per invoice issued (or that would be).
    fn issued_events(
        &self,
        clients: &HashMap<i64, client::Model>,
        made_invoices: &HashMap<i64, invoice::Model>,
        to_report: Vec<(i64, i64, usize, Decimal)>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        for (inv_id, cid, n, credit) in to_report {
            let (Some(inv), Some(c)) = (made_invoices.get(&inv_id), clients.get(&cid)) else {
                continue;
            };
            let cur = &self.curs[&c.currency];
            let total = money::from_db(&inv.total, "invoice total")?;
            let mut message = format!(
                "{} {} for client #{}: {n} line(s) for {}, {}",
                if self.dry_run {
                    "would issue invoice"
                } else {
                    "invoice"
                },
                inv.number.clone().unwrap_or_default(),
                c.id,
                month_name(self.ps),
                cur.format(total)
            );
            if credit > Decimal::ZERO {
                let _ = write!(message, ", {} paid from credit", cur.format(credit));
            }
            let _ = write!(message, ", status {}", inv.status);
            events.push(Event {
                step: "postpaid".into(),
                client_id: Some(c.id),
                service_id: None,
                invoice: inv.number.clone(),
                amount: Some(cur.text(total)),
                currency: Some(cur.code.clone()),
                message: message.into(),
                ..Default::default()
            });
        }
        Ok(())
    }
}
