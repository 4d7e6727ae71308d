//! Idempotency keys (Stripe's `Idempotency-Key`): the first request under a key records
//! itself, its answer is stored when it ends, and a request with the same key and the
//! same body gets that answer again instead of a second effect.
//!
//! Owns: the `idempotency_keys` rows and their rules: keys are per owner (the
//! credential), a key is bound to one method, path and body hash, a row whose answer is
//! not stored yet means "still running", and rows older than [`KEEP`] are gone (pruned
//! by the daemon's HTTP server and lazily when their key comes again). Must not: know
//! HTTP beyond a status number and a body text; the web crate's layer drives it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};

use provisor_store::db_err;
use provisor_store::entities::idempotency_key as row;
use provisor_store::error::Result;
use provisor_store::Store;

/// How long a key is kept: a request sent again after this is a new request.
pub const KEEP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How long a request may run under its key before the key is taken as abandoned (the
/// server that ran it stopped without storing an answer): a request sent again after
/// this runs anew.
pub const STALE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// What a request under a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Whose key (the credential's id; "anonymous" without one).
    pub owner: &'a str,
    /// The `Idempotency-Key`.
    pub key: &'a str,
    /// The method.
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// SHA-256 of the method, path and body, hex.
    pub hash: &'a str,
}

/// What [`begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key is new: this request runs; end it with [`finish`] or [`abandon`].
    New(Ticket),
    /// The same request ended before: its answer.
    Replay {
        /// The status.
        status: u16,
        /// The body.
        body: String,
    },
    /// The key was used for another method, path or body.
    Mismatch,
    /// The same request is still running.
    Running,
}

/// The row of a request that runs under a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(i64);

/// Records `req` under its key, or tells what the key already holds. A row older than
/// [`KEEP`], or one still running after [`STALE`], is removed first and the key starts
/// again.
pub async fn begin(store: &Store, req: &Request<'_>, now: DateTime<Utc>) -> Result<Begun> {
    for _ in 0..2 {
        let inserted = {
            let _turn = store.write_turn().await;
            row::Entity::insert(row::ActiveModel {
                owner: Set(req.owner.to_string()),
                key: Set(req.key.to_string()),
                method: Set(req.method.to_string()),
                path: Set(req.path.to_string()),
                request_hash: Set(req.hash.to_string()),
                response_status: Set(None),
                response_body: Set(None),
                created_at: Set(now),
                finished_at: Set(None),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([row::Column::Owner, row::Column::Key])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(store.db())
            .await
            .map_err(db_err("recording an idempotency key"))?
        };
        let Some(found) = find(store, req).await? else {
            // Removed between the insert and the read (it expired): try once more.
            continue;
        };
        if inserted == 1 {
            return Ok(Begun::New(Ticket(found.id)));
        }
        let stale = found.response_status.is_none() && found.created_at + STALE <= now;
        if found.created_at + KEEP <= now || stale {
            remove(store, found.id).await?;
            continue;
        }
        if found.method != req.method || found.path != req.path || found.request_hash != req.hash {
            return Ok(Begun::Mismatch);
        }
        return Ok(match (found.response_status, found.response_body) {
            (Some(status), Some(body)) => Begun::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            _ => Begun::Running,
        });
    }
    Ok(Begun::Running)
}

async fn find(store: &Store, req: &Request<'_>) -> Result<Option<row::Model>> {
    row::Entity::find()
        .filter(row::Column::Owner.eq(req.owner))
        .filter(row::Column::Key.eq(req.key))
        .one(store.db())
        .await
        .map_err(db_err("reading an idempotency key"))
}

async fn remove(store: &Store, id: i64) -> Result<()> {
    let _turn = store.write_turn().await;
    row::Entity::delete_by_id(id)
        .exec(store.db())
        .await
        .map_err(db_err("removing an idempotency key"))?;
    Ok(())
}

/// Stores the answer of the request `ticket` ran: the same request gets it from now on.
pub async fn finish(
    store: &Store,
    ticket: Ticket,
    status: u16,
    body: String,
    now: DateTime<Utc>,
) -> Result<()> {
    let _turn = store.write_turn().await;
    let Some(found) = row::Entity::find_by_id(ticket.0)
        .one(store.db())
        .await
        .map_err(db_err("reading an idempotency key"))?
    else {
        return Ok(());
    };
    let mut m = found.into_active_model();
    m.response_status = Set(Some(i32::from(status)));
    m.response_body = Set(Some(body));
    m.finished_at = Set(Some(now));
    m.update(store.db())
        .await
        .map_err(db_err("storing the answer of an idempotency key"))?;
    Ok(())
}

/// Forgets the key of a request that failed in a way worth retrying (the server's
/// fault): the same key may be sent again and runs anew.
pub async fn abandon(store: &Store, ticket: Ticket) -> Result<()> {
    remove(store, ticket.0).await
}

/// Removes the keys older than [`KEEP`]; how many.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<u64> {
    let _turn = store.write_turn().await;
    let done = row::Entity::delete_many()
        .filter(row::Column::CreatedAt.lt(now - KEEP))
        .exec(store.db())
        .await
        .map_err(db_err("pruning idempotency keys"))?;
    Ok(done.rows_affected)
}

#[cfg(test)]
mod tests;
