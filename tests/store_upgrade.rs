//! Databases made by the previous release open and migrate. The SQLite file and the
//! PostgreSQL dump in `tests/fixtures/db/` were made by `main` at 946695e (migrations
//! m0001…m0011, no foreign keys; see the README there); the binary under test opens a
//! copy, adds the foreign keys (m0012) and lists the same data. A reference that points
//! nowhere makes it refuse to open, naming the rows and the fix, and leaves the database
//! as it was. Every case runs on every backend.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use provisor_e2e::{each_backend, root, TestHome};
use serde_json::Value;

/// The fixture: the release and commit that made it.
const OLD: &str = "v0.1-946695e";

/// The foreign keys of today's schema: the 46 m0012 adds and the 7 of m0013's tables.
const FOREIGN_KEYS: usize = 53;
/// The migrations of today's schema.
const MIGRATIONS: usize = 13;

fn fixture(ext: &str) -> PathBuf {
    root()
        .join("tests/fixtures/db")
        .join(format!("{OLD}.{ext}"))
}

fn copy_private(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// A home on `url` (embedded SQLite for `None`) holding a copy of the old database and
/// the key its handler secrets are sealed with.
fn old_home(backend: &str, url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url.clone()).with_label(backend);
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod 700");
    copy_private(&fixture("secret.key"), &home.path().join("secret.key"));
    match url {
        None => copy_private(&fixture("sqlite"), &home.path().join("provisor.db")),
        Some(url) => restore(&url),
    }
    home
}

/// Restores the old dump into the (fresh, empty) database at `url`.
fn restore(url: &str) {
    let dump = std::fs::read_to_string(fixture("postgres.sql")).expect("the dump");
    let mut child = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-o", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(without_restrict(&dump).as_bytes())
            .expect("feed the dump");
    }
    let out = child.wait_with_output().expect("psql ends");
    assert!(
        out.status.success(),
        "restoring {}: {}",
        fixture("postgres.sql").display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dump without the `\restrict KEY` / `\unrestrict KEY` lines `pg_dump` 15.14 and later
/// put around it (a random key each time, and a command an older psql rejects).
fn without_restrict(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `sql` on the home's database with the backend's own client (sqlite3 keeps
/// foreign keys off unless told); returns the rows, columns joined by `|`, or the error.
fn try_query(home: &TestHome, sql: &str) -> Result<String, String> {
    let out = match &home.database_url {
        None => Command::new("sqlite3")
            .arg("-batch")
            .arg(home.path().join("provisor.db"))
            .arg(sql)
            .output(),
        Some(url) => Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql])
            .output(),
    }
    .expect("the database client runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn query(home: &TestHome, sql: &str) -> String {
    try_query(home, sql).unwrap_or_else(|e| panic!("[{}] {sql}: {e}", home.label))
}

fn sqlite(home: &TestHome) -> bool {
    home.database_url.is_none()
}

/// Every table with its number of rows, `seaql_migrations` aside.
fn row_counts(home: &TestHome) -> Vec<(String, i64)> {
    let tables = if sqlite(home) {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    } else {
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    };
    query(home, tables)
        .lines()
        .filter(|t| *t != "seaql_migrations")
        .map(|t| {
            let n = query(home, &format!("SELECT count(*) FROM {t}"));
            (t.to_string(), n.parse().expect("a count"))
        })
        .collect()
}

fn migrations(home: &TestHome) -> Vec<String> {
    query(
        home,
        "SELECT version FROM seaql_migrations ORDER BY version",
    )
    .lines()
    .map(String::from)
    .collect()
}

fn foreign_key_count(home: &TestHome) -> usize {
    let sql = if sqlite(home) {
        "SELECT count(*) FROM sqlite_master m, pragma_foreign_key_list(m.name) WHERE m.type = 'table'"
    } else {
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
    };
    query(home, sql).parse().expect("a count")
}

/// The foreign keys of `services`: `column|referenced table|on delete`, by column.
fn service_keys(home: &TestHome) -> String {
    let sql = if sqlite(home) {
        "SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list('services') ORDER BY \"from\""
    } else {
        "SELECT a.attname, c.confrelid::regclass, CASE c.confdeltype WHEN 'r' THEN 'RESTRICT' ELSE c.confdeltype::text END \
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND c.conrelid = 'services'::regclass ORDER BY a.attname"
    };
    query(home, sql)
}

/// Everything the database holds, as text: `.dump` or `pg_dump`.
fn snapshot(home: &TestHome) -> String {
    let out = match &home.database_url {
        None => Command::new("sqlite3")
            .arg(home.path().join("provisor.db"))
            .arg(".dump")
            .output(),
        Some(url) => Command::new("pg_dump")
            .args(["--no-owner", "--no-privileges", url])
            .output(),
    }
    .expect("the dump tool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    without_restrict(&String::from_utf8_lossy(&out.stdout))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v["id"].as_i64().expect("an id"))
        .collect()
}

/// What the old binary listed, listed again by this one.
fn lists_the_old_data(home: &TestHome) {
    let services = home.json(&["services", "list", "--json"]);
    assert_eq!(ids(&services), [7, 6, 5, 4, 3, 2, 1]);
    let by_id = |id: i64| {
        services
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == id))
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_id(4)["status"], "terminated");
    assert_eq!(by_id(6)["parent_id"], 5, "the addon keeps its parent");
    assert_eq!(by_id(1)["client"], "Ada Lovelace");

    let ops = home.json(&["ops", "list", "--json"]);
    assert_eq!(ids(&ops), [11], "the queued overdue suspend");
    assert_eq!(ops[0]["kind"], "suspend");
    assert_eq!(ops[0]["status"], "queued");

    let invoices = home.json(&["invoices", "list", "--json"]);
    assert_eq!(ids(&invoices), [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(invoices[0]["number"], "2027-000003");
    assert_eq!(invoices[0]["status"], "unpaid");
    assert_eq!(invoices[6]["total"], "25.00");

    let handlers = home.ok(&["handlers", "list"]);
    for name in ["cs-ams", "dc-staff", "noc", "noc-addon", "solus-fra"] {
        assert!(handlers.contains(name), "{handlers}");
    }
}

#[test]
fn a_database_made_by_the_previous_release_migrates_and_keeps_its_data() {
    each_backend("old database migrates", |backend, url| {
        let home = old_home(backend, url);
        assert_eq!(migrations(&home).len(), 11, "the fixture is the old schema");
        assert_eq!(foreign_key_count(&home), 0);
        let before = row_counts(&home);

        // The first open migrates. (Before any command that scans the modules
        // directory: this home has none, so the registry forgets the recorded files.)
        home.ok(&["services", "list"]);
        let applied = migrations(&home);
        assert_eq!(applied.len(), MIGRATIONS, "{applied:?}");
        assert_eq!(applied.last().map(String::as_str), Some("m0013_accounts"));
        assert_eq!(foreign_key_count(&home), FOREIGN_KEYS);
        assert_eq!(
            service_keys(&home),
            "client_id|clients|RESTRICT\nhandler_id|handlers|RESTRICT\nparent_id|services|RESTRICT\nplan_id|plans|RESTRICT"
        );
        // Every row is kept; the tables added since (m0013's) are there and empty.
        let after: Vec<_> = row_counts(&home)
            .into_iter()
            .filter(|(table, n)| before.iter().any(|(t, _)| t == table) || *n != 0)
            .collect();
        assert_eq!(after, before, "every row is kept");
        if sqlite(&home) {
            assert_eq!(query(&home, "PRAGMA foreign_key_check"), "");
            assert_eq!(query(&home, "PRAGMA integrity_check"), "ok");
            // AUTOINCREMENT counters survive the table rebuilds.
            assert_eq!(
                query(
                    &home,
                    "SELECT seq FROM sqlite_sequence WHERE name = 'module_log'"
                ),
                "108"
            );
        }
        let indexes = if sqlite(&home) {
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('services_plan', 'services_handler', 'operation_attempts_operation', 'usage_items_billable_item')"
        } else {
            "SELECT count(*) FROM pg_indexes WHERE indexname IN ('services_plan', 'services_handler', 'operation_attempts_operation', 'usage_items_billable_item')"
        };
        assert_eq!(query(&home, indexes), "4");
        lists_the_old_data(&home);

        // The keys hold: a service of a client that does not exist is refused.
        let orphan = "INSERT INTO services (client_id, plan_id, handler_id, status, attributes, options, created_at, updated_at) \
                      VALUES (999, 1, 1, 'active', '{}', '{}', '2026-12-03T12:00:00+00:00', '2026-12-03T12:00:00+00:00')";
        let enforced = if sqlite(&home) {
            format!("PRAGMA foreign_keys = ON; {orphan}")
        } else {
            orphan.to_string()
        };
        let err = try_query(&home, &enforced).expect_err("a dangling client_id is refused");
        assert!(
            err.to_lowercase().contains("foreign key"),
            "[{backend}] {err}"
        );

        // And the new binary writes on the migrated database, ids going on.
        let added = home.ok(&[
            "clients",
            "add",
            "--name",
            "Carol",
            "--email",
            "carol@example.invalid",
            "--currency",
            "EUR",
            "--country",
            "NL",
        ]);
        assert!(added.contains("client #3"), "{added}");

        // A second open migrates nothing more.
        lists_the_old_data(&home);
        assert_eq!(migrations(&home).len(), MIGRATIONS);
    });
}

#[test]
fn a_reference_to_nothing_is_refused_with_the_rows_and_the_fix_and_changes_nothing() {
    each_backend("orphan refused", |backend, url| {
        let home = old_home(backend, url);
        // Rows an older version (or a hand edit) left pointing nowhere.
        home.sql("UPDATE outbox SET service_id = 4242 WHERE id IN (1, 2, 3, 4)");
        home.sql("DELETE FROM operations WHERE id = 1");
        let before = snapshot(&home);

        let err = home.refused_with(
            &["services", "list"],
            5,
            &[
                "m0012_foreign_keys refused",
                "nothing was changed",
                "outbox.service_id: 4 row(s) refer to no row of services",
                "id 1 → service_id 4242",
                "set service_id to NULL or to an existing services.id, or delete those rows",
                "SELECT * FROM outbox WHERE service_id IS NOT NULL AND service_id NOT IN (SELECT id FROM services)",
                "operation_attempts.operation_id: 1 row(s) refer to no row of operations",
                "point operation_id at an existing operations.id or delete those rows",
            ],
        );
        assert!(!err.contains("panicked"), "{err}");
        // The module log keeps the ids a call was made for: no key, no complaint.
        assert!(!err.contains("module_log"), "{err}");
        assert_eq!(
            snapshot(&home),
            before,
            "[{backend}] a refused open changed the database"
        );
        assert_eq!(migrations(&home).len(), 11);

        // Repaired as the message says, it opens and migrates.
        home.sql("UPDATE outbox SET service_id = NULL WHERE service_id IS NOT NULL AND service_id NOT IN (SELECT id FROM services)");
        home.sql(
            "DELETE FROM operation_attempts WHERE operation_id NOT IN (SELECT id FROM operations)",
        );
        home.ok(&["services", "list"]);
        assert_eq!(migrations(&home).len(), MIGRATIONS);
        assert_eq!(foreign_key_count(&home), FOREIGN_KEYS);
    });
}
