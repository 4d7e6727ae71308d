//! Clients: `GET /v1/clients` (staff; filter `email`), `GET /v1/clients/{id}` (staff,
//! or the client itself), `POST /v1/clients` (billing staff; through
//! `provisor_app::catalog::add_client`, which records the audit entry).

use super::{answer, answer_as};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use provisor_app::accounts::Principal;
use provisor_store::db_err;
use provisor_store::entities::client;

use crate::auth;
use crate::body;
use crate::page;
use crate::problem::Problem;
use crate::routes::{id_of, time};
use crate::state::Api;

/// A client.
#[derive(Debug, Serialize, ToSchema)]
pub struct Client {
    /// Always `client`.
    #[schema(example = "client")]
    pub object: &'static str,
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its email.
    pub email: String,
    /// The currency it is billed in.
    #[schema(example = "EUR")]
    pub currency: String,
    /// ISO 3166 alpha-2 country code, or empty.
    pub country: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

impl From<client::Model> for Client {
    fn from(c: client::Model) -> Self {
        Client {
            object: "client",
            id: c.id,
            name: c.name,
            email: c.email,
            currency: c.currency,
            country: c.country,
            created_at: time(c.created_at),
        }
    }
}

/// The body of `POST /v1/clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// The client's name.
    pub name: String,
    /// The client's email (unique).
    pub email: String,
    /// The code of the currency it is billed in.
    #[schema(example = "EUR")]
    pub currency: String,
    /// ISO 3166 alpha-2 country code (decides the tax rate); empty when unknown.
    #[serde(default)]
    pub country: String,
}

pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let run = async {
        let cursor = page::cursor(&q)?;
        let mut select = client::Entity::find();
        let mut filters = Vec::new();
        if let Some(email) = q.get("email") {
            let email = email.trim().to_lowercase();
            select = select.filter(client::Column::Email.eq(email.clone()));
            filters.push(("email", email));
        }
        let p = provisor_app::page::read(&api.store, select, client::Column::Id, cursor).await?;
        Ok::<_, Problem>(page::envelope(
            &page::filtered("/v1/clients", &filters),
            cursor,
            p,
            |c| c.id,
            Client::from,
        ))
    };
    answer(run.await)
}

pub(crate) async fn show(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    Path(raw): Path<String>,
) -> Response {
    let run = async {
        let id = id_of(&raw, "client")?;
        let what = format!("client {id}");
        auth::owned(&p, id, &what)?;
        let c = client::Entity::find_by_id(id)
            .one(api.store.db())
            .await
            .map_err(db_err("reading a client"))?
            .ok_or_else(|| auth::not_found(&what))?;
        Ok::<_, Problem>(Client::from(c))
    };
    answer(run.await)
}

pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    Extension(p): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = body::read(&headers, body, api.json_max_body, api.body_timeout).await?;
        let new: NewClient = body::json(&bytes)?;
        let c = provisor_app::catalog::add_client(
            &api.store,
            &auth::actor(&p, peer),
            &new.name,
            &new.email,
            (&new.currency, &new.country),
            api.clock.now(),
        )
        .await?;
        Ok::<_, Problem>(Client::from(c))
    };
    answer_as(StatusCode::CREATED, run.await)
}
