//! No minted token in any output or log: the ComputeStacks and SolusVM lifecycles
//! through the real binary and `.so` files against the simulators, with each panel's
//! sign-on reply made unparsable (a notice printed before the JSON), on every backend.
//! Every command's stdout and stderr, `provisor log --json` and the whole `module_log`
//! table (the raw SQLite file, or the PostgreSQL rows) are searched for every token the
//! simulators minted (ComputeStacks' `auth_token` from the create reply and the sign-on
//! tokens, SolusVM's login tokens), the generated password and the handlers' secrets.

use std::path::Path;
use std::process::Command;

use provisor_e2e::{each_backend, so, Run, TestHome};
use provisor_simulators::computestacks as cs;
use provisor_simulators::solusvm;
use provisor_simulators::{Fault, FaultRule};
use serde_json::{json, Value};

const NOTICE: &str =
    "<br />\n<b>Notice</b>: Undefined index: locale in /srv/panel/sso.php on line 12<br />\n";

/// Runs commands in one home and keeps everything they printed.
struct Recorder<'a> {
    home: &'a TestHome,
    printed: std::cell::RefCell<Vec<(String, String)>>,
}

impl Recorder<'_> {
    fn run(&self, args: &[&str]) -> Run {
        let run = self.home.run_env(&[("PROVISOR_RETRY_SECS", "0")], args);
        self.printed
            .borrow_mut()
            .push((args.join(" "), format!("{}\n{}", run.stdout, run.stderr)));
        run
    }
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code,
            0,
            "[{}] `provisor {}` failed:\n{}\n{}",
            self.home.label,
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run.stdout
    }
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// The module log as stored: the raw SQLite file and its WAL, or PostgreSQL's rows.
fn stored_module_log(home: &Path, url: Option<&str>) -> String {
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
        Some(url) => {
            let out = Command::new("psql")
                .arg(url)
                .args(["-At", "-c", "SELECT row_to_json(m) FROM module_log m"])
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature `each_backend` calls, which hands each scenario its own URL"
)]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn scenario(backend: &'static str, url: Option<String>) {
    let home = TestHome::with_database(url.clone()).with_label(backend);
    home.drop_module(&so("provisor_computestacks"), "computestacks.so");
    home.drop_module(&so("provisor_solusvm"), "solusvm.so");
    let sims = tempfile::tempdir().expect("tempdir");
    let (cs_sim, cs_api) =
        cs::start_with_api(Some(&sims.path().join("cs")), 0).expect("simulator starts");
    let (sv_sim, sv_api) =
        solusvm::start(Some(&sims.path().join("sv")), 0).expect("simulator starts");
    let r = Recorder {
        home: &home,
        printed: std::cell::RefCell::default(),
    };

    r.ok(&["departments", "add", "cloud"]);
    let cs_settings = home.write(
        "cs.json",
        &json!({"url": cs_sim.url(), "api_key": cs::API_KEY, "api_secret": cs::API_SECRET})
            .to_string(),
    );
    r.ok(&[
        "handlers",
        "add",
        "cs",
        "--module",
        "computestacks",
        "--settings",
        cs_settings.to_str().unwrap(),
        "--department",
        "cloud",
    ]);
    let sv_settings = home.write(
        "sv.json",
        &json!({"url": sv_sim.url(), "api_token": solusvm::API_TOKEN, "token_price": {"USD": "0.011"}})
            .to_string(),
    );
    r.ok(&[
        "handlers",
        "add",
        "solus",
        "--module",
        "solusvm",
        "--settings",
        sv_settings.to_str().unwrap(),
    ]);
    for f in ["cs.json", "sv.json"] {
        std::fs::remove_file(home.path().join(f)).expect("settings file removed");
    }
    r.ok(&["plans", "add", "Cloud", "--handler", "cs"]);
    r.ok(&["plans", "add", "Vps", "--handler", "solus"]);
    r.ok(&[
        "clients",
        "add",
        "--name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--currency",
        "USD",
        "--country",
        "GB",
    ]);

    let mut minted: Vec<(String, String)> = Vec::new();
    for (plan, sso_endpoint) in [
        ("Cloud", "POST /api/admin/users/{id}/user_sso"),
        ("Vps", "POST /api/v1/users/{id}/tokens"),
    ] {
        let order = r.json(&[
            "services",
            "order",
            "--client",
            "ada@example.com",
            "--plan",
            plan,
            "--json",
        ]);
        let sid = order["service_id"].to_string();
        r.ok(&["work", "--until-idle", "--json"]);
        let svc = r.json(&["services", "show", &sid, "--json"]);
        assert_eq!(svc["status"], "active", "[{backend}] {svc:#}");
        let uid: u64 = svc["remote_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| svc["attributes"]["user_id"].as_u64())
            .unwrap_or_else(|| panic!("[{backend}] no remote user: {svc:#}"));
        if plan == "Cloud" {
            let token = cs_api.user(uid).and_then(|u| u.auth_token);
            minted.push((
                "the create reply's auth_token".into(),
                token.expect("minted"),
            ));
        } else {
            let users = sv_api.users_with_email("ada@example.com");
            minted.push(("the generated password".into(), users[0].password.clone()));
        }

        // The sign-on reply comes with a notice before its JSON: the module cannot
        // read it, and says so without the token it carried.
        let sim = if plan == "Cloud" { &cs_sim } else { &sv_sim };
        sim.faults().add(FaultRule::once(
            sso_endpoint,
            Fault::Garbled {
                prefix: NOTICE.into(),
            },
        ));
        let failed = r.run(&["services", "sso", &sid]);
        assert_ne!(failed.code, 0, "[{backend}] {failed:?}");
        assert!(
            failed.stderr.contains("not the expected JSON"),
            "[{backend}] the error says why: {}",
            failed.stderr
        );
        if plan == "Cloud" {
            let token = cs_api.user(uid).and_then(|u| u.auth_token);
            minted.push(("the sign-on token".into(), token.expect("minted")));
        } else {
            let tokens = sv_api.tokens_of(uid);
            assert!(!tokens.is_empty(), "[{backend}] a login token was minted");
            for t in tokens {
                minted.push(("the login token".into(), t.access_token));
            }
        }

        for kind in ["suspend", "unsuspend", "terminate"] {
            r.ok(&["services", kind, &sid]);
            r.ok(&["work", "--until-idle", "--json"]);
        }
        r.ok(&["services", "show", &sid, "--json"]);
        r.ok(&["ops", "list", "--json"]);
    }
    minted.push(("the ComputeStacks API secret".into(), cs::API_SECRET.into()));
    minted.push(("the SolusVM API token".into(), solusvm::API_TOKEN.into()));

    let log = r.ok(&["log", "--limit", "100000", "--json"]);
    assert!(
        log.contains("user_sso") && log.contains("/tokens"),
        "[{backend}] the sign-on exchanges are logged"
    );
    r.ok(&["log", "--limit", "100000"]);
    r.ok(&["handlers", "list", "--json"]);
    let stored = stored_module_log(home.path(), url.as_deref());
    assert!(
        stored.contains("user_sso"),
        "[{backend}] the module log was read"
    );

    for (what, secret) in &minted {
        assert!(
            secret.len() >= 8,
            "[{backend}] {what} is a real token: {secret:?}"
        );
        for (cmd, printed) in r.printed.borrow().iter() {
            assert!(
                !printed.contains(secret.as_str()),
                "[{backend}] {what} was printed by `provisor {cmd}`:\n{printed}"
            );
        }
        assert!(
            !stored.contains(secret.as_str()),
            "[{backend}] {what} is in the stored module log"
        );
    }
}

#[test]
fn no_minted_token_reaches_an_output_or_the_module_log_on_every_backend() {
    each_backend("secrets in logs", scenario);
}
