//! Test databases: a fresh SQLite file, and a fresh PostgreSQL database beside
//! `PROVISOR_TEST_PG` when it is set, so a unit test runs on both backends.

use sea_orm::ConnectionTrait;

use provisor_store::Store;

/// Runs `test` on a fresh SQLite store and, with `PROVISOR_TEST_PG`, a fresh
/// PostgreSQL one; `test` gets the backend's name for its messages.
pub(crate) async fn each_backend<F, Fut>(test: F)
where
    F: Fn(&'static str, Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    test("sqlite", Store::open(&url).await.unwrap()).await;
    if let Ok(pg) = std::env::var("PROVISOR_TEST_PG") {
        let url = fresh_pg(&pg).await;
        test("postgres", Store::open(&url).await.unwrap()).await;
    }
}

/// Creates an empty database beside `url`'s and returns its URL.
async fn fresh_pg(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let server = base.rsplit_once('/').expect("a database URL").0;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("provisor_app_{}_{nanos}", std::process::id());
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
