//! `m0012_foreign_keys`: a foreign key on every column that refers to another table's
//! row, after a check that no existing row refers to a row that does not exist, plus
//! indexes on the referencing columns the code filters by.
//!
//! Every key is `ON DELETE RESTRICT`: the code never deletes a row that others refer to
//! (its only deletes are of key-value entries, plan prices and deposits and module
//! files, which nothing refers to), so deleting a referenced row is a mistake to refuse,
//! not to cascade. Nullable columns stay nullable.
//!
//! The migration runs in one transaction on both backends (`use_transaction`), so a
//! refusal or a failure leaves the database as it was. PostgreSQL adds the keys with
//! `ALTER TABLE … ADD CONSTRAINT`. SQLite cannot add a constraint to a table: each
//! referencing table is rebuilt as SQLite's documentation prescribes (new table from
//! the stored `CREATE TABLE` text plus the keys, copy, drop, rename, indexes again,
//! `PRAGMA foreign_key_check`), which needs `PRAGMA foreign_keys` off on the connection
//! before the transaction begins; `Store::connect` migrates on such a connection.

use std::fmt::Write as _;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

/// The migration.
pub(crate) struct M0012ForeignKeys;

impl MigrationName for M0012ForeignKeys {
    fn name(&self) -> &str {
        "m0012_foreign_keys"
    }
}

/// A column that refers to the `id` of a row of `parent`.
pub(super) struct Fk {
    pub(super) table: &'static str,
    pub(super) column: &'static str,
    pub(super) parent: &'static str,
    nullable: bool,
}

impl Fk {
    /// The constraint's name, the same on both backends.
    fn name(&self) -> String {
        format!("fk_{}_{}", self.table, self.column)
    }

    /// The constraint clause, the same on both backends.
    fn clause(&self) -> String {
        format!(
            "CONSTRAINT \"{}\" FOREIGN KEY (\"{}\") REFERENCES \"{}\" (\"id\") ON DELETE RESTRICT",
            self.name(),
            self.column,
            self.parent
        )
    }

    /// The query that finds the rows whose reference points nowhere.
    fn orphans_sql(&self) -> String {
        let Fk {
            table,
            column,
            parent,
            ..
        } = self;
        format!(
            "SELECT * FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN (SELECT id FROM {parent})"
        )
    }
}

const fn fk(table: &'static str, column: &'static str, parent: &'static str) -> Fk {
    Fk {
        table,
        column,
        parent,
        nullable: false,
    }
}

const fn fk_null(table: &'static str, column: &'static str, parent: &'static str) -> Fk {
    Fk {
        table,
        column,
        parent,
        nullable: true,
    }
}

/// Every reference, grouped by referencing table (`entities.rs` has the same as
/// relations).
///
/// Not `module_log.service_id` and `operation_id`: the module log records the ids a
/// call was made for, as they were given (`handlers call` with a hand-written request
/// names a service that need not exist, and `log --service` finds it), and its writer
/// inserts in batches, so one dangling id would lose a whole batch of the log. It names
/// its handler by text for the same reason: the log outlives what it describes.
pub(super) const FKS: [Fk; 46] = [
    fk("kv_entries", "handler_id", "handlers"),
    fk("plan_handlers", "plan_id", "plans"),
    fk("plan_handlers", "handler_id", "handlers"),
    fk("services", "client_id", "clients"),
    fk("services", "plan_id", "plans"),
    fk("services", "handler_id", "handlers"),
    fk_null("services", "parent_id", "services"),
    fk("operations", "service_id", "services"),
    fk("operations", "handler_id", "handlers"),
    fk("operation_attempts", "operation_id", "operations"),
    fk("tasks", "operation_id", "operations"),
    fk("tasks", "service_id", "services"),
    fk_null("outbox", "service_id", "services"),
    fk("plan_prices", "plan_id", "plans"),
    fk("plan_deposits", "plan_id", "plans"),
    fk("invoices", "client_id", "clients"),
    fk_null("invoices", "service_id", "services"),
    fk("invoice_lines", "invoice_id", "invoices"),
    fk_null("invoice_lines", "service_id", "services"),
    fk("payments", "invoice_id", "invoices"),
    fk("payments", "client_id", "clients"),
    fk("credit_entries", "client_id", "clients"),
    fk_null("credit_entries", "invoice_id", "invoices"),
    fk_null("credit_entries", "payment_id", "payments"),
    fk("usage_plans", "plan_id", "plans"),
    fk("usage_prices", "plan_id", "plans"),
    fk("usage_records", "service_id", "services"),
    fk("usage_records", "client_id", "clients"),
    fk_null("usage_records", "invoice_id", "invoices"),
    fk("billable_items", "client_id", "clients"),
    fk("billable_items", "service_id", "services"),
    fk_null("billable_items", "invoice_id", "invoices"),
    fk("usage_items", "service_id", "services"),
    fk("usage_items", "billable_item_id", "billable_items"),
    fk("usage_charges", "service_id", "services"),
    fk("usage_charges", "invoice_id", "invoices"),
    fk("usage_invoices", "client_id", "clients"),
    fk("usage_invoices", "invoice_id", "invoices"),
    fk("billing_terms", "service_id", "services"),
    fk("billing_terms", "client_id", "clients"),
    fk("renewals", "service_id", "services"),
    fk("renewals", "client_id", "clients"),
    fk("renewals", "invoice_id", "invoices"),
    fk("billing_actions", "service_id", "services"),
    fk("billing_actions", "invoice_id", "invoices"),
    fk_null("billing_actions", "operation_id", "operations"),
];

/// Indexes on referencing columns that had none leading an index and that the code
/// filters by: (name, table, column). PostgreSQL does not index a foreign key's column
/// by itself, and neither does SQLite.
const INDEXES: [(&str, &str, &str); 8] = [
    // engine::sync: the plans a handler serves.
    ("plan_handlers_handler", "plan_handlers", "handler_id"),
    // listings by plan, usage billing by plan.
    ("services_plan", "services", "plan_id"),
    // listings by handler, sync and the modules' daily run.
    ("services_handler", "services", "handler_id"),
    // `ops show`: an operation's attempts.
    (
        "operation_attempts_operation",
        "operation_attempts",
        "operation_id",
    ),
    // engine::tasks: an operation's task.
    ("tasks_operation", "tasks", "operation_id"),
    // `services show`: a service's tasks.
    ("tasks_service", "tasks", "service_id"),
    // billing::recurring: a service's suspends for other invoices.
    ("billing_actions_service", "billing_actions", "service_id"),
    // `usage items`: the usage rows behind a billable item.
    (
        "usage_items_billable_item",
        "usage_items",
        "billable_item_id",
    ),
];

/// Tables whose rows have no `id` (a composite primary key): their orphans are shown
/// by the value that points nowhere.
const NO_ID: [&str; 2] = ["kv_entries", "plan_handlers"];

/// How many example rows an orphan report names per column.
const EXAMPLES: usize = 3;

#[async_trait::async_trait]
impl MigrationTrait for M0012ForeignKeys {
    /// One transaction on SQLite too (sea-orm-migration uses one only on PostgreSQL by
    /// default): a refused or failed run changes nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        refuse_orphans(db).await?;
        match db.get_database_backend() {
            DbBackend::Postgres => {
                for (table, fks) in by_table() {
                    let adds: Vec<String> =
                        fks.iter().map(|f| format!("ADD {}", f.clause())).collect();
                    db.execute_unprepared(&format!("ALTER TABLE \"{table}\" {}", adds.join(", ")))
                        .await?;
                }
            }
            DbBackend::Sqlite => {
                foreign_keys_must_be_off(db).await?;
                for (table, fks) in by_table() {
                    let clauses: Vec<String> = fks.iter().map(|f| f.clause()).collect();
                    rebuild(db, table, |sql| with_clauses(table, sql, &clauses)).await?;
                }
                foreign_key_check(db).await?;
            }
            other => return Err(unsupported(other)),
        }
        // Same SQL on both backends.
        for (name, table, column) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, ..) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        match db.get_database_backend() {
            DbBackend::Postgres => {
                for f in &FKS {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE \"{}\" DROP CONSTRAINT IF EXISTS \"{}\"",
                        f.table,
                        f.name()
                    ))
                    .await?;
                }
                Ok(())
            }
            DbBackend::Sqlite => {
                foreign_keys_must_be_off(db).await?;
                for (table, _) in by_table() {
                    rebuild(db, table, |sql| without_clauses(table, sql)).await?;
                }
                Ok(())
            }
            other => Err(unsupported(other)),
        }
    }
}

fn unsupported(backend: DbBackend) -> DbErr {
    DbErr::Migration(format!(
        "m0012_foreign_keys: {backend:?} is not supported; Provisor runs on SQLite or PostgreSQL"
    ))
}

/// `FKS` grouped by table, in order.
fn by_table() -> Vec<(&'static str, Vec<&'static Fk>)> {
    let mut out: Vec<(&'static str, Vec<&'static Fk>)> = Vec::new();
    for f in &FKS {
        match out.last_mut() {
            Some((t, list)) if *t == f.table => list.push(f),
            _ => out.push((f.table, vec![f])),
        }
    }
    out
}

/// Refuses, changing nothing, when any reference points to a row that does not exist:
/// one line per column with the number of rows, a few examples, the fix and the query
/// that finds them.
async fn refuse_orphans<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for f in &FKS {
        let key = if NO_ID.contains(&f.table) {
            format!("t.{}", f.column)
        } else {
            "t.id".to_string()
        };
        let sql = format!(
            "SELECT {key}, t.{col}, COUNT(*) OVER () FROM {table} t \
             WHERE t.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = t.{col}) \
             ORDER BY 1 LIMIT {EXAMPLES}",
            col = f.column,
            table = f.table,
            parent = f.parent,
        );
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await?;
        let mut examples = Vec::new();
        let mut count = 0i64;
        for r in &rows {
            let key: i64 = r.try_get_by_index(0)?;
            let value: i64 = r.try_get_by_index(1)?;
            count = r.try_get_by_index(2)?;
            examples.push(if NO_ID.contains(&f.table) {
                format!("{} {value}", f.column)
            } else {
                format!("id {key} → {} {value}", f.column)
            });
        }
        if count > 0 {
            found.push(orphan_line(f, count, &examples));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(DbErr::Migration(format!(
        "m0012_foreign_keys refused: {} column(s) hold references to rows that do not exist, so their foreign keys cannot be added; nothing was changed:\n{}\nBack up the database, repair or delete those rows (the queries above find them; deleting a row may leave rows that refer to it, which the next open reports), then open it again.",
        found.len(),
        found.join("\n")
    )))
}

fn orphan_line(f: &Fk, count: i64, examples: &[String]) -> String {
    let mut line = format!(
        "  {}.{}: {count} row(s) refer to no row of {} (e.g. {}",
        f.table,
        f.column,
        f.parent,
        examples.join(", ")
    );
    if count > examples.len() as i64 {
        line.push_str(", …");
    }
    let fix = if f.nullable {
        format!(
            "set {} to NULL or to an existing {}.id, or delete those rows",
            f.column, f.parent
        )
    } else {
        format!(
            "point {} at an existing {}.id or delete those rows",
            f.column, f.parent
        )
    };
    let _ = write!(line, "); {fix}; find them with: {};", f.orphans_sql());
    line
}

/// The rebuild below must not run with foreign keys enforced: dropping a table would
/// then delete its rows through the keys already rebuilt. SQLite ignores the pragma
/// inside a transaction, so the connection must have it off from the start.
async fn foreign_keys_must_be_off<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let on: i64 = match db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await?
    {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    };
    if on != 0 {
        return Err(DbErr::Migration(
            "m0012_foreign_keys must run on a SQLite connection with PRAGMA foreign_keys = OFF (Store::connect migrates on one); nothing was changed".into(),
        ));
    }
    Ok(())
}

/// Rebuilds `table` from its stored `CREATE TABLE` text changed by `change`, keeping
/// its rows, its indexes and its AUTOINCREMENT counter (SQLite's table-rebuild
/// procedure, steps 4 to 9).
async fn rebuild<C, F>(db: &C, table: &str, change: F) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    F: Fn(&str) -> Result<String, DbErr>,
{
    let create = sqlite_texts(
        db,
        &format!("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
    )
    .await?
    .pop()
    .ok_or_else(|| DbErr::Migration(format!("m0012_foreign_keys: table {table} does not exist")))?;
    let indexes = sqlite_texts(
        db,
        &format!(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL"
        ),
    )
    .await?;
    let counter = sqlite_counter(db, table).await?;
    let tmp = format!("{table}__m0012");
    let new_sql = change(&create)?.replacen(
        &format!("CREATE TABLE \"{table}\""),
        &format!("CREATE TABLE \"{tmp}\""),
        1,
    );
    db.execute_unprepared(&new_sql).await?;
    db.execute_unprepared(&format!("INSERT INTO \"{tmp}\" SELECT * FROM \"{table}\""))
        .await?;
    db.execute_unprepared(&format!("DROP TABLE \"{table}\""))
        .await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{tmp}\" RENAME TO \"{table}\""))
        .await?;
    if let Some(seq) = counter {
        // The copy set the counter to the largest id; ids once given stay unused.
        let done = db
            .execute_unprepared(&format!(
                "UPDATE sqlite_sequence SET seq = MAX(seq, {seq}) WHERE name = '{table}'"
            ))
            .await?;
        if done.rows_affected() == 0 {
            db.execute_unprepared(&format!(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('{table}', {seq})"
            ))
            .await?;
        }
    }
    for sql in indexes {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// The first column of every row `sql` returns, as text.
async fn sqlite_texts<C: ConnectionTrait>(db: &C, sql: &str) -> Result<Vec<String>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect()
}

/// The AUTOINCREMENT counter of `table`, if it has one.
async fn sqlite_counter<C: ConnectionTrait>(db: &C, table: &str) -> Result<Option<i64>, DbErr> {
    let has_sequence = !sqlite_texts(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
    )
    .await?
    .is_empty();
    if !has_sequence {
        return Ok(None);
    }
    match db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("SELECT seq FROM sqlite_sequence WHERE name = '{table}'"),
        ))
        .await?
    {
        Some(r) => Ok(Some(r.try_get_by_index(0)?)),
        None => Ok(None),
    }
}

/// `create` (a stored `CREATE TABLE "t" (…)`) with `clauses` appended to its
/// definitions.
fn with_clauses(table: &str, create: &str, clauses: &[String]) -> Result<String, DbErr> {
    let body = create.trim_end();
    if !body.starts_with(&format!("CREATE TABLE \"{table}\"")) || !body.ends_with(')') {
        return Err(unexpected(table, create));
    }
    if body.contains("FOREIGN KEY") {
        return Err(DbErr::Migration(format!(
            "m0012_foreign_keys: table {table} already has a foreign key, which no Provisor migration made: {create}; nothing was changed"
        )));
    }
    let head = &body[..body.len() - 1];
    Ok(format!("{head}, {})", clauses.join(", ")))
}

/// `create` without the clauses [`with_clauses`] appended (for `down`).
fn without_clauses(table: &str, create: &str) -> Result<String, DbErr> {
    let body = create.trim_end();
    match body.find(", CONSTRAINT \"fk_") {
        Some(at) if body.ends_with(')') => Ok(format!("{})", &body[..at])),
        _ => Err(unexpected(table, create)),
    }
}

fn unexpected(table: &str, create: &str) -> DbErr {
    DbErr::Migration(format!(
        "m0012_foreign_keys: the stored definition of table {table} is not one a Provisor migration made: {create}; nothing was changed"
    ))
}

/// SQLite's own check after a rebuild (step 10): every reference resolves.
async fn foreign_key_check<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_key_check",
        ))
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut bad = Vec::new();
    for r in rows.iter().take(10) {
        let table: String = r.try_get_by_index(0)?;
        let rowid: Option<i64> = r.try_get_by_index(1)?;
        let parent: String = r.try_get_by_index(2)?;
        bad.push(format!(
            "{table} row {} → {parent}",
            rowid.map_or("?".into(), |i| i.to_string())
        ));
    }
    Err(DbErr::Migration(format!(
        "m0012_foreign_keys: PRAGMA foreign_key_check found {} row(s) whose reference points nowhere after the rebuild ({}); nothing was changed",
        rows.len(),
        bad.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_are_appended_and_removed_again() {
        let create = "CREATE TABLE \"tasks\" ( \"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"operation_id\" integer NOT NULL )";
        let clauses = vec![FKS[10].clause()];
        let with = with_clauses("tasks", create, &clauses).unwrap();
        assert_eq!(
            with,
            "CREATE TABLE \"tasks\" ( \"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"operation_id\" integer NOT NULL , CONSTRAINT \"fk_tasks_operation_id\" FOREIGN KEY (\"operation_id\") REFERENCES \"operations\" (\"id\") ON DELETE RESTRICT)"
        );
        assert_eq!(without_clauses("tasks", &with).unwrap(), create.trim_end());
        assert!(with_clauses("tasks", &with, &clauses).is_err());
        assert!(with_clauses("other", create, &clauses).is_err());
    }

    #[test]
    fn every_reference_is_listed_once_and_grouped() {
        let mut seen = std::collections::HashSet::new();
        for f in &FKS {
            assert!(
                seen.insert((f.table, f.column)),
                "{}.{} twice",
                f.table,
                f.column
            );
        }
        let tables: Vec<_> = by_table().into_iter().map(|(t, _)| t).collect();
        let unique: std::collections::HashSet<_> = tables.iter().collect();
        assert_eq!(tables.len(), unique.len(), "FKS not grouped by table");
    }
}
