//! The router in process, over a fresh SQLite store: the route table is what is served,
//! refusals are problem documents, every answer carries the security headers, CORS is
//! closed unless configured, and the served OpenAPI document is `docs/openapi.json`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use provisor_app::accounts::AccountSettings;
use provisor_app::config::{Config, Flags};
use provisor_app::context::Ctx;
use provisor_store::clock::Clock;

use crate::table::{Method, ROUTES};
use crate::Server;

const TOKEN: &str = "unit-0123456789abcdef0123456789abcdef";

async fn app(cors: Option<&str>) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cors = cors.map(str::to_string);
    let env = move |name: &str| {
        Ok(match name {
            "PROVISOR_API_TOKEN" => Some(TOKEN.to_string()),
            "PROVISOR_API_CORS_ORIGINS" => cors.clone(),
            _ => None,
        })
    };
    let flags = Flags {
        home: Some(dir.path().to_path_buf()),
        ..Flags::default()
    };
    let config = Config::load_with(&flags, &env).unwrap();
    let server = Server::new(
        "127.0.0.1:0".parse().unwrap(),
        (&config.api, AccountSettings::from_config(&config)),
        "PROVISOR_API_TOKEN",
        provisor_billing::Settings::default(),
        Clock::system(),
    )
    .unwrap();
    let rt = Ctx::new(config)
        .unwrap()
        .runtime_without_modules()
        .await
        .unwrap();
    (server.router(rt), dir)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let mut req = req;
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn request(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn what_is_served_is_the_route_table_and_nothing_else() {
    let (app, _dir) = app(None).await;
    for route in ROUTES {
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            let in_table = ROUTES.iter().any(|r| {
                r.path == route.path
                    && match r.method {
                        Method::Get => method == "GET" || method == "HEAD",
                        Method::Post => method == "POST",
                        Method::Delete => method == "DELETE",
                    }
            });
            let a = send(&app, request(method, route.path)).await;
            if in_table {
                assert_ne!(
                    a.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {}",
                    route.path
                );
                assert_ne!(a.status, StatusCode::NOT_FOUND, "{method} {}", route.path);
            } else {
                assert_eq!(
                    a.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {}",
                    route.path
                );
                assert_eq!(a.header("content-type"), "application/problem+json");
                assert_eq!(a.header("allow"), crate::table::allow(route.path));
                if method != "HEAD" {
                    assert_eq!(
                        a.json()["type"],
                        "https://provisor.dev/problems/method-not-allowed"
                    );
                }
            }
        }
    }
    let a = send(&app, request("GET", "/v1/nothing")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.header("content-type"), "application/problem+json");
    let p = a.json();
    assert_eq!(
        (p["status"].as_u64(), p["title"].as_str()),
        (Some(404), Some("Not found"))
    );
    assert!(p["detail"].as_str().unwrap().contains("/v1/nothing"), "{p}");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_cors_is_closed_by_default() {
    let (app, _dir) = app(None).await;
    for path in ["/v1/health", "/v1/nothing"] {
        let mut req = request("GET", path);
        req.headers_mut()
            .insert("origin", "https://evil.example".parse().unwrap());
        let a = send(&app, req).await;
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(a.header("cache-control"), "no-store", "{path}");
        assert_eq!(a.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(a.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(
            a.header("content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(a.header("x-request-id").len(), 36, "{path}: a UUID");
        assert!(
            !a.headers.contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    // A proxy's request id is kept; a strange one is replaced.
    let mut req = request("GET", "/v1/health");
    req.headers_mut()
        .insert("x-request-id", "lb-42.a_b".parse().unwrap());
    assert_eq!(send(&app, req).await.header("x-request-id"), "lb-42.a_b");
}

#[tokio::test]
async fn a_configured_origin_gets_cors_and_others_do_not() {
    let (app, _dir) = app(Some("https://panel.example.com, http://localhost:8080")).await;
    let mut pre = request("OPTIONS", "/v1/usage");
    pre.headers_mut()
        .insert("origin", "https://panel.example.com".parse().unwrap());
    pre.headers_mut()
        .insert("access-control-request-method", "POST".parse().unwrap());
    let a = send(&app, pre).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.header("access-control-allow-origin"),
        "https://panel.example.com"
    );
    assert!(a
        .header("access-control-allow-headers")
        .contains("idempotency-key"));
    let mut other = request("GET", "/v1/health");
    other
        .headers_mut()
        .insert("origin", "https://panel.example.com.evil".parse().unwrap());
    assert!(!send(&app, other)
        .await
        .headers
        .contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_route_behind_a_policy_needs_a_known_credential() {
    let (app, _dir) = app(None).await;
    for auth in [None, Some("Bearer wrong-token"), Some("Basic abc")] {
        let mut req = request("POST", "/v1/usage");
        if let Some(a) = auth {
            req.headers_mut()
                .insert("authorization", a.parse().unwrap());
        }
        let a = send(&app, req).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(a.header("www-authenticate"), "Bearer");
        let p = a.json();
        assert_eq!(p["errors"][0]["field"], "Authorization", "{p}");
        assert!(p["detail"].as_str().unwrap().contains("token"), "{p}");
        assert!(!a.body.contains("wrong-token"), "a credential was echoed");
    }
    // Public routes take no credential, and a wrong one does not lock them.
    let mut req = request("GET", "/v1/health");
    req.headers_mut()
        .insert("authorization", "Bearer wrong-token".parse().unwrap());
    assert_eq!(send(&app, req).await.status, StatusCode::OK);
}

/// `docs/openapi.json`, relative to this crate.
fn openapi_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_one() {
    let (app, _dir) = app(None).await;
    let a = send(&app, request("GET", "/v1/openapi.json")).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for r in ROUTES {
        let method = r.method.as_str().to_ascii_lowercase();
        assert_eq!(
            doc["paths"][r.path][&method]["operationId"],
            r.operation_id,
            "{} {} is not in the document",
            r.method.as_str(),
            r.path
        );
    }
    for schema in ["Problem", "FieldError", "List", "Health", "UsageImported"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    if std::env::var_os("PROVISOR_BLESS_OPENAPI").is_some() {
        std::fs::write(openapi_file(), &a.body).unwrap();
    }
    let file = std::fs::read_to_string(openapi_file()).unwrap_or_default();
    assert!(
        file == a.body,
        "docs/openapi.json differs from the document the server serves: regenerate it with \
         `PROVISOR_BLESS_OPENAPI=1 cargo nextest run -p provisor-web openapi` and review the diff"
    );
}

#[tokio::test]
async fn axums_own_rejections_become_problem_documents() {
    use axum::routing::post;
    use http_body_util::Full;
    // A router with axum's `Bytes` extractor under a small limit, behind the same layer.
    let cors = std::sync::Arc::new(crate::headers::Cors {
        origins: Vec::new(),
    });
    let app: Router = Router::new()
        .route("/t", post(|_: axum::body::Bytes| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(4))
        .layer(axum::middleware::from_fn_with_state(
            cors,
            crate::headers::secure,
        ));
    let req = Request::builder()
        .method("POST")
        .uri("/t")
        .body(Body::new(Full::new(axum::body::Bytes::from_static(
            b"too long",
        ))))
        .unwrap();
    let a = send(&app, req).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.header("content-type"), "application/problem+json");
    assert_eq!(
        a.json()["type"],
        "https://provisor.dev/problems/payload-too-large"
    );
}
