//! Issuing many clients' invoices in a handful of statements (the monthly usage run).

use super::numbers::reserve_numbers;
use super::*;

/// One invoice of a batch (see [`issue_batch`]).
pub(crate) struct BatchInvoice<'a> {
    pub client: &'a client::Model,
    pub cur: &'a Currency,
    pub lines: Vec<NewLine>,
    pub due_date: NaiveDate,
}

/// Rows per multi-row insert: at most 16 columns × 1000 rows = 16,000 bound
/// parameters, well under SQLite's 32,766 and PostgreSQL's 65,535.
pub(super) const BATCH_ROWS: usize = 1000;

/// Issues many invoices at once, with the same result as [`insert_draft`] +
/// [`issue_in`] for each in turn, in a handful of statements: the batch's numbers
/// from one update of the year's counter (gapless, in batch order), the invoices, their
/// lines and their "invoice created" emails each in multi-row inserts, and one read of
/// the new invoices' ids. Callers hold the clients' locks and pass only invoices that
/// `issue_in` would leave unpaid and untouched: a total above zero, and a client with
/// no credit in the invoice's currency.
pub(crate) async fn issue_batch<C: ConnectionTrait>(
    db: &C,
    batch: Vec<BatchInvoice<'_>>,
    issue_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<invoice::Model>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let year = issue_date.year();
    let prepared = prepare(batch, issue_date)?;
    let first = reserve_numbers(db, year, prepared.len() as i64).await?;
    let models = store_invoices(db, &prepared, year, first, issue_date, now).await?;
    let mut made = Vec::with_capacity(prepared.len());
    let mut line_rows: Vec<invoice_line::ActiveModel> = Vec::new();
    let mut emails: Vec<outbox::ActiveModel> = Vec::with_capacity(prepared.len());
    for ((b, amounts, _), inv) in prepared.into_iter().zip(models) {
        let cur = b.cur;
        let lines: Vec<LineView> = b
            .lines
            .into_iter()
            .zip(&amounts)
            .enumerate()
            .map(|(k, (l, a))| LineView {
                position: k as i32 + 1,
                kind: l.kind,
                description: l.description,
                quantity: l.quantity.normalize().to_string(),
                unit_price: cur.text(l.unit_price),
                net: cur.text(a.net),
                tax_rate: l.tax_rate.normalize().to_string(),
                tax: cur.text(a.tax),
                total: cur.text(a.total),
                service_id: l.service_id,
                period: l.period.map(|p| p.0.as_str().to_string()),
                period_start: l.period.map(|p| p.1),
                period_end: l.period.map(|p| p.2),
            })
            .collect();
        line_rows.extend(lines.iter().map(|l| line_row(inv.id, l)));
        emails.push(created_email(b.client, cur, &inv, b.due_date, lines, now)?);
        made.push(inv);
    }
    for part in line_rows.chunks(BATCH_ROWS) {
        invoice_line::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(db_err("storing the invoice lines"))?;
    }
    drop(line_rows);
    provisor_store::queue::queue_emails(db, emails).await?;
    Ok(made)
}

/// An invoice of the batch with its line amounts and totals.
type Prepared<'a> = (BatchInvoice<'a>, Vec<money::LineAmounts>, money::Totals);

/// Checks every invoice of the batch (lines, due date, a total above zero) and works
/// out its amounts, before anything is written.
fn prepare(batch: Vec<BatchInvoice<'_>>, issue_date: NaiveDate) -> Result<Vec<Prepared<'_>>> {
    let mut prepared = Vec::with_capacity(batch.len());
    for b in batch {
        if b.lines.is_empty() {
            return Err(Error::Invalid("an invoice needs at least one line".into()));
        }
        if b.due_date < issue_date {
            return Err(Error::Invalid(format!(
                "an invoice for client #{} is due on {}, before its issue date {issue_date}",
                b.client.id, b.due_date
            )));
        }
        let amounts: Vec<money::LineAmounts> = b
            .lines
            .iter()
            .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, b.cur))
            .collect();
        let t = money::totals(&amounts, b.cur);
        if t.total <= Decimal::ZERO {
            return Err(Error::Invalid(format!(
                "an invoice for client #{} totals {}: it is issued on its own",
                b.client.id,
                b.cur.text(t.total)
            )));
        }
        prepared.push((b, amounts, t));
    }
    Ok(prepared)
}

/// Stores the batch's invoices, numbered from `first` in batch order, in multi-row
/// inserts, and answers them as stored (only their ids are read back).
async fn store_invoices<C: ConnectionTrait>(
    db: &C,
    prepared: &[Prepared<'_>],
    year: i32,
    first: i64,
    issue_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<invoice::Model>> {
    let last = first + prepared.len() as i64 - 1;
    let mut models: Vec<invoice::Model> = prepared
        .iter()
        .enumerate()
        .map(|(i, (b, _, t))| {
            let seq = first + i as i64;
            invoice::Model {
                id: 0,
                client_id: b.client.id,
                service_id: None,
                number: Some(format!("{year}-{seq:06}")),
                number_year: Some(year),
                number_seq: Some(seq),
                status: InvoiceStatus::Unpaid,
                currency: b.cur.code.clone(),
                subtotal: b.cur.text(t.subtotal),
                tax_total: b.cur.text(t.tax),
                total: b.cur.text(t.total),
                amount_paid: b.cur.text(Decimal::ZERO),
                issue_date: Some(issue_date),
                due_date: Some(b.due_date),
                paid_at: None,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    for part in models.chunks(BATCH_ROWS) {
        let rows = part.iter().map(|m| {
            let mut a: invoice::ActiveModel = m.clone().into();
            a.id = sea_orm::ActiveValue::NotSet;
            a
        });
        invoice::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(db_err("storing the invoices"))?;
    }
    let ids: std::collections::HashMap<i64, i64> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::NumberSeq)
        .column(invoice::Column::Id)
        .filter(invoice::Column::NumberYear.eq(year))
        .filter(invoice::Column::NumberSeq.between(first, last))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await
        .map_err(db_err("reading the new invoices' ids"))?
        .into_iter()
        .collect();
    for m in &mut models {
        let seq = m.number_seq.unwrap_or_default();
        m.id = *ids
            .get(&seq)
            .ok_or_else(|| Error::Storage(format!("invoice {year}-{seq:06} was not stored")))?;
    }
    Ok(models)
}

/// The stored row of a line of invoice `invoice_id`.
fn line_row(invoice_id: i64, l: &LineView) -> invoice_line::ActiveModel {
    invoice_line::ActiveModel {
        invoice_id: Set(invoice_id),
        position: Set(l.position),
        kind: Set(l.kind),
        description: Set(l.description.clone()),
        quantity: Set(l.quantity.clone()),
        unit_price: Set(l.unit_price.clone()),
        net: Set(l.net.clone()),
        tax_rate: Set(l.tax_rate.clone()),
        tax: Set(l.tax.clone()),
        total: Set(l.total.clone()),
        service_id: Set(l.service_id),
        period: Set(l.period.clone()),
        period_start: Set(l.period_start),
        period_end: Set(l.period_end),
        ..Default::default()
    }
}

/// The "invoice created" email of a batch invoice, with the invoice as `issue_in`'s
/// email shows it.
fn created_email(
    client: &client::Model,
    cur: &Currency,
    inv: &invoice::Model,
    due_date: NaiveDate,
    lines: Vec<LineView>,
    now: DateTime<Utc>,
) -> Result<outbox::ActiveModel> {
    let number = inv.number.clone().unwrap_or_default();
    let total = amount(&inv.total, || number.clone())?;
    let due = inv.due_date.unwrap_or(due_date);
    let view = InvoiceView {
        id: inv.id,
        number: inv.number.clone(),
        status: inv.status,
        client_id: client.id,
        client_name: client.name.clone(),
        client_email: client.email.clone(),
        client_country: client.country.clone(),
        service_id: inv.service_id,
        currency: inv.currency.clone(),
        currency_symbol: cur.symbol.clone(),
        subtotal: inv.subtotal.clone(),
        tax_total: inv.tax_total.clone(),
        total: inv.total.clone(),
        amount_paid: inv.amount_paid.clone(),
        amount_due: cur.text(total),
        amount_refunded: cur.text(Decimal::ZERO),
        issue_date: inv.issue_date,
        due_date: inv.due_date,
        paid_at: None,
        created_at: inv.created_at.to_rfc3339(),
        lines,
        payments: Vec::new(),
        cur: Some(cur.clone()),
    };
    Ok(outbox::ActiveModel {
        kind: Set(EmailKind::InvoiceCreated),
        recipient: Set(client.email.clone()),
        subject: Set(format!("Invoice {number}: {} due {due}", cur.format(total))),
        body: Set(format!(
            "Hello {},\n\nyour invoice is ready.\n\n{}",
            client.name,
            render(&view)
        )),
        service_id: Set(inv.service_id),
        dedupe_key: Set(format!("invoice-{}-created", inv.id)),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    })
}
