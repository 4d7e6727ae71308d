//! Idempotency keys of POST requests: the first answer, replayed for the same key and body.

use sea_orm::entity::prelude::*;

/// An idempotency key (a row of `idempotency_keys`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Whose key it is (the credential), so two callers' keys never meet.
    pub owner: String,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// The request's method.
    pub method: String,
    /// The request's path.
    pub path: String,
    /// SHA-256 of the method, path and body, hex.
    pub request_hash: String,
    /// The first answer's status, once it is known.
    pub response_status: Option<i32>,
    /// The first answer's body, once it is known.
    pub response_body: Option<String>,
    /// When the first request arrived.
    pub created_at: DateTimeUtc,
    /// When its answer was stored.
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
