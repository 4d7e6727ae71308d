//! One module usage item collected into a billable item (for drill-down).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub service_id: i64,
    pub key: String,
    pub billable_item_id: i64,
    pub description: String,
    pub unit: String,
    pub quantity: String,
    pub amount: String,
    pub started_at: Option<String>,
    /// JSON.
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    #[sea_orm(
        belongs_to = "super::billable_item::Entity",
        from = "Column::BillableItemId",
        to = "super::billable_item::Column::Id",
        on_delete = "Restrict"
    )]
    BillableItem,
}

related!(service => Service, billable_item => BillableItem);

impl ActiveModelBehavior for ActiveModel {}
