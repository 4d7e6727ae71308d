//! Login attempts, counted per account and per address for the rate limit.

use sea_orm::entity::prelude::*;

/// A login attempt (a row of `login_attempts`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempts")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What it counts against: `email:…` or `addr:…`.
    pub key: String,
    /// Whether the password was right.
    pub ok: bool,
    /// When it was made.
    pub at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
