//! Handlers: a module, its connection settings and how it is used.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "handlers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub module: String,
    /// JSON text; each secret setting sealed (`{"$enc": "v1:key:…"}`, see
    /// `store::secrets`); never printed as is.
    pub settings: String,
    pub enabled: bool,
    pub department: Option<String>,
    pub label: Option<String>,
    pub max_concurrent: Option<i32>,
    pub last_check_at: Option<DateTimeUtc>,
    pub last_check_ok: Option<bool>,
    pub last_check_message: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Module calls abandoned past the call limit whose threads have not returned.
    pub stuck_calls: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::kv_entry::Entity")]
    KvEntry,
    #[sea_orm(has_many = "super::plan_handler::Entity")]
    PlanHandler,
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    #[sea_orm(has_many = "super::operation::Entity")]
    Operation,
}

related!(
    kv_entry => KvEntry, plan_handler => PlanHandler, service => Service,
    operation => Operation,
);

/// The plans of a handler, through `plan_handlers`.
impl Related<super::plan::Entity> for Entity {
    fn to() -> RelationDef {
        super::plan_handler::Relation::Plan.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::plan_handler::Relation::Handler.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
