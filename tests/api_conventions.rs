//! The HTTP API's conventions over the real `provisor serve --listen`, on SQLite and
//! (with `PROVISOR_TEST_PG`) PostgreSQL: HTTP/2 with prior knowledge beside HTTP/1.1,
//! the security headers on the wire, and `Idempotency-Key` on `POST /v1/usage` (the
//! same key twice is one import and a replay, two at once are one import, another
//! body under the key is a 422 naming the header).

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{each_backend, so, Daemon, TestHome, PATIENCE};
use serde_json::{json, Value};

const TOKEN: &str = "e2e-0123456789abcdef0123456789abcdef";

/// The address from `api listening on http://IP:PORT`.
fn api_addr(daemon: &mut Daemon) -> String {
    daemon.wait_for("api listening on http://", PATIENCE);
    let out = daemon.output();
    let (_, rest) = out
        .split_once("api listening on http://")
        .expect("the line");
    rest.split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

/// A home with a `pushed` usage plan and Ann's active service on it; the service id.
fn pushed(home: &TestHome) -> i64 {
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    let settings = json!({ "journal": home.path().join("journal").to_str().unwrap() });
    home.add_handler("rec", "recorder", &settings, None);
    home.ok(&["currencies", "add", "EUR"]);
    support::metered_plan(home, &[("GB", "0.08")]);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
        "--currency",
        "EUR",
    ]);
    let (sid, _) = home.order("ann@example.com", "metered", &[]);
    home.ok(&["work", "--until-idle"]);
    sid
}

fn batch(sid: i64, tids: &[&str]) -> String {
    tids.iter()
        .map(|t| json!({"transaction_id": t, "service_id": sid, "unit": "GB", "quantity": "1", "period_start": "2026-01-05"}).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One answer: status, the headers that matter here, the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    replayed: bool,
    content_type: String,
    body: Value,
}

async fn push(client: &reqwest::Client, addr: &str, key: Option<&str>, body: String) -> Answer {
    let mut req = client
        .post(format!("http://{addr}/v1/usage"))
        .bearer_auth(TOKEN)
        .body(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("the server answers");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let replayed = header("idempotent-replayed") == "true";
    let content_type = header("content-type");
    let status = r.status().as_u16();
    let body = r.json().await.expect("a JSON body");
    Answer {
        status,
        replayed,
        content_type,
        body,
    }
}

fn serve(home: &TestHome) -> (Daemon, String) {
    let mut daemon = home.serve(&[
        "--listen",
        "127.0.0.1:0",
        "--no-workers",
        "--check-interval",
        "0",
    ]);
    let addr = api_addr(&mut daemon);
    (daemon, addr)
}

#[test]
fn health_answers_over_http2_with_the_security_headers() {
    let home = TestHome::new().with_env("PROVISOR_API_TOKEN", TOKEN);
    let (daemon, addr) = serve(&home);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("a client");
        let r = h2
            .get(format!("http://{addr}/v1/health"))
            .send()
            .await
            .expect("an HTTP/2 answer");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status().as_u16(), 200);
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
        ] {
            assert_eq!(
                r.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
        assert!(r.headers().contains_key("x-request-id"));
        assert!(!r.headers().contains_key("access-control-allow-origin"));
        assert_eq!(
            r.json::<Value>().await.expect("JSON"),
            json!({"status": "ok"})
        );
        // HTTP/1.1 on the same socket.
        let r = reqwest::Client::new()
            .get(format!("http://{addr}/v1/nothing"))
            .send()
            .await
            .expect("an HTTP/1.1 answer");
        assert_eq!(
            (r.version(), r.status().as_u16()),
            (reqwest::Version::HTTP_11, 404)
        );
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    });
    let log = daemon.stop();
    assert!(log.contains("provisor serve: stopping"), "{log}");
}

#[test]
fn an_idempotency_key_makes_one_import_and_replays_its_answer() {
    each_backend("idempotency", |b, url| {
        let home = TestHome::with_database(url)
            .with_label(b)
            .with_env("PROVISOR_API_TOKEN", TOKEN);
        let sid = pushed(&home);
        let (daemon, addr) = serve(&home);
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        rt.block_on(async {
            let c = reqwest::Client::new();
            // The same key and body twice: one import, the first answer replayed.
            let first = push(&c, &addr, Some("key-1"), batch(sid, &["a1", "a2"])).await;
            assert_eq!(
                (first.status, first.replayed),
                (200, false),
                "[{b}] {first:?}"
            );
            assert_eq!(first.body["inserted"], 2, "[{b}] {first:?}");
            let again = push(&c, &addr, Some("key-1"), batch(sid, &["a1", "a2"])).await;
            assert_eq!(
                (again.status, again.replayed),
                (200, true),
                "[{b}] {again:?}"
            );
            assert_eq!(
                again.body, first.body,
                "[{b}] the stored answer, not a new import"
            );
            // Another body under the key: 422 naming the header; nothing imported.
            let other = push(&c, &addr, Some("key-1"), batch(sid, &["a3"])).await;
            assert_eq!(other.status, 422, "[{b}] {other:?}");
            assert_eq!(other.content_type, "application/problem+json", "[{b}]");
            assert_eq!(
                other.body["errors"][0]["field"], "Idempotency-Key",
                "[{b}] {other:?}"
            );
            // A refused request (4xx) is stored too: the same mistake answers the same.
            let bad = push(&c, &addr, Some("key-2"), "not usage".into()).await;
            let bad_again = push(&c, &addr, Some("key-2"), "not usage".into()).await;
            assert_eq!(
                (bad.status, bad_again.status, bad_again.replayed),
                (400, 400, true),
                "[{b}]"
            );
            assert_eq!(bad_again.body, bad.body, "[{b}]");
            // Two at once under one key: one import; the other waits and replays it.
            let body = batch(sid, &["c1", "c2", "c3"]);
            let (x, y) = tokio::join!(
                push(&c, &addr, Some("key-3"), body.clone()),
                push(&c, &addr, Some("key-3"), body.clone())
            );
            assert_eq!((x.status, y.status), (200, 200), "[{b}] {x:?} {y:?}");
            assert_eq!(x.body, y.body, "[{b}] one answer for both");
            assert_eq!(x.body["inserted"], 3, "[{b}] {x:?}");
            assert!(
                x.replayed != y.replayed,
                "[{b}] exactly one ran: {x:?} {y:?}"
            );
            // Without a key, the same batch is an ordinary retry: all duplicates.
            let plain = push(&c, &addr, None, body).await;
            assert_eq!(
                (plain.body["inserted"].as_u64(), plain.replayed),
                (Some(0), false),
                "[{b}]"
            );
            // A bad key is refused before anything runs.
            let long = "k".repeat(256);
            let r = push(&c, &addr, Some(&long), batch(sid, &["d1"])).await;
            assert_eq!(r.status, 400, "[{b}] {r:?}");
            assert_eq!(r.body["errors"][0]["field"], "Idempotency-Key", "[{b}]");
        });
        let log = daemon.stop();
        assert!(!log.contains(TOKEN), "[{b}] the token reached the log");
    });
}
