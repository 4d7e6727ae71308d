//! API tokens: named, scoped (a staff account or a role, read-only, a list of
//! endpoints), expiring, revocable. A token is `pvt_` and 64 hex digits, shown once
//! when issued; the database keeps its SHA-256 and its first characters (`prefix`) to
//! tell tokens apart in listings. Use is recorded in `last_used_at` at most once a
//! minute.
//!
//! Rules: a token acting for a staff account never has more than that account's role
//! (checked when issued and at every use, so a demoted account's tokens follow it);
//! its tokens are refused while the account is disabled. Staff issue tokens for
//! themselves; owners and admins for others and for bare roles, never above their own.
//!
//! Owns: those rules. Must not: list or log a token or its hash.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use serde_json::json;

use provisor_store::entities::kinds::Role;
use provisor_store::entities::{api_token, staff};
use provisor_store::error::{Error, ErrorKind, Message, Name, Result};
use provisor_store::{db_err, input, Store};

use super::principal::{Credential, Principal, Who};
use super::{digest, mint, role_includes, Actor};
use crate::audit::{self, Action};

/// What every API token starts with.
pub const PREFIX: &str = "pvt_";
/// Characters of a token kept (and listed) as its prefix.
const PREFIX_CHARS: usize = 12;
/// `last_used_at` is written when it is at least this old.
const USED_EVERY: Duration = Duration::seconds(60);
/// Endpoints a token may be limited to, at most.
const MAX_ENDPOINTS: usize = 100;

/// Whom a new token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A staff account, by email; with a role, narrowed to that role (which the
    /// account's role must include).
    Staff {
        /// The account's email.
        email: String,
        /// A narrower role, if any.
        role: Option<Role>,
    },
    /// No account: an integration with a role.
    Role(Role),
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What it is for.
    pub name: String,
    /// Whom it acts for.
    pub scope: Scope,
    /// Whether it may only read.
    pub read_only: bool,
    /// The routes it is limited to (`METHOD /route`, `/route`, or `/prefix/*`); empty
    /// for every route its role reaches.
    pub endpoints: Vec<String>,
    /// When it stops working, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed: never the token or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// Row id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Its first characters.
    pub prefix: String,
    /// The staff account it acts for, if any.
    pub staff: Option<String>,
    /// Its own role, if it has one.
    pub role: Option<Role>,
    /// Whether it may only read.
    pub read_only: bool,
    /// The routes it is limited to, if it is.
    pub endpoints: Option<Vec<String>>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A token just issued: the token, shown this once, and its row as listed. `Debug`
/// hides the token.
pub struct Issued {
    /// The bearer token.
    pub token: String,
    /// The token as listed.
    pub view: TokenView,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"(hidden)")
            .field("view", &self.view)
            .finish()
    }
}

fn forbidden(why: impl Into<Message>) -> Error {
    Error::refused(ErrorKind::Forbidden, why)
}

fn check_endpoints(list: &[String]) -> Result<()> {
    if list.len() > MAX_ENDPOINTS {
        return Err(Error::invalid(Message::about(
            "endpoint",
            format!(
                "is given {} times; the limit is {MAX_ENDPOINTS}",
                list.len()
            ),
        )));
    }
    for e in list {
        input::check_line(Name::Field("endpoint"), e, input::NAME_MAX)?;
        let path = e.split_once(' ').map_or(e.as_str(), |(m, p)| {
            if m.chars().all(|c| c.is_ascii_alphabetic()) {
                p.trim()
            } else {
                ""
            }
        });
        if !path.starts_with("/v1/") && path != "/v1" {
            return Err(Error::invalid(Message::about(
                "endpoint",
                format!(
                    "{:?} is not a route: give one like `GET /v1/services/{{id}}`, `/v1/invoices` or `/v1/services/*`",
                    input::preview(e)
                ),
            )));
        }
    }
    Ok(())
}

/// Checks that `actor` may issue `new` for `target` (the staff account it acts for,
/// if any), whose role is `role`.
async fn may_issue(
    store: &Store,
    actor: &Actor,
    target: Option<&staff::Model>,
    role: Role,
) -> Result<()> {
    let (me_id, my_role) = match actor {
        Actor::Shell { .. } => return Ok(()),
        Actor::Staff { id } => {
            let me = super::staff::get(store, *id).await?;
            if me.disabled_at.is_some() {
                return Err(forbidden(format!("staff account {} is disabled", me.email)));
            }
            (Some(me.id), me.role)
        }
        Actor::Token { role, .. } => (None, *role),
        _ => return Err(forbidden("only staff issue API tokens")),
    };
    let for_self = target.is_some_and(|t| Some(t.id) == me_id);
    if !for_self && !role_includes(my_role, Role::Admin) {
        return Err(forbidden(format!(
            "a {my_role} issues tokens only for its own account; an owner or admin issues the others"
        )));
    }
    if !role_includes(my_role, role) {
        return Err(forbidden(format!(
            "a {my_role} cannot issue a token with the role {role}"
        )));
    }
    Ok(())
}

/// Issues a token; answers it (shown once) and its row.
pub async fn issue(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    new: NewToken,
    now: DateTime<Utc>,
) -> Result<Issued> {
    let name = new.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::invalid(Message::about("name", "needs a name")));
    }
    input::check_line(Name::Field("name"), &name, input::NAME_MAX)?;
    check_endpoints(&new.endpoints)?;
    if let Some(at) = new.expires_at {
        if at <= now {
            return Err(Error::invalid(Message::about(
                "expires",
                format!("{} is not in the future", at.to_rfc3339()),
            )));
        }
    }
    let (target, role) = match &new.scope {
        Scope::Staff { email, role } => {
            let t = super::staff::find(store, email).await?;
            if t.disabled_at.is_some() {
                return Err(forbidden(format!("staff account {} is disabled", t.email)));
            }
            if let Some(r) = role {
                if !role_includes(t.role, *r) {
                    return Err(forbidden(format!(
                        "staff account {} is {}; a token acting for it cannot have the role {r}",
                        t.email, t.role
                    )));
                }
            }
            let effective = role.unwrap_or(t.role);
            (Some(t), effective)
        }
        Scope::Role(r) => (None, *r),
    };
    may_issue(store, actor, target.as_ref(), role).await?;
    let own_role = match &new.scope {
        Scope::Staff { role, .. } => *role,
        Scope::Role(r) => Some(*r),
    };
    let token = mint(PREFIX)?;
    let endpoints = if new.endpoints.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&new.endpoints).map_err(|e| Error::Io(e.to_string()))?)
    };
    let row = api_token::ActiveModel {
        name: Set(name),
        prefix: Set(token.chars().take(PREFIX_CHARS).collect()),
        token_hash: Set(digest(&token)),
        staff_id: Set(target.as_ref().map(|t| t.id)),
        role: Set(own_role),
        read_only: Set(new.read_only),
        endpoints: Set(endpoints),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(store.db())
    .await
    .map_err(db_err("storing the API token"))?;
    let view = view(row, target.map(|t| t.email));
    // Never the token, its hash or its prefix: the entry names the token by its id.
    let after = json!({
        "name": view.name, "staff": view.staff, "role": view.role.map(|r| r.to_string()),
        "read_only": view.read_only, "endpoints": view.endpoints, "expires_at": view.expires_at,
    });
    let id = Some(view.id.to_string());
    audit::record_after(store, by, Action::ApiTokenIssue, id, None, Some(after), now).await?;
    Ok(Issued { token, view })
}

fn endpoints_of(row: &api_token::Model) -> Option<Vec<String>> {
    row.endpoints
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok())
}

fn view(row: api_token::Model, staff: Option<String>) -> TokenView {
    TokenView {
        endpoints: endpoints_of(&row),
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        staff,
        role: row.role,
        read_only: row.read_only,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        created_at: row.created_at,
    }
}

/// Every token, newest first.
pub async fn list(store: &Store) -> Result<Vec<TokenView>> {
    let rows = api_token::Entity::find()
        .find_also_related(staff::Entity)
        .order_by_desc(api_token::Column::Id)
        .all(store.db())
        .await
        .map_err(db_err("reading API tokens"))?;
    Ok(rows
        .into_iter()
        .map(|(t, s)| view(t, s.map(|s| s.email)))
        .collect())
}

/// Revokes a token (by an owner or admin, the shell, or the staff account it acts
/// for); it is refused from then on.
pub async fn revoke(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    id: i64,
    now: DateTime<Utc>,
) -> Result<TokenView> {
    let row = api_token::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading API tokens"))?
        .ok_or_else(|| Error::not_found(format!("no API token #{id}; see the list of tokens")))?;
    let mine = matches!(actor, Actor::Staff { id } if row.staff_id == Some(*id));
    if !mine {
        let ok = match actor {
            Actor::Shell { .. } => true,
            Actor::Staff { id } => {
                role_includes(super::staff::get(store, *id).await?.role, Role::Admin)
            }
            Actor::Token { role, .. } => role_includes(*role, Role::Admin),
            _ => false,
        };
        if !ok {
            return Err(forbidden("only an owner or admin revokes another's token"));
        }
    }
    if row.revoked_at.is_none() {
        api_token::Entity::update_many()
            .col_expr(
                api_token::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(api_token::Column::Id.eq(id))
            .exec(store.db())
            .await
            .map_err(db_err("revoking the API token"))?;
        audit::record_after(
            store,
            by,
            Action::ApiTokenRevoke,
            Some(id.to_string()),
            Some(json!({ "revoked": false })),
            Some(json!({ "revoked": true, "name": row.name })),
            now,
        )
        .await?;
    }
    let staff_email = match row.staff_id {
        Some(s) => Some(super::staff::get(store, s).await?.email),
        None => None,
    };
    let row = api_token::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading API tokens"))?
        .ok_or_else(|| Error::not_found(format!("no API token #{id}")))?;
    Ok(view(row, staff_email))
}

fn refused(why: impl Into<String>) -> Error {
    Error::refused(
        ErrorKind::Unauthenticated,
        Message::new(format!("the API token {}", why.into())),
    )
}

/// The principal behind an API token: refused when it is unknown, revoked, expired,
/// or its staff account is disabled or no longer has the token's role. Records its
/// use (at most once a minute).
pub async fn authenticate(store: &Store, token: &str, now: DateTime<Utc>) -> Result<Principal> {
    let row = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(digest(token)))
        .one(store.db())
        .await
        .map_err(db_err("reading API tokens"))?
        .ok_or_else(|| refused("is not known: use a token issued for you"))?;
    if let Some(at) = row.revoked_at {
        return Err(refused(format!(
            "#{} was revoked at {}",
            row.id,
            at.to_rfc3339()
        )));
    }
    if let Some(at) = row.expires_at.filter(|at| *at <= now) {
        return Err(refused(format!(
            "#{} expired at {}",
            row.id,
            at.to_rfc3339()
        )));
    }
    let (role, staff_email) = match row.staff_id {
        Some(id) => {
            let s = super::staff::get(store, id).await?;
            if s.disabled_at.is_some() {
                return Err(refused(format!(
                    "#{} acts for a disabled staff account",
                    row.id
                )));
            }
            if let Some(r) = row.role.filter(|r| !role_includes(s.role, *r)) {
                return Err(refused(format!(
                    "#{} has the role {r}, which its staff account no longer has",
                    row.id
                )));
            }
            (Some(row.role.unwrap_or(s.role)), Some(s.email))
        }
        None => (row.role, None),
    };
    if row.last_used_at.is_none_or(|at| now - at >= USED_EVERY) {
        api_token::Entity::update_many()
            .col_expr(
                api_token::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(api_token::Column::Id.eq(row.id))
            .exec(store.db())
            .await
            .map_err(db_err("recording the API token's use"))?;
    }
    Ok(Principal {
        endpoints: endpoints_of(&row),
        who: Who::Token {
            id: row.id,
            name: row.name,
            staff_id: row.staff_id,
            staff_email,
        },
        role,
        read_only: row.read_only,
        credential: Credential::ApiToken { id: row.id },
    })
}
