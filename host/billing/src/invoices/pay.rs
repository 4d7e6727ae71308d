//! Payments, credit applied to invoices, cancelling, and overdue reminders.

use std::fmt::Write as _;

use super::view::summary;
use super::*;

/// Marks an invoice paid in full: the "paid" email, deposit lines into credit, and
/// the order's held create queued. Returns that operation.
pub(super) async fn settle<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    client: &client::Model,
    cur: &Currency,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<i64>> {
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set(InvoiceStatus::Paid);
    m.paid_at = Set(Some(now));
    m.updated_at = Set(now);
    let inv = m
        .update(db)
        .await
        .map_err(db_err("marking the invoice paid"))?;
    let number = name_of(&inv);
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .filter(invoice_line::Column::Kind.eq(InvoiceLineKind::Deposit))
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    for l in lines {
        let value = amount(&l.total, || format!("invoice {number} line {}", l.position))?;
        ledger::append(
            db,
            client.id,
            cur,
            value,
            format!("deposit paid with invoice {number}"),
            Some(inv.id),
            None,
            now,
        )
        .await?;
    }
    crate::queue_email(
        db,
        Email {
            kind: EmailKind::InvoicePaid,
            recipient: client.email.clone(),
            subject: format!("Invoice {number} is paid"),
            body: format!(
                "Hello {},\n\nthank you: invoice {number} ({}) is paid in full.\n",
                client.name,
                cur.format(amount(&inv.total, || number.clone())?)
            ),
            service_id: inv.service_id,
            dedupe_key: format!("invoice-{}-paid", inv.id),
        },
        now,
    )
    .await?;
    crate::on_invoice_paid(db, &inv, now, settings).await
}

/// Adds `value` to what has been paid on `inv`; settles it when that reaches the total.
pub(super) async fn add_paid<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    value: Decimal,
    client: &client::Model,
    cur: &Currency,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<(bool, Option<i64>)> {
    let (total, paid) = inv_amounts(inv)?;
    let paid = paid + value;
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.amount_paid = Set(cur.text(paid));
    m.updated_at = Set(now);
    let inv = m
        .update(db)
        .await
        .map_err(db_err("recording the payment"))?;
    if paid >= total {
        Ok((true, settle(db, &inv, client, cur, now, settings).await?))
    } else {
        Ok((false, None))
    }
}

/// Applies the client's credit in `cur` to their unpaid invoices in that currency,
/// oldest due date first, until the credit or the invoices run out. Every step is a
/// `credit` payment on the invoice and a negative ledger entry linked to both.
/// Callers hold the client's lock.
pub(crate) async fn apply_credit<C: ConnectionTrait>(
    db: &C,
    client: &client::Model,
    cur: &Currency,
    today: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<Applied>> {
    let mut out = Vec::new();
    // Each round pays an invoice in full or uses up the credit; a settled invoice may
    // add credit (its deposit), so look again until neither is left.
    loop {
        let balance = ledger::balance(db, client.id, &cur.code).await?;
        if balance <= Decimal::ZERO {
            break;
        }
        let Some(inv) = invoice::Entity::find()
            .filter(invoice::Column::ClientId.eq(client.id))
            .filter(invoice::Column::Status.eq(InvoiceStatus::Unpaid))
            .filter(invoice::Column::Currency.eq(&cur.code))
            .order_by_asc(invoice::Column::DueDate)
            .order_by_asc(invoice::Column::Id)
            .one(db)
            .await
            .map_err(db_err("reading unpaid invoices"))?
        else {
            break;
        };
        let (total, paid) = inv_amounts(&inv)?;
        let value = balance.min(total - paid).max(Decimal::ZERO);
        let number = name_of(&inv);
        let p = payment::ActiveModel {
            invoice_id: Set(inv.id),
            client_id: Set(client.id),
            method: Set("credit".into()),
            reference: Set(None),
            currency: Set(cur.code.clone()),
            amount: Set(cur.text(value)),
            received: Set(cur.text(value)),
            received_on: Set(today),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(db_err("applying credit"))?;
        ledger::append(
            db,
            client.id,
            cur,
            -value,
            format!("applied to invoice {number}"),
            Some(inv.id),
            Some(p.id),
            now,
        )
        .await?;
        let (paid_now, released) = add_paid(db, &inv, value, client, cur, now, settings).await?;
        out.push(Applied {
            invoice_id: inv.id,
            number: inv.number.clone(),
            amount: cur.text(value),
            paid: paid_now,
            released_operation: released,
        });
        if !paid_now {
            break;
        }
    }
    Ok(out)
}

pub(crate) async fn by_reference<C: ConnectionTrait>(
    db: &C,
    reference: &str,
) -> Result<Option<payment::Model>> {
    payment::Entity::find()
        .filter(payment::Column::Reference.eq(reference))
        .one(db)
        .await
        .map_err(db_err("reading payments"))
}

/// The answer for a reference already recorded: the same payment again changes
/// nothing; a different payment under a used reference is refused.
pub(super) async fn already(
    store: &Store,
    p: payment::Model,
    inv: &invoice::Model,
    received: &str,
) -> Result<Paid> {
    let other = find(store.db(), &p.invoice_id.to_string()).await?;
    if p.invoice_id != inv.id || p.received != received {
        return Err(Error::Invalid(format!(
            "reference {} was already recorded for invoice {} ({} {} on {}); this payment ({} {} for invoice {}) is a different one: check the reference",
            p.reference.as_deref().unwrap_or(""),
            name_of(&other),
            p.received,
            p.currency,
            p.received_on,
            received,
            inv.currency,
            name_of(inv),
        )));
    }
    Ok(Paid {
        recorded: false,
        note: format!(
            "payment {} of {} {} was already recorded for invoice {} on {}; nothing changed",
            p.reference.as_deref().unwrap_or(""),
            p.received,
            p.currency,
            name_of(inv),
            p.received_on
        ),
        payment_id: p.id,
        applied: p.amount.clone(),
        credited: "0".into(),
        released_operation: None,
        credit_applied: Vec::new(),
        invoice: show(store, &inv.id.to_string()).await?,
    })
}

/// Refuses a payment to an invoice that takes none (a draft, paid, cancelled or
/// refunded invoice), or dated before the invoice was issued.
fn check_payable(inv: &invoice::Model, c: &client::Model, day: NaiveDate) -> Result<()> {
    let number = name_of(inv);
    match inv.status {
        InvoiceStatus::Unpaid => {}
        InvoiceStatus::Draft => {
            return Err(Error::invalid(
                Message::new(format!("invoice {number} is a draft; "))
                    .fix(Fix::IssueInvoice { invoice: inv.id }),
            ))
        }
        InvoiceStatus::Paid => {
            return Err(Error::invalid(
                Message::new(format!(
                    "invoice {number} is already paid; for money that is not for an invoice, "
                ))
                .fix(Fix::Credit {
                    client: Some(c.id),
                    take: false,
                }),
            ))
        }
        other @ (InvoiceStatus::Cancelled | InvoiceStatus::Refunded) => {
            return Err(Error::Invalid(format!(
                "invoice {number} is {other}; it takes no payments"
            )))
        }
    }
    if let Some(issued) = inv.issue_date.filter(|issued| day < *issued) {
        return Err(Error::invalid(
            Message::new(format!(
                "the payment date {day} is before invoice {}'s issue date {issued}: give the day the money arrived (",
                inv.number.as_deref().unwrap_or("(draft)")
            ))
            .field("date")
            .text(format!(", on or after {issued})")),
        ));
    }
    Ok(())
}

/// The one line `invoices pay` prints about a payment recorded.
fn paid_note(
    reference: &str,
    number: &str,
    cur: &Currency,
    applied: Decimal,
    excess: Decimal,
    view: &InvoiceView,
    released: Option<i64>,
) -> Result<String> {
    let mut note = format!(
        "payment {reference}: {} to invoice {number}",
        cur.format(applied)
    );
    if excess > Decimal::ZERO {
        let _ = write!(
            note,
            ", {} more than was due became credit",
            cur.format(excess)
        );
    }
    match view.status {
        InvoiceStatus::Paid => note.push_str("; the invoice is paid"),
        _ => {
            let due = cur.format(money::from_db(&view.amount_due, "due")?);
            let _ = write!(note, "; {due} is still due");
        }
    }
    if let Some(op) = released {
        let _ = write!(note, "; create operation #{op} queued");
    }
    Ok(note)
}

/// `invoices pay ID --amount X --reference R`: records a payment received on `day`.
/// Part of the amount due leaves the rest due; more than is due becomes credit (which
/// then goes to the client's other unpaid invoices); a reference already recorded is
/// recorded once.
pub async fn pay(
    store: &Store,
    reference_of_invoice: &str,
    amount_text: &str,
    reference: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Paid> {
    let inv = find(store.db(), reference_of_invoice).await?;
    let reference = check_reference(reference)?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let received = cur.parse_amount(amount_text, Name::Field("amount"))?;
    if received <= Decimal::ZERO {
        return Err(Error::invalid(Message::about(
            "amount",
            format!(
                "{amount_text} must be more than zero (a payment received, in {})",
                cur.code
            ),
        )));
    }
    let received_text = cur.text(received);
    if let Some(p) = by_reference(store.db(), &reference).await? {
        return already(store, p, &inv, &received_text).await;
    }
    let c = client_of(store.db(), inv.client_id).await?;
    let (tx, turn) = crate::begin_for_client(store, c.id).await?;
    if let Some(p) = by_reference(&tx, &reference).await? {
        drop(tx);
        drop(turn);
        return already(store, p, &inv, &received_text).await;
    }
    let inv = find(&tx, &inv.id.to_string()).await?;
    let number = name_of(&inv);
    check_payable(&inv, &c, day)?;
    let (total, paid) = inv_amounts(&inv)?;
    let applied = received.min(total - paid);
    let excess = received - applied;
    let inserted = payment::ActiveModel {
        invoice_id: Set(inv.id),
        client_id: Set(c.id),
        method: Set("payment".into()),
        reference: Set(Some(reference.clone())),
        currency: Set(cur.code.clone()),
        amount: Set(cur.text(applied)),
        received: Set(received_text.clone()),
        received_on: Set(day),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await;
    let p = match inserted {
        Ok(p) => p,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            // Another process recorded this reference between our check and insert.
            drop(tx);
            drop(turn);
            return match by_reference(store.db(), &reference).await? {
                Some(p) => already(store, p, &inv, &received_text).await,
                None => Err(db_err("recording the payment")(e)),
            };
        }
        Err(e) => return Err(db_err("recording the payment")(e)),
    };
    let (_, released) = add_paid(&tx, &inv, applied, &c, &cur, now, settings).await?;
    if excess > Decimal::ZERO {
        ledger::append(
            &tx,
            c.id,
            &cur,
            excess,
            format!("overpayment of invoice {number} (payment {reference})"),
            Some(inv.id),
            Some(p.id),
            now,
        )
        .await?;
    }
    let credit_applied = apply_credit(&tx, &c, &cur, day, now, settings).await?;
    tx.commit().await.map_err(db_err("recording the payment"))?;
    drop(turn);
    let view = show(store, &inv.id.to_string()).await?;
    let note = paid_note(&reference, &number, &cur, applied, excess, &view, released)?;
    Ok(Paid {
        recorded: true,
        note,
        payment_id: p.id,
        applied: cur.text(applied),
        credited: cur.text(excess),
        released_operation: released,
        credit_applied,
        invoice: view,
    })
}

/// `invoices cancel`: a draft or unpaid invoice is cancelled (its number stays used).
/// What was already paid on it returns to credit; an order waiting on it is dropped
/// (its held create cancelled, the service terminated before it ever existed).
pub async fn cancel(
    store: &Store,
    reference: &str,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<InvoiceView> {
    let inv = find(store.db(), reference).await?;
    let c = client_of(store.db(), inv.client_id).await?;
    let cur = currencies::require(store.db(), &inv.currency).await?;
    let (tx, _turn) = crate::begin_for_client(store, c.id).await?;
    let inv = find(&tx, &inv.id.to_string()).await?;
    let number = name_of(&inv);
    if !matches!(inv.status, InvoiceStatus::Draft | InvoiceStatus::Unpaid) {
        return Err(Error::Invalid(format!(
            "invoice {number} is {}; only a draft or unpaid invoice can be cancelled",
            inv.status
        )));
    }
    let (_, paid) = inv_amounts(&inv)?;
    let mut m: invoice::ActiveModel = inv.clone().into();
    m.status = Set(InvoiceStatus::Cancelled);
    m.updated_at = Set(now);
    let inv = m
        .update(&tx)
        .await
        .map_err(db_err("cancelling the invoice"))?;
    if paid > Decimal::ZERO {
        ledger::append(
            &tx,
            c.id,
            &cur,
            paid,
            format!("invoice {number} cancelled: what was paid on it returns to credit"),
            Some(inv.id),
            None,
            now,
        )
        .await?;
    }
    crate::on_invoice_cancelled(&tx, &inv, now).await?;
    apply_credit(&tx, &c, &cur, settings.zone.date_of(now), now, settings).await?;
    tx.commit()
        .await
        .map_err(db_err("cancelling the invoice"))?;
    show(store, &inv.id.to_string()).await
}

/// Unpaid invoices due before `day`: each gets one "overdue" email (unless
/// `dry_run`). Returns them.
pub async fn overdue(
    store: &Store,
    day: NaiveDate,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<InvoiceSummary>> {
    let rows = invoice::Entity::find()
        .filter(invoice::Column::Status.eq(InvoiceStatus::Unpaid))
        .filter(invoice::Column::DueDate.lt(day))
        .order_by_asc(invoice::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading unpaid invoices"))?;
    if !dry_run {
        for inv in &rows {
            let c = client_of(store.db(), inv.client_id).await?;
            let view = load_view(store.db(), inv).await?;
            let cur = currencies::require(store.db(), &inv.currency).await?;
            let number = name_of(inv);
            let _turn = store.write_turn().await;
            crate::queue_email(
                store.db(),
                Email {
                    kind: EmailKind::InvoiceOverdue,
                    recipient: c.email.clone(),
                    subject: format!(
                        "Invoice {number} is overdue: {} was due {}",
                        cur.format(money::from_db(&view.amount_due, "due")?),
                        inv.due_date.map(|d| d.to_string()).unwrap_or_default()
                    ),
                    body: format!(
                        "Hello {},\n\ninvoice {number} is past its due date.\n\n{}",
                        c.name,
                        render(&view)
                    ),
                    service_id: inv.service_id,
                    dedupe_key: format!("invoice-{}-overdue", inv.id),
                },
                now,
            )
            .await?;
        }
    }
    rows.iter().map(summary).collect()
}
