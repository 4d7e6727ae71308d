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

/// Tasks and handlers name their department; staff accounts are members through
/// `staff_departments`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The staff accounts working in it.
    #[sea_orm(has_many = "super::staff_department::Entity")]
    StaffDepartment,
}

related!(staff_department => StaffDepartment);

impl ActiveModelBehavior for ActiveModel {}
