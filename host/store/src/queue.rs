//! Rows written into the durable queues: an operation for the engine's workers, emails
//! for the outbox. Only the insert lives here, so billing can queue work in its own
//! transaction; what an operation means and how it runs is the engine's.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::Value;

use crate::db_err;
use crate::entities::kinds::OperationKind;
use crate::entities::status::OperationStatus;
use crate::entities::{operation, outbox, service};
use crate::error::Result;

/// The attempts an operation gets before it turns manual when nothing else is set.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// Queues operation `kind` for `svc`, runnable at once, with `max_attempts` tries.
pub async fn insert_operation<C: ConnectionTrait>(
    db: &C,
    svc: &service::Model,
    kind: OperationKind,
    params: Value,
    now: DateTime<Utc>,
    max_attempts: i32,
) -> Result<operation::Model> {
    let key = format!("{kind}-s{}-{}", svc.id, uuid::Uuid::new_v4().simple());
    operation::ActiveModel {
        service_id: Set(svc.id),
        handler_id: Set(svc.handler_id),
        kind: Set(kind),
        status: Set(OperationStatus::Queued),
        operation_key: Set(key),
        attempts: Set(0),
        max_attempts: Set(max_attempts),
        next_run_at: Set(now),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        params: Set(params.to_string()),
        state: Set(None),
        last_error: Set(None),
        last_error_kind: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("queueing the operation"))
}

/// Queues emails in the outbox, each once: a row whose dedupe key is already there is
/// skipped. Multi-row inserts of at most 500 rows. The one way anything writes the
/// outbox (welcome emails, invoice emails).
pub async fn queue_emails<C: ConnectionTrait>(
    db: &C,
    rows: Vec<outbox::ActiveModel>,
) -> Result<()> {
    for part in rows.chunks(500) {
        outbox::Entity::insert_many(part.to_vec())
            .on_conflict(
                OnConflict::column(outbox::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(db_err("queueing emails in the outbox"))?;
    }
    Ok(())
}
