//! Every module call and every HTTP exchange, secrets redacted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "module_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub handler: String,
    pub module: String,
    pub module_version: String,
    pub service_id: Option<i64>,
    pub operation_id: Option<i64>,
    pub attempt: Option<i32>,
    /// `call`, `http` or `log`.
    pub kind: String,
    /// The call name, `METHOD url`, or the log level.
    pub call: String,
    pub request: String,
    pub response: String,
    /// `ok`, an error kind, or an HTTP status code: an open set, so text, not an enum.
    pub outcome: String,
    pub duration_ms: i64,
}

/// For joins only, without foreign keys (`skip_fk`): the log keeps the ids a call
/// was made for even when no such row exists (see m0012).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        skip_fk
    )]
    Service,
    #[sea_orm(
        belongs_to = "super::operation::Entity",
        from = "Column::OperationId",
        to = "super::operation::Column::Id",
        skip_fk
    )]
    Operation,
}

related!(service => Service, operation => Operation);

impl ActiveModelBehavior for ActiveModel {}
