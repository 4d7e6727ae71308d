//! Client logins: the password a client signs in with.

use sea_orm::entity::prelude::*;

/// A client's login (a row of `client_logins`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_logins")]
pub struct Model {
    /// The client (one login each).
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: i64,
    /// argon2id PHC string; never shown or logged.
    pub password_hash: String,
    /// When the login was disabled.
    pub disabled_at: Option<DateTimeUtc>,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// When it last changed (a new password).
    pub updated_at: DateTimeUtc,
}

/// What a client's login refers to, or what refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
}

related!(client => Client);

impl ActiveModelBehavior for ActiveModel {}
