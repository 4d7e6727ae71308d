//! Usage pushed over HTTP (`provisor serve --listen`, `POST /v1/usage`) end to end, on
//! SQLite and (with PROVISOR_TEST_PG) PostgreSQL: the same semantics as `usage import`
//! (all or nothing, deduped by transaction id), bearer-token auth, the body limit, the
//! statuses of refused requests, and the invoice the 1st makes of what was pushed,
//! computed by hand. The client is a few lines of HTTP/1.1 over a `TcpStream`, so the
//! test sees exactly what goes over the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{bin, each_backend, exits_within, so, Daemon, Run, TestHome};
use serde_json::{json, Value};

const TOKEN: &str = "e2e-0123456789abcdef0123456789abcdef";
/// PROVISOR_API_MAX_BODY for the test: small, so the over-limit body is small too.
const LIMIT: usize = 4096;

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// The status line and headers, lower-cased.
    head: String,
    body: Value,
}

/// Sends one request (`Connection: close`) and reads the whole answer.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    // A refused body may not be read by the server: the answer still comes.
    let _ = s.write_all(&out);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer from {method} {path}: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
    };
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

fn post(addr: &str, token: Option<&str>, body: &str) -> Reply {
    http(addr, "POST", "/v1/usage", token, body.as_bytes())
}

/// The address from `api listening on http://IP:PORT`.
fn api_addr(daemon: &mut Daemon) -> String {
    daemon.wait_for("api listening on http://", Duration::from_secs(30));
    let out = daemon.output();
    let (_, rest) = out
        .split_once("api listening on http://")
        .expect("the line");
    rest.split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

/// A home with a `pushed` usage plan (GB at €0.08, hour at €0.015), Ann (EUR, NL
/// 21 %) and her active service on it; returns the service id.
fn pushed(home: &TestHome) -> i64 {
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    let settings = json!({ "journal": home.path().join("journal").to_str().unwrap() });
    home.add_handler("rec", "recorder", &settings, None);
    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&["taxes", "set", "NL", "21"]);
    support::metered_plan(home, &[("GB", "0.08"), ("hour", "0.015")]);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
        "--currency",
        "EUR",
        "--country",
        "NL",
    ]);
    let (sid, _) = home.order("ann@example.com", "metered", &[]);
    home.ok(&["work", "--until-idle"]);
    sid
}

fn invoices(home: &TestHome) -> Vec<Value> {
    home.json(&["invoices", "list", "--json"])
        .as_array()
        .expect("invoice list")
        .clone()
}

fn record(tid: &str, sid: i64, unit: &str, quantity: &str) -> String {
    json!({"transaction_id": tid, "service_id": sid, "unit": unit, "quantity": quantity, "period_start": "2026-01-05"})
        .to_string()
}

fn counts(r: &Reply) -> (u64, u64, u64) {
    let n = |k: &str| {
        r.body[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no {k} in {r:?}"))
    };
    (n("records"), n("inserted"), n("duplicates"))
}

#[test]
fn usage_pushed_over_http_is_imported_once_and_invoiced_on_the_first() {
    each_backend("usage over HTTP", |b, url| {
        let home = TestHome::with_database(url)
            .with_label(b)
            .with_env("PROVISOR_API_TOKEN", TOKEN)
            .with_env("PROVISOR_API_MAX_BODY", &LIMIT.to_string());
        let sid = pushed(&home);
        // `--cron-hour 0`: today's daily run happens at once, before anything is pushed,
        // and not again.
        let mut daemon = home.serve(&[
            "--listen",
            "127.0.0.1:0",
            "--no-workers",
            "--check-interval",
            "0",
            "--cron-hour",
            "0",
        ]);
        let addr = api_addr(&mut daemon);
        daemon.wait_for("daily run for", Duration::from_secs(60));

        // Health needs no token.
        let r = http(&addr, "GET", "/v1/health", None, b"");
        assert_eq!(
            (r.status, &r.body),
            (200, &json!({"status": "ok"})),
            "[{b}]"
        );

        // A batch with one good record and an unknown unit: refused whole.
        let bad = [
            record("t1", sid, "GB", "10"),
            record("t7", sid, "GB", "5"),
            record("t8", sid, "parsecs", "1"),
        ]
        .join("\n");
        let r = post(&addr, Some(TOKEN), &bad);
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert_eq!(r.status, 400, "[{b}] {r:?}");
        for needle in [
            "t8",
            "parsecs",
            "provisor usage price",
            "nothing was imported",
        ] {
            assert!(msg.contains(needle), "[{b}] {needle:?} not in {msg}");
        }

        // No token, a wrong token, another scheme: 401, asking for a bearer token.
        let good = [
            record("t1", sid, "GB", "10"),
            json!({"transaction_id": "t2", "service_id": sid, "unit": "GB", "quantity": 2.5, "at": "2026-01-31T10:00:00Z"}).to_string(),
            record("t3", sid, "hour", "200"),
        ]
        .join("\n");
        let wrong = "e2e-0123456789abcdef0123456789abcdeX";
        for token in [None, Some(wrong), Some("")] {
            let r = post(&addr, token, &good);
            assert_eq!(r.status, 401, "[{b}] {token:?}: {r:?}");
            assert!(r.head.contains("www-authenticate: bearer"), "[{b}] {r:?}");
            assert!(
                r.body["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("PROVISOR_API_TOKEN"),
                "[{b}] {r:?}"
            );
        }

        // Garbage: 400 naming the line.
        let r = post(&addr, Some(TOKEN), "this is not usage\n");
        assert_eq!(r.status, 400, "[{b}] {r:?}");
        assert!(
            r.body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("line 1: not JSON"),
            "[{b}] {r:?}"
        );
        let r = post(&addr, Some(TOKEN), "[{\"transaction_id\": ");
        assert_eq!(r.status, 400, "[{b}] {r:?}");

        // Over the limit: 413, telling to split the batch.
        let big = vec![record("t1", sid, "GB", "1"); LIMIT / 40].join("\n");
        assert!(big.len() > LIMIT);
        let r = post(&addr, Some(TOKEN), &big);
        assert_eq!(r.status, 413, "[{b}] {r:?}");
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("split the batch") && msg.contains(&LIMIT.to_string()),
            "[{b}] {msg}"
        );

        // Unknown path, wrong method.
        let r = http(&addr, "GET", "/v1/nothing", Some(TOKEN), b"");
        assert_eq!(r.status, 404, "[{b}] {r:?}");
        let r = http(&addr, "GET", "/v1/usage", Some(TOKEN), b"");
        assert_eq!(r.status, 405, "[{b}] {r:?}");
        assert!(r.head.contains("allow: post"), "[{b}] {r:?}");
        assert!(r.body["error"].is_string(), "[{b}] {r:?}");

        // The good batch: all three inserted (so t1 of the refused batch was not).
        let r = post(&addr, Some(TOKEN), &good);
        assert_eq!(r.status, 200, "[{b}] {r:?}");
        assert_eq!(counts(&r), (3, 3, 0), "[{b}] {r:?}");
        assert_eq!(r.body["late"], 0, "[{b}] {r:?}");
        // Sent again (a retry): all duplicates, nothing written twice.
        let r = post(&addr, Some(TOKEN), &good);
        assert_eq!(r.status, 200, "[{b}] {r:?}");
        assert_eq!(counts(&r), (3, 0, 3), "[{b}] {r:?}");

        // February 1st: GB 12.5 × 0.08 = 1.00, tax 0.21; hour 200 × 0.015 = 3.00, tax
        // 0.63; total 4.84 (t7's 5 GB, refused with its batch, is not on it).
        home.ok(&["cron", "--date", "2026-02-01"]);
        let all = invoices(&home);
        assert_eq!(all.len(), 1, "[{b}] {all:#?}");
        let number = all[0]["number"].as_str().expect("issued").to_string();
        let inv = home.json(&["invoices", "show", &number, "--json"]);
        let lines = inv["lines"].as_array().expect("lines");
        let line = |qty: &str| {
            lines
                .iter()
                .find(|l| l["quantity"] == qty)
                .unwrap_or_else(|| panic!("[{b}] no line of {qty} in {inv:#}"))
        };
        assert_eq!(lines.len(), 2, "[{b}] {inv:#}");
        assert_eq!(
            (&line("12.5")["net"], &line("12.5")["tax"]),
            (&json!("1.00"), &json!("0.21")),
            "[{b}] {inv:#}"
        );
        assert_eq!(
            (&line("200")["net"], &line("200")["tax"]),
            (&json!("3.00"), &json!("0.63")),
            "[{b}] {inv:#}"
        );
        assert_eq!(inv["total"], "4.84", "[{b}] {inv:#}");

        // The same batch after the invoice: still duplicates, not late usage.
        let r = post(&addr, Some(TOKEN), &good);
        assert_eq!((r.status, counts(&r)), (200, (3, 0, 3)), "[{b}] {r:?}");
        home.ok(&["cron", "--date", "2026-03-01"]);
        let after = invoices(&home);
        assert_eq!(after.len(), 1, "[{b}] {after:#?}");
        let again = home.json(&["invoices", "show", &number, "--json"]);
        assert_eq!(again["total"], "4.84", "[{b}] {again:#}");

        let log = daemon.stop();
        assert!(log.contains("provisor serve: stopping"), "[{b}] {log}");
        assert!(
            !log.contains(TOKEN) && !log.contains(wrong),
            "[{b}] a token reached the log:\n{log}"
        );
    });
}

/// `provisor serve ARGS` with this token (or none), killed if it does start.
fn serve_refused(home: &TestHome, token: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = Command::new(bin());
    c.arg("--home")
        .arg(home.path())
        .env_remove("PROVISOR_HOME")
        .env_remove("DATABASE_URL")
        .env_remove("PROVISOR_API_TOKEN")
        .env_remove("PROVISOR_API_MAX_BODY")
        .env("PROVISOR_LOG", "warn");
    if let Some(t) = token {
        c.env("PROVISOR_API_TOKEN", t);
    }
    c.envs(env.iter().copied());
    let child = c
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("provisor serve starts");
    exits_within(child, Duration::from_secs(10), &format!("serve {args:?}"))
}

#[test]
fn serve_with_listen_refuses_to_start_without_a_usable_token() {
    let home = TestHome::new();
    let listen = ["--listen", "127.0.0.1:0"];
    for (token, needles) in [
        (
            None,
            vec!["PROVISOR_API_TOKEN", "is not set", "openssl rand -hex 32"],
        ),
        (Some(""), vec!["PROVISOR_API_TOKEN", "is not set"]),
        (
            Some("short-token"),
            vec!["PROVISOR_API_TOKEN", "at least 24"],
        ),
        (
            Some("a token with spaces in it, long enough"),
            vec!["PROVISOR_API_TOKEN", "spaces"],
        ),
    ] {
        let run = serve_refused(&home, token, &[], &listen);
        assert!(!run.stdout.contains("listening"), "{run:?}");
        assert!(!run.stdout.contains("ready"), "{run:?}");
        let err = run.fails_with(2);
        for n in needles {
            assert!(err.contains(n), "{token:?}: {n:?} not in {err}");
        }
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            assert!(!err.contains(t), "the token was printed: {err}");
        }
    }
    // A bad body limit is refused the same way.
    let run = serve_refused(
        &home,
        Some(TOKEN),
        &[("PROVISOR_API_MAX_BODY", "lots")],
        &listen,
    );
    let err = run.fails_with(2);
    assert!(err.contains("PROVISOR_API_MAX_BODY"), "{err}");
    // Nothing was started: no lock taken, no database made.
    let left: Vec<_> = std::fs::read_dir(home.path())
        .expect("home")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "a refused serve left {left:?}");
}

/// A connection to `addr` from the loopback address `from` (127.0.0.x).
fn connect_from(from: &str, addr: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let to: std::net::SocketAddr = addr.parse().expect("an address");
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let local: std::net::SocketAddr = format!("{from}:0").parse().expect("a source");
    s.bind(&local.into()).expect("bind the source address");
    s.connect(&to.into())
        .unwrap_or_else(|e| panic!("connect {addr} from {from}: {e}"));
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// Sends `req` and reads until the server closes: (what came back, seconds it took).
fn exchange(s: &mut TcpStream, req: &[u8]) -> (String, f64) {
    let t = std::time::Instant::now();
    let _ = s.write_all(req);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    (
        String::from_utf8_lossy(&raw).to_string(),
        t.elapsed().as_secs_f64(),
    )
}

/// Slow clients cannot hold the listener: connections that never finish their headers,
/// bodies that stop arriving and idle kept-alive connections are closed after their
/// timeouts; one address cannot open more than its share, and health still answers.
#[test]
fn slow_and_idle_connections_are_closed_and_health_still_answers() {
    let home = TestHome::new()
        .with_env("PROVISOR_API_TOKEN", TOKEN)
        .with_env("PROVISOR_API_HEADER_TIMEOUT_SECS", "4")
        .with_env("PROVISOR_API_BODY_TIMEOUT_SECS", "2")
        .with_env("PROVISOR_API_MAX_CONNECTIONS", "100")
        .with_env("PROVISOR_API_MAX_CONNECTIONS_PER_IP", "32");
    let mut daemon = home.serve(&[
        "--listen",
        "127.0.0.1:0",
        "--no-workers",
        "--check-interval",
        "0",
    ]);
    let addr = api_addr(&mut daemon);
    let health = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    // 200 connections from 127.0.0.1 that send half a request and stop.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = connect_from("127.0.0.1", &addr);
        let _ = s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n");
        slow.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Another address is served at once.
    let (answer, secs) = exchange(&mut connect_from("127.0.0.2", &addr), health);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        secs < 3.0,
        "health took {secs:.1} s behind 200 slow clients"
    );
    // The slow address is over its share: told to come back, not left hanging.
    let (answer, secs) = exchange(&mut connect_from("127.0.0.1", &addr), health);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer:?}"
    );
    assert!(secs < 3.0, "the refusal took {secs:.1} s");

    // Every slow connection is closed by the server within the header timeout.
    let t = std::time::Instant::now();
    for s in &mut slow {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    let waited = t.elapsed().as_secs_f64();
    assert!(waited < 12.0, "slow connections were held {waited:.1} s");
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    let (answer, _) = exchange(&mut connect_from("127.0.0.1", &addr), health);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");

    // A body that stops arriving: 408 after the body timeout, nothing imported.
    let mut s = connect_from("127.0.0.1", &addr);
    let head = format!(
        "POST /v1/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n[{{\"transaction_id\""
    );
    let (answer, secs) = exchange(&mut s, head.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("BODY_TIMEOUT"), "{answer:?}");
    assert!((1.5..8.0).contains(&secs), "408 after {secs:.1} s");

    // A kept-alive connection left idle after its answer is closed too.
    let mut s = connect_from("127.0.0.1", &addr);
    let (answer, secs) = exchange(&mut s, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        (3.5..12.0).contains(&secs),
        "idle connection closed after {secs:.1} s"
    );

    // The daemon still stops at once.
    daemon.stop();
}
