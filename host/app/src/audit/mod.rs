//! The audit log: who changed what, when, and what it was before and after.
//!
//! Every use case that changes state takes an [`Actor`] and appends one entry with
//! [`record`], in the same transaction as the change where the use case owns one, else
//! right after its commit (`docs/audit.md` says which, per action). An entry's
//! `before`/`after` are small JSON objects of the fields that changed, never a secret:
//! a handler's settings appear only as the names of the keys that changed.
//! Must not: decide whether a change is allowed, or be written by a front end itself.

mod action;
mod actor;
mod query;

pub use action::Action;
pub use actor::Actor;
pub use query::{list, select, Filter};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::Value;

use provisor_store::db_err;
use provisor_store::entities::audit_entry;
use provisor_store::error::Result;

/// The row [`record`] appends, for a caller that inserts it with others (the engine's
/// completions write theirs in one statement).
pub fn entry(
    actor: &Actor,
    action: Action,
    object_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    now: DateTime<Utc>,
) -> audit_entry::ActiveModel {
    let text = |v: Option<Value>| v.filter(|v| !v.is_null()).map(|v| v.to_string());
    audit_entry::ActiveModel {
        at: Set(now),
        actor_kind: Set(actor.kind),
        actor_id: Set(actor.id),
        actor_name: Set(actor.name.clone()),
        action: Set(action.as_str().to_string()),
        object_kind: Set(action.object_kind().to_string()),
        object_id: Set(object_id),
        before: Set(text(before)),
        after: Set(text(after)),
        source_addr: Set(actor.source.clone()),
        ..Default::default()
    }
}

/// Appends one entry: `actor` did `action` to the object `object_id` (its kind is the
/// action's first word), changing `before` into `after`. On a transaction, the entry
/// commits or rolls back with the change.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    action: Action,
    object_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    audit_entry::Entity::insert(entry(actor, action, object_id, before, after, now))
        .exec_without_returning(db)
        .await
        .map_err(db_err("recording the audit entry"))?;
    Ok(())
}

/// [`record`] on the store's pool after the change committed, taking SQLite's writer
/// turn first (the change's own transaction has ended).
pub async fn record_after(
    store: &provisor_store::Store,
    actor: &Actor,
    action: Action,
    object_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    let _turn = store.write_turn().await;
    record(store.db(), actor, action, object_id, before, after, now).await
}
