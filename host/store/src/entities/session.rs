//! Sessions: opaque random tokens, stored hashed, for a staff account or a client.

use sea_orm::entity::prelude::*;

/// A session (a row of `sessions`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub token_hash: String,
    /// The staff account, for a staff session.
    pub staff_id: Option<i64>,
    /// The client, for a client session.
    pub client_id: Option<i64>,
    /// The address it was opened from.
    pub source_addr: Option<String>,
    /// When it was opened.
    pub created_at: DateTimeUtc,
    /// When it was last used (the idle timeout counts from here).
    pub last_seen_at: DateTimeUtc,
    /// When it ends whatever its use.
    pub expires_at: DateTimeUtc,
    /// When it was logged out or revoked.
    pub ended_at: Option<DateTimeUtc>,
}

/// What a session refers to, or what refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The staff account (`staff_id`).
    #[sea_orm(
        belongs_to = "super::staff::Entity",
        from = "Column::StaffId",
        to = "super::staff::Column::Id",
        on_delete = "Restrict"
    )]
    Staff,
    /// The client (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
}

related!(staff => Staff, client => Client);

impl ActiveModelBehavior for ActiveModel {}
