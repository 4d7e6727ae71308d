//! Rows by the references people type: a client by id or email, a plan by id or name,
//! a service or an operation by id. Not found is `Error::NotFound` naming the listing
//! that shows what exists.

use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder};

use crate::entities::status::ModuleFileStatus;
use crate::entities::{client, currency, operation, plan, service};
use crate::error::{Error, Listing, Result};
use crate::{db_err, Store};

/// The client with this email, if any, compared without regard to case (rows stored
/// before emails were lowercased at input may be mixed case).
pub async fn find_client_by_email(store: &Store, email: &str) -> Result<Option<client::Model>> {
    client::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(client::Column::Email)))
                .eq(email.trim().to_lowercase()),
        )
        .order_by_asc(client::Column::Id)
        .one(store.db())
        .await
        .map_err(db_err("reading clients"))
}

/// A client by id or email.
pub async fn get_client(store: &Store, id_or_email: &str) -> Result<client::Model> {
    let found = match id_or_email.parse::<i64>() {
        Ok(id) => client::Entity::find_by_id(id)
            .one(store.db())
            .await
            .map_err(db_err("reading clients"))?,
        Err(_) => find_client_by_email(store, id_or_email).await?,
    };
    found.ok_or_else(|| Error::not_found_in(format!("no client {id_or_email}"), Listing::Clients))
}

/// A plan by id or name.
pub async fn get_plan(store: &Store, id_or_name: &str) -> Result<plan::Model> {
    let found = match id_or_name.parse::<i64>() {
        Ok(id) => plan::Entity::find_by_id(id).one(store.db()).await,
        Err(_) => {
            plan::Entity::find()
                .filter(plan::Column::Name.eq(id_or_name))
                .one(store.db())
                .await
        }
    }
    .map_err(db_err("reading plans"))?;
    found.ok_or_else(|| Error::not_found_in(format!("no plan {id_or_name}"), Listing::Plans))
}

/// A service by id.
pub async fn get_service(store: &Store, id: i64) -> Result<service::Model> {
    service::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading services"))?
        .ok_or_else(|| Error::not_found_in(format!("no service #{id}"), Listing::Services))
}

/// An operation by id.
pub async fn get_operation(store: &Store, id: i64) -> Result<operation::Model> {
    operation::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading operations"))?
        .ok_or_else(|| Error::not_found_in(format!("no operation #{id}"), Listing::Operations))
}

/// The codes of the currencies set up, the default first (empty: none set up yet).
pub async fn currency_codes(store: &Store) -> Result<Vec<String>> {
    currency::Entity::find()
        .order_by_desc(currency::Column::IsDefault)
        .order_by_asc(currency::Column::Code)
        .all(store.db())
        .await
        .map_err(db_err("reading currencies"))
        .map(|rows| rows.into_iter().map(|c| c.code).collect())
}

/// The manifest of the highest version of `module` recorded as loaded (by any process),
/// if any: what a process that has not loaded the module knows of it.
pub async fn recorded_manifest<C: sea_orm::ConnectionTrait>(
    db: &C,
    module: &str,
) -> Result<Option<provisor_module_api::Manifest>> {
    let rows = crate::entities::module_file::Entity::find()
        .filter(crate::entities::module_file::Column::Name.eq(module))
        .filter(crate::entities::module_file::Column::Status.eq(ModuleFileStatus::Loaded))
        .all(db)
        .await
        .map_err(db_err("reading the module list"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let v = semver::Version::parse(r.version.as_deref()?).ok()?;
            let m: provisor_module_api::Manifest =
                serde_json::from_str(r.manifest.as_deref()?).ok()?;
            Some((v, m))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, m)| m))
}
