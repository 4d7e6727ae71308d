//! Row types, one module per table.
//!
//! Each `Relation` mirrors the foreign keys of migration m0012 (`ON DELETE RESTRICT`):
//! `belongs_to` on the referencing side, `has_many` (`has_one` where the column is
//! unique) on the referenced side, each with a `Related` impl, so `find_related`,
//! `find_also_related` and joins can use them. The module log's relations have no keys
//! (`skip_fk`, see m0012). An addon refers to its service through `parent_id`
//! (`service::Relation::Parent`, and `Addon` the other way); a plan and its handlers are
//! related through `plan_handlers`.

/// `impl Related<super::M::Entity> for Entity` through `Relation::V`, for each `M => V`.
macro_rules! related {
    ($($m:ident => $v:ident),* $(,)?) => {
        $(
            impl Related<super::$m::Entity> for Entity {
                fn to() -> RelationDef {
                    Relation::$v.def()
                }
            }
        )*
    };
}

/// Module files seen in the modules directory: one row per file, with the latest
/// outcome of loading it. `provisor modules list` reads this, so the CLI shows what
/// the daemon loaded.
pub mod module_file {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "module_files")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub file: String,
        pub sha256: String,
        pub name: Option<String>,
        pub version: Option<String>,
        pub api_version: Option<String>,
        pub status: String,
        pub reason: Option<String>,
        pub loaded_path: Option<String>,
        pub manifest: Option<String>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Append-only history of every load, upgrade and refusal.
pub mod module_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "module_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub file: String,
        pub sha256: String,
        pub name: Option<String>,
        pub version: Option<String>,
        pub event: String,
        pub reason: Option<String>,
        pub process: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Handlers: a module, its connection settings and how it is used.
pub mod handler {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "handlers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub name: String,
        pub module: String,
        /// JSON text; each secret setting sealed (`{"$enc": "v1:key:…"}`, see
        /// `store::secrets`); never printed as is.
        pub settings: String,
        pub enabled: bool,
        pub department: Option<String>,
        pub label: Option<String>,
        pub max_concurrent: Option<i32>,
        pub last_check_at: Option<DateTimeUtc>,
        pub last_check_ok: Option<bool>,
        pub last_check_message: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Module calls abandoned past the call limit whose threads have not returned.
        pub stuck_calls: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::kv_entry::Entity")]
        KvEntry,
        #[sea_orm(has_many = "super::plan_handler::Entity")]
        PlanHandler,
        #[sea_orm(has_many = "super::service::Entity")]
        Service,
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
}

/// The id of the key the handlers' secret settings are sealed with (one row, id 1).
pub mod secret_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "secret_key")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub key_id: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The key-value store lent to modules, scoped to a handler.
pub mod kv_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "kv_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub handler_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::handler::Entity",
            from = "Column::HandlerId",
            to = "super::handler::Column::Id",
            on_delete = "Restrict"
        )]
        Handler,
    }

    related!(handler => Handler);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every module call and every HTTP exchange, secrets redacted.
pub mod module_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "module_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub handler: String,
        pub module: String,
        pub module_version: String,
        pub service_id: Option<i64>,
        pub operation_id: Option<i64>,
        pub attempt: Option<i32>,
        /// `call`, `http` or `log`.
        pub kind: String,
        /// The call name, `METHOD url`, or the log level.
        pub call: String,
        pub request: String,
        pub response: String,
        /// `ok`, an error kind, or an HTTP status.
        pub outcome: String,
        pub duration_ms: i64,
    }

    /// For joins only, without foreign keys (`skip_fk`): the log keeps the ids a call
    /// was made for even when no such row exists (see m0012).
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::service::Entity",
            from = "Column::ServiceId",
            to = "super::service::Column::Id",
            skip_fk
        )]
        Service,
        #[sea_orm(
            belongs_to = "super::operation::Entity",
            from = "Column::OperationId",
            to = "super::operation::Column::Id",
            skip_fk
        )]
        Operation,
    }

    related!(service => Service, operation => Operation);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Departments: who takes manual tasks.
pub mod department {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "departments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub name: String,
        pub email: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Clients (minimal until billing extends them).
pub mod client {
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
}

/// Tariff plans: what a client buys and how it is provisioned.
pub mod plan {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plans")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub name: String,
        /// The module every handler of the plan must use.
        pub module: String,
        pub template: Option<String>,
        /// JSON object: the resources passed to the module.
        pub resources: String,
        /// JSON object: plan settings, validated against the module's plan schema.
        pub settings: String,
        /// JSON object: configurable options `{name: {value: {resource: amount}}}`.
        pub options: String,
        pub is_addon: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::plan_handler::Entity")]
        PlanHandler,
        #[sea_orm(has_many = "super::service::Entity")]
        Service,
        #[sea_orm(has_many = "super::plan_price::Entity")]
        PlanPrice,
        #[sea_orm(has_many = "super::plan_deposit::Entity")]
        PlanDeposit,
        #[sea_orm(has_one = "super::usage_plan::Entity")]
        UsagePlan,
        #[sea_orm(has_many = "super::usage_price::Entity")]
        UsagePrice,
    }

    related!(
        plan_handler => PlanHandler, service => Service, plan_price => PlanPrice,
        plan_deposit => PlanDeposit, usage_plan => UsagePlan, usage_price => UsagePrice,
    );

    /// The handlers of a plan, through `plan_handlers`.
    impl Related<super::handler::Entity> for Entity {
        fn to() -> RelationDef {
            super::plan_handler::Relation::Handler.def()
        }
        fn via() -> Option<RelationDef> {
            Some(super::plan_handler::Relation::Plan.def().rev())
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Which handlers process a plan, in order of preference.
pub mod plan_handler {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_handlers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub handler_id: i64,
        pub priority: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
        #[sea_orm(
            belongs_to = "super::handler::Entity",
            from = "Column::HandlerId",
            to = "super::handler::Column::Id",
            on_delete = "Restrict"
        )]
        Handler,
    }

    related!(plan => Plan, handler => Handler);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Services: one sold thing, processed by one handler.
pub mod service {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "services")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub client_id: i64,
        pub plan_id: i64,
        pub handler_id: i64,
        pub parent_id: Option<i64>,
        /// pending, provisioning, active, suspended, terminated, failed, manual.
        pub status: String,
        pub remote_id: Option<String>,
        /// JSON object of what modules and staff returned.
        pub attributes: String,
        /// JSON object of the configurable options chosen at order time.
        pub options: String,
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
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
        #[sea_orm(
            belongs_to = "super::handler::Entity",
            from = "Column::HandlerId",
            to = "super::handler::Column::Id",
            on_delete = "Restrict"
        )]
        Handler,
        #[sea_orm(
            belongs_to = "Entity",
            from = "Column::ParentId",
            to = "Column::Id",
            on_delete = "Restrict"
        )]
        Parent,
        #[sea_orm(has_many = "super::module_log::Entity")]
        ModuleLog,
        #[sea_orm(has_many = "Entity", via_rel = "Relation::Parent")]
        Addon,
        #[sea_orm(has_many = "super::operation::Entity")]
        Operation,
        #[sea_orm(has_many = "super::task::Entity")]
        Task,
        #[sea_orm(has_many = "super::outbox::Entity")]
        Outbox,
        #[sea_orm(has_many = "super::invoice::Entity")]
        Invoice,
        #[sea_orm(has_many = "super::invoice_line::Entity")]
        InvoiceLine,
        #[sea_orm(has_many = "super::usage_record::Entity")]
        UsageRecord,
        #[sea_orm(has_many = "super::billable_item::Entity")]
        BillableItem,
        #[sea_orm(has_many = "super::usage_item::Entity")]
        UsageItem,
        #[sea_orm(has_many = "super::usage_charge::Entity")]
        UsageCharge,
        #[sea_orm(has_one = "super::billing_term::Entity")]
        BillingTerm,
        #[sea_orm(has_many = "super::renewal::Entity")]
        Renewal,
        #[sea_orm(has_many = "super::billing_action::Entity")]
        BillingAction,
    }

    related!(
        client => Client, plan => Plan, handler => Handler, module_log => ModuleLog,
        operation => Operation, task => Task, outbox => Outbox, invoice => Invoice,
        invoice_line => InvoiceLine, usage_record => UsageRecord,
        billable_item => BillableItem, usage_item => UsageItem, usage_charge => UsageCharge,
        billing_term => BillingTerm, renewal => Renewal, billing_action => BillingAction,
    );

    impl ActiveModelBehavior for ActiveModel {}
}

/// The operation queue: every lifecycle step, durable.
pub mod operation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "operations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub service_id: i64,
        pub handler_id: i64,
        /// create, suspend, unsuspend, terminate, change_plan, renew.
        pub kind: String,
        /// queued, running, done, manual, cancelled.
        pub status: String,
        #[sea_orm(unique)]
        pub operation_key: String,
        pub attempts: i32,
        pub max_attempts: i32,
        pub next_run_at: DateTimeUtc,
        pub lease_owner: Option<String>,
        pub lease_expires_at: Option<DateTimeUtc>,
        pub params: String,
        pub state: Option<String>,
        pub last_error: Option<String>,
        pub last_error_kind: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
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
            belongs_to = "super::handler::Entity",
            from = "Column::HandlerId",
            to = "super::handler::Column::Id",
            on_delete = "Restrict"
        )]
        Handler,
        #[sea_orm(has_many = "super::module_log::Entity")]
        ModuleLog,
        #[sea_orm(has_many = "super::operation_attempt::Entity")]
        OperationAttempt,
        #[sea_orm(has_many = "super::task::Entity")]
        Task,
        #[sea_orm(has_many = "super::billing_action::Entity")]
        BillingAction,
    }

    related!(
        service => Service, handler => Handler, module_log => ModuleLog,
        operation_attempt => OperationAttempt, task => Task, billing_action => BillingAction,
    );

    impl ActiveModelBehavior for ActiveModel {}
}

/// One attempt of an operation, with its outcome and error text.
pub mod operation_attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "operation_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub operation_id: i64,
        pub attempt: i32,
        pub worker: String,
        pub started_at: DateTimeUtc,
        pub finished_at: DateTimeUtc,
        pub outcome: String,
        pub error: Option<String>,
        /// What the module said on a done or in-progress call.
        pub message: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::operation::Entity",
            from = "Column::OperationId",
            to = "super::operation::Column::Id",
            on_delete = "Restrict"
        )]
        Operation,
    }

    related!(operation => Operation);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Manual tasks for departments.
pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub operation_id: i64,
        pub service_id: i64,
        pub department: String,
        /// open, taken, done, returned, cancelled.
        pub status: String,
        pub reason: String,
        /// JSON array of the module's form fields.
        pub fields: String,
        pub taken_by: Option<String>,
        pub values: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::operation::Entity",
            from = "Column::OperationId",
            to = "super::operation::Column::Id",
            on_delete = "Restrict"
        )]
        Operation,
        #[sea_orm(
            belongs_to = "super::service::Entity",
            from = "Column::ServiceId",
            to = "super::service::Column::Id",
            on_delete = "Restrict"
        )]
        Service,
    }

    related!(operation => Operation, service => Service);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Emails waiting to be sent (delivery comes later).
pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: String,
        pub recipient: String,
        pub subject: String,
        pub body: String,
        pub service_id: Option<i64>,
        #[sea_orm(unique)]
        pub dedupe_key: String,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
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
    }

    related!(service => Service);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Currencies: one is the default (rate 1); every other rate says how many units of
/// it one unit of the default buys. Money in every billing table is decimal text.
pub mod currency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "currencies")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// ISO 4217 code, upper case.
        #[sea_orm(unique)]
        pub code: String,
        pub symbol: String,
        /// Digits after the decimal point (2 for EUR, 0 for JPY).
        pub minor_units: i32,
        /// Decimal text: units of this currency per unit of the default currency.
        pub rate: String,
        /// half-up, half-even or down.
        pub rounding: String,
        pub is_default: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Tax rates by country (percent, exclusive); a country without a row pays none.
pub mod tax_rate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tax_rates")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// ISO 3166 alpha-2, upper case.
        #[sea_orm(unique)]
        pub country: String,
        /// Decimal text, percent (`21` is 21 %).
        pub rate: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A plan's recurring price in one currency for one period.
pub mod plan_price {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_prices")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub plan_id: i64,
        pub currency: String,
        /// monthly, quarterly, semiannual or annual.
        pub period: String,
        /// Decimal text in the currency's minor units.
        pub amount: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
    }

    related!(plan => Plan);

    impl ActiveModelBehavior for ActiveModel {}
}

/// The deposit a plan requires at sign-up, per currency; paid, it becomes credit.
pub mod plan_deposit {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_deposits")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub plan_id: i64,
        pub currency: String,
        pub amount: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
    }

    related!(plan => Plan);

    impl ActiveModelBehavior for ActiveModel {}
}

/// Invoices. The number is given when the invoice leaves `draft`, in the same
/// transaction, from `invoice_sequences`.
pub mod invoice {
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
        pub status: String,
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
}

/// One line of an invoice, with its rounded amounts.
pub mod invoice_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invoice_lines")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub invoice_id: i64,
        pub position: i32,
        /// service, deposit or manual.
        pub kind: String,
        pub description: String,
        pub quantity: String,
        pub unit_price: String,
        /// quantity × unit price, rounded.
        pub net: String,
        /// Percent.
        pub tax_rate: String,
        /// net × rate / 100, rounded.
        pub tax: String,
        /// net + tax.
        pub total: String,
        pub service_id: Option<i64>,
        pub period: Option<String>,
        pub period_start: Option<Date>,
        pub period_end: Option<Date>,
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
            belongs_to = "super::service::Entity",
            from = "Column::ServiceId",
            to = "super::service::Column::Id",
            on_delete = "Restrict"
        )]
        Service,
    }

    related!(invoice => Invoice, service => Service);

    impl ActiveModelBehavior for ActiveModel {}
}

/// The last invoice number given per year.
pub mod invoice_sequence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invoice_sequences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub year: i32,
        pub last: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Money applied to an invoice: a recorded payment (with its unique reference) or
/// credit from the ledger.
pub mod payment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub invoice_id: i64,
        pub client_id: i64,
        /// payment, credit, refund or refund_credit (refunds have negative amounts).
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
}

/// The client credit ledger: append-only; the balance is the sum.
pub mod credit_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credit_entries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub client_id: i64,
        pub currency: String,
        /// Signed decimal text.
        pub amount: String,
        pub reason: String,
        pub invoice_id: Option<i64>,
        pub payment_id: Option<i64>,
        pub created_at: DateTimeUtc,
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
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
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
}

/// Usage billing (m0006): how a plan bills usage.
pub mod usage_plan {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_plans")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub plan_id: i64,
        /// postpaid, month-end or pushed.
        pub mode: String,
        /// Days from the 1st's invoice to its due date.
        pub due_days: i32,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
    }

    related!(plan => Plan);

    impl ActiveModelBehavior for ActiveModel {}
}

/// A plan's price of one unit of usage in one currency.
pub mod usage_price {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_prices")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub plan_id: i64,
        pub currency: String,
        pub unit: String,
        /// Decimal text (may have more places than the currency's minor units).
        pub amount: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::plan::Entity",
            from = "Column::PlanId",
            to = "super::plan::Column::Id",
            on_delete = "Restrict"
        )]
        Plan,
    }

    related!(plan => Plan);

    impl ActiveModelBehavior for ActiveModel {}
}

/// One imported usage record (`usage import`), unique by transaction id.
pub mod usage_record {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_records")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub transaction_id: String,
        pub service_id: i64,
        pub client_id: i64,
        pub unit: String,
        pub quantity: String,
        /// The first day of the month the usage belongs to.
        pub period_start: Date,
        pub description: Option<String>,
        /// Arrived after its period was invoiced.
        pub late: bool,
        pub invoice_id: Option<i64>,
        pub imported_at: DateTimeUtc,
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
            belongs_to = "super::client::Entity",
            from = "Column::ClientId",
            to = "super::client::Column::Id",
            on_delete = "Restrict"
        )]
        Client,
        #[sea_orm(
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
    }

    related!(service => Service, client => Client, invoice => Invoice);

    impl ActiveModelBehavior for ActiveModel {}
}

/// A month-end billable item: one per (service, product, period).
pub mod billable_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billable_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub client_id: i64,
        pub service_id: i64,
        pub product: String,
        pub period_start: Date,
        pub period_end: Date,
        pub unit: String,
        pub quantity: String,
        pub amount: String,
        pub currency: String,
        pub invoice_id: Option<i64>,
        pub collected_at: DateTimeUtc,
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
        #[sea_orm(
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
        #[sea_orm(has_many = "super::usage_item::Entity")]
        UsageItem,
    }

    related!(client => Client, service => Service, invoice => Invoice, usage_item => UsageItem);

    impl ActiveModelBehavior for ActiveModel {}
}

/// One module usage item collected into a billable item (for drill-down).
pub mod usage_item {
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
}

/// A post-paid service's usage charged for a period (unique per service and period).
pub mod usage_charge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_charges")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub service_id: i64,
        pub period_start: Date,
        pub invoice_id: i64,
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
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
    }

    related!(service => Service, invoice => Invoice);

    impl ActiveModelBehavior for ActiveModel {}
}

/// The usage invoice of a client for a period (unique per client and period).
pub mod usage_invoice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "usage_invoices")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub client_id: i64,
        pub period_start: Date,
        pub invoice_id: i64,
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
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
    }

    related!(client => Client, invoice => Invoice);

    impl ActiveModelBehavior for ActiveModel {}
}

/// A service's prepaid billing term: its period, the day its first paid period began
/// (periods are counted from it, clamped to month ends), what has been invoiced and
/// what has been paid up to.
pub mod billing_term {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_terms")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub service_id: i64,
        pub client_id: i64,
        /// monthly, quarterly, semiannual or annual.
        pub period: String,
        pub anchor: Date,
        /// The first day not yet invoiced.
        pub invoiced_until: Date,
        /// The first day not yet paid: the next due date.
        pub next_due: Date,
        /// When billing ended (the service or the one it is attached to terminated).
        pub ended_on: Option<Date>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
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
            belongs_to = "super::client::Entity",
            from = "Column::ClientId",
            to = "super::client::Column::Id",
            on_delete = "Restrict"
        )]
        Client,
    }

    related!(service => Service, client => Client);

    impl ActiveModelBehavior for ActiveModel {}
}

/// One renewal charged: unique per (service, period start).
pub mod renewal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "renewals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub service_id: i64,
        pub client_id: i64,
        pub period: String,
        pub period_start: Date,
        pub period_end: Date,
        pub invoice_id: i64,
        pub run_date: Date,
        pub created_at: DateTimeUtc,
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
            belongs_to = "super::client::Entity",
            from = "Column::ClientId",
            to = "super::client::Column::Id",
            on_delete = "Restrict"
        )]
        Client,
        #[sea_orm(
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
    }

    related!(service => Service, client => Client, invoice => Invoice);

    impl ActiveModelBehavior for ActiveModel {}
}

/// A suspend, unsuspend or terminate queued for non-payment: unique per (invoice,
/// service, action).
pub mod billing_action {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_actions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub service_id: i64,
        pub invoice_id: i64,
        /// suspend, unsuspend or terminate.
        pub action: String,
        pub operation_id: Option<i64>,
        pub run_date: Date,
        pub created_at: DateTimeUtc,
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
            belongs_to = "super::invoice::Entity",
            from = "Column::InvoiceId",
            to = "super::invoice::Column::Id",
            on_delete = "Restrict"
        )]
        Invoice,
        #[sea_orm(
            belongs_to = "super::operation::Entity",
            from = "Column::OperationId",
            to = "super::operation::Column::Id",
            on_delete = "Restrict"
        )]
        Operation,
    }

    related!(service => Service, invoice => Invoice, operation => Operation);

    impl ActiveModelBehavior for ActiveModel {}
}

/// The days `serve` has performed the daily run for (so a restart runs no day twice).
pub mod daily_run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "daily_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub ran_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, Iterable, JoinType, QuerySelect, QueryTrait};
    use sea_orm::{RelationTrait, RelationType};

    /// (table, column, referenced table) of every `belongs_to` relation of the given
    /// entities, read from the join each one builds: those with a foreign key, and
    /// those without (`skip_fk`).
    macro_rules! belongs_to {
        ($($m:ident),* $(,)?) => {{
            let mut out = (Vec::new(), Vec::new());
            $(
                for r in super::$m::Relation::iter() {
                    let def = r.def();
                    if def.rel_type == RelationType::HasOne && !def.is_owner {
                        let list = if def.skip_fk { &mut out.1 } else { &mut out.0 };
                        let sql = super::$m::Entity::find()
                            .join_as(JoinType::InnerJoin, def, "r")
                            .build(DbBackend::Sqlite)
                            .to_string();
                        list.push(reference(&sql));
                    }
                }
            )*
            out
        }};
    }

    /// `INNER JOIN "parent" AS "r" ON "table"."column" = "r"."id"` → (table, column,
    /// parent).
    fn reference(sql: &str) -> (String, String, String) {
        let join = sql.split("INNER JOIN ").nth(1).expect("a join");
        let words: Vec<&str> = join.split('"').collect();
        // [ "", parent, " AS ", r, " ON ", table, ".", column, " = ", r, ".", id, …]
        assert_eq!(words[11], "id", "{sql}");
        (words[5].into(), words[7].into(), words[1].into())
    }

    #[test]
    fn relations_mirror_the_foreign_keys() {
        let (mut relations, without_keys) = belongs_to!(
            module_file,
            module_event,
            handler,
            secret_key,
            kv_entry,
            module_log,
            department,
            client,
            plan,
            plan_handler,
            service,
            operation,
            operation_attempt,
            task,
            outbox,
            currency,
            tax_rate,
            plan_price,
            plan_deposit,
            invoice,
            invoice_line,
            invoice_sequence,
            payment,
            credit_entry,
            usage_plan,
            usage_price,
            usage_record,
            billable_item,
            usage_item,
            usage_charge,
            usage_invoice,
            billing_term,
            renewal,
            billing_action,
            daily_run,
        );
        let mut keys: Vec<(String, String, String)> = super::super::migration::foreign_keys()
            .into_iter()
            .map(|(t, c, p)| (t.into(), c.into(), p.into()))
            .collect();
        relations.sort();
        keys.sort();
        assert_eq!(relations, keys);
        let log = |c: &str, p: &str| ("module_log".to_string(), c.to_string(), p.to_string());
        assert_eq!(
            without_keys,
            [
                log("service_id", "services"),
                log("operation_id", "operations")
            ]
        );
    }
}
