//! Handlers: a module, its connection settings and how it is used.

use sea_orm::entity::prelude::*;

/// A handler (a row of `handlers`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "handlers")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The handler's name, unique; commands refer to it by name.
    #[sea_orm(unique)]
    pub name: String,
    /// The name of the module that does its work.
    pub module: String,
    /// JSON text; each secret setting sealed (`{"$enc": "v1:key:…"}`, see
    /// `store::secrets`); never printed as is.
    pub settings: String,
    /// Whether it takes new services (a disabled handler still processes its existing
    /// ones).
    pub enabled: bool,
    /// The department its tasks go to; `None`: `support`.
    pub department: Option<String>,
    /// A free label for staff, e.g. the data centre.
    pub label: Option<String>,
    /// With this many of its operations queued or running, new services go to another
    /// handler of the plan; `None`: no limit.
    pub max_concurrent: Option<i32>,
    /// When its connection was last tested; `None`: never.
    pub last_check_at: Option<DateTimeUtc>,
    /// Whether that test passed.
    pub last_check_ok: Option<bool>,
    /// What that test said.
    pub last_check_message: Option<String>,
    /// When it was added.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
    /// Module calls abandoned past the call limit whose threads have not returned.
    pub stuck_calls: i32,
}

/// A handler's key-value entries, plans, services and operations refer to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The handler's key-value store.
    #[sea_orm(has_many = "super::kv_entry::Entity")]
    KvEntry,
    /// The plans it serves (through `plan_handlers`).
    #[sea_orm(has_many = "super::plan_handler::Entity")]
    PlanHandler,
    /// The services it processes.
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    /// The operations routed to it.
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
