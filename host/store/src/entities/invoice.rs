//! Invoices. The number is given when the invoice leaves `draft`, in the same
//! transaction, from `invoice_sequences`.

use sea_orm::entity::prelude::*;

/// An invoice (a row of `invoices`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client billed.
    pub client_id: i64,
    /// The service whose order this invoice gates, if any.
    pub service_id: Option<i64>,
    /// `YYYY-NNNNNN`, gapless per year; `None` while a draft.
    #[sea_orm(unique)]
    pub number: Option<String>,
    /// The year part of `number`; `None` while a draft.
    pub number_year: Option<i32>,
    /// The sequence part of `number` within its year; `None` while a draft.
    pub number_seq: Option<i64>,
    /// `draft`, `unpaid`, `paid`, `cancelled` or `refunded`.
    pub status: super::status::InvoiceStatus,
    /// The code of the currency of every amount on it (the client's).
    pub currency: String,
    /// The sum of the lines' net amounts, decimal text.
    pub subtotal: String,
    /// The sum of the lines' tax, decimal text.
    pub tax_total: String,
    /// `subtotal` + `tax_total`, decimal text.
    pub total: String,
    /// Payments and credit applied so far.
    pub amount_paid: String,
    /// The day it was issued; `None` while a draft.
    pub issue_date: Option<Date>,
    /// The day it is due; `None` while a draft.
    pub due_date: Option<Date>,
    /// When it was paid in full; `None` until then.
    pub paid_at: Option<DateTimeUtc>,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// An invoice belongs to a client and, for an order, a service; its lines, payments and
/// the billing records it settles refer to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client billed (`client_id`).
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    /// The service whose order it gates (`service_id`).
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    /// Its lines.
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
    /// Payments and credit applied to it.
    #[sea_orm(has_many = "super::payment::Entity")]
    Payment,
    /// Credit entries it caused or took.
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
    /// Imported usage billed on it.
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    /// Month-end billable items billed on it.
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    /// Post-paid usage charged on it.
    #[sea_orm(has_many = "super::usage_charge::Entity")]
    UsageCharge,
    /// The client's month it is the usage invoice of.
    #[sea_orm(has_many = "super::usage_invoice::Entity")]
    UsageInvoice,
    /// Renewals it charges.
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
    /// Suspends and terminates it caused.
    #[sea_orm(has_many = "super::billing_action::Entity")]
    BillingAction,
}

related!(
    client => Client, service => Service, invoice_line => InvoiceLine, payment => Payment,
    credit_entry => CreditEntry, usage_record => UsageRecord,
    billable_item => BillableItem, usage_charge => UsageCharge,
    usage_invoice => UsageInvoice, renewal => Renewal, billing_action => BillingAction,
);

impl ActiveModelBehavior for ActiveModel {}
