//! What an invoice looks like to a reader: its view (lines, payments, amounts), the
//! list, and its text (printed by `invoices show` and carried by billing's emails).

use std::fmt::Write as _;

use super::*;

/// An invoice with its lines, payments and client.
pub async fn load_view<C: ConnectionTrait>(db: &C, inv: &invoice::Model) -> Result<InvoiceView> {
    let c = client_of(db, inv.client_id).await?;
    let cur = currencies::find(db, &inv.currency).await?;
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .order_by_asc(invoice_line::Column::Position)
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    let payments = payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(inv.id))
        .order_by_asc(payment::Column::Id)
        .all(db)
        .await
        .map_err(db_err("reading payments"))?;
    let (total, paid) = inv_amounts(inv)?;
    let due = match inv.status {
        InvoiceStatus::Draft | InvoiceStatus::Unpaid => total - paid,
        _ => Decimal::ZERO,
    };
    let text = |x: Decimal| match &cur {
        Some(c) => c.text(x),
        None => x.to_string(),
    };
    let mut refunded = Decimal::ZERO;
    for p in payments.iter().filter(|p| is_refund(&p.method)) {
        refunded -= money::from_db(&p.amount, &format!("refund #{}", p.id))?;
    }
    Ok(InvoiceView {
        id: inv.id,
        number: inv.number.clone(),
        status: inv.status,
        client_id: c.id,
        client_name: c.name,
        client_email: c.email,
        client_country: c.country,
        service_id: inv.service_id,
        currency: inv.currency.clone(),
        currency_symbol: cur
            .as_ref()
            .map(|c| c.symbol.clone())
            .unwrap_or_else(|| inv.currency.clone()),
        subtotal: inv.subtotal.clone(),
        tax_total: inv.tax_total.clone(),
        total: inv.total.clone(),
        amount_paid: inv.amount_paid.clone(),
        amount_due: text(due),
        amount_refunded: text(refunded),
        issue_date: inv.issue_date,
        due_date: inv.due_date,
        paid_at: inv.paid_at.map(|t| t.to_rfc3339()),
        created_at: inv.created_at.to_rfc3339(),
        lines: lines
            .into_iter()
            .map(|l| LineView {
                position: l.position,
                kind: l.kind,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                net: l.net,
                tax_rate: l.tax_rate,
                tax: l.tax,
                total: l.total,
                service_id: l.service_id,
                period: l.period,
                period_start: l.period_start,
                period_end: l.period_end,
            })
            .collect(),
        payments: payments
            .into_iter()
            .map(|p| PaymentView {
                id: p.id,
                method: p.method,
                reference: p.reference,
                amount: p.amount,
                received: p.received,
                received_on: p.received_on,
            })
            .collect(),
        cur,
    })
}

/// One invoice by id or number.
pub async fn show(store: &Store, reference: &str) -> Result<InvoiceView> {
    let inv = find(store.db(), reference).await?;
    load_view(store.db(), &inv).await
}

/// Invoices, newest first, optionally for one client or in one status.
pub async fn list(
    store: &Store,
    client_ref: Option<&str>,
    status: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<InvoiceSummary>> {
    let mut q = invoice::Entity::find()
        .order_by_desc(invoice::Column::Id)
        .offset(offset)
        .limit(limit);
    if let Some(s) = status {
        let Some(s) = InvoiceStatus::parse(s) else {
            return Err(Error::invalid(Message::about(
                "status",
                format!(
                    "{s:?} is not an invoice status: use one of {}",
                    InvoiceStatus::join(InvoiceStatus::ALL, ", ")
                ),
            )));
        };
        q = q.filter(invoice::Column::Status.eq(s));
    }
    if let Some(c) = client_ref {
        let c = lookup::get_client(store, c).await?;
        q = q.filter(invoice::Column::ClientId.eq(c.id));
    }
    let rows = q
        .all(store.db())
        .await
        .map_err(db_err("reading invoices"))?;
    rows.iter().map(summary).collect()
}

pub(super) fn summary(inv: &invoice::Model) -> Result<InvoiceSummary> {
    let (total, paid) = inv_amounts(inv)?;
    let due = if matches!(inv.status, InvoiceStatus::Draft | InvoiceStatus::Unpaid) {
        total - paid
    } else {
        Decimal::ZERO
    };
    let mut due_text = due.to_string();
    if let Some((_, frac)) = inv.total.split_once('.') {
        let mut d = due;
        d.rescale(frac.len() as u32);
        due_text = d.to_string();
    }
    Ok(InvoiceSummary {
        id: inv.id,
        number: inv.number.clone(),
        status: inv.status,
        client_id: inv.client_id,
        currency: inv.currency.clone(),
        total: inv.total.clone(),
        amount_due: due_text,
        issue_date: inv.issue_date,
        due_date: inv.due_date,
    })
}

/// An invoice as readable text.
pub fn render(v: &InvoiceView) -> String {
    let fmt = |text: &str| -> String {
        match (&v.cur, money::from_db(text, "amount")) {
            (Some(c), Ok(x)) => c.format(x),
            _ => format!("{text} {}", v.currency),
        }
    };
    let mut out = String::new();
    let title = match &v.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice #{}", v.id),
    };
    let _ = writeln!(out, "{title}  [{}]", v.status);
    let _ = writeln!(
        out,
        "Client:   #{} {} <{}>, {}",
        v.client_id,
        provisor_store::input::shown(&v.client_name, provisor_store::input::NAME_MAX),
        provisor_store::input::shown(&v.client_email, provisor_store::input::EMAIL_MAX),
        v.client_country
    );
    let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "Issued:   {}   Due: {}   Currency: {}",
        day(v.issue_date),
        day(v.due_date),
        v.currency
    );
    if let Some(s) = v.service_id {
        let _ = writeln!(out, "Service:  #{s}");
    }
    out.push('\n');
    let mut rows = vec![vec![
        "#".to_string(),
        "DESCRIPTION".into(),
        "QTY".into(),
        "UNIT PRICE".into(),
        "NET".into(),
        "TAX %".into(),
        "TAX".into(),
        "TOTAL".into(),
    ]];
    for l in &v.lines {
        rows.push(vec![
            l.position.to_string(),
            // Escaped and cut: a description stored before the input limits (or one a
            // module wrote) cannot break the layout or reach a terminal raw.
            provisor_store::input::shown(&l.description, provisor_store::input::TEXT_MAX),
            l.quantity.clone(),
            l.unit_price.clone(),
            l.net.clone(),
            l.tax_rate.clone(),
            l.tax.clone(),
            l.total.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 1 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    let mut totals = vec![
        ("Subtotal", fmt(&v.subtotal)),
        ("Tax", fmt(&v.tax_total)),
        ("Total", fmt(&v.total)),
        ("Paid", fmt(&v.amount_paid)),
    ];
    if money::from_db(&v.amount_refunded, "refunded").is_ok_and(|r| !r.is_zero()) {
        totals.push(("Refunded", fmt(&v.amount_refunded)));
    }
    if matches!(v.status, InvoiceStatus::Draft | InvoiceStatus::Unpaid) {
        totals.push(("Due", fmt(&v.amount_due)));
    }
    let w = totals
        .iter()
        .map(|(_, a)| a.chars().count())
        .max()
        .unwrap_or(0);
    for (label, a) in totals {
        let _ = writeln!(out, "{label:<9} {a:>w$}");
    }
    if !v.payments.is_empty() {
        out.push_str("\nPayments:\n");
        for p in &v.payments {
            let what = match (&p.method[..], &p.reference) {
                ("credit", _) => "from credit".to_string(),
                (REFUND, Some(r)) => format!("refund {r}"),
                (REFUND_CREDIT, Some(r)) => format!("refund {r} to credit"),
                (_, Some(r)) => format!("payment {r}"),
                (m, None) => m.to_string(),
            };
            let mut line = format!("  {}  {what}  {}", p.received_on, fmt(&p.amount));
            if p.received != p.amount {
                let _ = write!(line, " (received {})", fmt(&p.received));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}
