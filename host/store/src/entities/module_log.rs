//! Every module call and every HTTP exchange, secrets redacted.

use sea_orm::entity::prelude::*;

/// One module log row (a row of `module_log`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "module_log")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the call, exchange or line happened.
    pub at: DateTimeUtc,
    /// The name of the handler whose instance it was.
    pub handler: String,
    /// The module's name.
    pub module: String,
    /// The module's version.
    pub module_version: String,
    /// The service the call was for, if any (no foreign key: kept after the service is
    /// gone).
    pub service_id: Option<i64>,
    /// The operation the call was for, if any (no foreign key either).
    pub operation_id: Option<i64>,
    /// The operation's attempt number, if any.
    pub attempt: Option<i32>,
    /// `call`, `http` or `log`.
    pub kind: String,
    /// The call name, `METHOD url`, or the log level.
    pub call: String,
    /// The call's JSON request, the HTTP request or the log message; redacted, at most
    /// 64 KiB.
    pub request: String,
    /// The call's answer or error, the HTTP response or the log line's fields;
    /// redacted, at most 64 KiB.
    pub response: String,
    /// `ok`, an error kind, or an HTTP status code: an open set, so text, not an enum.
    pub outcome: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
}

/// For joins only, without foreign keys (`skip_fk`): the log keeps the ids a call
/// was made for even when no such row exists (see m0012).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service the call was for (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        skip_fk
    )]
    Service,
    /// The operation the call was for (`operation_id`).
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
