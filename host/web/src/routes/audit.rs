//! The audit log: `GET /v1/audit` (admin and owner), newest first, filtered as the
//! command line filters it (`provisor_app::audit::Filter`: `actor`, `object`, `action`,
//! `since`). Pages walk down the ids (`provisor_app::page::read_newest_first`): the
//! next page's `starting_after` is the lowest id of the page before.

use super::answer;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use provisor_app::audit::Filter;
use provisor_store::entities::audit_entry;
use provisor_store::entities::kinds::ActorKind;

use crate::page;
use crate::problem::Problem;
use crate::routes::time;
use crate::state::Api;

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// `staff`, `client`, `token`, `module`, `system` or `shell`.
    #[schema(value_type = String, example = "staff")]
    pub kind: ActorKind,
    /// Its id, for staff, clients, tokens and modules' operations.
    pub id: Option<i64>,
    /// Its name (a person by email).
    #[schema(example = "billing@example.com")]
    pub name: String,
}

/// One entry of the audit log. It never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Always `audit_entry`.
    #[schema(example = "audit_entry")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// When it happened (RFC 3339).
    pub at: String,
    /// Who did it.
    pub actor: AuditActor,
    /// The address the request came from, if it came over the network.
    #[schema(example = "203.0.113.7")]
    pub source: Option<String>,
    /// What was done (`invoice.pay`, `service.suspend`; `docs/audit.md` lists them).
    #[schema(example = "invoice.pay")]
    pub action: String,
    /// The kind of object changed (`invoice`, `service`…).
    #[schema(example = "invoice")]
    pub object_kind: String,
    /// Its id (an invoice by number once it has one).
    pub object_id: Option<String>,
    /// What it was before, as the log recorded it.
    #[schema(value_type = Object)]
    pub before: Value,
    /// What it became.
    #[schema(value_type = Object)]
    pub after: Value,
}

fn parsed(text: Option<&str>) -> Value {
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())))
        .unwrap_or(Value::Null)
}

impl From<audit_entry::Model> for AuditEntry {
    fn from(e: audit_entry::Model) -> Self {
        AuditEntry {
            object: "audit_entry",
            id: e.id,
            at: time(e.at),
            actor: AuditActor {
                kind: e.actor_kind,
                id: e.actor_id,
                name: e.actor_name,
            },
            source: e.source_addr,
            action: e.action,
            object_kind: e.object_kind,
            object_id: e.object_id,
            before: parsed(e.before.as_deref()),
            after: parsed(e.after.as_deref()),
        }
    }
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut filter = Filter::default();
        let mut filters = Vec::new();
        for name in ["actor", "object", "action", "since"] {
            let Some(v) = q.get(name) else { continue };
            filter = match name {
                "actor" => filter.actor(v),
                "object" => filter.object(v),
                "action" => filter.action(v),
                _ => filter.since(v),
            }?;
            filters.push((name, v.clone()));
        }
        let pg = provisor_app::page::read_newest_first(
            &api.store,
            provisor_app::audit::select(&filter),
            audit_entry::Column::Id,
            cursor,
        )
        .await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/audit", &filters),
            cursor,
            pg,
            |e| e.id,
            AuditEntry::from,
        ))
    };
    answer(run.await)
}
