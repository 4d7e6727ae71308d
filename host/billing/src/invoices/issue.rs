//! Issuing: a draft becomes `unpaid` with the next number, its email is queued and
//! the client's credit is applied; `invoices create` and `invoices issue`.

use super::numbers::next_number;
use super::pay::settle;
use super::*;

/// `draft` → `unpaid`: the number, the issue and due dates, the "invoice created"
/// email, then any credit the client has. A zero invoice is paid at once. Callers
/// hold the client's lock.
pub(crate) async fn issue_in<C: ConnectionTrait>(
    db: &C,
    inv: invoice::Model,
    client: &client::Model,
    cur: &Currency,
    issue_date: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<Applied>> {
    if inv.status != InvoiceStatus::Draft {
        return Err(Error::Invalid(format!(
            "invoice {} is {}; only a draft can be issued",
            name_of(&inv),
            inv.status
        )));
    }
    let due = inv
        .due_date
        .unwrap_or(issue_date + chrono::Days::new(DEFAULT_DUE_DAYS));
    if due < issue_date {
        return Err(Error::invalid(
            Message::new(format!(
                "invoice #{} is due on {due}, before its issue date {issue_date}; give a later ",
                inv.id
            ))
            .field("due"),
        ));
    }
    let year = issue_date.year();
    let seq = next_number(db, year).await?;
    let number = format!("{year}-{seq:06}");
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set(InvoiceStatus::Unpaid);
    m.number = Set(Some(number.clone()));
    m.number_year = Set(Some(year));
    m.number_seq = Set(Some(seq));
    m.issue_date = Set(Some(issue_date));
    m.due_date = Set(Some(due));
    m.updated_at = Set(now);
    let inv = m.update(db).await.map_err(db_err("issuing the invoice"))?;
    let view = load_view(db, &inv).await?;
    crate::queue_email(
        db,
        Email {
            kind: EmailKind::InvoiceCreated,
            recipient: client.email.clone(),
            subject: format!(
                "Invoice {number}: {} due {due}",
                cur.format(amount(&inv.total, || number.clone())?)
            ),
            body: format!(
                "Hello {},\n\nyour invoice is ready.\n\n{}",
                client.name,
                render(&view)
            ),
            service_id: inv.service_id,
            dedupe_key: format!("invoice-{}-created", inv.id),
        },
        now,
    )
    .await?;
    let mut applied = Vec::new();
    if amount(&inv.total, || number.clone())?.is_zero() {
        let released = settle(db, &inv, client, cur, now, settings).await?;
        applied.push(Applied {
            invoice_id: inv.id,
            number: inv.number.clone(),
            amount: cur.text(Decimal::ZERO),
            paid: true,
            released_operation: released,
        });
    }
    applied.extend(apply_credit(db, client, cur, issue_date, now, settings).await?);
    Ok(applied)
}

/// Parses `DESCRIPTION;QUANTITY;UNIT_PRICE` (the description may contain `;`).
pub(super) fn parse_line(text: &str, cur: &Currency, tax_rate: Decimal) -> Result<NewLine> {
    let mut parts = text.rsplitn(3, ';');
    let (Some(price), Some(qty), Some(desc)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::invalid(Message::about(
            "line",
            format!(
                "{:?} must look like \"DESCRIPTION;QUANTITY;UNIT_PRICE\", e.g. \"Setup fee;1;25.00\"",
                provisor_store::input::preview(text)
            ),
        )));
    };
    let desc = desc.trim();
    provisor_store::input::check_line(
        "an invoice line's description",
        desc,
        provisor_store::input::TEXT_MAX,
    )?;
    if desc.is_empty() {
        return Err(Error::Invalid(
            "an invoice line's description is empty: give \"DESCRIPTION;QUANTITY;UNIT_PRICE\""
                .into(),
        ));
    }
    let quantity = money::parse_bounded(
        qty,
        "the quantity",
        Decimal::ZERO,
        false,
        Decimal::from(1_000_000),
        4,
    )?;
    let unit_price = cur.parse_amount(price, "the unit price")?;
    if unit_price < Decimal::ZERO {
        return Err(Error::invalid(
            Message::about(
                "line",
                format!(
                    "{:?}: the unit price is negative; ",
                    provisor_store::input::preview(text)
                ),
            )
            .fix(Fix::Credit {
                client: None,
                take: false,
            })
            .text(" instead"),
        ));
    }
    Ok(NewLine {
        kind: InvoiceLineKind::Manual,
        description: desc.to_string(),
        quantity,
        unit_price,
        tax_rate,
        service_id: None,
        period: None,
    })
}

/// `invoices create`: a draft with lines typed in, in the client's currency, taxed at
/// the client's country's rate; issued at once on `issue_on`.
pub async fn create(
    store: &Store,
    client_ref: &str,
    lines: &[String],
    due: Option<NaiveDate>,
    issue_on: Option<NaiveDate>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let c = lookup::get_client(store, client_ref).await?;
    let cur = currencies::require(store.db(), &c.currency)
        .await
        .map_err(|e| {
            Error::invalid(
                Message::new(format!("client #{} pays in {}: ", c.id, c.currency))
                    .then(e.into_message()),
            )
        })?;
    if lines.is_empty() {
        return Err(Error::invalid(
            Message::new("an invoice needs at least one ")
                .field("line")
                .text(" \"DESCRIPTION;QUANTITY;UNIT_PRICE\""),
        ));
    }
    let rate = taxes::rate_for(store.db(), &c.country).await?;
    let parsed = lines
        .iter()
        .map(|l| parse_line(l, &cur, rate))
        .collect::<Result<Vec<_>>>()?;
    if let (Some(d), Some(i)) = (due, issue_on) {
        if d < i {
            return Err(Error::invalid(Message::about(
                "due",
                format!("{d} is before the issue date {i}"),
            )));
        }
    }
    let (tx, _turn) = crate::begin_for_client(store, c.id).await?;
    let inv = insert_draft(&tx, c.id, &cur, parsed, None, due, now).await?;
    if let Some(day) = issue_on {
        issue_in(&tx, inv.clone(), &c, &cur, day, now, settings).await?;
    }
    tx.commit().await.map_err(db_err("storing the invoice"))?;
    show(store, &inv.id.to_string()).await
}

/// `invoices issue`: a draft becomes `unpaid` with the next number of `day`'s year.
pub async fn issue(
    store: &Store,
    reference: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let mut views = issue_many(store, &[reference.to_string()], day, now, settings).await?;
    views
        .pop()
        .ok_or_else(|| Error::Storage("issuing the invoice: nothing was issued".into()))
}

/// `invoices issue A B …`: every invoice is found and checked to be a draft first,
/// then all are issued in one transaction (numbers in the order given), so a bad id
/// anywhere in the list changes nothing. An invoice named twice is issued once.
pub async fn issue_many(
    store: &Store,
    references: &[String],
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<InvoiceView>> {
    let mut found: Vec<invoice::Model> = Vec::new();
    for r in references {
        let inv = find(store.db(), r).await?;
        if !found.iter().any(|f| f.id == inv.id) {
            found.push(inv);
        }
    }
    for inv in &found {
        if inv.status != InvoiceStatus::Draft {
            return Err(Error::Invalid(format!(
                "invoice {} is {}; only a draft can be issued (nothing was issued)",
                name_of(inv),
                inv.status
            )));
        }
    }
    let mut clients: Vec<client::Model> = Vec::new();
    let mut curs: Vec<Currency> = Vec::new();
    for inv in &found {
        clients.push(client_of(store.db(), inv.client_id).await?);
        curs.push(currencies::require(store.db(), &inv.currency).await?);
    }
    let (tx, _turn) = crate::begin_write(store).await?;
    // Every client's lock, in id order, so two multi-invoice runs cannot deadlock.
    let mut ids: Vec<i64> = clients.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        crate::lock_client(&tx, id).await?;
    }
    for ((inv, c), cur) in found.iter().zip(&clients).zip(&curs) {
        // Read again under the lock: another process may have issued it meanwhile.
        let inv = find(&tx, &inv.id.to_string()).await?;
        issue_in(&tx, inv, c, cur, day, now, settings).await?;
    }
    tx.commit().await.map_err(db_err("issuing the invoices"))?;
    let mut views = Vec::new();
    for inv in &found {
        views.push(show(store, &inv.id.to_string()).await?);
    }
    Ok(views)
}
