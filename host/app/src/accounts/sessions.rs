//! Sessions: a login (email, password, a TOTP code when the account has one) opens a
//! session, an opaque random token (`pvs_` and 64 hex digits) of which the database
//! keeps only the SHA-256, so any node can check it. A session ends at its absolute
//! expiry, after its idle time unused, at logout, or when its account is disabled or
//! its password changed. `last_seen_at` is written at most once a minute.
//!
//! Owns: login (with the rate limit and the same answer for an unknown email and a
//! wrong password), session checks, logout. Must not: keep or show the token after
//! login returns it.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;

use provisor_store::entities::kinds::ActorKind;
use provisor_store::entities::{client, client_login, session, staff};
use provisor_store::error::{Error, ErrorKind, Message, Name, Result};
use provisor_store::{db_err, input, Store};

use super::principal::{Credential, Principal, Who};
use super::{digest, limits, mint, password, Password, Realm};
use crate::audit::{self, Action};
use crate::config::AccountsConfig;

/// What every session token starts with.
pub const PREFIX: &str = "pvs_";
/// `last_seen_at` is written when it is at least this old.
const SEEN_EVERY: Duration = Duration::seconds(60);

/// A session just opened: the token, shown this once, and the session row (which
/// holds only the token's hash). `Debug` hides the token.
pub struct Opened {
    /// The bearer token.
    pub token: String,
    /// The session.
    pub session: session::Model,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("token", &"(hidden)")
            .field("session", &self.session.id)
            .finish()
    }
}

/// What a login gives.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    /// Staff or client.
    pub realm: Realm,
    /// The account's email.
    pub email: &'a str,
    /// The password typed.
    pub password: &'a Password,
    /// The TOTP code, for an account with a second factor.
    pub totp: Option<&'a str>,
    /// The address the login came from, when known (rate-limited too).
    pub source_addr: Option<&'a str>,
}

fn wrong() -> Error {
    Error::refused(
        ErrorKind::Unauthenticated,
        "the email or the password is wrong",
    )
}

/// The account a login names: its id, its hash, whether it is disabled.
struct Account {
    staff: Option<staff::Model>,
    client_id: Option<i64>,
    hash: Option<String>,
    disabled: bool,
}

async fn account(store: &Store, realm: Realm, email: &str) -> Result<Account> {
    let mut a = Account {
        staff: None,
        client_id: None,
        hash: None,
        disabled: false,
    };
    match realm {
        Realm::Staff => {
            if let Some(s) = super::staff::find_row(store, email).await? {
                a.hash = Some(s.password_hash.clone());
                a.disabled = s.disabled_at.is_some();
                a.staff = Some(s);
            }
        }
        Realm::Client => {
            if let Some(c) = provisor_store::lookup::find_client_by_email(store, email).await? {
                let login = client_login::Entity::find_by_id(c.id)
                    .one(store.db())
                    .await
                    .map_err(db_err("reading client logins"))?;
                if let Some(l) = login {
                    a.hash = Some(l.password_hash);
                    a.disabled = l.disabled_at.is_some();
                    a.client_id = Some(c.id);
                }
            }
        }
    }
    Ok(a)
}

/// A login refused after its checks ran: the failure counted for the rate limit and
/// recorded in the audit log as `session.login_failed` by the email as typed, then
/// `refusal` answered. `reason` is `password` for an unknown email and a wrong
/// password alike, `disabled` or `totp`.
async fn failed(
    store: &Store,
    keys: &[String],
    login: &Login<'_>,
    reason: &str,
    refusal: Error,
    now: DateTime<Utc>,
) -> Result<Opened> {
    limits::record(store, keys, false, now).await?;
    let kind = match login.realm {
        Realm::Staff => ActorKind::Staff,
        Realm::Client => ActorKind::Client,
    };
    let mut by = audit::Actor::claimed(kind, login.email.trim());
    by.source = login.source_addr.map(ToString::to_string);
    let after = json!({ "realm": login.realm.as_str(), "reason": reason });
    audit::record_after(
        store,
        &by,
        Action::SessionLoginFailed,
        None,
        None,
        Some(after),
        now,
    )
    .await?;
    Err(refusal)
}

/// Opens a session. Refused before any password is checked when the email or the
/// address has had too many failures (the attempts table holds those); an unknown
/// email and a wrong password get the same answer in the same time. A login refused
/// after its checks is recorded as `session.login_failed`, an opened session as
/// `session.login` by the account that logged in, from its address.
pub async fn login(
    store: &Store,
    policy: &AccountsConfig,
    login: Login<'_>,
    now: DateTime<Utc>,
) -> Result<Opened> {
    let email = input::email(Name::Field("email"), login.email)?;
    let keys = limits::keys(login.realm, &email, login.source_addr);
    limits::check(store, &keys, now).await?;
    let a = account(store, login.realm, &email).await?;
    if !password::verify(login.password, a.hash.as_deref()).await? {
        return failed(store, &keys, &login, "password", wrong(), now).await;
    }
    if a.disabled {
        let refusal = Error::refused(
            ErrorKind::Forbidden,
            format!("the account {email} is disabled"),
        );
        return failed(store, &keys, &login, "disabled", refusal, now).await;
    }
    if let Some(s) = &a.staff {
        if let Err(e) = super::totp::check_login(store, s, login.totp, now).await {
            return failed(store, &keys, &login, "totp", e, now).await;
        }
    }
    limits::record(store, &keys, true, now).await?;
    let mut by = match (&a.staff, a.client_id) {
        (Some(s), _) => audit::Actor::staff(s.id, &s.email),
        (None, Some(id)) => audit::Actor::client(id, &email),
        // `verify` answered true, so the account exists.
        (None, None) => return Err(wrong()),
    };
    by.source = login.source_addr.map(ToString::to_string);
    let lifetime = match login.realm {
        Realm::Staff => policy.staff_session,
        Realm::Client => policy.client_session,
    };
    let token = mint(PREFIX)?;
    let _turn = store.write_turn().await;
    let txn = store
        .db()
        .begin()
        .await
        .map_err(db_err("opening a session"))?;
    let session = session::ActiveModel {
        token_hash: Set(digest(&token)),
        staff_id: Set(a.staff.as_ref().map(|s| s.id)),
        client_id: Set(a.client_id),
        source_addr: Set(login.source_addr.map(ToString::to_string)),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + to_chrono(lifetime)),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(db_err("storing the session"))?;
    let after = json!({ "realm": login.realm.as_str() });
    let id = Some(session.id.to_string());
    audit::record(&txn, &by, Action::SessionLogin, id, None, Some(after), now).await?;
    txn.commit().await.map_err(db_err("opening a session"))?;
    Ok(Opened { token, session })
}

fn to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::seconds(60))
}

fn ended(why: impl Into<String>) -> Error {
    let why: String = why.into();
    Error::refused(
        ErrorKind::Unauthenticated,
        Message::new(format!("the session {why}: log in again")),
    )
}

async fn by_token(store: &Store, token: &str) -> Result<session::Model> {
    session::Entity::find()
        .filter(session::Column::TokenHash.eq(digest(token)))
        .one(store.db())
        .await
        .map_err(db_err("reading sessions"))?
        .ok_or_else(|| ended("is not known (it may have been pruned, or the token is mistyped)"))
}

/// The principal behind a session token: refused when the session was ended, has
/// expired, went unused past its idle time, or its account is disabled. Marks it
/// seen (at most once a minute).
pub async fn authenticate(
    store: &Store,
    policy: &AccountsConfig,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Principal> {
    let s = by_token(store, token).await?;
    if let Some(at) = s.ended_at {
        return Err(ended(format!("ended at {}", at.to_rfc3339())));
    }
    if s.expires_at <= now {
        return Err(ended(format!("expired at {}", s.expires_at.to_rfc3339())));
    }
    let idle = if s.staff_id.is_some() {
        policy.staff_idle
    } else {
        policy.client_idle
    };
    if s.last_seen_at + to_chrono(idle) <= now {
        return Err(ended(format!(
            "went unused for more than {} seconds",
            idle.as_secs()
        )));
    }
    let (who, role) = session_who(store, &s).await?;
    if now - s.last_seen_at >= SEEN_EVERY {
        session::Entity::update_many()
            .col_expr(
                session::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::Id.eq(s.id))
            .exec(store.db())
            .await
            .map_err(db_err("marking a session seen"))?;
    }
    Ok(Principal {
        who,
        role,
        read_only: false,
        endpoints: None,
        credential: Credential::Session { id: s.id },
    })
}

/// Who a session is for, with the staff role; refused when the account is disabled.
async fn session_who(
    store: &Store,
    s: &session::Model,
) -> Result<(Who, Option<provisor_store::entities::kinds::Role>)> {
    if let Some(id) = s.staff_id {
        let who = super::staff::get(store, id).await?;
        if who.disabled_at.is_some() {
            return Err(ended("belongs to a disabled staff account"));
        }
        return Ok((
            Who::Staff {
                id,
                email: who.email,
                name: who.name,
            },
            Some(who.role),
        ));
    }
    let Some(id) = s.client_id else {
        return Err(ended("belongs to no account"));
    };
    let login = client_login::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading client logins"))?;
    if login.is_none_or(|l| l.disabled_at.is_some()) {
        return Err(ended("belongs to a client whose login is disabled"));
    }
    let c = client::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading clients"))?
        .ok_or_else(|| ended("belongs to a client that no longer exists"))?;
    Ok((
        Who::Client {
            id,
            email: c.email,
            name: c.name,
        },
        None,
    ))
}

/// Ends the session of `token` (logging out twice is refused the second time),
/// recorded as `session.logout` by the session's account from `source_addr`.
pub async fn logout(
    store: &Store,
    token: &str,
    source_addr: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let s = by_token(store, token).await?;
    if s.ended_at.is_some() {
        return Err(ended("was already ended"));
    }
    let mut by = match (s.staff_id, s.client_id) {
        (Some(id), _) => audit::Actor::staff(id, &super::staff::get(store, id).await?.email),
        (None, Some(id)) => {
            let c = client::Entity::find_by_id(id)
                .one(store.db())
                .await
                .map_err(db_err("reading clients"))?;
            audit::Actor::client(id, &c.map(|c| c.email).unwrap_or_default())
        }
        (None, None) => return Err(ended("belongs to no account")),
    };
    by.source = source_addr.map(ToString::to_string);
    let _turn = store.write_turn().await;
    let txn = store
        .db()
        .begin()
        .await
        .map_err(db_err("ending the session"))?;
    session::Entity::update_many()
        .col_expr(
            session::Column::EndedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(session::Column::Id.eq(s.id))
        .filter(session::Column::EndedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_err("ending the session"))?;
    let id = Some(s.id.to_string());
    audit::record(&txn, &by, Action::SessionLogout, id, None, None, now).await?;
    txn.commit().await.map_err(db_err("ending the session"))?;
    Ok(())
}
