//! What paying an invoice does to billing terms: a paid order starts its service's
//! term, a paid renewal advances it, and a service suspended for the invoice is
//! unsuspended.

use super::*;

/// Called when an invoice is paid in full, in the payment's transaction (the client's
/// lock held): each service line starts the service's billing term (its order's
/// invoice) or advances its next due date (a renewal); a service suspended for this
/// invoice gets its `unsuspend` queued. Returns the operations queued.
pub(crate) async fn on_paid<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<i64>> {
    let lines = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(inv.id))
        .filter(invoice_line::Column::Kind.eq(InvoiceLineKind::Service))
        .order_by_asc(invoice_line::Column::Position)
        .all(db)
        .await
        .map_err(db_err("reading invoice lines"))?;
    let paid_day = payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(inv.id))
        .filter(
            payment::Column::Method
                .is_not_in([crate::invoices::REFUND, crate::invoices::REFUND_CREDIT]),
        )
        .order_by_desc(payment::Column::ReceivedOn)
        .one(db)
        .await
        .map_err(db_err("reading payments"))?
        .map(|p| p.received_on)
        .unwrap_or_else(|| crate::day_of(now));
    let mut queued = Vec::new();
    for l in lines {
        let (Some(sid), Some(period), Some(start), Some(end)) = (
            l.service_id,
            l.period.as_deref(),
            l.period_start,
            l.period_end,
        ) else {
            continue;
        };
        let Ok(period) = Period::parse(period) else {
            continue;
        };
        let term = billing_term::Entity::find()
            .filter(billing_term::Column::ServiceId.eq(sid))
            .one(db)
            .await
            .map_err(db_err("reading billing terms"))?;
        let renewed = renewal::Entity::find()
            .filter(renewal::Column::ServiceId.eq(sid))
            .filter(renewal::Column::PeriodStart.eq(start))
            .filter(renewal::Column::InvoiceId.eq(inv.id))
            .one(db)
            .await
            .map_err(db_err("reading renewals"))?;
        match (term, renewed) {
            (Some(t), Some(_)) => {
                let paid_until = end.succ_opt().unwrap_or(end);
                if paid_until > t.next_due {
                    let mut m: billing_term::ActiveModel = t.into();
                    m.next_due = Set(paid_until);
                    m.updated_at = Set(now);
                    m.update(db)
                        .await
                        .map_err(db_err("advancing the next due date"))?;
                }
            }
            (None, None) => {
                let Some(svc) = service::Entity::find_by_id(sid)
                    .one(db)
                    .await
                    .map_err(db_err("reading services"))?
                else {
                    continue;
                };
                let p = plan::Entity::find_by_id(svc.plan_id)
                    .one(db)
                    .await
                    .map_err(db_err("reading plans"))?;
                let term_period = match &p {
                    Some(p) if is_license(db, p).await? => Period::Monthly,
                    _ => period,
                };
                // The first paid period runs from the day it was paid in full.
                let next = period.next_start(paid_day);
                billing_term::Entity::insert(billing_term::ActiveModel {
                    service_id: Set(sid),
                    client_id: Set(inv.client_id),
                    period: Set(term_period.as_str().to_string()),
                    anchor: Set(paid_day),
                    invoiced_until: Set(next),
                    next_due: Set(next),
                    ended_on: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .on_conflict(
                    OnConflict::column(billing_term::Column::ServiceId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .map_err(db_err("starting the billing term"))?;
            }
            _ => {}
        }
        if let Some(op) = unsuspend_in(db, inv, sid, paid_day, now, settings).await? {
            queued.push(op);
        }
    }
    Ok(queued)
}

/// The invoice `inv` is paid: if service `sid` was suspended for it (and for no other
/// invoice still unpaid), queue its unsuspend; a suspend still waiting to run is
/// cancelled instead.
pub(super) async fn unsuspend_in<C: ConnectionTrait>(
    db: &C,
    inv: &invoice::Model,
    sid: i64,
    day: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Option<i64>> {
    let Some(suspend) = action_of(db, inv.id, sid, OperationKind::Suspend).await? else {
        return Ok(None);
    };
    if action_of(db, inv.id, sid, OperationKind::Unsuspend)
        .await?
        .is_some()
        || action_of(db, inv.id, sid, OperationKind::Terminate)
            .await?
            .is_some()
    {
        return Ok(None);
    }
    // Another unpaid invoice that suspended it keeps it suspended.
    let others = billing_action::Entity::find()
        .filter(billing_action::Column::ServiceId.eq(sid))
        .filter(billing_action::Column::Action.eq(OperationKind::Suspend.as_str()))
        .filter(billing_action::Column::InvoiceId.ne(inv.id))
        .all(db)
        .await
        .map_err(db_err("reading billing actions"))?;
    for a in others {
        let unpaid = invoice::Entity::find_by_id(a.invoice_id)
            .filter(invoice::Column::Status.eq(InvoiceStatus::Unpaid))
            .one(db)
            .await
            .map_err(db_err("reading invoices"))?;
        if unpaid.is_some() {
            return Ok(None);
        }
    }
    let Some(svc) = service::Entity::find_by_id(sid)
        .one(db)
        .await
        .map_err(db_err("reading services"))?
    else {
        return Ok(None);
    };
    // The suspend has not run yet: cancel it rather than undo it.
    if let Some(op) = suspend.operation_id {
        let r = operation::Entity::update_many()
            .col_expr(
                operation::Column::Status,
                Expr::value(OperationStatus::Cancelled),
            )
            .col_expr(operation::Column::FinishedAt, Expr::value(now))
            .col_expr(operation::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                operation::Column::LastError,
                Expr::value("the invoice was paid before the suspend ran"),
            )
            .filter(operation::Column::Id.eq(op))
            .filter(operation::Column::Status.eq(OperationStatus::Queued))
            .exec(db)
            .await
            .map_err(db_err("cancelling the suspend"))?;
        if r.rows_affected > 0 {
            record_action(db, inv.id, sid, OperationKind::Unsuspend, None, day, now).await?;
            return Ok(None);
        }
    }
    if svc.status != ServiceStatus::Suspended {
        return Ok(None);
    }
    let pending = operation::Entity::find()
        .filter(operation::Column::ServiceId.eq(sid))
        .filter(operation::Column::Status.is_in(OperationStatus::UNFINISHED))
        .one(db)
        .await
        .map_err(db_err("reading operations"))?;
    if pending.is_some() {
        return Ok(None);
    }
    let op = provisor_store::queue::insert_operation(
        db,
        &svc,
        OperationKind::Unsuspend,
        Value::Null,
        now,
        settings.max_attempts,
    )
    .await?;
    record_action(
        db,
        inv.id,
        sid,
        OperationKind::Unsuspend,
        Some(op.id),
        day,
        now,
    )
    .await?;
    Ok(Some(op.id))
}
