//! `POST /v1/usage`: `usage import` over HTTP. It takes the same text as the command
//! (a JSON array or JSON lines of usage records) and runs the same code:
//! [`import::parse`], then [`import::import_records`] (through the app, which records
//! the import in the audit log), so it is all or nothing, deduped
//! by transaction id, and late usage is flagged. It answers 200 with the summary only
//! after the import's transaction committed.

use super::answer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

use provisor_billing::usage::import;
use provisor_store::error::Error;

use crate::auth;
use crate::body;
use crate::problem::Problem;
use crate::state::Api;

/// What an import did (the answer of `POST /v1/usage`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageImported {
    /// Records in the batch.
    pub records: u64,
    /// Records stored.
    pub inserted: u64,
    /// Transaction ids already imported, or repeated in the batch.
    pub duplicates: u64,
    /// Records for a month already invoiced (they go on the next invoice).
    pub late: u64,
    /// How long the import took, in seconds.
    pub secs: f64,
    /// Records read per second.
    pub records_per_sec: f64,
}

impl From<import::Imported> for UsageImported {
    fn from(i: import::Imported) -> Self {
        UsageImported {
            records: i.records as u64,
            inserted: i.inserted,
            duplicates: i.duplicates,
            late: i.late as u64,
            secs: i.secs,
            records_per_sec: i.records_per_sec,
        }
    }
}

pub(crate) async fn post(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Option<Extension<provisor_app::accounts::Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let actor = auth::usage_actor(principal.as_deref(), peer);
    let answer = answer(import_batch(&api, (peer, actor), &headers, body, started).await);
    let status = answer.status();
    if !status.is_success() {
        tracing::warn!("api: usage batch from {peer} refused: {status}");
    }
    answer
}

async fn import_batch(
    api: &Api,
    (peer, actor): (SocketAddr, provisor_app::audit::Actor),
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<UsageImported, Problem> {
    let bytes = body::read(headers, body, api.max_body, api.body_timeout).await?;
    // Parsing tens of megabytes takes a while: off the async workers.
    let settings = api.billing;
    let parsed = tokio::task::spawn_blocking(move || {
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::Invalid(format!(
                "the request body is not UTF-8 text ({e}); nothing was imported: send a JSON array or JSON lines of usage records"
            ))
        })?;
        import::parse(&text, &settings)
    })
    .await
    .map_err(|e| {
        Problem::from_error(&Error::Io(format!(
            "reading the usage batch failed ({e}); nothing was imported: send it again"
        )))
    })?;
    let records = parsed.map_err(Problem::from)?;
    // Its own task: a client that hangs up does not cut the import short; the answer
    // is sent only after the transaction committed.
    let store = api.store.clone();
    let now = api.clock.now();
    // The configured token has no row of its own: the entry names it and the address
    // (`auth::usage_actor`); a staff credential is recorded as itself.
    let imported = tokio::spawn(async move {
        provisor_app::invoices::import_usage_records(
            (&store, &settings, now),
            &actor,
            records,
            started,
        )
        .await
    })
    .await
    .map_err(|e| {
        Problem::from_error(&Error::Io(format!(
            "the usage import stopped ({e}); nothing was imported: send the batch again"
        )))
    })?
    .map_err(Problem::from)?;
    tracing::info!(
        "api: usage batch from {peer}: {} record(s), {} inserted, {} duplicate(s), {} late",
        imported.records,
        imported.inserted,
        imported.duplicates,
        imported.late
    );
    Ok(imported.into())
}
