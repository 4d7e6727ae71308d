//! Renewals: one client's renewal invoice for the day, in one transaction holding
//! the client's lock.

use sea_orm::DatabaseTransaction;

use super::*;

/// A period to invoice, recorded in `renewals` with the invoice.
struct Pending {
    service_id: i64,
    period: Period,
    start: NaiveDate,
    end: NaiveDate,
    license: bool,
}

/// The client's renewal invoice being put together: its lines and their periods.
#[derive(Default)]
struct Due {
    lines: Vec<NewLine>,
    pending: Vec<Pending>,
}

/// One client's renewal run for a date: what every term's step shares.
struct Renewing<'a> {
    tx: &'a DatabaseTransaction,
    client: &'a client::Model,
    cur: &'a Currency,
    tax_rate: Decimal,
    date: NaiveDate,
    now: DateTime<Utc>,
    settings: &'a Settings,
    licenses: &'a LicenseModules,
    dry_run: bool,
}

fn note(client_id: i64, step: &str, sid: i64, message: String) -> Event {
    Event {
        step: step.to_string(),
        client_id: Some(client_id),
        service_id: Some(sid),
        message: message.into(),
        ..Default::default()
    }
}

/// One client's renewals for `date`, in one transaction holding the client's lock.
pub(super) async fn renew_client(
    rt: &dyn Driver,
    client_id: i64,
    date: NaiveDate,
    settings: &Settings,
    licenses: &LicenseModules,
    dry_run: bool,
) -> Result<Vec<Event>> {
    let now = rt.clock().now();
    let (tx, turn) = crate::begin_for_client(rt.store(), client_id).await?;
    let mut events = Vec::new();
    let Some(c) = client::Entity::find_by_id(client_id)
        .one(&tx)
        .await
        .map_err(db_err("reading clients"))?
    else {
        return Ok(events);
    };
    let terms = billing_term::Entity::find()
        .filter(billing_term::Column::ClientId.eq(client_id))
        .filter(billing_term::Column::EndedOn.is_null())
        .order_by_asc(billing_term::Column::ServiceId)
        .all(&tx)
        .await
        .map_err(db_err("reading billing terms"))?;
    let cur = match currencies::require(&tx, &c.currency).await {
        Ok(cur) => cur,
        Err(e) => {
            events.push(Event {
                step: "renewal".into(),
                client_id: Some(client_id),
                message: Message::new(format!(
                    "not renewed: client #{client_id} pays in {}: ",
                    c.currency
                ))
                .then(e.into_message()),
                ..Default::default()
            });
            return Ok(events);
        }
    };
    let tax_rate = taxes::rate_for(&tx, &c.country).await?;
    let run = Renewing {
        tx: &tx,
        client: &c,
        cur: &cur,
        tax_rate,
        date,
        now,
        settings,
        licenses,
        dry_run,
    };
    let mut due = Due::default();
    let mut wrote = false;
    for term in terms {
        wrote |= run.term(term, &mut due, &mut events).await?;
    }
    if !due.lines.is_empty() {
        run.invoice(due, &mut events).await?;
        wrote = true;
    }
    if dry_run || !wrote {
        tx.rollback()
            .await
            .map_err(db_err("rolling back the renewal run"))?;
    } else {
        tx.commit().await.map_err(db_err("storing the renewals"))?;
    }
    drop(turn);
    Ok(events)
}

impl Renewing<'_> {
    /// One term: ended when its service's billing has, else every period whose
    /// invoice day has come goes on the invoice. Whether it wrote anything.
    async fn term(
        &self,
        term: billing_term::Model,
        due: &mut Due,
        events: &mut Vec<Event>,
    ) -> Result<bool> {
        let tx = self.tx;
        let Some(svc) = service::Entity::find_by_id(term.service_id)
            .one(tx)
            .await
            .map_err(db_err("reading services"))?
        else {
            return Ok(false);
        };
        let Some(p) = plan::Entity::find_by_id(svc.plan_id)
            .one(tx)
            .await
            .map_err(db_err("reading plans"))?
        else {
            return Ok(false);
        };
        let license = self.licenses.check(tx, &p).await?;
        let step = if license { "license" } else { "renewal" };
        if let Some(why) = ended_because(tx, &svc).await? {
            let mut m: billing_term::ActiveModel = term.clone().into();
            m.ended_on = Set(Some(self.date));
            m.updated_at = Set(self.now);
            m.update(tx)
                .await
                .map_err(db_err("ending the billing term"))?;
            events.push(note(
                self.client.id,
                step,
                svc.id,
                format!("billing of service #{} ({}) ends: {why}", svc.id, p.name),
            ));
            return Ok(true);
        }
        if !matches!(svc.status, ServiceStatus::Active | ServiceStatus::Suspended) {
            return Ok(false);
        }
        let Ok(period) = Period::parse(&term.period) else {
            return Ok(false);
        };
        let until = self
            .periods(&term, &svc, &p, period, license, due, events)
            .await?;
        if until == term.invoiced_until {
            return Ok(false);
        }
        let mut m: billing_term::ActiveModel = term.into();
        m.invoiced_until = Set(until);
        m.updated_at = Set(self.now);
        m.update(tx)
            .await
            .map_err(db_err("advancing the billing term"))?;
        Ok(true)
    }

    /// Every period of the term whose invoice day has come (more than one after a gap
    /// in runs), as a line unless already renewed; answers the new invoiced-until.
    #[allow(clippy::too_many_arguments)]
    async fn periods(
        &self,
        term: &billing_term::Model,
        svc: &service::Model,
        p: &plan::Model,
        period: Period,
        license: bool,
        due: &mut Due,
        events: &mut Vec<Event>,
    ) -> Result<NaiveDate> {
        let step = if license { "license" } else { "renewal" };
        let mut until = term.invoiced_until;
        for _ in 0..36 {
            let invoice_day = until - chrono::Days::new(u64::from(self.settings.renew_days));
            if invoice_day > self.date {
                break;
            }
            let price = match price_for(self.tx, p, period, self.cur).await {
                Ok(x) => x,
                Err(e) => {
                    events.push(note(
                        self.client.id,
                        step,
                        svc.id,
                        format!("not renewed: {e}"),
                    ));
                    break;
                }
            };
            let (start, end, next) = period_after(term.anchor, period, until);
            let done = renewal::Entity::find()
                .filter(renewal::Column::ServiceId.eq(svc.id))
                .filter(renewal::Column::PeriodStart.eq(start))
                .one(self.tx)
                .await
                .map_err(db_err("reading renewals"))?;
            if done.is_none() {
                due.lines.push(NewLine {
                    kind: InvoiceLineKind::Service,
                    description: format!(
                        "{}{}, {} {start} to {end} (service #{})",
                        p.name,
                        if license { " license" } else { "" },
                        period.as_str(),
                        svc.id
                    ),
                    quantity: Decimal::ONE,
                    unit_price: price,
                    tax_rate: self.tax_rate,
                    service_id: Some(svc.id),
                    period: Some((period, start, end)),
                });
                due.pending.push(Pending {
                    service_id: svc.id,
                    period,
                    start,
                    end,
                    license,
                });
            }
            until = next;
        }
        Ok(until)
    }

    /// The client's renewal invoice: the draft, a `renewals` row per period, then
    /// issued on the date (credit applied first), with an event per line and credit.
    async fn invoice(&self, due: Due, events: &mut Vec<Event>) -> Result<()> {
        let (tx, cur, now, date) = (self.tx, self.cur, self.now, self.date);
        let client_id = self.client.id;
        let Due { lines, pending } = due;
        let due = pending
            .iter()
            .map(|r| r.start)
            .min()
            .unwrap_or(date)
            .max(date);
        let amounts: Vec<money::LineAmounts> = lines
            .iter()
            .map(|l| money::line_amounts(l.quantity, l.unit_price, l.tax_rate, cur))
            .collect();
        let draft = invoices::insert_draft(tx, client_id, cur, lines, None, Some(due), now).await?;
        for r in &pending {
            renewal::ActiveModel {
                service_id: Set(r.service_id),
                client_id: Set(client_id),
                period: Set(r.period.as_str().to_string()),
                period_start: Set(r.start),
                period_end: Set(r.end),
                invoice_id: Set(draft.id),
                run_date: Set(date),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await
            .map_err(db_err("recording the renewal"))?;
        }
        let applied = invoices::issue_in(
            tx,
            draft.clone(),
            self.client,
            cur,
            date,
            now,
            self.settings,
        )
        .await?;
        let issued = invoice::Entity::find_by_id(draft.id)
            .one(tx)
            .await
            .map_err(db_err("reading the invoice"))?
            .ok_or_else(|| Error::Storage("the renewal invoice vanished".into()))?;
        let number = issued
            .number
            .clone()
            .unwrap_or_else(|| draft.id.to_string());
        let verb = if self.dry_run {
            "would invoice"
        } else {
            "invoiced"
        };
        for (r, a) in pending.iter().zip(&amounts) {
            events.push(Event {
                step: if r.license { "license" } else { "renewal" }.into(),
                client_id: Some(client_id),
                service_id: Some(r.service_id),
                invoice: Some(number.clone()),
                amount: Some(cur.text(a.total)),
                currency: Some(cur.code.clone()),
                message: format!(
                    "{verb} service #{} {} {} to {}, due {due}",
                    r.service_id,
                    r.period.as_str(),
                    r.start,
                    r.end
                )
                .into(),
                ..Default::default()
            });
        }
        for a in applied.iter().filter(|a| a.invoice_id == draft.id) {
            events.push(Event {
                step: "credit".into(),
                client_id: Some(client_id),
                invoice: Some(number.clone()),
                amount: Some(a.amount.clone()),
                currency: Some(cur.code.clone()),
                message: format!(
                    "credit applied to invoice {number}{}",
                    if a.paid { "; it is paid" } else { "" }
                )
                .into(),
                ..Default::default()
            });
        }
        Ok(())
    }
}
