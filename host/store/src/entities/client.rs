//! Clients (minimal until billing extends them).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(unique)]
    pub email: String,
    pub currency: String,
    pub country: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::service::Entity")]
    Service,
    #[sea_orm(has_many = "super::invoice::Entity")]
    Invoice,
    #[sea_orm(has_many = "super::payment::Entity")]
    Payment,
    #[sea_orm(has_many = "super::credit_entry::Entity")]
    CreditEntry,
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    #[sea_orm(has_many = "super::billable_item::Entity")]
    BillableItem,
    #[sea_orm(has_many = "super::usage_invoice::Entity")]
    UsageInvoice,
    #[sea_orm(has_many = "super::billing_term::Entity")]
    BillingTerm,
    #[sea_orm(has_many = "super::renewal::Entity")]
    Renewal,
}

related!(
    service => Service, invoice => Invoice, payment => Payment,
    credit_entry => CreditEntry, usage_record => UsageRecord,
    billable_item => BillableItem, usage_invoice => UsageInvoice,
    billing_term => BillingTerm, renewal => Renewal,
);

impl ActiveModelBehavior for ActiveModel {}
