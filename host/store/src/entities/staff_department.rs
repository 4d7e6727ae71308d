//! Which departments a staff account works in.

use sea_orm::entity::prelude::*;

/// A staff account's membership of a department (a row of `staff_departments`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_departments")]
pub struct Model {
    /// The staff account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub staff_id: i64,
    /// The department.
    #[sea_orm(primary_key, auto_increment = false)]
    pub department_id: i64,
}

/// What a staff account's membership of a department refers to, or what refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The staff account (`staff_id`).
    #[sea_orm(
        belongs_to = "super::staff::Entity",
        from = "Column::StaffId",
        to = "super::staff::Column::Id",
        on_delete = "Restrict"
    )]
    Staff,
    /// The department (`department_id`).
    #[sea_orm(
        belongs_to = "super::department::Entity",
        from = "Column::DepartmentId",
        to = "super::department::Column::Id",
        on_delete = "Restrict"
    )]
    Department,
}

related!(staff => Staff, department => Department);

impl ActiveModelBehavior for ActiveModel {}
