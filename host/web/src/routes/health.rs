//! `GET /v1/health`: whether the server answers; needs no credential.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The answer of `GET /v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

pub(crate) async fn get() -> Json<Health> {
    Json(Health { status: "ok" })
}
