//! Handlers and storage through the real binary, on embedded SQLite and (when
//! `PROVISOR_TEST_PG` is set) PostgreSQL: schema validation before anything is stored,
//! secrets never shown or logged, enable/disable persisted, the key-value store and
//! the module log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use provisor_e2e::{backends, so, TestHome};
use serde_json::Value;

const SECRET: &str = "S3cr3t-Token-4711";

/// A loopback HTTP server answering every request with 200 and body `abc123`; returns
/// its base URL and the raw requests it saw.
fn http_server(requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            seen.push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nabc123",
            );
        }
        seen
    });
    (url, handle)
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &str, url: Option<String>) {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_computestacks"), "computestacks.so");
    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    let add = |name: &str, module: &str, settings: &str| {
        home.try_add_handler(
            name,
            module,
            settings,
            &["--department", "noc", "--label", "AMS"],
        )
    };

    // A handler's department must exist.
    let err = add(
        "cs",
        "computestacks",
        &format!(
            r#"{{"url": "https://cs.example.invalid", "api_key": "k1", "api_secret": "{SECRET}"}}"#
        ),
    )
    .fails_with(2);
    assert!(
        err.contains("department noc does not exist")
            && err.contains("provisor departments add noc"),
        "[{backend}] {err}"
    );
    home.run(&["departments", "add", "noc"]).ok();

    // Settings are validated before anything is stored.
    let err = add(
        "cs",
        "computestacks",
        r#"{"url": "https://cs.example.invalid", "api_key": "k"}"#,
    )
    .fails_with(2);
    assert!(err.contains("api_secret"), "[{backend}] {err}");
    let err = add("cs", "computestacks", "{not json").fails_with(2);
    assert!(err.contains("not valid JSON"), "[{backend}] {err}");
    let err = add("x", "no-such-module", "{}").fails_with(2);
    assert!(
        err.contains("module no-such-module is not loaded"),
        "[{backend}] {err}"
    );
    assert_eq!(
        home.run(&["handlers", "list", "--json"]).json(),
        Value::Array(vec![]),
        "[{backend}] a refused add wrote something"
    );

    add(
        "cs",
        "computestacks",
        &format!(
            r#"{{"url": "https://cs.example.invalid", "api_key": "k1", "api_secret": "{SECRET}"}}"#
        ),
    )
    .ok();
    let err = add(
        "cs",
        "computestacks",
        &format!(r#"{{"url": "https://x.invalid", "api_key": "k", "api_secret": "{SECRET}"}}"#),
    )
    .fails_with(2);
    assert!(err.contains("already exists"), "[{backend}] {err}");

    // Secrets are never printed.
    for args in [
        vec!["handlers", "list"],
        vec!["handlers", "list", "--json"],
        vec!["handlers", "show", "cs"],
        vec!["handlers", "show", "cs", "--json"],
    ] {
        let out = home.run(&args).ok();
        assert!(
            !out.contains(SECRET),
            "[{backend}] {args:?} printed the secret:\n{out}"
        );
    }
    let shown = home.run(&["handlers", "show", "cs", "--json"]).json();
    assert_eq!(shown["settings"]["api_secret"], "[redacted]");
    assert_eq!(shown["settings"]["api_key"], "k1");
    assert_eq!(shown["department"], "noc");
    assert_eq!(shown["label"], "AMS");
    let err = home.run(&["handlers", "show", "nope"]).fails_with(3);
    assert!(err.contains("no handler named nope"), "[{backend}] {err}");

    // Enable and disable are persisted.
    assert!(home
        .run(&["handlers", "disable", "cs"])
        .ok()
        .contains("disabled"));
    assert_eq!(
        home.run(&["handlers", "show", "cs", "--json"]).json()["enabled"],
        false
    );
    assert!(home
        .run(&["handlers", "disable", "cs"])
        .ok()
        .contains("already disabled"));
    home.run(&["handlers", "enable", "cs"]).ok();
    assert_eq!(
        home.run(&["handlers", "show", "cs", "--json"]).json()["enabled"],
        true
    );
    home.run(&["handlers", "enable", "nope"]).fails_with(3);

    // The key-value store lent to modules persists across processes.
    let (srv, server) = http_server(1);
    add(
        "v",
        "versioned",
        &format!(r#"{{"url": "{srv}", "token": "{SECRET}"}}"#),
    )
    .ok();
    let req = home.write(
        "req.json",
        r#"{"operation_key": "op-1", "service": {"id": 5}}"#,
    );
    let req2 = home.write(
        "req2.json",
        r#"{"operation_key": "op-2", "service": {"id": 6}}"#,
    );
    for r in [&req, &req, &req2] {
        let out = home
            .run(&[
                "handlers",
                "call",
                "v",
                "create",
                "--request",
                r.to_str().unwrap(),
            ])
            .json();
        assert_eq!(out["status"], "done", "[{backend}] {out:#}");
    }
    let panel = home
        .run(&[
            "handlers",
            "call",
            "v",
            "client_area",
            "--request",
            req.to_str().unwrap(),
        ])
        .json();
    assert_eq!(
        panel["rows"][0]["value"], "2",
        "[{backend}] two distinct operation keys: {panel:#}"
    );

    // HTTP goes through the host, and the module log never holds the secret.
    let sso = home
        .run(&[
            "handlers",
            "call",
            "v",
            "sso",
            "--request",
            req.to_str().unwrap(),
        ])
        .json();
    assert_eq!(sso["url"], format!("{srv}/sso/abc123"), "[{backend}]");
    let seen = server.join().unwrap();
    assert!(
        seen[0].contains(&format!("Bearer {SECRET}")),
        "the module's request reached the server: {seen:?}"
    );
    let log = home
        .run(&["log", "--handler", "v", "--json", "--limit", "100"])
        .json();
    let text = log.to_string();
    assert!(
        !text.contains(SECRET),
        "[{backend}] the module log holds the secret:\n{log:#}"
    );
    let http = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "http")
        .expect("an http row");
    assert_eq!(http["outcome"], "200");
    assert!(
        http["call"].as_str().unwrap().contains("token=[redacted]"),
        "[{backend}] {http:#}"
    );
    assert!(
        http["request"]
            .as_str()
            .unwrap()
            .contains("Authorization: [redacted]"),
        "[{backend}] {http:#}"
    );
    let creates = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "call" && r["call"] == "create")
        .count();
    assert_eq!(creates, 3, "[{backend}]");
    let for_service = home.run(&["log", "--service", "5", "--json"]).json();
    assert!(
        for_service
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["service_id"] == 5),
        "[{backend}] {for_service:#}"
    );
}

#[test]
fn handlers_are_validated_redacted_persisted_and_logged_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}
