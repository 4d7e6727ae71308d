//! Handler secrets at rest, through the real binary: the home is 0700, the database
//! and the key file 0600, `init` refuses a world-writable directory; a secret setting
//! is sealed in the database (the raw SQLite file, the PostgreSQL row) yet reaches the
//! module; `secrets rotate` seals everything with a new key; a wrong key is refused
//! naming the handler and the fix; a plain secret written by the previous version is
//! sealed on the first open. Storage cases run on every backend.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use provisor_e2e::{each_backend, so, TestHome};
use provisor_simulators::computestacks as cs;
use serde_json::json;

const SECRET: &str = cs::API_SECRET;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The handlers' settings as stored: the raw SQLite file and its WAL, or the
/// PostgreSQL rows.
fn stored(home: &Path, url: Option<&str>) -> String {
    match url {
        None => {
            let mut bytes = Vec::new();
            for f in ["provisor.db", "provisor.db-wal"] {
                if let Ok(b) = std::fs::read(home.join(f)) {
                    bytes.extend(b);
                }
            }
            String::from_utf8_lossy(&bytes).to_string()
        }
        Some(url) => sql(
            home,
            Some(url),
            "SELECT settings FROM handlers ORDER BY name",
        ),
    }
}

/// Runs SQL with the backend's own client (sqlite3 or psql), as the old version's
/// data or an admin would.
fn sql(home: &Path, url: Option<&str>, statement: &str) -> String {
    let out = match url {
        None => Command::new("sqlite3")
            .arg(home.join("provisor.db"))
            .arg(statement)
            .output(),
        Some(url) => Command::new("psql")
            .arg(url)
            .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", statement])
            .output(),
    }
    .expect("the database client runs");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn init_makes_a_private_home_and_refuses_a_world_writable_directory() {
    let base = tempfile::tempdir().expect("tempdir");
    let home = base.path().join("home");
    let init = |home: &Path| {
        Command::new(provisor_e2e::bin())
            .arg("--home")
            .arg(home)
            .arg("init")
            .env_remove("PROVISOR_HOME")
            .env_remove("DATABASE_URL")
            .env_remove("PROVISOR_SECRET_KEY")
            .env_remove("PROVISOR_SECRET_KEY_FILE")
            .output()
            .expect("provisor runs")
    };
    let out = init(&home);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&home), 0o700, "the home");
    assert_eq!(mode(&home.join("provisor.db")), 0o600, "the database");
    assert_eq!(mode(&home.join("secret.key")), 0o600, "the key");
    for wal in ["provisor.db-wal", "provisor.db-shm"] {
        if home.join(wal).exists() {
            assert_eq!(mode(&home.join(wal)), 0o600, "{wal}");
        }
    }
    // A key file others can read is refused, with the fix.
    std::fs::set_permissions(home.join("secret.key"), PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let out = init(&home);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret.key") && err.contains("chmod 600"),
        "{err}"
    );

    // A world-writable directory (not sticky): no home is made in it.
    let open = base.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, PermissionsExt::from_mode(0o777)).expect("chmod");
    let out = init(&open.join("home"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("world-writable") && err.contains("chmod o-w"),
        "{err}"
    );
    assert!(!open.join("home").exists(), "nothing was created");
    // Nor is a world-writable home used.
    let out = init(&open);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!open.join("provisor.db").exists(), "nothing was created");
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature `each_backend` calls, which hands each scenario its own URL"
)]
fn at_rest(backend: &'static str, url: Option<String>) {
    let home = TestHome::with_database(url.clone()).with_label(backend);
    home.drop_module(&so("provisor_computestacks"), "computestacks.so");
    let sims = tempfile::tempdir().expect("tempdir");
    let (sim, _api) =
        cs::start_with_api(Some(&sims.path().join("cs")), 0).expect("simulator starts");
    let settings = json!({"url": sim.url(), "api_key": cs::API_KEY, "api_secret": SECRET});
    home.add_handler("cs", "computestacks", &settings, None);
    std::fs::remove_file(home.path().join("cs.json")).expect("settings file removed");
    let path = home.path();
    let url = url.as_deref();

    // Sealed at rest, readable settings beside it, and the module still connects.
    let raw = stored(path, url);
    assert!(
        !raw.contains(SECRET),
        "[{backend}] the secret is stored in plain text"
    );
    assert!(
        raw.contains("$enc") && raw.contains(&sim.url()),
        "[{backend}] {raw}"
    );
    let out = home.ok(&["handlers", "test", "cs"]);
    assert!(!out.contains(SECRET), "[{backend}] {out}");
    let shown = home.ok(&["handlers", "show", "cs", "--json"]);
    assert!(
        !shown.contains(SECRET) && !shown.contains("$enc"),
        "[{backend}] {shown}"
    );
    if url.is_none() {
        assert_eq!(mode(&path.join("secret.key")), 0o600, "[{backend}] the key");
        assert_eq!(
            mode(&path.join("provisor.db")),
            0o600,
            "[{backend}] the database"
        );
    }

    // A plain secret as the previous version stored it is sealed on the next open.
    let now = sql(
        path,
        url,
        "SELECT created_at FROM handlers WHERE name = 'cs'",
    );
    let old_settings =
        json!({"url": sim.url(), "api_key": cs::API_KEY, "api_secret": "old-plain-secret-0451"})
            .to_string();
    sql(
        path,
        url,
        &format!(
            "INSERT INTO handlers (name, module, settings, enabled, created_at, updated_at) SELECT 'old', module, '{old_settings}', enabled, created_at, updated_at FROM handlers WHERE name = 'cs'"
        ),
    );
    assert!(!now.is_empty());
    assert!(
        stored(path, url).contains("old-plain-secret-0451"),
        "[{backend}] written plain"
    );
    home.ok(&["handlers", "list"]);
    let raw = stored(path, url);
    assert!(
        !raw.contains("old-plain-secret-0451"),
        "[{backend}] the plain secret survived the first open"
    );
    let row = sql(
        path,
        url,
        "SELECT settings FROM handlers WHERE name = 'old'",
    );
    assert!(row.contains("$enc"), "[{backend}] {row}");
    // It opens to the value it had (the simulator refuses any other secret).
    let wrong = home.run(&["handlers", "test", "old"]);
    assert_eq!(wrong.code, 4, "[{backend}] {wrong:?}");
    assert!(
        wrong.stderr.contains("refused the API credentials"),
        "[{backend}] {wrong:?}"
    );
    assert!(
        !wrong.stderr.contains("old-plain-secret-0451"),
        "[{backend}] {wrong:?}"
    );

    // Rotation: a new key, every value sealed again, the old key gone.
    let before = row_of(path, url, "cs");
    let rotated = home.json(&["secrets", "rotate", "--json"]);
    assert_eq!(rotated["handlers"], 2, "[{backend}] {rotated:#}");
    let key_id = rotated["key_id"].as_str().expect("key id").to_string();
    let after = row_of(path, url, "cs");
    assert_ne!(before, after, "[{backend}] sealed again");
    assert!(
        after.contains(&format!("v1:{key_id}:")),
        "[{backend}] {after}"
    );
    let key_text = std::fs::read_to_string(path.join("secret.key")).expect("key file");
    let keys: Vec<&str> = key_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "[{backend}] the old key is dropped: {key_text}"
    );
    assert_eq!(mode(&path.join("secret.key")), 0o600, "[{backend}]");
    home.ok(&["handlers", "test", "cs"]);

    // A wrong key: refused at open, naming the handler and the fix; nothing passed on.
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    for args in [&["handlers", "list"][..], &["handlers", "test", "cs"][..]] {
        let run = home.run_env(&[("PROVISOR_SECRET_KEY", other)], args);
        assert_eq!(run.code, 2, "[{backend}] {run:?}");
        assert!(
            run.stderr.contains("handler cs")
                && run.stderr.contains(&key_id)
                && run.stderr.contains("PROVISOR_SECRET_KEY"),
            "[{backend}] {}",
            run.stderr
        );
    }
    // The same key given through the environment works (several nodes share it).
    let shared = keys[0].trim().to_string();
    let out = home.run_env(
        &[("PROVISOR_SECRET_KEY", &shared)],
        &["handlers", "test", "cs"],
    );
    assert_eq!(out.code, 0, "[{backend}] {out:?}");
}

fn row_of(home: &Path, url: Option<&str>, name: &str) -> String {
    sql(
        home,
        url,
        &format!("SELECT settings FROM handlers WHERE name = '{name}'"),
    )
}

#[test]
fn secrets_are_sealed_rotated_migrated_and_refused_with_a_wrong_key_on_every_backend() {
    each_backend("secrets at rest", at_rest);
}
