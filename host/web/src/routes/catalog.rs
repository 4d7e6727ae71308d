//! The catalog: plans with their prices and deposits (`GET /v1/plans`,
//! `GET /v1/plans/{id}`: any staff; a client sees only the plans it can order — those
//! with an enabled handler — with their prices in its own currency and nothing of how
//! they are provisioned), a plan's price (`POST /v1/plans/{id}/prices`: billing staff,
//! through `provisor_app::catalog::set_price`), departments (`GET`: any staff; `POST`:
//! admin, through `provisor_app::catalog::add_department`) and a client's credit ledger
//! (`GET /v1/clients/{id}/ledger`: staff, or the client itself).

use super::{answer, answer_as};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_billing::prices::{self, PlanPrices};
use provisor_store::db_err;
use provisor_store::entities::{client, department, handler, plan, plan_handler};

use crate::auth;
use crate::body;
use crate::page;
use crate::problem::Problem;
use crate::routes::{id_of, time};
use crate::state::Api;

/// A recurring price.
#[derive(Debug, Serialize, ToSchema)]
pub struct Price {
    /// The currency code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// `monthly`, `quarterly`, `semiannual` or `annual`.
    #[schema(example = "monthly")]
    pub period: String,
    /// The price per period, a decimal string.
    #[schema(example = "10.00")]
    pub amount: String,
}

/// A sign-up deposit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deposit {
    /// The currency code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The deposit, a decimal string.
    #[schema(example = "25.00")]
    pub amount: String,
}

/// A tariff plan with its prices and deposits. A client sees only its name, whether it
/// is an addon, its configurable options and its prices in the client's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plan {
    /// Always `plan`.
    #[schema(example = "plan")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// Its name (orders name it).
    #[schema(example = "web-basic")]
    pub name: String,
    /// Whether it is an addon, ordered for an existing service.
    pub is_addon: bool,
    /// The configurable options `{name: {value: {resource: amount}}}`.
    #[schema(value_type = Object)]
    pub options: Value,
    /// The module its handlers use (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Its handlers, in order of preference (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handlers: Option<Vec<String>>,
    /// The remote account template (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The resources passed to the module (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub resources: Option<Value>,
    /// Its recurring prices.
    pub prices: Vec<Price>,
    /// Its sign-up deposits.
    pub deposits: Vec<Deposit>,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

/// The body of `POST /v1/plans/{id}/prices`: a price set (or, with `amount` null,
/// removed) for a currency and period.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    /// The currency code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// `monthly`, `quarterly`, `semiannual` or `annual`.
    #[schema(example = "monthly")]
    pub period: String,
    /// The price per period, a decimal string; null removes the price.
    #[schema(example = "10.00")]
    pub amount: Option<String>,
}

/// A department: who takes manual tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Department {
    /// Always `department`.
    #[schema(example = "department")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// Its name (handlers and tasks name it).
    #[schema(example = "support")]
    pub name: String,
    /// Where it is reached, if given.
    pub email: Option<String>,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

impl From<department::Model> for Department {
    fn from(d: department::Model) -> Self {
        Department {
            object: "department",
            id: d.id,
            name: d.name,
            email: d.email,
            created_at: time(d.created_at),
        }
    }
}

/// The body of `POST /v1/departments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    /// Its name.
    #[schema(example = "abuse")]
    pub name: String,
    /// Where it is reached.
    pub email: Option<String>,
}

/// One credit ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// Its id.
    pub id: i64,
    /// Credit added (positive) or taken (negative), a decimal string.
    #[schema(example = "-10.00")]
    pub amount: String,
    /// The currency code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Why.
    pub reason: String,
    /// The invoice involved, if any.
    pub invoice_id: Option<i64>,
    /// The payment involved, if any.
    pub payment_id: Option<i64>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
}

/// A client's credit ledger: every entry, oldest first, and the balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    /// Always `ledger`.
    #[schema(example = "ledger")]
    pub object: &'static str,
    /// The client.
    pub client_id: i64,
    /// The client's currency.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The balance in that currency, a decimal string.
    #[schema(example = "15.00")]
    pub balance: String,
    /// The entries, in the order recorded.
    pub entries: Vec<LedgerEntry>,
}

/// The ids of the plans a client can order: those with an enabled handler.
async fn orderable(api: &Api) -> Result<BTreeSet<i64>, Problem> {
    let enabled: Vec<i64> = handler::Entity::find()
        .filter(handler::Column::Enabled.eq(true))
        .all(api.store.db())
        .await
        .map_err(db_err("reading handlers"))?
        .into_iter()
        .map(|h| h.id)
        .collect();
    Ok(plan_handler::Entity::find()
        .filter(plan_handler::Column::HandlerId.is_in(enabled))
        .all(api.store.db())
        .await
        .map_err(db_err("reading plans' handlers"))?
        .into_iter()
        .map(|l| l.plan_id)
        .collect())
}

/// The currency of the client a principal is, if it is one.
async fn client_currency(api: &Api, p: &Principal) -> Result<Option<String>, Problem> {
    let Some(id) = p.client_id() else {
        return Ok(None);
    };
    let c = client::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading a client"))?
        .ok_or_else(|| auth::not_found(&format!("client {id}")))?;
    Ok(Some(c.currency))
}

/// The plan as `currency`'s client (`Some`) or staff (`None`) sees it.
async fn render(api: &Api, p: plan::Model, currency: Option<&str>) -> Result<Plan, Problem> {
    let PlanPrices {
        prices, deposits, ..
    } = prices::list(&api.store, &p.id.to_string()).await?;
    let mine = |c: &str| currency.is_none_or(|own| own == c);
    let mut plan = Plan {
        object: "plan",
        id: p.id,
        name: p.name.clone(),
        is_addon: p.is_addon,
        options: serde_json::from_str(&p.options).unwrap_or(Value::Null),
        module: None,
        handlers: None,
        template: None,
        resources: None,
        prices: prices
            .into_iter()
            .filter(|r| mine(&r.currency))
            .map(|r| Price {
                currency: r.currency,
                period: r.period,
                amount: r.amount,
            })
            .collect(),
        deposits: deposits
            .into_iter()
            .filter(|d| mine(&d.currency))
            .map(|d| Deposit {
                currency: d.currency,
                amount: d.amount,
            })
            .collect(),
        created_at: time(p.created_at),
    };
    if currency.is_none() {
        let view = handler_names(api, &p).await?;
        plan.module = Some(p.module);
        plan.handlers = Some(view);
        plan.template = p.template;
        plan.resources = Some(serde_json::from_str(&p.resources).unwrap_or(Value::Null));
    }
    Ok(plan)
}

/// The names of a plan's handlers, in order of preference.
async fn handler_names(api: &Api, p: &plan::Model) -> Result<Vec<String>, Problem> {
    let links = plan_handler::Entity::find()
        .filter(plan_handler::Column::PlanId.eq(p.id))
        .all(api.store.db())
        .await
        .map_err(db_err("reading a plan's handlers"))?;
    let mut links = links;
    links.sort_by_key(|l| l.priority);
    let ids: Vec<i64> = links.iter().map(|l| l.handler_id).collect();
    let mut rows = handler::Entity::find()
        .filter(handler::Column::Id.is_in(ids.clone()))
        .all(api.store.db())
        .await
        .map_err(db_err("reading handlers"))?;
    rows.sort_by_key(|h| ids.iter().position(|id| *id == h.id));
    Ok(rows.into_iter().map(|h| h.name).collect())
}

pub(crate) async fn list_plans(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let currency = client_currency(&api, &p).await?;
        let mut select = plan::Entity::find();
        if currency.is_some() {
            select = select.filter(plan::Column::Id.is_in(orderable(&api).await?));
        }
        let pg = provisor_app::page::read(&api.store, select, plan::Column::Id, cursor).await?;
        let mut data = Vec::with_capacity(pg.data.len());
        for m in pg.data {
            data.push(render(&api, m, currency.as_deref()).await?);
        }
        let pg = provisor_app::page::Page {
            data,
            has_more: pg.has_more,
        };
        Ok::<_, Problem>(page::envelope("/v1/plans", cursor, pg, |p| p.id, |p| p))
    };
    answer(run.await)
}

/// The plan `raw` names, if the principal may see it (a client: an orderable one).
async fn visible_plan(api: &Api, p: &Principal, raw: &str) -> Result<plan::Model, Problem> {
    let id = id_of(raw, "plan")?;
    let what = format!("plan {id}");
    let m = plan::Entity::find_by_id(id)
        .one(api.store.db())
        .await
        .map_err(db_err("reading a plan"))?
        .ok_or_else(|| auth::not_found(&what))?;
    if p.client_id().is_some() && !orderable(api).await?.contains(&m.id) {
        return Err(auth::not_found(&what));
    }
    Ok(m)
}

pub(crate) async fn show_plan(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let m = visible_plan(&api, &p, &raw).await?;
        let currency = client_currency(&api, &p).await?;
        render(&api, m, currency.as_deref()).await
    };
    answer(run.await)
}

pub(crate) async fn set_price(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let m = visible_plan(&api, &p, &raw).await?;
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewPrice = body::json(&bytes)?;
        prices::Period::parse(&new.period).map_err(|e| Problem::from(e).field("period"))?;
        provisor_app::catalog::set_price(
            &api.store,
            &auth::actor(&p, peer),
            &m.id.to_string(),
            (&new.currency, &new.period),
            new.amount.as_deref(),
            api.clock.now(),
        )
        .await?;
        render(&api, m, None).await
    };
    answer(run.await)
}

pub(crate) async fn list_departments(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let pg = provisor_app::page::read(
            &api.store,
            department::Entity::find(),
            department::Column::Id,
            cursor,
        )
        .await?;
        Ok::<_, Problem>(page::envelope(
            "/v1/departments",
            cursor,
            pg,
            |d| d.id,
            Department::from,
        ))
    };
    answer(run.await)
}

pub(crate) async fn add_department(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewDepartment = body::json(&bytes)?;
        let d = provisor_app::catalog::add_department(
            &api.store,
            &auth::actor(&p, peer),
            &new.name,
            new.email,
            api.clock.now(),
        )
        .await?;
        Ok::<_, Problem>(Department::from(d))
    };
    answer_as(StatusCode::CREATED, run.await)
}

pub(crate) async fn ledger(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let id = id_of(&raw, "client")?;
        let what = format!("client {id}");
        auth::owned(&p, id, &what)?;
        client::Entity::find_by_id(id)
            .one(api.store.db())
            .await
            .map_err(db_err("reading a client"))?
            .ok_or_else(|| auth::not_found(&what))?;
        let l = provisor_billing::ledger::show(&api.store, &id.to_string()).await?;
        Ok::<_, Problem>(Ledger {
            object: "ledger",
            client_id: l.client_id,
            currency: l.currency,
            balance: l.balance,
            entries: l
                .entries
                .into_iter()
                .map(|e| LedgerEntry {
                    id: e.id,
                    amount: e.amount,
                    currency: e.currency,
                    reason: e.reason,
                    invoice_id: e.invoice_id,
                    payment_id: e.payment_id,
                    // Billing shows the time with its fractions; the API to the second.
                    created_at: chrono::DateTime::parse_from_rfc3339(&e.created_at)
                        .map(|t| time(t.with_timezone(&chrono::Utc)))
                        .unwrap_or(e.created_at),
                })
                .collect(),
        })
    };
    answer(run.await)
}
