//! Manual tasks for departments.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub operation_id: i64,
    pub service_id: i64,
    pub department: String,
    /// open, taken, done, returned, cancelled.
    pub status: super::status::TaskStatus,
    pub reason: String,
    /// JSON array of the module's form fields.
    pub fields: String,
    pub taken_by: Option<String>,
    pub values: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::operation::Entity",
        from = "Column::OperationId",
        to = "super::operation::Column::Id",
        on_delete = "Restrict"
    )]
    Operation,
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
}

related!(operation => Operation, service => Service);

impl ActiveModelBehavior for ActiveModel {}
