//! Unit tests of the host services (the key-value store's compare-and-swap on both
//! backends, redaction of exchanges).

use super::*;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

fn services(url: &str, rt: &tokio::runtime::Runtime, handler_id: i64) -> HostServicesImpl {
    let store = rt.block_on(Store::open(url)).expect("store opens");
    // The handler the entries belong to (kv_entries.handler_id is a foreign key).
    rt.block_on(store.db().execute_unprepared(&format!(
        "INSERT INTO handlers (id, name, module, settings, enabled, created_at, updated_at) \
         VALUES ({handler_id}, 'h', 'm', '{{}}', true, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )))
    .expect("the handler row");
    let log = rt.block_on(async { ModuleLog::start(store.clone()) });
    HostServicesImpl::new(
        Owner {
            handler: "h".into(),
            handler_id,
            module: "m".into(),
            module_version: "1.0.0".into(),
        },
        Redactor::default(),
        store,
        rt.handle().clone(),
        Clock::system(),
        reqwest::Client::new(),
        Duration::from_secs(1),
        log,
    )
}

#[test]
fn secret_values_are_the_strings_of_a_secret_response_even_when_it_is_not_json() {
    let json_body = r#"{"username":"ada","token":"tok-0123456789abcdef","expires":"2026-01-01T00:00:00Z","note":"a long sentence here"}"#;
    let found = secret_values(json_body);
    assert!(
        found.contains(&"tok-0123456789abcdef".to_string()),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|v| v == "ada" || v == "username" || v.contains(' ')),
        "{found:?}"
    );
    let broken = format!("<b>Notice</b>: deprecated\n{json_body}");
    let found = secret_values(&broken);
    assert!(
        found.contains(&"tok-0123456789abcdef".to_string()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"username".to_string()),
        "keys are not secrets: {found:?}"
    );
    assert!(found.contains(&broken.trim().to_string()));
    let r = Redactor::default().with_values(&found);
    let err = redact_error(
        &r,
        ModuleError::transient(format!(
            "sso: cannot read {}",
            &broken[..80.min(broken.len())]
        ))
        .with_detail(broken.clone()),
    );
    assert!(
        !err.message.contains("tok-0123456789abcdef")
            && !err
                .detail
                .unwrap_or_default()
                .contains("tok-0123456789abcdef")
    );
}

fn swap_semantics(host: &HostServicesImpl) {
    let swap = |e: Option<&str>, n: Option<&str>| host.kv_swap_inner("pool/1", e, n).unwrap();
    assert!(swap(None, None), "absent key matches None");
    assert!(swap(None, Some("a")), "insert when absent");
    assert!(!swap(None, Some("b")), "no insert over a value");
    assert!(!swap(Some("x"), Some("b")), "no update from a stale value");
    assert!(swap(Some("a"), Some("b")));
    assert_eq!(host.kv_get_inner("pool/1").unwrap().as_deref(), Some("b"));
    assert!(!swap(Some("a"), None), "no delete of a changed value");
    assert!(swap(Some("b"), None));
    assert_eq!(host.kv_get_inner("pool/1").unwrap(), None);
}

/// Many threads race to take one pooled item: exactly one wins.
fn one_winner(host: &Arc<HostServicesImpl>) {
    host.kv_put_inner("pool/race", "item").unwrap();
    let winners: usize = (0..8)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                usize::from(host.kv_swap_inner("pool/race", Some("item"), None).unwrap())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(winners, 1);
}

#[test]
fn kv_swap_on_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let host = Arc::new(services(&url, &rt, 1));
    swap_semantics(&host);
    one_winner(&host);
}

/// Creates an empty database beside `url`'s and returns its URL.
async fn fresh_pg_database(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let server = base.rsplit_once('/').expect("a database URL").0;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("provisor_kv_{}_{nanos}", std::process::id());
    let admin = sea_orm::Database::connect(url)
        .await
        .expect("PROVISOR_TEST_PG is reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database");
    let _ = admin.close().await;
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

#[test]
fn kv_swap_on_postgres() {
    let Ok(url) = std::env::var("PROVISOR_TEST_PG") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A database of its own: the shared one may hold another branch's schema.
    let url = rt.block_on(fresh_pg_database(&url));
    let host = Arc::new(services(&url, &rt, 1));
    swap_semantics(&host);
    one_winner(&host);
}
