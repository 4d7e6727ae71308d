//! Money applied to an invoice: a recorded payment (with its unique reference) or
//! credit from the ledger.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub client_id: i64,
    /// `payment`, `credit`, `refund` or `refund_credit` (refunds have negative amounts).
    pub method: String,
    #[sea_orm(unique)]
    pub reference: Option<String>,
    pub currency: String,
    /// What went to the invoice.
    pub amount: String,
    /// What arrived (more than `amount` when overpaid: the rest became credit).
    pub received: String,
    pub received_on: Date,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
}

related!(invoice => Invoice, client => Client, credit_entry => CreditEntry);

impl ActiveModelBehavior for ActiveModel {}
