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
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use provisor_store::entities::{client, client_login, session, staff};
use provisor_store::error::{Error, ErrorKind, Message, Name, Result};
use provisor_store::{db_err, input, Store};

use super::principal::{Credential, Principal, Who};
use super::{digest, limits, mint, password, Password, Realm};
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

/// Opens a session. Refused before any password is checked when the email or the
/// address has had too many failures; an unknown email and a wrong password get the
/// same answer in the same time.
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
        limits::record(store, &keys, false, now).await?;
        return Err(wrong());
    }
    if a.disabled {
        limits::record(store, &keys, false, now).await?;
        return Err(Error::refused(
            ErrorKind::Forbidden,
            format!("the account {email} is disabled"),
        ));
    }
    if let Some(s) = &a.staff {
        if let Err(e) = super::totp::check_login(store, s, login.totp, now).await {
            limits::record(store, &keys, false, now).await?;
            return Err(e);
        }
    }
    limits::record(store, &keys, true, now).await?;
    let lifetime = match login.realm {
        Realm::Staff => policy.staff_session,
        Realm::Client => policy.client_session,
    };
    let token = mint(PREFIX)?;
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
    .insert(store.db())
    .await
    .map_err(db_err("storing the session"))?;
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

/// Ends the session of `token` (logging out twice is refused the second time).
pub async fn logout(store: &Store, token: &str, now: DateTime<Utc>) -> Result<()> {
    let s = by_token(store, token).await?;
    if s.ended_at.is_some() {
        return Err(ended("was already ended"));
    }
    session::Entity::update_many()
        .col_expr(
            session::Column::EndedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(session::Column::Id.eq(s.id))
        .exec(store.db())
        .await
        .map_err(db_err("ending the session"))?;
    Ok(())
}
