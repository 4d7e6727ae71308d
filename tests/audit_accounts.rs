//! The accounts' own changes in the audit log, through the real binary on every
//! backend: `init`'s first owner, staff added, given a role and departments, a new
//! password, disabled and enabled, TOTP enrolled, confirmed and removed, a client's login
//! set and disabled, an API token issued and revoked — each an entry by the shell with
//! its object and before/after, and no password, hash, token or TOTP secret in
//! `provisor audit --json`. (Logins and logouts are opened by the library; the unit
//! tests of `app::accounts` check their entries.)

use std::process::Command;

use provisor_e2e::{each_backend, TestHome};
use serde_json::{json, Value};

const OWNER_PW: &str = "the owner's long audit password";
const STAFF_PW: &str = "a staff member's audit password";
const NEW_PW: &str = "another long audit password";
const CLIENT_PW: &str = "a client's long audit password";

/// The name `Actor::shell()` gives the user running these tests.
fn os_user() -> String {
    let run = |args: &[&str]| {
        Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    run(&["-un"]).unwrap_or_else(|| format!("uid {}", run(&["-u"]).unwrap_or_default()))
}

/// The entries of `action` about `object` (kind, id), oldest first.
fn of(all: &[Value], action: &str, object: (&str, &str)) -> Vec<Value> {
    let mut found: Vec<Value> = all
        .iter()
        .filter(|e| {
            e["action"] == action
                && e["object"]["kind"] == object.0
                && e["object"]["id"] == object.1
        })
        .cloned()
        .collect();
    found.reverse();
    found
}

/// The one entry of `action` about `object`, by the shell user.
fn one(all: &[Value], user: &str, action: &str, object: (&str, &str)) -> Value {
    let found = of(all, action, object);
    assert_eq!(found.len(), 1, "one {action} of {object:?} in {all:#?}");
    let e = found[0].clone();
    assert_eq!(
        (e["actor"]["kind"].as_str(), e["actor"]["name"].as_str()),
        (Some("shell"), Some(user)),
        "{e:#}"
    );
    e
}

fn pw(p: &str) -> String {
    format!("{p}\n")
}

/// What the changes handed over (to be looked for in the log) and named.
struct Made {
    token: String,
    token_id: String,
    totp_secret: String,
    code: String,
    client: String,
}

fn scenario(backend: &'static str, url: Option<String>) {
    let h = TestHome::with_database(url).with_label(backend);
    let user = os_user();
    let made = changes(&h);
    let text = h.ok(&["audit", "--json", "--limit", "1000"]);
    let all: Vec<Value> = serde_json::from_str::<Value>(&text)
        .expect("JSON")
        .as_array()
        .cloned()
        .unwrap_or_default();
    staff_entries(backend, &all, &user);
    let sams = h.json(&["audit", "--json", "--object", "staff:sam@x.example"]);
    assert_eq!(
        sams.as_array().map(Vec::len),
        Some(9),
        "[{backend}] add, role, departments, passwd, disable, enable, three TOTP: {sams:#}"
    );
    token_and_login_entries(backend, &all, &user, &made);
    // No secret reaches the log.
    let given = [&made.token, &made.totp_secret, &made.code];
    for secret in [OWNER_PW, STAFF_PW, NEW_PW, CLIENT_PW]
        .into_iter()
        .chain(given.map(String::as_str))
    {
        assert!(
            !text.contains(secret),
            "[{backend}] a secret in the audit log: {text}"
        );
    }
    for needle in ["$argon2", "pvt_", "pvs_", "otpauth"] {
        assert!(
            !text.contains(needle),
            "[{backend}] {needle} in the audit log: {text}"
        );
    }
}

/// The accounts' changes, through the CLI.
fn changes(h: &TestHome) -> Made {
    h.ok_stdin(
        &[
            "init",
            "--owner-email",
            "owner@x.example",
            "--owner-name",
            "Olga",
            "--password-stdin",
        ],
        &pw(OWNER_PW),
    );
    h.ok(&["departments", "add", "dc"]);
    h.ok(&["departments", "add", "noc"]);
    h.ok_stdin(
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
        &pw(STAFF_PW),
    );
    // A refused change records nothing.
    h.refused(
        &["staff", "disable", "owner@x.example"],
        &["last enabled owner"],
    );
    h.ok(&["staff", "roles", "sam@x.example", "billing"]);
    h.ok(&["staff", "roles", "sam@x.example", "billing"]);
    h.ok(&["staff", "departments", "sam@x.example", "dc", "noc"]);
    h.ok_stdin(
        &["staff", "passwd", "sam@x.example", "--password-stdin"],
        &pw(NEW_PW),
    );
    h.ok(&["staff", "disable", "sam@x.example"]);
    h.ok(&["staff", "enable", "sam@x.example"]);
    h.ok(&["staff", "enable", "sam@x.example"]);
    let uri = h.ok(&["staff", "totp", "sam@x.example"]).trim().to_string();
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret")
        .to_string();
    let code = provisor_app::accounts::totp::code_at(&secret, chrono::Utc::now()).expect("code");
    h.ok(&["staff", "totp", "sam@x.example", "--confirm", &code]);
    h.ok(&["staff", "totp", "sam@x.example", "--off"]);
    let token = h
        .ok(&[
            "tokens",
            "add",
            "ci",
            "--staff",
            "sam@x.example",
            "--read-only",
            "--expires",
            "2099-01-01",
        ])
        .trim()
        .to_string();
    let token_id = h.json(&["tokens", "list", "--json"])[0]["id"].to_string();
    h.ok(&["tokens", "revoke", &token_id]);
    h.ok(&["tokens", "revoke", &token_id]);
    h.ok(&[
        "clients",
        "add",
        "--name",
        "Cleo",
        "--email",
        "cleo@x.example",
    ]);
    let client = h.json(&["clients", "show", "cleo@x.example", "--json"])["id"].to_string();
    h.ok_stdin(
        &["clients", "login", "cleo@x.example", "--password-stdin"],
        &pw(CLIENT_PW),
    );
    h.ok(&["clients", "login", "cleo@x.example", "--disable"]);
    Made {
        token,
        token_id,
        totp_secret: secret,
        code,
        client,
    }
}

/// The staff accounts' entries.
fn staff_entries(backend: &str, all: &[Value], user: &str) {
    let owner = one(all, user, "staff.add", ("staff", "owner@x.example"));
    assert_eq!(
        owner["after"],
        json!({"email": "owner@x.example", "name": "Olga", "role": "owner", "departments": []}),
        "[{backend}]"
    );
    let sam = ("staff", "sam@x.example");
    let added = one(all, user, "staff.add", sam);
    assert_eq!(
        (
            added["before"].clone(),
            added["after"]["role"].clone(),
            added["after"]["departments"].clone()
        ),
        (Value::Null, json!("support"), json!(["dc"])),
        "[{backend}]"
    );
    assert!(of(all, "staff.disable", ("staff", "owner@x.example")).is_empty());
    let role = one(all, user, "staff.role", sam);
    assert_eq!(
        (role["before"].clone(), role["after"].clone()),
        (json!({"role": "support"}), json!({"role": "billing"})),
        "[{backend}] the second, unchanged role records nothing"
    );
    let deps = one(all, user, "staff.departments", sam);
    assert_eq!(
        (deps["before"].clone(), deps["after"].clone()),
        (
            json!({"departments": ["dc"]}),
            json!({"departments": ["dc", "noc"]})
        ),
        "[{backend}]"
    );
    let passwd = one(all, user, "staff.passwd", sam);
    assert!(
        passwd["before"].is_null() && passwd["after"].is_null(),
        "[{backend}] {passwd}"
    );
    let disabled = one(all, user, "staff.disable", sam);
    assert_eq!(disabled["after"]["disabled"], true, "[{backend}]");
    let enabled = one(all, user, "staff.enable", sam);
    assert_eq!(
        (enabled["before"].clone(), enabled["after"].clone()),
        (json!({"disabled": true}), json!({"disabled": false})),
        "[{backend}] enabling an enabled account records nothing"
    );
    one(all, user, "staff.totp_enroll", sam);
    let on = one(all, user, "staff.totp_confirm", sam);
    assert_eq!(on["after"], json!({"totp": true}), "[{backend}]");
    let off = one(all, user, "staff.totp_remove", sam);
    assert_eq!(
        (off["before"].clone(), off["after"].clone()),
        (json!({"totp": true}), json!({"totp": false})),
        "[{backend}]"
    );
}

/// The API token's and the client login's entries.
fn token_and_login_entries(backend: &str, all: &[Value], user: &str, made: &Made) {
    let (token_id, client) = (made.token_id.as_str(), made.client.as_str());
    let issued = one(all, user, "api_token.issue", ("api_token", token_id));
    assert_eq!(
        (
            issued["after"]["name"].as_str(),
            issued["after"]["staff"].as_str(),
            issued["after"]["read_only"].as_bool()
        ),
        (Some("ci"), Some("sam@x.example"), Some(true)),
        "[{backend}] {issued}"
    );
    assert!(
        issued["after"]["expires_at"]
            .as_str()
            .is_some_and(|at| at.starts_with("2099-01-01")),
        "[{backend}] {issued}"
    );
    let revoked = one(all, user, "api_token.revoke", ("api_token", token_id));
    assert_eq!(
        revoked["after"]["revoked"], true,
        "[{backend}] revoking twice records once"
    );
    let set = one(all, user, "client_login.set", ("client_login", client));
    assert_eq!(
        (set["before"].clone(), set["after"]["disabled"].clone()),
        (Value::Null, json!(false)),
        "[{backend}]"
    );
    let off = one(all, user, "client_login.disable", ("client_login", client));
    assert_eq!(off["after"]["disabled"], true, "[{backend}]");
}

#[test]
fn the_accounts_changes_are_audited_by_the_shell_without_a_secret() {
    each_backend("audit_accounts", scenario);
}
