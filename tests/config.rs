//! Configuration through the real binary: `provisor.toml` in the home, the environment
//! over it, a flag over both; a misspelt key or a bad value refused at start (exit 2,
//! nothing created); `config show` naming each value's source and never printing a
//! secret; values from the file reaching the code (the API token, the attempts an
//! operation gets).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use provisor_e2e::{so, TestHome};
use serde_json::{json, Value};

const TOKEN: &str = "c0nfig-t0ken-0123456789abcdef0123456789";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Writes `provisor.toml` (0600) in the home.
fn write_config(home: &TestHome, text: &str) {
    let path = home.write("provisor.toml", text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn show(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["config", "show", "--json"]);
    home.json_env(env, &all)
}

fn setting<'a>(shown: &'a Value, key: &str) -> &'a Value {
    &shown["settings"][key]
}

/// What the home holds besides provisor.toml: nothing after a refused start.
fn made(home: &TestHome) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.path())
        .expect("home")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n != "provisor.toml")
        .collect();
    names.sort();
    names
}

#[test]
fn file_values_are_used_the_environment_overrides_them_and_a_flag_overrides_both() {
    let home = TestHome::new();
    write_config(
        &home,
        "# limits\n[modules]\ncall_timeout_secs = 7\n\n[api]\nmax_connections = 50\nheader_timeout_secs = 4\n",
    );
    let v = show(&home, &[], &[]);
    assert_eq!(v["file_found"], true, "{v:#}");
    let t = setting(&v, "modules.call_timeout_secs");
    assert_eq!(
        (&t["value"], &t["source"], &t["line"]),
        (&json!(7), &json!("file"), &json!(3)),
        "{t:#}"
    );
    let c = setting(&v, "api.max_connections");
    assert_eq!(
        (&c["value"], &c["source"], &c["line"]),
        (&json!(50), &json!("file"), &json!(6)),
        "{c:#}"
    );
    assert_eq!(setting(&v, "api.header_timeout_secs")["value"], 4);
    let d = setting(&v, "api.max_connections_per_ip");
    assert_eq!(
        (&d["value"], &d["source"]),
        (&json!(128), &json!("default")),
        "{d:#}"
    );

    let env = [
        ("PROVISOR_CALL_TIMEOUT", "8"),
        ("PROVISOR_API_MAX_CONNECTIONS", "60"),
    ];
    let v = show(&home, &env, &[]);
    let t = setting(&v, "modules.call_timeout_secs");
    assert_eq!(
        (&t["value"], &t["source"], &t["from"]),
        (&json!(8), &json!("env"), &json!("PROVISOR_CALL_TIMEOUT")),
        "{t:#}"
    );
    assert_eq!(setting(&v, "api.max_connections")["value"], 60);

    let v = show(&home, &env, &["--call-timeout", "9"]);
    let t = setting(&v, "modules.call_timeout_secs");
    assert_eq!(
        (&t["value"], &t["source"], &t["from"]),
        (&json!(9), &json!("flag"), &json!("--call-timeout")),
        "{t:#}"
    );
    // The other values keep their own sources.
    assert_eq!(setting(&v, "api.max_connections")["source"], "env");
    assert_eq!(setting(&v, "api.header_timeout_secs")["source"], "file");

    // The plain listing says the same.
    let text = home.ok_env(&env, &["config", "show"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("modules.call_timeout_secs"))
        .expect("a row");
    assert!(line.contains("environment PROVISOR_CALL_TIMEOUT"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("api.header_timeout_secs"))
        .expect("a row");
    assert!(line.contains("provisor.toml line 7"), "{text}");
}

#[test]
fn a_misspelt_key_is_refused_naming_the_file_the_key_and_the_near_name() {
    let home = TestHome::new();
    write_config(&home, "[billing]\nrenew_days = 7\ngrace_day = 3\n");
    let err = home.fails(&["clients", "list"], 2);
    let file = home.path().join("provisor.toml");
    assert!(err.contains(&format!("{} line 3", file.display())), "{err}");
    assert!(err.contains("unknown key `billing.grace_day`"), "{err}");
    assert!(err.contains("did you mean `grace_days`?"), "{err}");
    assert_eq!(made(&home), Vec::<String>::new(), "nothing is created");

    write_config(&home, "[biling]\ngrace_days = 3\n");
    let err = home.fails(&["init"], 2);
    assert!(
        err.contains("unknown section `biling`") && err.contains("[billing]"),
        "{err}"
    );
    assert_eq!(made(&home), Vec::<String>::new(), "init made nothing");
}

#[test]
fn a_bad_value_is_refused_from_the_file_the_environment_or_a_flag() {
    let home = TestHome::new();
    write_config(&home, "[engine]\nmax_attempts = 0\n");
    let err = home.fails(&["clients", "list"], 2);
    assert!(
        err.contains("line 2")
            && err.contains("`engine.max_attempts = 0`")
            && err.contains("from 1 to 1000"),
        "{err}"
    );
    write_config(&home, "[billing]\ngrace_days = \"abc\"\n");
    let err = home.fails(&["clients", "list"], 2);
    assert!(
        err.contains("line 2")
            && err.contains("`billing.grace_days`")
            && err.contains("number of days"),
        "{err}"
    );
    write_config(&home, "");
    let run = home.run_env(&[("PROVISOR_GRACE_DAYS", "abc")], &["clients", "list"]);
    let err = run.fails_with(2);
    assert!(
        err.contains("PROVISOR_GRACE_DAYS=\"abc\" is not a whole number of days"),
        "{err}"
    );
    let err = home.fails(&["--max-stuck-calls", "0", "clients", "list"], 2);
    assert!(err.contains("--max-stuck-calls 0"), "{err}");
    let run = home.run_env(&[("PROVISOR_API_MAX_BODY", "lots")], &["clients", "list"]);
    assert!(run.fails_with(2).contains("PROVISOR_API_MAX_BODY"));
    assert_eq!(made(&home), Vec::<String>::new(), "nothing is created");
}

#[test]
fn config_show_never_prints_the_token_or_the_secret_key() {
    let home = TestHome::new();
    let env = [("PROVISOR_API_TOKEN", TOKEN), ("PROVISOR_SECRET_KEY", KEY)];
    for args in [&["config", "show"][..], &["config", "show", "--json"][..]] {
        let out = home.ok_env(&env, args);
        assert!(!out.contains(TOKEN) && !out.contains(KEY), "{out}");
        assert!(out.contains("(set)"), "{out}");
    }
    let v = show(&home, &env, &[]);
    assert_eq!(setting(&v, "api.token")["value"], "(set)");
    assert_eq!(setting(&v, "api.token")["source"], "env");
    assert_eq!(setting(&v, "secrets.key")["value"], "(set)");
    let v = show(&home, &[], &[]);
    assert_eq!(setting(&v, "api.token")["value"], "(not set)");

    // In the file, the same; and a file others can read is refused while it holds one.
    write_config(&home, &format!("[api]\ntoken = \"{TOKEN}\"\n"));
    let out = home.ok(&["config", "show", "--json"]);
    assert!(!out.contains(TOKEN), "{out}");
    let path = home.path().join("provisor.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = home.fails(&["config", "show"], 2);
    assert!(err.contains("chmod 600") && !err.contains(TOKEN), "{err}");
}

#[test]
fn init_writes_a_commented_template_that_is_accepted_and_kept() {
    let home = TestHome::new();
    let out = home.ok(&["init"]);
    assert!(out.contains("provisor.toml"), "{out}");
    let path = home.path().join("provisor.toml");
    let text = std::fs::read_to_string(&path).expect("template");
    assert!(
        text.contains("# grace_days = 3") && text.contains("[billing]"),
        "{text}"
    );
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let v = show(&home, &[], &[]);
    let settings = v["settings"].as_object().expect("settings");
    // (The harness sets PROVISOR_LOG for every command.)
    assert!(
        settings
            .iter()
            .all(|(k, s)| s["source"] == "default" || k == "log.filter"),
        "{v:#}"
    );
    // A second init keeps the hoster's file.
    write_config(&home, "[engine]\nmax_attempts = 2\n");
    home.ok(&["init"]);
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        "[engine]\nmax_attempts = 2\n"
    );
}

/// Values from the file reach the code: the API token starts the listener, and new
/// operations get the file's attempts.
#[test]
fn file_values_reach_the_daemon_and_the_engine() {
    let home = TestHome::new();
    write_config(
        &home,
        &format!("[api]\ntoken = \"{TOKEN}\"\n\n[engine]\nmax_attempts = 2\nretry_secs = 0\n"),
    );
    let mut daemon = home.serve(&[
        "--listen",
        "127.0.0.1:0",
        "--no-workers",
        "--check-interval",
        "0",
    ]);
    daemon.wait_for("api listening on", Duration::from_secs(20));
    daemon.stop();

    home.drop_module(&so("provisor_fixture_versioned_v1"), "versioned.so");
    home.add_handler("v1", "versioned", &json!({}), None);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
    ]);
    home.ok(&["plans", "add", "basic", "--handler", "v1"]);
    let (_, op) = home.order("ann@example.com", "basic", &[]);
    assert_eq!(home.op(op)["max_attempts"], 2);
    // The environment still wins over the file.
    let op = home.json_env(
        &[("PROVISOR_MAX_ATTEMPTS", "4")],
        &[
            "services",
            "order",
            "--client",
            "ann@example.com",
            "--plan",
            "basic",
            "--json",
        ],
    )["operation_id"]
        .as_i64()
        .expect("operation_id");
    assert_eq!(home.op(op)["max_attempts"], 4);
}
