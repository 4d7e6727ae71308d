//! The key-value store lent to modules, scoped to a handler.

use sea_orm::entity::prelude::*;

/// One key of a handler's key-value store (a row of `kv_entries`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kv_entries")]
pub struct Model {
    /// The handler whose store it is in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub handler_id: i64,
    /// The key, as the module chose it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The value, text as the module wrote it.
    pub value: String,
    /// When it was last written.
    pub updated_at: DateTimeUtc,
}

/// An entry belongs to its handler.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The handler whose store it is in (`handler_id`).
    #[sea_orm(
        belongs_to = "super::handler::Entity",
        from = "Column::HandlerId",
        to = "super::handler::Column::Id",
        on_delete = "Restrict"
    )]
    Handler,
}

related!(handler => Handler);

impl ActiveModelBehavior for ActiveModel {}
