//! The routes: the router is built from the route table ([`crate::table::ROUTES`])
//! alone, one handler per [`Operation`], each behind its policy's authentication and,
//! for a POST, the idempotency layer; paths not in the table are a 404 problem, methods
//! a path does not take a 405 problem with `Allow`. A handler parses, calls app and
//! renders; it holds no business rule.

pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod catalog;
pub(crate) mod clients;
pub(crate) mod handlers;
pub(crate) mod health;
pub(crate) mod invoices;
pub(crate) mod operations;
pub(crate) mod service_ops;
pub(crate) mod services;
pub(crate) mod sessions;
pub(crate) mod tasks;
pub(crate) mod usage;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, MethodRouter};
use axum::{Json, Router};

use crate::auth;
use crate::headers::{self, Cors};
use crate::idempotency;
use crate::problem::{Kind, Problem};
use crate::state::Api;
use crate::table::{allow, BodyLimit, Method, Operation, Route, ROUTES};

/// The document served at `GET /v1/openapi.json`, made once.
#[derive(Clone)]
struct OpenApiText(Arc<String>);

fn handler(op: Operation, openapi: &OpenApiText) -> MethodRouter<Arc<Api>> {
    match op {
        Operation::Health => get(health::get),
        Operation::OpenApi => {
            let text = openapi.clone();
            get(move || async move {
                (
                    [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                    text.0.as_str().to_owned(),
                )
            })
        }
        Operation::PushUsage => post(usage::post),
        Operation::CreateSession => post(sessions::create),
        Operation::DeleteSession => delete(sessions::delete),
        Operation::GetMe => get(sessions::me),
        Operation::ListClients => get(clients::list),
        Operation::GetClient => get(clients::show),
        Operation::CreateClient => post(clients::create),
        Operation::ListServices => get(services::list),
        Operation::GetService => get(services::show),
        Operation::CreateService => post(services::order),
        Operation::SuspendService => post(services::suspend),
        Operation::UnsuspendService => post(services::unsuspend),
        Operation::TerminateService => post(services::terminate),
        Operation::ListInvoices => get(invoices::list),
        Operation::GetInvoice => get(invoices::show),
        Operation::ListInvoiceLines => get(billing::lines),
        Operation::IssueInvoice => post(billing::issue),
        Operation::PayInvoice => post(billing::pay),
        Operation::RefundInvoice => post(billing::refund),
        Operation::CancelInvoice => post(billing::cancel),
        Operation::RunBilling => post(billing::run),
        Operation::ListAudit => get(audit::list),
        Operation::ChangeServicePlan => post(service_ops::change_plan),
        Operation::RenewService => post(service_ops::renew),
        Operation::ServiceSso => post(service_ops::sso),
        Operation::GetServicePanel => get(service_ops::panel),
        Operation::RunServiceAction => post(service_ops::action),
        Operation::ListOperations => get(operations::list),
        Operation::GetOperation => get(operations::show),
        Operation::RetryOperation => post(operations::retry),
        Operation::CancelOperation => post(operations::cancel),
        Operation::ListTasks => get(tasks::list),
        Operation::GetTask => get(tasks::show),
        Operation::TakeTask => post(tasks::take),
        Operation::CompleteTask => post(tasks::complete),
        Operation::ReturnTask => post(tasks::send_back),
        Operation::ListPlans => get(catalog::list_plans),
        Operation::GetPlan => get(catalog::show_plan),
        Operation::SetPlanPrice => post(catalog::set_price),
        Operation::ListDepartments => get(catalog::list_departments),
        Operation::AddDepartment => post(catalog::add_department),
        Operation::ListHandlers => get(handlers::list),
        Operation::GetHandler => get(handlers::show),
        Operation::AddHandler => post(handlers::add),
        Operation::EnableHandler => post(handlers::enable),
        Operation::DisableHandler => post(handlers::disable),
        Operation::TestHandler => post(handlers::test),
        Operation::ListModules => get(handlers::list_modules),
        Operation::UploadModule => post(handlers::upload_module),
        Operation::GetLedger => get(catalog::ledger),
    }
}

fn route_of(api: &Arc<Api>, r: &'static Route, openapi: &OpenApiText) -> MethodRouter<Arc<Api>> {
    let mut h = handler(r.operation, openapi);
    let limit = match r.body {
        BodyLimit::Json => api.json_max_body,
        BodyLimit::Batch => api.max_body,
    };
    // A login's answer holds the new session token, a sign-in link's the link: neither
    // is stored as an idempotent answer (a replay would hand the secret out again).
    if r.method == Method::Post
        && !matches!(
            r.operation,
            Operation::CreateSession | Operation::ServiceSso
        )
    {
        h = h.layer(from_fn_with_state(
            (Arc::clone(api), limit),
            idempotency::layer,
        ));
    }
    // axum's own body extractors (`Bytes`, `Json`) hold the route's limit too.
    h.layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state((Arc::clone(api), r), auth::check))
}

/// The API's router, from the route table, with the security headers on every answer.
pub(crate) fn router(api: Arc<Api>, openapi: String) -> Router {
    let openapi = OpenApiText(Arc::new(openapi));
    let mut router = Router::new();
    let mut paths: Vec<&str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut methods = MethodRouter::new();
        for r in ROUTES.iter().filter(|r| r.path == path) {
            methods = methods.merge(route_of(&api, r, &openapi));
        }
        let allowed = allow(path);
        methods = methods.fallback(move |req: Request| async move { wrong_method(&req, &allowed) });
        router = router.route(path, methods);
    }
    let cors = Arc::new(Cors {
        origins: api.cors_origins.clone(),
    });
    router
        .fallback(not_found)
        .with_state(api)
        .layer(from_fn_with_state(cors, headers::secure))
}

async fn not_found(State(_): State<Arc<Api>>, req: Request) -> Response {
    Problem::new(
        Kind::NotFound,
        format!(
            "no such path {}: GET /v1/openapi.json lists the API's paths",
            req.uri().path()
        ),
    )
    .into_response()
}

fn wrong_method(req: &Request, allowed: &str) -> Response {
    let value = HeaderValue::from_str(allowed).unwrap_or(HeaderValue::from_static("GET"));
    Problem::new(
        Kind::MethodNotAllowed,
        format!(
            "{} takes {allowed} only, not {}",
            req.uri().path(),
            req.method()
        ),
    )
    .header(ALLOW, value)
    .into_response()
}

/// A time as the API writes it: RFC 3339 in UTC, to the second.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A path's `{id}`, a whole number; anything else is the same 404 as a missing object.
pub(crate) fn id_of(raw: &str, what: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .map_err(|_| crate::auth::not_found(&format!("{what} {raw:?}")))
}

/// A handler's answer: the value as JSON (200), or the problem.
pub(crate) fn answer<T: serde::Serialize>(r: Result<T, Problem>) -> Response {
    answer_as(StatusCode::OK, r)
}

/// A handler's answer with `status` on success: the value as JSON, or the problem.
pub(crate) fn answer_as<T: serde::Serialize>(
    status: StatusCode,
    r: Result<T, Problem>,
) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(p) => p.into_response(),
    }
}
