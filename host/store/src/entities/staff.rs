//! Staff accounts: the hoster's people, with a role and departments.

use sea_orm::entity::prelude::*;

/// A staff account (a row of `staff`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login email, lower case, unique.
    pub email: String,
    /// The name shown beside their actions.
    pub name: String,
    /// What the account may do.
    pub role: super::kinds::Role,
    /// argon2id PHC string; never shown or logged.
    pub password_hash: String,
    /// The TOTP secret, sealed with the key ring, once a second factor is set.
    pub totp_secret: Option<String>,
    /// When the account was disabled: it can no longer log in or use its tokens.
    pub disabled_at: Option<DateTimeUtc>,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// What a staff account refers to, or what refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Departments the account works in.
    #[sea_orm(has_many = "super::staff_department::Entity")]
    StaffDepartment,
    /// The account's sessions.
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
    /// Tokens made for the account.
    #[sea_orm(has_many = "super::api_token::Entity")]
    ApiToken,
    /// Tasks the account has taken.
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
}

related!(staff_department => StaffDepartment, session => Session, api_token => ApiToken, task => Task);

impl ActiveModelBehavior for ActiveModel {}
