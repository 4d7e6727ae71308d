use std::collections::HashMap;

use super::*;

fn load(home: &Path, env: &[(&str, &str)], flags: Flags) -> Result<Config> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let flags = Flags {
        home: Some(home.to_path_buf()),
        ..flags
    };
    Config::load_with(&flags, &|name| Ok(env.get(name).cloned()))
}

fn home_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(FILE_NAME), text).expect("write");
    dir
}

#[test]
fn defaults_without_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = load(dir.path(), &[], Flags::default()).expect("loads");
    assert!(!c.file_found);
    assert_eq!(c.modules.call_timeout, Duration::from_secs(60));
    assert_eq!(c.engine.max_attempts, 5);
    assert_eq!(c.source("modules.call_timeout_secs"), Source::Default);
    assert!(c.database.url.is_none());
}

#[test]
fn file_then_environment_then_flag() {
    let dir = home_with("[modules]\ncall_timeout_secs = 7\nmax_stuck_calls = 9\n");
    let c = load(dir.path(), &[], Flags::default()).expect("loads");
    assert_eq!(c.modules.call_timeout, Duration::from_secs(7));
    assert_eq!(
        c.source("modules.call_timeout_secs"),
        Source::File { line: 2 }
    );
    let c = load(
        dir.path(),
        &[("PROVISOR_CALL_TIMEOUT", "8")],
        Flags::default(),
    )
    .expect("loads");
    assert_eq!(c.modules.call_timeout, Duration::from_secs(8));
    assert_eq!(
        c.source("modules.call_timeout_secs"),
        Source::Env("PROVISOR_CALL_TIMEOUT")
    );
    assert_eq!(c.modules.max_stuck_calls, 9);
    let flags = Flags {
        call_timeout: Some(11),
        ..Flags::default()
    };
    let c = load(dir.path(), &[("PROVISOR_CALL_TIMEOUT", "8")], flags).expect("loads");
    assert_eq!(c.modules.call_timeout, Duration::from_secs(11));
    assert_eq!(
        c.source("modules.call_timeout_secs"),
        Source::Flag("--call-timeout")
    );
}

#[test]
fn bad_values_are_refused_by_name() {
    let dir = home_with("[billing]\ngrace_days = 400\n");
    let err = load(dir.path(), &[], Flags::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("billing.grace_days"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load(
        dir.path(),
        &[("PROVISOR_GRACE_DAYS", "abc")],
        Flags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PROVISOR_GRACE_DAYS=\"abc\" is not a whole number of days"),
        "{err}"
    );
    let err = load(
        dir.path(),
        &[("PROVISOR_GRACE_DAYS", "20")],
        Flags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("must be more than"), "{err}");
    let err = load(
        dir.path(),
        &[("PROVISOR_BILLING_TZ", "Mars/Base")],
        Flags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PROVISOR_BILLING_TZ") && err.contains("Europe/Berlin"),
        "{err}"
    );
}

#[test]
fn secrets_are_redacted_and_a_readable_file_holding_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = home_with("[api]\ntoken = \"0123456789abcdef0123456789abcdef\"\n");
    let path = dir.path().join(FILE_NAME);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = load(dir.path(), &[], Flags::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chmod 600") && !err.contains("0123456789abcdef"),
        "{err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let c = load(dir.path(), &[], Flags::default()).expect("loads");
    let shown = format!("{:?} {:?}", c, c.entries());
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert_eq!(
        c.named("api.token"),
        format!("`api.token` ({} line 2)", path.display())
    );
}

#[test]
fn the_template_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(write_template(dir.path()).expect("writes"));
    assert!(!write_template(dir.path()).expect("keeps"));
    let c = load(dir.path(), &[], Flags::default()).expect("loads");
    assert!(c.file_found);
    assert!(c.entries().iter().all(|e| e.source == Source::Default));
}
