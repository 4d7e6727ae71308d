//! Money applied to an invoice: a recorded payment (with its unique reference) or
//! credit from the ledger.

use sea_orm::entity::prelude::*;

/// Money applied to an invoice (a row of `payments`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The invoice paid (or refunded).
    pub invoice_id: i64,
    /// The invoice's client.
    pub client_id: i64,
    /// `payment`, `credit`, `refund` or `refund_credit` (refunds have negative amounts).
    pub method: String,
    /// The payment's or refund's reference (a bank or processor id), unique; `None` for
    /// credit applied.
    #[sea_orm(unique)]
    pub reference: Option<String>,
    /// The currency code of the amounts (the invoice's).
    pub currency: String,
    /// What went to the invoice.
    pub amount: String,
    /// What arrived (more than `amount` when overpaid: the rest became credit).
    pub received: String,
    /// The day the money arrived (or left, for a refund).
    pub received_on: Date,
    /// When it was recorded.
    pub created_at: DateTimeUtc,
}

/// A payment belongs to its invoice and client; credit entries it caused refer to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The invoice paid (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    /// The invoice's client (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// Credit entries it caused (an overpayment, a refund to credit).
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
}

related!(invoice => Invoice, client => Client, credit_entry => CreditEntry);

impl ActiveModelBehavior for ActiveModel {}
