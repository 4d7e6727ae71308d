//! Manual tasks for departments.

use sea_orm::entity::prelude::*;

/// A manual task (a row of `tasks`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The operation that turned manual.
    pub operation_id: i64,
    /// The service it is about.
    pub service_id: i64,
    /// The name of the department it is for.
    pub department: String,
    /// `open`, `taken`, `done`, `returned` or `cancelled`.
    pub status: super::status::TaskStatus,
    /// Why a person must act (the module's words).
    pub reason: String,
    /// JSON array of the module's form fields.
    pub fields: String,
    /// Who took it, once taken: the staff account's name (before staff accounts, the
    /// free text given).
    pub taken_by: Option<String>,
    /// The staff account that took it (tasks taken before staff accounts have none).
    pub taken_by_staff_id: Option<i64>,
    /// JSON object of what staff filled in, once done.
    pub values: Option<String>,
    /// When it was opened.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// A task belongs to the operation that turned manual and its service.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The operation that turned manual (`operation_id`).
    #[sea_orm(
        belongs_to = "super::operation::Entity",
        from = "Column::OperationId",
        to = "super::operation::Column::Id",
        on_delete = "Restrict"
    )]
    Operation,
    /// The service it is about (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The staff account that took it (`taken_by_staff_id`).
    #[sea_orm(
        belongs_to = "super::staff::Entity",
        from = "Column::TakenByStaffId",
        to = "super::staff::Column::Id",
        on_delete = "Restrict"
    )]
    Staff,
}

related!(operation => Operation, service => Service, staff => Staff);

impl ActiveModelBehavior for ActiveModel {}
