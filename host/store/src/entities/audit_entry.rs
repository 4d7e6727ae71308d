//! The audit log: who changed what, append-only (a trigger refuses updates and deletes).

use sea_orm::entity::prelude::*;

/// An audit log entry (a row of `audit_log`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When it happened.
    pub at: DateTimeUtc,
    /// What kind of actor did it.
    pub actor_kind: super::kinds::ActorKind,
    /// The actor's row id, where it has one.
    pub actor_id: Option<i64>,
    /// The actor as shown: an email, a token's name, a user name.
    pub actor_name: String,
    /// What was done, as `object.verb` (`service.suspend`).
    pub action: String,
    /// The kind of object acted on (`service`).
    pub object_kind: String,
    /// The object's id.
    pub object_id: Option<String>,
    /// JSON of what changed, before, where it matters.
    pub before: Option<String>,
    /// JSON of what changed, after, where it matters.
    pub after: Option<String>,
    /// The address the request came from.
    pub source_addr: Option<String>,
}

/// No relations: its ids are kept as given.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
