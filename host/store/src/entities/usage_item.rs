//! One module usage item collected into a billable item (for drill-down).

use sea_orm::entity::prelude::*;

/// A module usage row collected (a row of `usage_items`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_items")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service it is of.
    pub service_id: i64,
    /// The remote's id for the row (unique per service: a row is collected once).
    pub key: String,
    /// The billable item it went into.
    pub billable_item_id: i64,
    /// What it is, as the module described it.
    pub description: String,
    /// The unit of `quantity`.
    pub unit: String,
    /// Units used, decimal text.
    pub quantity: String,
    /// What it costs, unrounded, decimal text in the client's currency.
    pub amount: String,
    /// When the usage began (RFC 3339), if the module said.
    pub started_at: Option<String>,
    /// JSON.
    pub details: String,
}

/// A usage item belongs to its service and the billable item it went into.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The service it is of (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// The billable item it went into (`billable_item_id`).
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
