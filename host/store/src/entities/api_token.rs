//! API tokens: named, scoped, expiring, stored hashed, revocable.

use sea_orm::entity::prelude::*;

/// An API token (a row of `api_tokens`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the token is for, as its maker named it.
    pub name: String,
    /// The token's first characters, shown in listings to tell tokens apart.
    pub prefix: String,
    /// SHA-256 of the token, hex; the token is shown once and never stored.
    pub token_hash: String,
    /// The staff account it acts for, if any.
    pub staff_id: Option<i64>,
    /// The role it has when it acts for no staff account.
    pub role: Option<super::kinds::Role>,
    /// Whether it may only read.
    pub read_only: bool,
    /// JSON array of the endpoints it may reach, when limited to some.
    pub endpoints: Option<String>,
    /// When it stops working, if it does.
    pub expires_at: Option<DateTimeUtc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// When it was last used.
    pub last_used_at: Option<DateTimeUtc>,
    /// When it was made.
    pub created_at: DateTimeUtc,
}

/// What an API token refers to, or what refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The staff account it acts for (`staff_id`).
    #[sea_orm(
        belongs_to = "super::staff::Entity",
        from = "Column::StaffId",
        to = "super::staff::Column::Id",
        on_delete = "Restrict"
    )]
    Staff,
}

related!(staff => Staff);

impl ActiveModelBehavior for ActiveModel {}
