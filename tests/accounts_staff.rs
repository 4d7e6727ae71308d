//! Staff accounts, client logins and API tokens through the real binary, on every
//! backend: the first owner rule, the last owner, roles and departments, tasks taken by
//! a staff account, tokens shown once, TOTP enrolment, and no password, token or TOTP
//! secret in any output but the one that hands it over.

use std::cell::RefCell;

use provisor_e2e::{each_backend, Run, TestHome};
use serde_json::Value;

const OWNER_PW: &str = "the owner's long password";
const SUPPORT_PW: &str = "support's long password";
const CLIENT_PW: &str = "a client's long password";

/// A home whose every run's output is kept, to be searched for secrets at the end.
struct Home {
    test: TestHome,
    seen: RefCell<String>,
    backend: &'static str,
}

impl Home {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let r = match stdin {
            Some(input) => self.test.run_stdin(args, input),
            None => self.test.run(args),
        };
        let mut seen = self.seen.borrow_mut();
        seen.push_str(&r.stdout);
        seen.push_str(&r.stderr);
        r
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let r = self.run(args, stdin);
        assert_eq!(
            r.code, 0,
            "[{}] {args:?}\n{}\n{}",
            self.backend, r.stdout, r.stderr
        );
        r.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args, None);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    fn refused(&self, args: &[&str], stdin: Option<&str>, code: i32, needle: &str) -> String {
        let r = self.run(args, stdin);
        assert_eq!(
            r.code, code,
            "[{}] {args:?}\n{}\n{}",
            self.backend, r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains(needle),
            "[{}] {args:?}: {}",
            self.backend,
            r.stderr
        );
        r.stderr
    }
}

fn scenario(backend: &'static str, url: Option<String>) {
    let h = Home {
        test: TestHome::with_database(url).with_label(backend),
        seen: RefCell::new(String::new()),
        backend,
    };
    owners(&h);
    staff(&h);
    let token = tokens(&h);
    let secret = totp(&h);
    clients(&h);
    no_secret_shown(&h, &token, &secret);
}

fn pw(p: &str) -> String {
    format!("{p}\n")
}

/// The first owner, and the owners after it.
fn owners(h: &Home) {
    let backend = h.backend;

    // The first account must be the owner, and only while there is none.
    h.refused(
        &[
            "staff",
            "add",
            "admin@x.example",
            "--name",
            "Ad",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(&pw(OWNER_PW)),
        2,
        "first one must be an owner",
    );
    h.ok(
        &[
            "staff",
            "add",
            "Owner@X.example",
            "--name",
            "Olga",
            "--owner",
            "--password-stdin",
        ],
        Some(&pw(OWNER_PW)),
    );
    h.refused(
        &[
            "staff",
            "add",
            "o2@x.example",
            "--name",
            "O2",
            "--owner",
            "--password-stdin",
        ],
        Some(&pw(OWNER_PW)),
        7,
        "already exists",
    );
    // The shell makes no further owner; the last owner stays.
    h.refused(
        &[
            "staff",
            "add",
            "o2@x.example",
            "--name",
            "O2",
            "--role",
            "owner",
            "--password-stdin",
        ],
        Some(&pw(OWNER_PW)),
        7,
        "owner",
    );
    h.refused(
        &["staff", "disable", "owner@x.example"],
        None,
        7,
        "last enabled owner",
    );
    h.refused(
        &["staff", "roles", "owner@x.example", "admin"],
        None,
        7,
        "last enabled owner",
    );
    // A weak password is refused without being echoed.
    let weak = h.refused(
        &[
            "staff",
            "add",
            "s@x.example",
            "--name",
            "S",
            "--role",
            "support",
            "--password-stdin",
        ],
        Some("tooshort\n"),
        2,
        "at least 12",
    );
    assert!(!weak.contains("tooshort"), "[{backend}] {weak}");
}

/// Staff with roles and departments.
fn staff(h: &Home) {
    let backend = h.backend;
    h.ok(&["departments", "add", "dc"], None);
    h.ok(
        &[
            "staff",
            "add",
            "sam@x.example",
            "--name",
            "Sam",
            "--role",
            "support",
            "--department",
            "dc",
            "--password-stdin",
        ],
        Some(&pw(SUPPORT_PW)),
    );
    h.ok(
        &[
            "staff",
            "add",
            "bea@x.example",
            "--name",
            "Bea",
            "--role",
            "billing",
            "--password-stdin",
        ],
        Some(&pw(SUPPORT_PW)),
    );
    let list = h.json(&["staff", "list", "--json"]);
    let rows = list.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "[{backend}] {list}");
    let sam = rows
        .iter()
        .find(|r| r["email"] == "sam@x.example")
        .expect("sam");
    assert_eq!(
        (sam["role"].as_str(), sam["departments"].clone()),
        (Some("support"), serde_json::json!(["dc"]))
    );
    assert!(rows.iter().all(|r| r.get("password_hash").is_none()));
    h.ok(&["staff", "roles", "bea@x.example", "admin"], None);
    h.ok(&["staff", "departments", "bea@x.example", "dc"], None);
    assert_eq!(
        h.json(&["staff", "show", "bea@x.example", "--json"])["departments"],
        serde_json::json!(["dc"])
    );
    h.ok(&["staff", "departments", "bea@x.example"], None);
    h.ok(
        &["staff", "passwd", "sam@x.example", "--password-stdin"],
        Some(&pw(SUPPORT_PW)),
    );
    h.ok(&["staff", "disable", "sam@x.example"], None);
    assert!(h.json(&["staff", "show", "sam@x.example", "--json"])["disabled_at"].is_string());
    h.ok(&["staff", "enable", "sam@x.example"], None);
}

/// API tokens: printed once, alone on stdout; listed by prefix, never whole.
fn tokens(h: &Home) -> String {
    let backend = h.backend;
    let token = h
        .ok(
            &[
                "tokens",
                "add",
                "ci",
                "--staff",
                "sam@x.example",
                "--read-only",
                "--endpoint",
                "GET /v1/services/*",
                "--expires",
                "2099-01-01",
            ],
            None,
        )
        .trim()
        .to_string();
    assert!(
        token.starts_with("pvt_") && token.len() == 68,
        "[{backend}] {token}"
    );
    h.refused(
        &[
            "tokens",
            "add",
            "x",
            "--staff",
            "sam@x.example",
            "--role",
            "admin",
        ],
        None,
        7,
        "cannot have the role admin",
    );
    h.refused(
        &[
            "tokens",
            "add",
            "x",
            "--role",
            "support",
            "--expires",
            "2001-01-01",
        ],
        None,
        2,
        "not in the future",
    );
    let listed = h.json(&["tokens", "list", "--json"]);
    let t = &listed[0];
    assert_eq!(t["name"], "ci", "[{backend}] {listed}");
    assert!(token.starts_with(t["prefix"].as_str().unwrap()));
    assert_eq!(
        (t["read_only"].as_bool(), t["staff"].as_str()),
        (Some(true), Some("sam@x.example"))
    );
    assert!(t["revoked_at"].is_null() && t["last_used_at"].is_null());
    let id = t["id"].to_string();
    h.ok(&["tokens", "revoke", &id], None);
    assert!(h.json(&["tokens", "list", "--json"])[0]["revoked_at"].is_string());
    h.ok(&["tokens", "list"], None);
    token
}

/// TOTP: the URI is printed once; turning it on needs the right code.
fn totp(h: &Home) -> String {
    let backend = h.backend;
    let uri = h
        .ok(&["staff", "totp", "owner@x.example"], None)
        .trim()
        .to_string();
    assert!(uri.starts_with("otpauth://totp/"), "[{backend}] {uri}");
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret")
        .to_string();
    let code = provisor_app::accounts::totp::code_at(&secret, chrono::Utc::now()).expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    h.refused(
        &["staff", "totp", "owner@x.example", "--confirm", wrong],
        None,
        2,
        "not the current code",
    );
    h.ok(
        &["staff", "totp", "owner@x.example", "--confirm", &code],
        None,
    );
    assert_eq!(
        h.json(&["staff", "show", "owner@x.example", "--json"])["totp"],
        true
    );
    h.refused(
        &["staff", "totp", "owner@x.example"],
        None,
        2,
        "already has TOTP on",
    );
    secret
}

/// Client logins.
fn clients(h: &Home) {
    h.ok(
        &[
            "clients",
            "add",
            "--name",
            "Cleo",
            "--email",
            "cleo@x.example",
        ],
        None,
    );
    h.ok(
        &["clients", "login", "cleo@x.example", "--password-stdin"],
        Some(&pw(CLIENT_PW)),
    );
    h.ok(&["clients", "login", "cleo@x.example", "--disable"], None);
    h.refused(
        &["clients", "login", "nobody@x.example", "--disable"],
        None,
        3,
        "nobody@x.example",
    );
}

/// Nothing secret in any output but the one that handed it over.
fn no_secret_shown(h: &Home, token: &str, secret: &str) {
    let backend = h.backend;
    let seen = h.seen.borrow();
    for secret_text in [OWNER_PW, SUPPORT_PW, CLIENT_PW, "$argon2"] {
        assert!(
            !seen.contains(secret_text),
            "[{backend}] {secret_text:?} was printed"
        );
    }
    assert_eq!(
        seen.matches(token).count(),
        1,
        "[{backend}] the token was printed again"
    );
    assert_eq!(
        seen.matches(secret).count(),
        1,
        "[{backend}] the TOTP secret was printed again"
    );
}

#[test]
fn staff_tokens_totp_and_client_logins_on_every_backend() {
    each_backend("accounts", scenario);
}

#[test]
fn init_makes_the_first_owner_from_standard_input() {
    let home = TestHome::new();
    let out = home.ok_stdin(
        &[
            "init",
            "--owner-email",
            "boss@x.example",
            "--owner-name",
            "Boss",
            "--password-stdin",
        ],
        &format!("{OWNER_PW}\n"),
    );
    assert!(out.contains("owner boss@x.example (Boss) added"), "{out}");
    assert!(!out.contains(OWNER_PW));
    let again = home.run_stdin(
        &[
            "init",
            "--owner-email",
            "b2@x.example",
            "--owner-name",
            "B2",
            "--password-stdin",
        ],
        &format!("{OWNER_PW}\n"),
    );
    assert_eq!(again.code, 7, "{again:?}");
    // Without the flags and without a terminal, init says how to make the owner.
    let fresh = TestHome::new();
    assert!(fresh
        .ok(&["init"])
        .contains("staff add EMAIL --name NAME --owner"));
}
