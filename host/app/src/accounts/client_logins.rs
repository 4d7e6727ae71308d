//! Client logins: the password a client logs in with (by its email, in the client
//! realm), set or replaced by staff who manage clients (owner, admin, billing), the
//! shell, or the client itself; disabled by staff, which ends its sessions.
//!
//! Owns: those rules. Must not: show the password or its hash.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::json;

use provisor_store::entities::kinds::Role;
use provisor_store::entities::{client, client_login, session};
use provisor_store::error::{Error, ErrorKind, Result};
use provisor_store::{db_err, Store};

use super::password::{self, Password};
use super::{role_includes, Actor};
use crate::audit::{self, Action};

/// A client's login as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ClientLoginView {
    /// The client.
    pub client_id: i64,
    /// The email it logs in with.
    pub email: String,
    /// When the login was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the password was last set.
    pub updated_at: DateTime<Utc>,
}

/// Refuses unless `actor` may manage `client`'s login.
async fn may_manage(store: &Store, actor: &Actor, client: &client::Model) -> Result<()> {
    let ok = match actor {
        Actor::Shell { .. } => true,
        Actor::Client { id } => *id == client.id,
        Actor::Staff { id } => {
            let me = super::staff::get(store, *id).await?;
            me.disabled_at.is_none()
                && (role_includes(me.role, Role::Admin) || me.role == Role::Billing)
        }
        Actor::Token { role, .. } => role_includes(*role, Role::Admin) || *role == Role::Billing,
        Actor::Integration { .. } => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            ErrorKind::Forbidden,
            "only an owner, admin or billing staff (or the client itself) manages a client's login",
        ))
    }
}

/// Sets (or replaces) a client's password; the login is enabled.
pub async fn set(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    client: &str,
    password: &Password,
    now: DateTime<Utc>,
) -> Result<ClientLoginView> {
    let c = provisor_store::lookup::get_client(store, client).await?;
    may_manage(store, actor, &c).await?;
    let hash = password::hash(password).await?;
    let had = client_login::Entity::find_by_id(c.id)
        .one(store.db())
        .await
        .map_err(db_err("reading client logins"))?;
    let row = client_login::ActiveModel {
        client_id: Set(c.id),
        password_hash: Set(hash),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    client_login::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(client_login::Column::ClientId)
                .update_columns([
                    client_login::Column::PasswordHash,
                    client_login::Column::DisabledAt,
                    client_login::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(store.db())
        .await
        .map_err(db_err("storing the client's login"))?;
    let before = had.map(|l| json!({ "login": true, "disabled": l.disabled_at.is_some() }));
    let after = json!({ "login": true, "disabled": false, "email": c.email });
    let id = Some(c.id.to_string());
    audit::record_after(
        store,
        by,
        Action::ClientLoginSet,
        id,
        before,
        Some(after),
        now,
    )
    .await?;
    Ok(ClientLoginView {
        client_id: c.id,
        email: c.email,
        disabled_at: None,
        updated_at: now,
    })
}

/// Disables a client's login: it can no longer log in, and its sessions end.
pub async fn disable(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    client: &str,
    now: DateTime<Utc>,
) -> Result<ClientLoginView> {
    let c = provisor_store::lookup::get_client(store, client).await?;
    may_manage(store, actor, &c).await?;
    let login = client_login::Entity::find_by_id(c.id)
        .one(store.db())
        .await
        .map_err(db_err("reading client logins"))?
        .ok_or_else(|| {
            Error::not_found(format!(
                "client #{} ({}) has no login to disable",
                c.id, c.email
            ))
        })?;
    let at = login.disabled_at.unwrap_or(now);
    client_login::Entity::update_many()
        .col_expr(
            client_login::Column::DisabledAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(client_login::Column::ClientId.eq(c.id))
        .exec(store.db())
        .await
        .map_err(db_err("disabling the client's login"))?;
    session::Entity::update_many()
        .col_expr(
            session::Column::EndedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(session::Column::ClientId.eq(c.id))
        .filter(session::Column::EndedAt.is_null())
        .exec(store.db())
        .await
        .map_err(db_err("ending the client's sessions"))?;
    if login.disabled_at.is_none() {
        audit::record_after(
            store,
            by,
            Action::ClientLoginDisable,
            Some(c.id.to_string()),
            Some(json!({ "disabled": false })),
            Some(json!({ "disabled": true, "email": c.email })),
            now,
        )
        .await?;
    }
    Ok(ClientLoginView {
        client_id: c.id,
        email: c.email,
        disabled_at: Some(at),
        updated_at: login.updated_at,
    })
}
