//! The id of the key the handlers' secret settings are sealed with (one row, id 1).

use sea_orm::entity::prelude::*;

/// The current secret key's id (a row of `secret_key`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "secret_key")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The id of the key every handler's secrets are sealed with.
    pub key_id: String,
    /// When it last changed (a rotation).
    pub updated_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
