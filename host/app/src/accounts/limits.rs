//! The login rate limit, shared by every node through `login_attempts`: at most
//! [`MAX_FAILURES`] failed attempts per account email and per source address within a
//! sliding [`WINDOW`]. The next attempt is refused before any password is checked,
//! with the time to retry. Rows older than the window are pruned as attempts fail.
//!
//! Owns: the keys attempts are counted under and the window. Must not: check a
//! password, or store the password tried.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use provisor_store::entities::login_attempt;
use provisor_store::error::{Error, ErrorKind, Message, Result};
use provisor_store::{db_err, Store};

use super::Realm;

/// Failed attempts allowed per key within the window.
pub const MAX_FAILURES: u64 = 10;
/// The sliding window the failures are counted in.
pub const WINDOW: Duration = Duration::seconds(60);

/// The keys one attempt counts under: the account's email (in its realm) and the
/// source address, when known.
pub(crate) fn keys(realm: Realm, email: &str, source_addr: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("email:{}:{email}", realm.as_str())];
    if let Some(addr) = source_addr.filter(|a| !a.is_empty()) {
        keys.push(format!("addr:{addr}"));
    }
    keys
}

/// Refuses (rate-limited, saying when to retry) when any key has had
/// [`MAX_FAILURES`] failures within the window before `now`.
pub(crate) async fn check(store: &Store, keys: &[String], now: DateTime<Utc>) -> Result<()> {
    let since = now - WINDOW;
    for key in keys {
        let failures: Vec<DateTime<Utc>> = login_attempt::Entity::find()
            .select_only()
            .column(login_attempt::Column::At)
            .filter(login_attempt::Column::Key.eq(key.as_str()))
            .filter(login_attempt::Column::Ok.eq(false))
            .filter(login_attempt::Column::At.gt(since))
            .order_by_desc(login_attempt::Column::At)
            .limit(MAX_FAILURES)
            .into_tuple()
            .all(store.db())
            .await
            .map_err(db_err("reading login attempts"))?;
        if failures.len() as u64 >= MAX_FAILURES {
            // The oldest of the last MAX_FAILURES leaves the window first.
            let oldest = failures.last().copied().unwrap_or(now);
            let retry = oldest + WINDOW;
            let secs = (retry - now).num_seconds().max(1);
            let what = if key.starts_with("addr:") {
                "from this address"
            } else {
                "for this account"
            };
            return Err(Error::refused(
                ErrorKind::RateLimited,
                Message::new(format!(
                    "too many failed logins {what} ({MAX_FAILURES} within {} seconds): try again in {secs} seconds, after {}",
                    WINDOW.num_seconds(),
                    retry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
            ));
        }
    }
    Ok(())
}

/// Records an attempt under every key; a failure also prunes what has left the window.
pub(crate) async fn record(
    store: &Store,
    keys: &[String],
    ok: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    for key in keys {
        login_attempt::ActiveModel {
            key: Set(key.clone()),
            ok: Set(ok),
            at: Set(now),
            ..Default::default()
        }
        .insert(store.db())
        .await
        .map_err(db_err("recording a login attempt"))?;
    }
    if !ok {
        login_attempt::Entity::delete_many()
            .filter(login_attempt::Column::At.lt(now - WINDOW))
            .exec(store.db())
            .await
            .map_err(db_err("pruning old login attempts"))?;
    }
    Ok(())
}
