//! The client credit ledger: append-only; the balance is the sum.

use sea_orm::entity::prelude::*;

/// One entry of a client's credit ledger (a row of `credit_entries`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_entries")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client whose credit changes.
    pub client_id: i64,
    /// The currency code of `amount` (the client's).
    pub currency: String,
    /// Signed decimal text.
    pub amount: String,
    /// Why, for people (`overpayment of invoice 2026-000012 (payment P-1)`).
    pub reason: String,
    /// The invoice the credit came from or was applied to, if any.
    pub invoice_id: Option<i64>,
    /// The payment it came from or went to, if any.
    pub payment_id: Option<i64>,
    /// When it was recorded.
    pub created_at: DateTimeUtc,
}

/// A credit entry belongs to its client and, where it came from or went to one, an
/// invoice and a payment.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client whose credit changes (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// The invoice involved (`invoice_id`).
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Restrict"
    )]
    Invoice,
    /// The payment involved (`payment_id`).
    #[sea_orm(
        belongs_to = "super::payment::Entity",
        from = "Column::PaymentId",
        to = "super::payment::Column::Id",
        on_delete = "Restrict"
    )]
    Payment,
}

related!(client => Client, invoice => Invoice, payment => Payment);

impl ActiveModelBehavior for ActiveModel {}
