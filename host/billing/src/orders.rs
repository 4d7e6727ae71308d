//! The payment gate on orders.
//!
//! `engine::order` asks [`quote`] before it writes anything. A plan without prices or
//! deposits gets `None` and is provisioned at once, as before billing. For a priced
//! plan the engine writes the service (`pending`) and its `create` operation, then
//! calls [`hold_and_invoice`] in the same transaction: the create waits as
//! `awaiting_payment` and an invoice for the first period (plus any deposit) is
//! issued, with the client's credit applied at once. When that invoice is paid in
//! full — by a payment or by credit — `release` queues the create in the payment's
//! transaction; when it is cancelled, `drop_order` cancels the create.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::invoices::{self, NewLine};
use super::money::{self, Currency};
use super::prices::{self, Period};
use super::{currencies, taxes};
use crate::Settings;
use provisor_store::entities::kinds::{InvoiceLineKind, OperationKind};
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{client, operation, plan, plan_deposit, plan_price, service};
use provisor_store::error::{Error, Fix, Message, Result};
use provisor_store::{db_err, Store};

/// What an order of a priced plan will be invoiced.
#[derive(Debug, Clone)]
pub struct OrderQuote {
    plan_name: String,
    currency: Currency,
    /// The first period and its price, in the client's currency.
    price: Option<(Period, Decimal)>,
    deposit: Option<Decimal>,
    tax_rate: Decimal,
}

/// In the client's currency if the plan is priced in it (shortest period first), else
/// converted from the default currency's price, else a refusal naming the fix.
fn pick<'a, T>(
    rows: &'a [T],
    cur: &Currency,
    default: Option<&Currency>,
    matches: impl Fn(&T, &str, Period) -> bool,
    periods: &[Period],
) -> Option<(&'a T, Period, bool)> {
    for &p in periods {
        if let Some(r) = rows.iter().find(|r| matches(r, &cur.code, p)) {
            return Some((r, p, false));
        }
    }
    let d = default?;
    for &p in periods {
        if let Some(r) = rows.iter().find(|r| matches(r, &d.code, p)) {
            return Some((r, p, true));
        }
    }
    None
}

/// The invoice an order would get, or `None` for a plan that is not billed at order.
pub async fn quote(
    store: &Store,
    client: &client::Model,
    plan: &plan::Model,
) -> Result<Option<OrderQuote>> {
    let (price_rows, deposit_rows) = prices::rows(store.db(), plan.id).await?;
    if price_rows.is_empty() && deposit_rows.is_empty() {
        return Ok(None);
    }
    let cur = currencies::require(store.db(), &client.currency)
        .await
        .map_err(|e| {
            Error::invalid(
                Message::new(format!(
                    "plan {} is billed, and client #{} pays in {}: ",
                    plan.name, client.id, client.currency
                ))
                .then(e.into_message()),
            )
        })?;
    let default = currencies::default_currency(store.db()).await?;
    let missing = |what: &str, fix: Fix| {
        Error::invalid(
            Message::new(format!(
                "plan {} has no {what} in {} or in the default currency{}; ",
                plan.name,
                cur.code,
                default
                    .as_ref()
                    .map(|d| format!(" {}", d.code))
                    .unwrap_or_default(),
            ))
            .fix(fix),
        )
    };
    let price = if price_rows.is_empty() {
        None
    } else {
        let (row, period, convert) = pick(
            &price_rows,
            &cur,
            default.as_ref(),
            |r: &plan_price::Model, code, p| r.currency == code && r.period == p.as_str(),
            &Period::ALL,
        )
        .ok_or_else(|| {
            missing(
                "price",
                Fix::PricePlan {
                    plan: plan.name.clone(),
                    currency: Some(cur.code.clone()),
                    period: None,
                    existing: false,
                },
            )
        })?;
        let value = money::from_db(&row.amount, &format!("plan {} price", plan.name))?;
        let value = match (convert, default.as_ref()) {
            (true, Some(d)) => money::convert(value, d, &cur)?,
            _ => value,
        };
        Some((period, value))
    };
    let deposit = if deposit_rows.is_empty() {
        None
    } else {
        let (row, _, convert) = pick(
            &deposit_rows,
            &cur,
            default.as_ref(),
            |r: &plan_deposit::Model, code, _| r.currency == code,
            &[Period::Monthly],
        )
        .ok_or_else(|| {
            missing(
                "deposit",
                Fix::DepositPlan {
                    plan: plan.name.clone(),
                    currency: cur.code.clone(),
                },
            )
        })?;
        let value = money::from_db(&row.amount, &format!("plan {} deposit", plan.name))?;
        Some(match (convert, default.as_ref()) {
            (true, Some(d)) => money::convert(value, d, &cur)?,
            _ => value,
        })
    };
    Ok(Some(OrderQuote {
        plan_name: plan.name.clone(),
        tax_rate: taxes::rate_for(store.db(), &client.country).await?,
        currency: cur,
        price,
        deposit,
    }))
}

/// Holds the new service's create until payment and issues its invoice (credit
/// applied at once; if that pays it, the create is queued straight away). Runs in the
/// engine's order transaction. Returns the invoice id.
#[allow(clippy::too_many_arguments)]
pub async fn hold_and_invoice<C: ConnectionTrait>(
    db: &C,
    client: &client::Model,
    svc: &service::Model,
    create: &operation::Model,
    quote: OrderQuote,
    today: NaiveDate,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<i64> {
    super::lock_client(db, client.id).await?;
    operation::Entity::update_many()
        .col_expr(
            operation::Column::Status,
            Expr::value(OperationStatus::AwaitingPayment),
        )
        .filter(operation::Column::Id.eq(create.id))
        .exec(db)
        .await
        .map_err(db_err("holding the create until payment"))?;
    let mut lines = Vec::new();
    if let Some((period, price)) = quote.price {
        let end = period.last_day(today);
        lines.push(NewLine {
            kind: InvoiceLineKind::Service,
            description: format!(
                "{}, {} {today} to {end} (service #{})",
                quote.plan_name,
                period.as_str(),
                svc.id
            ),
            quantity: Decimal::ONE,
            unit_price: price,
            tax_rate: quote.tax_rate,
            service_id: Some(svc.id),
            period: Some((period, today, end)),
        });
    }
    if let Some(deposit) = quote.deposit {
        // Not taxed: it becomes credit, and tax is charged on the invoices it pays.
        lines.push(NewLine {
            kind: InvoiceLineKind::Deposit,
            description: format!(
                "Deposit for {} (becomes credit when paid; service #{})",
                quote.plan_name, svc.id
            ),
            quantity: Decimal::ONE,
            unit_price: deposit,
            tax_rate: Decimal::ZERO,
            service_id: Some(svc.id),
            period: None,
        });
    }
    let inv = invoices::insert_draft(
        db,
        client.id,
        &quote.currency,
        lines,
        Some(svc.id),
        Some(today),
        now,
    )
    .await?;
    invoices::issue_in(
        db,
        inv.clone(),
        client,
        &quote.currency,
        today,
        now,
        settings,
    )
    .await?;
    Ok(inv.id)
}

/// Queues the service's create that waits for payment. Returns it, if one waited.
pub(crate) async fn release<C: ConnectionTrait>(
    db: &C,
    service_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let held = operation::Entity::find()
        .filter(operation::Column::ServiceId.eq(service_id))
        .filter(operation::Column::Kind.eq(OperationKind::Create))
        .filter(operation::Column::Status.eq(OperationStatus::AwaitingPayment))
        .one(db)
        .await
        .map_err(db_err("reading the held create"))?;
    let Some(op) = held else {
        return Ok(None);
    };
    operation::Entity::update_many()
        .col_expr(
            operation::Column::Status,
            Expr::value(OperationStatus::Queued),
        )
        .col_expr(operation::Column::NextRunAt, Expr::value(now))
        .col_expr(operation::Column::UpdatedAt, Expr::value(now))
        .filter(operation::Column::Id.eq(op.id))
        .filter(operation::Column::Status.eq(OperationStatus::AwaitingPayment))
        .exec(db)
        .await
        .map_err(db_err("queueing the paid create"))?;
    Ok(Some(op.id))
}

/// The order's invoice was cancelled: its held create is cancelled and the service,
/// never provisioned, is terminated, both in the cancel's transaction.
pub(crate) async fn drop_order<C: ConnectionTrait>(
    db: &C,
    service_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let r = operation::Entity::update_many()
        .col_expr(
            operation::Column::Status,
            Expr::value(OperationStatus::Cancelled),
        )
        .col_expr(operation::Column::FinishedAt, Expr::value(now))
        .col_expr(operation::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            operation::Column::LastError,
            Expr::value("the order's invoice was cancelled"),
        )
        .filter(operation::Column::ServiceId.eq(service_id))
        .filter(operation::Column::Kind.eq(OperationKind::Create))
        .filter(operation::Column::Status.eq(OperationStatus::AwaitingPayment))
        .exec(db)
        .await
        .map_err(db_err("cancelling the held create"))?;
    if r.rows_affected > 0 {
        service::Entity::update_many()
            .col_expr(
                service::Column::Status,
                Expr::value(ServiceStatus::Terminated),
            )
            .col_expr(service::Column::UpdatedAt, Expr::value(now))
            .filter(service::Column::Id.eq(service_id))
            .filter(service::Column::Status.eq(ServiceStatus::Pending))
            .exec(db)
            .await
            .map_err(db_err("terminating the unpaid service"))?;
    }
    Ok(())
}
