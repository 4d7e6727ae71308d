//! The rows a month's chunk reads and writes in batches: the clients' services, locks
//! and credit, the invoices issued together, and the usage marked invoiced.

use super::*;

/// An imported usage record not yet invoiced: id, client, service, unit, quantity,
/// month, late.
pub(super) type OpenRecord = (i64, i64, i64, String, String, NaiveDate, bool);

/// One line to bill, before it meets the invoice.
pub(super) struct Pending {
    pub(super) line: NewLine,
}

/// A client's invoice, ready to issue.
pub(super) struct Ready {
    pub(super) cid: i64,
    pub(super) lines: Vec<NewLine>,
    pub(super) due: NaiveDate,
    pub(super) rec_ids: Vec<i64>,
    pub(super) bill_ids: Vec<i64>,
}

/// A client's issued invoice.
pub(super) struct Issued {
    pub(super) cid: i64,
    pub(super) inv_id: i64,
    pub(super) n: usize,
    pub(super) credit: Decimal,
    pub(super) rec_ids: Vec<i64>,
    pub(super) bill_ids: Vec<i64>,
}

/// The services of a chunk's clients that the month may bill: on a usage plan (a key
/// of `plans`), neither pending nor failed, live by `live`, in id order.
///
/// The plan is checked here, not in the statement. With `plan_id IN (…)` beside
/// `client_id IN (…)`, SQLite's planner, which has no statistics, takes the plan's
/// index (`services_plan`, added by m0012) for the more selective one and reads every
/// service of the usage plans for every chunk: the run grew with the square of the
/// clients. Filtered by client and status only, the statement has one index to use,
/// `services_client`, which finds the chunk's own services.
pub(super) async fn chunk_services<C: ConnectionTrait>(
    db: &C,
    chunk_ids: &[i64],
    plans: &HashMap<i64, (String, i32)>,
    live: &sea_orm::Condition,
) -> Result<Vec<service::Model>> {
    Ok(chunk_services_query(chunk_ids, live)
        .all(db)
        .await
        .map_err(db_err("reading services"))?
        .into_iter()
        .filter(|s| plans.contains_key(&s.plan_id))
        .collect())
}

/// The statement of [`chunk_services`].
fn chunk_services_query(
    chunk_ids: &[i64],
    live: &sea_orm::Condition,
) -> sea_orm::Select<service::Entity> {
    service::Entity::find()
        .filter(service::Column::ClientId.is_in(chunk_ids.to_vec()))
        .filter(service::Column::Status.is_not_in([ServiceStatus::Pending, ServiceStatus::Failed]))
        .filter(live.clone())
        .order_by_asc(service::Column::Id)
}

/// Adds a collection that was not stored to the client's open billable items, as the
/// collection would have (same item: quantity and amount added, then rounded).
pub(super) fn merge_pending(
    rows: &mut Vec<billable_item::Model>,
    p: &Collected,
    cur: &Currency,
    now: DateTime<Utc>,
) -> Result<()> {
    let same = rows.iter_mut().find(|b| {
        b.service_id == p.service_id && b.product == p.product && b.period_start == p.period_start
    });
    match same {
        Some(b) => {
            let q = dec(&b.quantity, "billable item quantity")? + p.quantity;
            let a = money::from_db(&b.amount, "billable item amount")? + p.amount;
            b.quantity = q.normalize().to_string();
            b.amount = cur.text(cur.round(a));
        }
        None => rows.push(billable_item::Model {
            id: 0,
            client_id: p.client_id,
            service_id: p.service_id,
            product: p.product.clone(),
            period_start: p.period_start,
            period_end: p.period_end,
            unit: p.unit.clone(),
            quantity: p.quantity.normalize().to_string(),
            amount: cur.text(cur.round(p.amount)),
            currency: p.currency.clone(),
            invoice_id: None,
            collected_at: now,
        }),
    }
    Ok(())
}

/// Sets `invoice_id` on rows of `table` (`usage_records` or `billable_items`) from
/// (row id, invoice id) pairs, 1,000 rows per statement joined to a `VALUES` list.
///
/// The values are integers this run read from the database (never input), written as
/// literals: a `VALUES` list of bound pairs is not something sea-query builds into an
/// `UPDATE … FROM`, and literals keep one statement per 1,000 rows. The text differs per
/// backend because SQLite cannot name a `VALUES` list's columns (they are `column1`,
/// `column2`) and does not take the `AS t` alias PostgreSQL's form uses.
pub(super) async fn mark_invoiced<C: ConnectionTrait>(
    db: &C,
    table: &str,
    pairs: &[(i64, i64)],
) -> std::result::Result<(), sea_orm::DbErr> {
    use std::fmt::Write;
    for part in pairs.chunks(1000) {
        let mut list = String::with_capacity(part.len() * 16);
        for (k, (id, inv)) in part.iter().enumerate() {
            let sep = if k == 0 { "" } else { "," };
            let _ = write!(list, "{sep}({id},{inv})");
        }
        let sql = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!(
                "UPDATE {table} AS t SET invoice_id = v.inv FROM (VALUES {list}) AS v(id, inv) WHERE t.id = v.id"
            ),
            _ => format!(
                "UPDATE {table} SET invoice_id = v.column2 FROM (VALUES {list}) AS v WHERE {table}.id = v.column1"
            ),
        };
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Takes the chunk's clients' row locks in one statement per 10,000 clients (bound
/// ids), in id order (PostgreSQL only: SQLite has no row locks, and its single writer,
/// taken by `BEGIN IMMEDIATE`, already excludes everyone else).
pub(super) async fn lock_clients<C: ConnectionTrait>(db: &C, ids: &[i64]) -> Result<()> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres || ids.is_empty() {
        return Ok(());
    }
    for part in ids.chunks(10_000) {
        client::Entity::find()
            .select_only()
            .column(client::Column::Id)
            .filter(client::Column::Id.is_in(part.to_vec()))
            .order_by_asc(client::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .all(db)
            .await
            .map_err(db_err("locking the clients for billing"))?;
    }
    Ok(())
}

/// The clients among `ids` with credit (a balance above zero) in their currency:
/// the chunk's credit entries in one query.
pub(super) async fn with_credit<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    clients: &HashMap<i64, client::Model>,
) -> Result<HashSet<i64>> {
    let mut balance: HashMap<i64, Decimal> = HashMap::new();
    for part in ids.chunks(10_000) {
        for r in credit_entry::Entity::find()
            .filter(credit_entry::Column::ClientId.is_in(part.to_vec()))
            .all(db)
            .await
            .map_err(db_err("reading the credit ledger"))?
        {
            if clients.get(&r.client_id).map(|c| &c.currency) != Some(&r.currency) {
                continue;
            }
            *balance.entry(r.client_id).or_default() +=
                money::from_db(&r.amount, &format!("credit entry #{}", r.id))?;
        }
    }
    Ok(balance
        .into_iter()
        .filter(|(_, b)| *b > Decimal::ZERO)
        .map(|(c, _)| c)
        .collect())
}

/// Issues a run of clients' invoices together ([`invoices::issue_batch`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn issue_run<C: ConnectionTrait>(
    db: &C,
    run: Vec<Ready>,
    clients: &HashMap<i64, client::Model>,
    curs: &HashMap<String, Currency>,
    pe: NaiveDate,
    now: DateTime<Utc>,
    issued: &mut Vec<Issued>,
    made_invoices: &mut HashMap<i64, invoice::Model>,
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let mut batch = Vec::with_capacity(run.len());
    let mut rest = Vec::with_capacity(run.len());
    for r in run {
        let c = &clients[&r.cid];
        rest.push((r.cid, r.lines.len(), r.rec_ids, r.bill_ids));
        batch.push(invoices::BatchInvoice {
            client: c,
            cur: &curs[&c.currency],
            lines: r.lines,
            due_date: r.due,
        });
    }
    let made = invoices::issue_batch(db, batch, pe, now).await?;
    for (inv, (cid, n, rec_ids, bill_ids)) in made.into_iter().zip(rest) {
        issued.push(Issued {
            cid,
            inv_id: inv.id,
            n,
            credit: Decimal::ZERO,
            rec_ids,
            bill_ids,
        });
        made_invoices.insert(inv.id, inv);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, QueryTrait, Statement};

    /// How SQLite runs `query` on a migrated database: the detail of each step.
    async fn plan_of(store: &Store, query: sea_orm::Select<service::Entity>) -> Vec<String> {
        let built = query.build(DbBackend::Sqlite);
        let values = built.values.map(|v| v.0).unwrap_or_default();
        store
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", built.sql),
                values,
            ))
            .await
            .expect("explain")
            .iter()
            .map(|r| r.try_get::<String>("", "detail").expect("detail"))
            .collect()
    }

    /// A chunk's services are found through their clients, whatever other indexes
    /// `services` has: through the plan's index every chunk read the whole plan.
    #[tokio::test]
    async fn a_chunks_services_are_read_through_the_client_index() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let ids: Vec<i64> = (1..=500).collect();
        for live in [
            sea_orm::Condition::all(),
            sea_orm::Condition::all().add(service::Column::CreatedAt.lt(Utc::now())),
        ] {
            let plan = plan_of(&store, chunk_services_query(&ids, &live)).await;
            assert!(
                plan.iter().any(|d| d.contains("INDEX services_client")),
                "{plan:?}"
            );
        }
    }
}
