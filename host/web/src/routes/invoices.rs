//! Invoices: `GET /v1/invoices` (staff: all, filters `client_id`, `status`; a client:
//! its own) and `GET /v1/invoices/{id}` (staff, or the owning client; another client's
//! is a 404). Amounts are decimal strings in the invoice's currency.

use super::answer;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_store::db_err;
use provisor_store::entities::invoice;
use provisor_store::entities::status::InvoiceStatus;
use provisor_store::error::{Error, Message};

use crate::auth;
use crate::page;
use crate::problem::Problem;
use crate::routes::{id_of, time};
use crate::state::Api;

/// An invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invoice {
    /// Always `invoice`.
    #[schema(example = "invoice")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// `YYYY-NNNNNN`, gapless per year; none while a draft.
    #[schema(example = "2026-000042")]
    pub number: Option<String>,
    /// The client billed.
    pub client_id: i64,
    /// The service whose order it gates, if any.
    pub service_id: Option<i64>,
    /// `draft`, `unpaid`, `paid`, `cancelled` or `refunded`.
    #[schema(value_type = String, example = "unpaid")]
    pub status: InvoiceStatus,
    /// The currency of every amount on it.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The lines' net amounts, a decimal string.
    #[schema(example = "10.00")]
    pub subtotal: String,
    /// The lines' tax, a decimal string.
    #[schema(example = "2.00")]
    pub tax_total: String,
    /// `subtotal` + `tax_total`, a decimal string.
    #[schema(example = "12.00")]
    pub total: String,
    /// Payments and credit applied so far, a decimal string.
    #[schema(example = "0.00")]
    pub amount_paid: String,
    /// The day it was issued (`YYYY-MM-DD`).
    pub issue_date: Option<String>,
    /// The day it is due (`YYYY-MM-DD`).
    pub due_date: Option<String>,
    /// When it was paid in full (RFC 3339).
    pub paid_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<invoice::Model> for Invoice {
    fn from(i: invoice::Model) -> Self {
        Invoice {
            object: "invoice",
            id: i.id,
            number: i.number,
            client_id: i.client_id,
            service_id: i.service_id,
            status: i.status,
            currency: i.currency,
            subtotal: i.subtotal,
            tax_total: i.tax_total,
            total: i.total,
            amount_paid: i.amount_paid,
            issue_date: i.issue_date.map(|d| d.to_string()),
            due_date: i.due_date.map(|d| d.to_string()),
            paid_at: i.paid_at.map(time),
            created_at: time(i.created_at),
        }
    }
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut select = invoice::Entity::find();
        let mut filters = Vec::new();
        if let Some(own) = p.client_id() {
            select = select.filter(invoice::Column::ClientId.eq(own));
        }
        if let Some(v) = q.get("client_id") {
            let id: i64 = v.trim().parse().map_err(|_| {
                Problem::from_error(&Error::invalid(Message::about(
                    "client_id",
                    format!("{v:?} is not a whole number: pass a client's id"),
                )))
            })?;
            select = select.filter(invoice::Column::ClientId.eq(id));
            filters.push(("client_id", id.to_string()));
        }
        if let Some(v) = q.get("status") {
            let status: InvoiceStatus = serde_json::from_value(Value::String(v.clone()))
                .map_err(|_| {
                    Problem::from_error(&Error::invalid(Message::about(
                        "status",
                        format!("{v:?} is no invoice status: pass draft, unpaid, paid, cancelled or refunded"),
                    )))
                })?;
            select = select.filter(invoice::Column::Status.eq(status));
            filters.push(("status", v.clone()));
        }
        let pg = provisor_app::page::read(&api.store, select, invoice::Column::Id, cursor).await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/invoices", &filters),
            cursor,
            pg,
            |i| i.id,
            Invoice::from,
        ))
    };
    answer(run.await)
}

pub(crate) async fn show(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let id = id_of(&raw, "invoice")?;
        let what = format!("invoice {id}");
        let i = invoice::Entity::find_by_id(id)
            .one(api.store.db())
            .await
            .map_err(db_err("reading an invoice"))?
            .ok_or_else(|| auth::not_found(&what))?;
        auth::owned(&p, i.client_id, &what)?;
        Ok::<_, Problem>(Invoice::from(i))
    };
    answer(run.await)
}
