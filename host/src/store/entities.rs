//! Row types, one module per table.

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
        /// JSON text, secrets included: never printed as is.
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
    pub enum Relation {}

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

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
