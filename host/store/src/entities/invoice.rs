//! Invoices. The number is given when the invoice leaves `draft`, in the same
//! transaction, from `invoice_sequences`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub client_id: i64,
    /// The service whose order this invoice gates, if any.
    pub service_id: Option<i64>,
    /// `YYYY-NNNNNN`, gapless per year; `None` while a draft.
    #[sea_orm(unique)]
    pub number: Option<String>,
    pub number_year: Option<i32>,
    pub number_seq: Option<i64>,
    /// draft, unpaid, paid, cancelled, refunded.
    pub status: super::status::InvoiceStatus,
    pub currency: String,
    pub subtotal: String,
    pub tax_total: String,
    pub total: String,
    /// Payments and credit applied so far.
    pub amount_paid: String,
    pub issue_date: Option<Date>,
    pub due_date: Option<Date>,
    pub paid_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::client::Entity",
        from = "Column::ClientId",
        to = "super::client::Column::Id",
        on_delete = "Restrict"
    )]
    Client,
    #[sea_orm(
        belongs_to = "super::service::Entity",
        from = "Column::ServiceId",
        to = "super::service::Column::Id",
        on_delete = "Restrict"
    )]
    Service,
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
    #[sea_orm(has_many = "super::payment::Entity")]
    Payment,
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    #[sea_orm(has_many = "super::usage_charge::Entity")]
    UsageCharge,
    #[sea_orm(has_many = "super::usage_invoice::Entity")]
    UsageInvoice,
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
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
