//! Clients (minimal until billing extends them).

use sea_orm::entity::prelude::*;

/// A client (a row of `clients`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The client's name, as shown on invoices and listings.
    pub name: String,
    /// The client's email address: unique, looked up case-insensitively.
    #[sea_orm(unique)]
    pub email: String,
    /// The code of the currency the client is billed in.
    pub currency: String,
    /// ISO 3166 alpha-2 country code, upper case, or empty; decides the tax rate.
    pub country: String,
    /// When the client was created.
    pub created_at: DateTimeUtc,
}

/// Everything billed to or owned by a client refers to it.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The client's services.
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    /// The client's invoices.
    #[sea_orm(has_many = "super::invoice::Entity")]
    Invoice,
    /// Payments recorded for the client.
    #[sea_orm(has_many = "super::payment::Entity")]
    Payment,
    /// The client's credit ledger.
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
    /// Usage imported for the client's services.
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    /// Month-end billable items of the client's services.
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    /// The client's monthly usage invoices.
    #[sea_orm(has_many = "super::usage_invoice::Entity")]
    UsageInvoice,
    /// Billing terms of the client's services.
    #[sea_orm(has_many = "super::billing_term::Entity")]
    BillingTerm,
    /// Renewals charged to the client.
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
    /// The client's login, if they have one.
    #[sea_orm(has_one = "super::client_login::Entity")]
    ClientLogin,
    /// The client's sessions.
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

related!(
    service => Service, invoice => Invoice, payment => Payment,
    credit_entry => CreditEntry, usage_record => UsageRecord,
    billable_item => BillableItem, usage_invoice => UsageInvoice,
    billing_term => BillingTerm, renewal => Renewal,
    client_login => ClientLogin, session => Session,
);

impl ActiveModelBehavior for ActiveModel {}
