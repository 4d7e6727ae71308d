//! Departments: who takes manual tasks.

use sea_orm::entity::prelude::*;

/// A department (a row of `departments`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "departments")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The department's name, unique; tasks and handlers refer to it by name.
    #[sea_orm(unique)]
    pub name: String,
    /// Where the department is reached, if given.
    pub email: Option<String>,
    /// When it was created.
    pub created_at: DateTimeUtc,
}

/// No relations: tasks and handlers name their department.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
