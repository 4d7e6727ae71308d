//! Invoices' lines and what billing staff do with an invoice — issue it, record a
//! payment, refund, cancel — and billing runs. Each change is `provisor_app`'s use case
//! (`invoices::{issue_many, pay, refund, cancel}`, `daily::{run, period}`), which
//! records its audit entry with the principal's actor and the peer's address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::NaiveDate;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_billing::refunds::{self, Destination};
use provisor_billing::run::Event;
use provisor_store::db_err;
use provisor_store::entities::invoice;
use provisor_store::entities::kinds::InvoiceLineKind;
use provisor_store::error::{Error, Message};

use crate::auth;
use crate::body;
use crate::page::List;
use crate::problem::Problem;
use crate::routes::id_of;
use crate::routes::invoices::Invoice;
use crate::state::Api;
use crate::voice;

/// A line of an invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLine {
    /// Always `invoice_line`.
    #[schema(example = "invoice_line")]
    pub object: &'static str,
    /// Its place on the invoice, from 1.
    pub position: i32,
    /// `service`, `deposit`, `manual` or `usage`.
    #[schema(value_type = String, example = "service")]
    pub kind: InvoiceLineKind,
    /// What is billed.
    pub description: String,
    /// How many, a decimal string.
    #[schema(example = "1")]
    pub quantity: String,
    /// The price of one, a decimal string in `currency`.
    #[schema(example = "10.00")]
    pub unit_price: String,
    /// quantity × unit price, rounded.
    pub net: String,
    /// The tax rate in percent, a decimal string.
    pub tax_rate: String,
    /// net × rate / 100, rounded.
    pub tax: String,
    /// net + tax.
    pub total: String,
    /// The invoice's currency.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The service billed, for service and usage lines.
    pub service_id: Option<i64>,
    /// The billing period of a service or usage line (`monthly` … `annual`).
    pub period: Option<String>,
    /// The first day of the period billed (`YYYY-MM-DD`).
    pub period_start: Option<String>,
    /// The last day of the period billed (`YYYY-MM-DD`).
    pub period_end: Option<String>,
}

/// The body of `POST /v1/invoices/{id}/issue` (it may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInvoice {
    /// The issue date, `YYYY-MM-DD` (default: today in the billing time zone).
    pub date: Option<String>,
}

/// The body of `POST /v1/invoices/{id}/payments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// What arrived, a decimal string (more than is due becomes the client's credit).
    #[schema(example = "12.00")]
    pub amount: String,
    /// Its currency: the invoice's.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The bank's or gateway's transaction id: unique, so a payment sent twice is
    /// recorded once.
    #[schema(example = "bank-2026-0042")]
    pub reference: String,
    /// The day the money arrived, `YYYY-MM-DD` (default: today in the billing time zone).
    pub date: Option<String>,
}

/// A payment recorded (or found already recorded under its reference).
#[derive(Debug, Serialize, ToSchema)]
pub struct Payment {
    /// Always `payment`.
    #[schema(example = "payment")]
    pub object: &'static str,
    /// The payment's id.
    pub id: i64,
    /// The invoice paid.
    pub invoice_id: i64,
    /// False when this reference was already recorded: nothing changed.
    pub recorded: bool,
    /// The reference.
    pub reference: String,
    /// What went to the invoice, a decimal string.
    pub applied: String,
    /// What was paid beyond the amount due and became credit, a decimal string.
    pub credited: String,
    /// The invoice's currency.
    pub currency: String,
    /// The create operation the payment released (an order's invoice paid in full).
    pub released_operation_id: Option<i64>,
    /// The invoice as it is now.
    pub invoice: Invoice,
}

/// The body of `POST /v1/invoices/{id}/refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// The refund's bank or gateway transaction id (unique, like a payment's).
    #[schema(example = "refund-2026-0007")]
    pub reference: String,
    /// What to give back, a decimal string (default: everything paid and not yet
    /// refunded).
    pub amount: Option<String>,
    /// The amount's currency, the invoice's (required with `amount`).
    pub currency: Option<String>,
    /// `original` (back through the bank or gateway, the default) or `credit` (the
    /// client's credit).
    #[schema(example = "original")]
    pub to: Option<String>,
    /// The day the money went back, `YYYY-MM-DD` (default: today in the billing time
    /// zone).
    pub date: Option<String>,
}

/// A refund recorded (or found already recorded under its reference).
#[derive(Debug, Serialize, ToSchema)]
pub struct Refund {
    /// Always `refund`.
    #[schema(example = "refund")]
    pub object: &'static str,
    /// The refund's id.
    pub id: i64,
    /// The invoice refunded.
    pub invoice_id: i64,
    /// False when this reference was already recorded: nothing changed.
    pub recorded: bool,
    /// The reference.
    pub reference: String,
    /// `original` or `credit`.
    #[schema(value_type = String, example = "original")]
    pub to: Destination,
    /// What was given back, a positive decimal string.
    pub amount: String,
    /// The invoice's currency.
    pub currency: String,
    /// What can still be refunded on the invoice.
    pub refundable: String,
    /// The client's credit balance after a refund to credit.
    pub balance: Option<String>,
    /// The invoice's services: a refund leaves them as they are.
    pub services: Vec<i64>,
    /// The invoice as it is now.
    pub invoice: Invoice,
}

/// The body of `POST /v1/billing/runs`: a `date` or a `period`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBillingRun {
    /// A day's run, `YYYY-MM-DD`: the billing of that day (renewals, usage, overdue
    /// steps) and the modules' daily work, as the daily schedule runs it.
    pub date: Option<String>,
    /// A past month, `YYYY-MM`: its usage billed again (only what was not billed).
    pub period: Option<String>,
    /// With `period`: the invoices' issue date (default: today in the billing time zone).
    pub issue_date: Option<String>,
    /// Say what would be billed and write nothing (the same code path).
    #[serde(default)]
    pub dry_run: bool,
}

/// One thing a billing run did, or would do in a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingEvent {
    /// The step (`month_end`, `postpaid`, `renewal`, `overdue`…).
    pub step: String,
    /// The client concerned, if any.
    pub client_id: Option<i64>,
    /// The service concerned, if any.
    pub service_id: Option<i64>,
    /// The invoice written (or that would be), by number or id.
    pub invoice: Option<String>,
    /// A decimal string in `currency`.
    pub amount: Option<String>,
    /// The currency of `amount`.
    pub currency: Option<String>,
    /// What happened, in words.
    pub message: String,
    /// The step could not do this (nothing was billed for it; a later run tries again).
    pub failed: bool,
    /// The handler whose module failed, for a failed event.
    pub handler: Option<String>,
}

/// The modules' daily work for one handler in a day's run.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandlerDaily {
    /// The handler.
    pub handler: String,
    /// `done`, `not_supported`, `failed`, or `skipped` (dry run).
    pub status: String,
    /// How many services the module was shown.
    pub services: usize,
    /// How many actions it reported.
    pub actions: usize,
}

/// What a billing run did, or would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingRun {
    /// Always `billing_run`.
    #[schema(example = "billing_run")]
    pub object: &'static str,
    /// The day run (`YYYY-MM-DD`), for a day's run.
    pub date: Option<String>,
    /// The month billed again (`YYYY-MM`), for a period's run.
    pub period: Option<String>,
    /// The invoices' issue date, for a period's run.
    pub issue_date: Option<String>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Whether every step could run; when false, `failures` names the handlers whose
    /// usage could not be read (running it again bills what was left).
    pub complete: bool,
    /// The handlers whose usage could not be read, if any.
    pub failures: Option<String>,
    /// Billing's events, in order.
    pub events: Vec<BillingEvent>,
    /// The modules' daily work, per handler (a day's run only).
    pub handlers: Vec<HandlerDaily>,
}

fn invalid(field: &'static str, text: String) -> Problem {
    Problem::from_error(&Error::invalid(Message::about(field, text)))
}

fn day(field: &'static str, text: Option<&str>, api: &Api) -> Result<NaiveDate, Problem> {
    match text {
        None => Ok(api.billing.zone.date_of(api.clock.now())),
        Some(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| {
            invalid(
                field,
                format!("{t:?} is not a day: write YYYY-MM-DD (e.g. 2026-03-01)"),
            )
        }),
    }
}

/// The invoice `raw` names, for staff (a missing one is a 404).
async fn invoice_of(api: &Api, raw: &str) -> Result<invoice::Model, Problem> {
    let id = id_of(raw, "invoice")?;
    invoice::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading an invoice"))?
        .ok_or_else(|| auth::not_found(&format!("invoice {id}")))
}

/// The invoice as it is now, after a change.
async fn reread(api: &Api, id: i64) -> Result<Invoice, Problem> {
    invoice_of(api, &id.to_string()).await.map(Invoice::from)
}

fn same_currency(field: &'static str, given: &str, inv: &invoice::Model) -> Result<(), Problem> {
    if given.trim().eq_ignore_ascii_case(&inv.currency) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "{given:?} is not invoice {}'s currency: it is billed in {}, so give the amount in {}",
                inv.id, inv.currency, inv.currency
            ),
        ))
    }
}

fn answer<T: Serialize>(status: StatusCode, r: Result<T, Problem>) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn lines(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let inv = invoice_of(&api, &raw).await?;
        auth::owned(&p, inv.client_id, &format!("invoice {}", inv.id))?;
        let v = provisor_billing::invoices::show(&api.store, &inv.id.to_string()).await?;
        let data = v
            .lines
            .into_iter()
            .map(|l| InvoiceLine {
                object: "invoice_line",
                position: l.position,
                kind: l.kind,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                net: l.net,
                tax_rate: l.tax_rate,
                tax: l.tax,
                total: l.total,
                currency: v.currency.clone(),
                service_id: l.service_id,
                period: l.period,
                period_start: l.period_start.map(|d| d.to_string()),
                period_end: l.period_end.map(|d| d.to_string()),
            })
            .collect();
        Ok::<_, Problem>(List {
            object: "list",
            data,
            has_more: false,
            next: None,
        })
    };
    answer(StatusCode::OK, run.await)
}

pub(crate) async fn issue(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let asked: IssueInvoice = if bytes.iter().all(u8::is_ascii_whitespace) {
            IssueInvoice::default()
        } else {
            body::json(&bytes)?
        };
        let inv = invoice_of(&api, &raw).await?;
        let on = day("date", asked.date.as_deref(), &api)?;
        provisor_app::invoices::issue_many(
            (&api.store, &api.billing, api.clock.now()),
            &auth::actor(&p, peer),
            &[inv.id.to_string()],
            on,
        )
        .await?;
        reread(&api, inv.id).await
    };
    answer(StatusCode::OK, run.await)
}

pub(crate) async fn pay(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewPayment = body::json(&bytes)?;
        let inv = invoice_of(&api, &raw).await?;
        same_currency("currency", &new.currency, &inv)?;
        let on = day("date", new.date.as_deref(), &api)?;
        let paid = provisor_app::invoices::pay(
            (&api.store, &api.billing, api.clock.now()),
            &auth::actor(&p, peer),
            &inv.id.to_string(),
            (&new.amount, &new.reference),
            on,
        )
        .await?;
        let status = if paid.recorded {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok::<_, Problem>((
            status,
            Payment {
                object: "payment",
                id: paid.payment_id,
                invoice_id: inv.id,
                recorded: paid.recorded,
                reference: new.reference.trim().to_string(),
                applied: paid.applied,
                credited: paid.credited,
                currency: inv.currency.clone(),
                released_operation_id: paid.released_operation,
                invoice: reread(&api, inv.id).await?,
            },
        ))
    };
    match run.await {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn refund(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewRefund = body::json(&bytes)?;
        let inv = invoice_of(&api, &raw).await?;
        match (&new.amount, &new.currency) {
            (Some(_), None) => {
                return Err(invalid(
                    "currency",
                    format!(
                        "is missing: give the amount's currency ({}, the invoice's)",
                        inv.currency
                    ),
                ))
            }
            (_, Some(c)) => same_currency("currency", c, &inv)?,
            (None, None) => {}
        }
        let to = Destination::parse(new.to.as_deref().unwrap_or("original"))?;
        let id = inv.id.to_string();
        let request = refunds::Request {
            invoice: &id,
            amount: new.amount.as_deref(),
            reference: &new.reference,
            to,
            day: day("date", new.date.as_deref(), &api)?,
        };
        let r = provisor_app::invoices::refund(
            (&api.store, &api.billing, api.clock.now()),
            &auth::actor(&p, peer),
            request,
        )
        .await?;
        let status = if r.recorded {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok::<_, Problem>((
            status,
            Refund {
                object: "refund",
                id: r.payment_id,
                invoice_id: inv.id,
                recorded: r.recorded,
                reference: r.reference,
                to: r.to,
                amount: r.amount,
                currency: inv.currency.clone(),
                refundable: r.refundable,
                balance: r.balance,
                services: r.services,
                invoice: reread(&api, inv.id).await?,
            },
        ))
    };
    match run.await {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(p) => p.into_response(),
    }
}

pub(crate) async fn cancel(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let inv = invoice_of(&api, &raw).await?;
        provisor_app::invoices::cancel(
            (&api.store, &api.billing, api.clock.now()),
            &auth::actor(&p, peer),
            &inv.id.to_string(),
        )
        .await?;
        reread(&api, inv.id).await
    };
    answer(StatusCode::OK, run.await)
}

fn event(e: Event) -> BillingEvent {
    BillingEvent {
        message: e.message.render(&voice::Api),
        step: e.step,
        client_id: e.client_id,
        service_id: e.service_id,
        invoice: e.invoice,
        amount: e.amount,
        currency: e.currency,
        failed: e.failed,
        handler: e.handler,
    }
}

pub(crate) async fn run(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewBillingRun = body::json(&bytes)?;
        let actor = auth::actor(&p, peer);
        match (&new.date, &new.period) {
            (Some(d), None) => {
                if new.issue_date.is_some() {
                    return Err(invalid(
                        "issue_date",
                        "goes with period only: a day's run issues its invoices on that day"
                            .to_string(),
                    ));
                }
                let date = day("date", Some(d), &api)?;
                let done =
                    provisor_app::daily::run(&api.rt, &api.billing, &actor, date, new.dry_run)
                        .await?;
                let failures = done.usage_failures();
                Ok::<_, Problem>(BillingRun {
                    object: "billing_run",
                    date: Some(date.to_string()),
                    period: None,
                    issue_date: None,
                    dry_run: new.dry_run,
                    complete: failures.is_none(),
                    failures,
                    events: done.billing.into_iter().map(event).collect(),
                    handlers: done
                        .handlers
                        .into_iter()
                        .map(|h| HandlerDaily {
                            handler: h.handler,
                            status: h.status,
                            services: h.services,
                            actions: h.actions.len(),
                        })
                        .collect(),
                })
            }
            (None, Some(m)) => {
                let month = NaiveDate::parse_from_str(&format!("{}-01", m.trim()), "%Y-%m-%d")
                    .map_err(|_| {
                        invalid(
                            "period",
                            format!("{m:?} is not a month: write YYYY-MM (e.g. 2026-02)"),
                        )
                    })?;
                let issue = day("issue_date", new.issue_date.as_deref(), &api)?;
                let events = provisor_app::daily::period(
                    &api.rt,
                    &api.billing,
                    &actor,
                    month,
                    (issue, new.dry_run),
                )
                .await?;
                let failures = Event::failures(&events);
                Ok(BillingRun {
                    object: "billing_run",
                    date: None,
                    period: Some(month.format("%Y-%m").to_string()),
                    issue_date: Some(issue.to_string()),
                    dry_run: new.dry_run,
                    complete: failures.is_none(),
                    failures,
                    events: events.into_iter().map(event).collect(),
                    handlers: Vec::new(),
                })
            }
            (None, None) => Err(invalid(
                "date",
                "is missing: give date (a day to run, YYYY-MM-DD) or period (a past month to bill again, YYYY-MM)".to_string(),
            )),
            (Some(_), Some(_)) => Err(invalid(
                "period",
                "goes without date: give date (a day's run) or period (a month billed again), not both".to_string(),
            )),
        }
    };
    answer(StatusCode::OK, run.await)
}
