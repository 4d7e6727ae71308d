//! Usage pushed over HTTP (`provisor serve --listen`, `POST /v1/usage`) end to end, on
//! SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL: the same semantics as `usage import`
//! (all or nothing, deduped by transaction id), bearer-token auth, the body limit, the
//! statuses of refused requests, and the invoice the 1st makes of what was pushed,
//! computed by hand. The client is a few lines of HTTP/1.1 over a `TcpStream`, so the
//! test sees exactly what goes over the wire.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "billing_support.rs"]
mod support;

use provisor_e2e::{
    bin, each_backend, exits_within, poll_until, so, Daemon, Run, TestHome, PATIENCE,
};
use serde_json::{json, Value};

const TOKEN: &str = "e2e-0123456789abcdef0123456789abcdef";
/// `PROVISOR_API_MAX_BODY` for the test: small, so the over-limit body is small too.
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
        let _ = write!(req, "Authorization: Bearer {t}\r\n");
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
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
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
        let msg = r.body["detail"].as_str().unwrap_or_default();
        assert_eq!(r.status, 400, "[{b}] {r:?}");
        for needle in [
            "t8",
            "parsecs",
            "price per parsecs in EUR",
            "nothing was imported",
        ] {
            assert!(msg.contains(needle), "[{b}] {needle:?} not in {msg}");
        }
        // The fix in words for an API client, not the command line's command.
        assert!(!msg.contains("`provisor"), "[{b}] {msg}");

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
                r.body["detail"]
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
            r.body["detail"]
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
        let msg = r.body["detail"].as_str().unwrap_or_default();
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
        assert!(r.body["detail"].is_string(), "[{b}] {r:?}");
        assert!(
            r.head.contains("content-type: application/problem+json"),
            "[{b}] {r:?}"
        );

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
    exits_within(child, PATIENCE, &format!("serve {args:?}"))
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

/// The API's header timeout in the slow-client test: long enough that nothing below
/// races it on a loaded machine (the test waits on events, not on the clock), and the
/// product's default.
const HEADER_SECS: u64 = 10;

/// A connection to `addr` from the loopback address `from` (127.0.0.x). Its reads give
/// up after five header timeouts: the ceiling of every wait on the server below.
fn connect_from(from: &str, addr: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let to: std::net::SocketAddr = addr.parse().expect("an address");
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let local: std::net::SocketAddr = format!("{from}:0").parse().expect("a source");
    s.bind(&local.into()).expect("bind the source address");
    s.connect(&to.into())
        .unwrap_or_else(|e| panic!("connect {addr} from {from}: {e}"));
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(5 * HEADER_SECS)))
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

/// Reads one answer (its headers and its Content-Length body) without waiting for the
/// server to close the connection.
fn read_answer(s: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        let n = s
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("no complete answer ({e}); so far: {text:?}"));
        assert!(n > 0, "closed before the answer was complete: {text:?}");
        raw.extend_from_slice(&chunk[..n]);
    }
}

/// What the server did with a connection so far, seen without blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Held open, nothing sent.
    Open,
    /// Something sent (a 503 to a client over its share).
    Answered,
    /// Closed with nothing sent.
    Closed,
}

fn peer(s: &TcpStream) -> Peer {
    s.set_nonblocking(true).expect("non-blocking");
    let seen = s.peek(&mut [0u8; 1]);
    s.set_nonblocking(false).expect("blocking again");
    match seen {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Peer::Open,
        Ok(0) | Err(_) => Peer::Closed,
        Ok(_) => Peer::Answered,
    }
}

/// How many of `held` the server still holds open.
fn still_open(slow: &[TcpStream], held: &[usize]) -> usize {
    held.iter()
        .filter(|&&i| peer(&slow[i]) == Peer::Open)
        .count()
}

/// Reads until the server closes `s`; fails when it is still open at the socket's read
/// timeout (five header timeouts).
fn closed_by_server(s: &mut TcpStream, what: &str) {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "{what} was still open after {:?} (header timeout {HEADER_SECS} s): {e}",
            s.read_timeout().ok().flatten()
        ),
    }
}

/// Slow clients cannot hold the listener: connections that never finish their headers,
/// bodies that stop arriving and idle kept-alive connections are closed after their
/// timeouts; one address cannot open more than its share, and health still answers.
/// Each step waits on what the server does (an answer, a close) and checks the order
/// of events, not how long they took: health answers while the slow connections are
/// still held, the refusal comes before any of them is released.
#[test]
fn slow_and_idle_connections_are_closed_and_health_still_answers() {
    const SHARE: usize = 32;
    const SLOW: usize = 200;
    let home = TestHome::new()
        .with_env("PROVISOR_API_TOKEN", TOKEN)
        .with_env("PROVISOR_API_HEADER_TIMEOUT_SECS", &HEADER_SECS.to_string())
        .with_env("PROVISOR_API_BODY_TIMEOUT_SECS", "2")
        .with_env("PROVISOR_API_MAX_CONNECTIONS", "100")
        .with_env("PROVISOR_API_MAX_CONNECTIONS_PER_IP", &SHARE.to_string());
    let mut daemon = home.serve(&[
        "--listen",
        "127.0.0.1:0",
        "--no-workers",
        "--check-interval",
        "0",
    ]);
    let addr = api_addr(&mut daemon);
    let health = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    // 200 connections from 127.0.0.1 that send half a request and stop. The server
    // holds 127.0.0.1's share and answers the rest with a 503 at once.
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut s = connect_from("127.0.0.1", &addr);
        let _ = s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n");
        slow.push(s);
    }
    let held: Vec<usize> = poll_until(
        "the connections over 127.0.0.1's share answered",
        PATIENCE,
        || {
            let seen: Vec<Peer> = slow.iter().map(peer).collect();
            let count = |p: Peer| seen.iter().filter(|s| **s == p).count();
            if count(Peer::Answered) == SLOW - SHARE {
                Ok((0..SLOW).filter(|&i| seen[i] == Peer::Open).collect())
            } else {
                Err(format!(
                    "{} answered, {} open, {} closed",
                    count(Peer::Answered),
                    count(Peer::Open),
                    count(Peer::Closed)
                ))
            }
        },
    );
    assert_eq!(
        held.len(),
        SHARE,
        "the server should hold 127.0.0.1's share of the slow connections open"
    );

    // Another address is served while they are held.
    let (answer, _) = exchange(&mut connect_from("127.0.0.2", &addr), health);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let open = still_open(&slow, &held);
    assert_eq!(
        open,
        SHARE,
        "health from another address answered only after the server had let {} of the \
         {SHARE} slow connections go: it waited behind them",
        SHARE - open
    );
    // The slow address is over its share: told to come back, not left hanging until
    // a slot frees.
    let (answer, _) = exchange(&mut connect_from("127.0.0.1", &addr), health);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer:?}"
    );
    let open = still_open(&slow, &held);
    assert_eq!(
        open,
        SHARE,
        "the 503 came only after {} slow connection(s) had been let go",
        SHARE - open
    );

    // A kept-alive connection left idle after its answer stays open for now.
    let mut idle = connect_from("127.0.0.2", &addr);
    let _ = idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = read_answer(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert_eq!(peer(&idle), Peer::Open, "not kept alive after its answer");

    // The server closes every held slow connection (header timeout), and the idle
    // one (the same timeout between requests).
    for &i in &held {
        closed_by_server(&mut slow[i], &format!("slow connection {i}"));
    }
    closed_by_server(&mut idle, "the idle kept-alive connection");
    drop(slow);
    // Their slots are free again: 127.0.0.1 is served.
    poll_until("127.0.0.1 served again", PATIENCE, || {
        let (answer, _) = exchange(&mut connect_from("127.0.0.1", &addr), health);
        if answer.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(answer)
        }
    });

    // A body that stops arriving: 408 after the body timeout (2 s; not before it: a
    // lower bound cannot fail on a slow machine), nothing imported.
    let mut s = connect_from("127.0.0.1", &addr);
    let head = format!(
        "POST /v1/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n[{{\"transaction_id\""
    );
    let (answer, secs) = exchange(&mut s, head.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("BODY_TIMEOUT"), "{answer:?}");
    assert!(
        secs >= 1.5,
        "408 after {secs:.1} s, before the body timeout"
    );

    // The daemon still stops by itself.
    let (status, log) = daemon.stop_within(PATIENCE);
    assert!(status.success(), "serve exited with {status}:\n{log}");
}
