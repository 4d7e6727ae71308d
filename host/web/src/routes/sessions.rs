//! Sessions over HTTP: `POST /v1/sessions` logs in (staff or client; the rate limit
//! and the same answer for an unknown email and a wrong password come from
//! `provisor_app::accounts::sessions`), `DELETE /v1/sessions/current` logs out, and
//! `GET /v1/me` says who the credential stands for.
//!
//! Must not: answer the token anywhere but the login's own answer; store a login's
//! answer as an idempotent replay (the router keeps the idempotency layer off it).

use super::answer_as;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use provisor_app::accounts::{sessions, Password, Principal, Realm, Who};
use provisor_store::entities::kinds::Role;

use crate::auth;
use crate::body;
use crate::problem::{Kind, Problem};
use crate::state::Api;

/// Which kind of account logs in.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginRealm {
    /// A staff account.
    Staff,
    /// A client's login.
    Client,
}

/// The body of `POST /v1/sessions`. Its `Debug` hides the password and the code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// `staff` or `client`.
    pub realm: LoginRealm,
    /// The account's email.
    #[schema(example = "ann@example.com")]
    pub email: String,
    /// The password.
    pub password: String,
    /// The current TOTP code, for a staff account with a second factor.
    #[serde(default)]
    pub totp: Option<String>,
}

/// The answer of a login: the session token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct SessionOpened {
    /// Always `session`.
    #[schema(example = "session")]
    pub object: &'static str,
    /// The bearer token (`pvs_…`): send it as `Authorization: Bearer …`.
    pub token: String,
    /// When the session ends whatever its use (RFC 3339).
    pub expires_at: String,
}

/// Who a credential stands for (the answer of `GET /v1/me`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `staff`, `client`, `token` or `integration`.
    #[schema(example = "staff")]
    pub kind: &'static str,
    /// The staff account's, client's or token's id (none for the configured token).
    pub id: Option<i64>,
    /// The name shown beside its actions.
    pub name: String,
    /// The email of a staff account or client.
    pub email: Option<String>,
    /// The effective role (`owner`, `admin`, `billing`, `support`); none for a client.
    #[schema(value_type = Option<String>, example = "admin")]
    pub role: Option<Role>,
    /// Whether it may only read.
    pub read_only: bool,
    /// `session`, `api_token` or `configured_token`.
    pub credential: &'static str,
}

pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer_as(StatusCode::CREATED, login(&api, peer, &headers, body).await)
}

async fn login(
    api: &Api,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<SessionOpened, Problem> {
    let bytes = body::read(headers, body, api.json_max_body, api.body_timeout).await?;
    let asked: NewSession = body::json(&bytes)?;
    let password = Password::given(asked.password);
    let addr = peer.ip().to_string();
    let login = sessions::Login {
        realm: match asked.realm {
            LoginRealm::Staff => Realm::Staff,
            LoginRealm::Client => Realm::Client,
        },
        email: &asked.email,
        password: &password,
        totp: asked.totp.as_deref(),
        source_addr: Some(&addr),
    };
    let opened = sessions::login(&api.store, &api.accounts.sessions, login, api.clock.now())
        .await
        .map_err(Problem::from)?;
    Ok(SessionOpened {
        object: "session",
        expires_at: crate::routes::time(opened.session.expires_at),
        token: opened.token,
    })
}

pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !matches!(
        p.credential,
        provisor_app::accounts::Credential::Session { .. }
    ) {
        return Problem::new(
            Kind::Forbidden,
            "only a session can be logged out: this credential is an API token, which its owner revokes",
        )
        .into_response();
    }
    let token = match auth::bearer(&headers, "the session's token") {
        Ok(Some(t)) => t,
        Ok(None) => return auth::principal_missing().into_response(),
        Err(p) => return p.into_response(),
    };
    let addr = peer.ip().to_string();
    match sessions::logout(&api.store, token, Some(&addr), api.clock.now()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => Problem::from(e).into_response(),
    }
}

pub(crate) async fn me(Extension(p): Extension<Principal>) -> Json<Me> {
    let credential = match p.credential {
        provisor_app::accounts::Credential::Session { .. } => "session",
        provisor_app::accounts::Credential::ApiToken { .. } => "api_token",
        provisor_app::accounts::Credential::ConfiguredToken => "configured_token",
    };
    let (kind, id, name, email) = match &p.who {
        Who::Staff { id, email, name } => ("staff", Some(*id), name.clone(), Some(email.clone())),
        Who::Client { id, email, name } => ("client", Some(*id), name.clone(), Some(email.clone())),
        Who::Token { id, name, .. } => ("token", Some(*id), name.clone(), None),
        Who::Integration { name } => ("integration", None, (*name).to_string(), None),
    };
    Json(Me {
        kind,
        id,
        name,
        email,
        role: p.role,
        read_only: p.read_only,
        credential,
    })
}
