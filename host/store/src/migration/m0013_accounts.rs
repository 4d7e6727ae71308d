//! `m0013_accounts`: the people and doors of issue 12 — staff accounts and their
//! departments, client logins, sessions, API tokens, the audit log, login attempts
//! (for rate limits every node sees) and idempotency keys; tasks taken by a staff
//! account.
//!
//! Every new reference is a foreign key declared with its table (`ON DELETE
//! RESTRICT`, as m0012's), listed in [`FKS`] so the entities' relations are tested
//! against it. The audit log is append-only in the database itself: a trigger on each
//! backend refuses an `UPDATE` or `DELETE` of its rows, whatever the code does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, boolean, integer_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// Staff, client logins, sessions, tokens, audit, login attempts, idempotency keys.
pub(crate) struct M0013Accounts;

impl MigrationName for M0013Accounts {
    fn name(&self) -> &'static str {
        "m0013_accounts"
    }
}

/// (table, column, referenced table) of every foreign key this migration declares.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const FKS: [(&str, &str, &str); 7] = [
    ("staff_departments", "staff_id", "staff"),
    ("staff_departments", "department_id", "departments"),
    ("client_logins", "client_id", "clients"),
    ("sessions", "staff_id", "staff"),
    ("sessions", "client_id", "clients"),
    ("api_tokens", "staff_id", "staff"),
    ("tasks", "taken_by_staff_id", "staff"),
];

/// `table.column` → `parent.id`, `ON DELETE RESTRICT`, named as m0012 names its keys.
fn fk(table: &str, column: &str, parent: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table.to_string(), column.to_string())
        .to(parent.to_string(), "id".to_string())
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

/// An index (unique when asked) named `name` on `table (cols)`.
async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name).table(table.to_string()).if_not_exists();
    if unique {
        idx.unique();
    }
    for c in cols {
        idx.col(ToString::to_string(c));
    }
    m.create_index(idx.clone()).await
}

/// The triggers that keep `audit_log` append-only: SQLite's `RAISE(ABORT)` and a
/// PL/pgSQL function on PostgreSQL (the two languages have no common form).
fn append_only(backend: sea_orm::DatabaseBackend) -> Vec<&'static str> {
    match backend {
        sea_orm::DatabaseBackend::Postgres => vec![
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        ],
        _ => vec![
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        ],
    }
}

impl M0013Accounts {
    /// Staff accounts and the departments they work in.
    async fn staff(m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("staff")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("email"))
                .col(text("name"))
                .col(text("role"))
                .col(text("password_hash"))
                .col(text_null("totp_secret"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        index(m, "staff_email", "staff", &["email"], true).await?;
        m.create_table(
            Table::create()
                .table("staff_departments")
                .if_not_exists()
                .col(big_integer("staff_id"))
                .col(big_integer("department_id"))
                .primary_key(Index::create().col("staff_id").col("department_id"))
                .foreign_key(&mut fk("staff_departments", "staff_id", "staff"))
                .foreign_key(&mut fk("staff_departments", "department_id", "departments"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "staff_departments_department",
            "staff_departments",
            &["department_id"],
            false,
        )
        .await
    }

    /// Client logins, sessions and API tokens.
    async fn credentials(m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("client_logins")
                .if_not_exists()
                .col(
                    ColumnDef::new("client_id")
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(text("password_hash"))
                .col(timestamp_with_time_zone_null("disabled_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("client_logins", "client_id", "clients"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sessions")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("token_hash"))
                .col(big_integer_null("staff_id"))
                .col(big_integer_null("client_id"))
                .col(text_null("source_addr"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("last_seen_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("ended_at"))
                .foreign_key(&mut fk("sessions", "staff_id", "staff"))
                .foreign_key(&mut fk("sessions", "client_id", "clients"))
                .to_owned(),
        )
        .await?;
        index(m, "sessions_token", "sessions", &["token_hash"], true).await?;
        index(m, "sessions_staff", "sessions", &["staff_id"], false).await?;
        index(m, "sessions_client", "sessions", &["client_id"], false).await?;
        m.create_table(
            Table::create()
                .table("api_tokens")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name"))
                .col(text("prefix"))
                .col(text("token_hash"))
                .col(big_integer_null("staff_id"))
                .col(text_null("role"))
                .col(boolean("read_only").default(false))
                .col(text_null("endpoints"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("api_tokens", "staff_id", "staff"))
                .to_owned(),
        )
        .await?;
        index(m, "api_tokens_token", "api_tokens", &["token_hash"], true).await?;
        index(m, "api_tokens_staff", "api_tokens", &["staff_id"], false).await
    }

    /// The audit log (append-only), login attempts and idempotency keys.
    async fn records(m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("audit_log")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("at"))
                .col(text("actor_kind"))
                .col(big_integer_null("actor_id"))
                .col(text("actor_name"))
                .col(text("action"))
                .col(text("object_kind"))
                .col(text_null("object_id"))
                .col(text_null("before"))
                .col(text_null("after"))
                .col(text_null("source_addr"))
                .to_owned(),
        )
        .await?;
        index(m, "audit_log_at", "audit_log", &["at"], false).await?;
        index(
            m,
            "audit_log_object",
            "audit_log",
            &["object_kind", "object_id"],
            false,
        )
        .await?;
        index(
            m,
            "audit_log_actor",
            "audit_log",
            &["actor_kind", "actor_id"],
            false,
        )
        .await?;
        let db = m.get_connection();
        for sql in append_only(m.get_database_backend()) {
            db.execute_unprepared(sql).await?;
        }
        m.create_table(
            Table::create()
                .table("login_attempts")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("key"))
                .col(boolean("ok"))
                .col(timestamp_with_time_zone("at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "login_attempts_key",
            "login_attempts",
            &["key", "at"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("owner"))
                .col(text("key"))
                .col(text("method"))
                .col(text("path"))
                .col(text("request_hash"))
                .col(integer_null("response_status"))
                .col(text_null("response_body"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idempotency_keys_key",
            "idempotency_keys",
            &["owner", "key"],
            true,
        )
        .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0013Accounts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        Self::staff(m).await?;
        Self::credentials(m).await?;
        Self::records(m).await?;
        // Both backends add a nullable referencing column with the same statement.
        m.get_connection()
            .execute_unprepared(
                "ALTER TABLE tasks ADD COLUMN taken_by_staff_id BIGINT \
                 CONSTRAINT fk_tasks_taken_by_staff_id REFERENCES staff (id) ON DELETE RESTRICT",
            )
            .await?;
        index(
            m,
            "tasks_taken_by_staff",
            "tasks",
            &["taken_by_staff_id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS tasks_taken_by_staff")
            .await?;
        m.alter_table(
            Table::alter()
                .table("tasks")
                .drop_column("taken_by_staff_id")
                .to_owned(),
        )
        .await?;
        for table in [
            "idempotency_keys",
            "login_attempts",
            "audit_log",
            "api_tokens",
            "sessions",
            "client_logins",
            "staff_departments",
            "staff",
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS audit_log_append_only()")
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use sea_orm::ConnectionTrait;

    /// The database itself refuses to change or remove an audit entry.
    #[tokio::test]
    async fn the_audit_log_refuses_updates_and_deletes() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let db = store.db();
        db.execute_unprepared(
            "INSERT INTO audit_log (at, actor_kind, actor_name, action, object_kind) \
             VALUES ('2026-12-03T12:00:00+00:00', 'system', 'daily run', 'invoice.issue', 'invoice')",
        )
        .await
        .expect("an append");
        for sql in [
            "UPDATE audit_log SET actor_name = 'someone else'",
            "DELETE FROM audit_log",
        ] {
            let err = db.execute_unprepared(sql).await.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }
}
