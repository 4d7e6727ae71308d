//! The accounts layer against a real SQLite database (in a temporary directory), with
//! the clock passed in: staff rules, sessions, the rate limit, TOTP, API tokens.

use chrono::{DateTime, Duration, TimeZone, Utc};

use provisor_store::entities::kinds::Role;
use provisor_store::error::ErrorKind;
use provisor_store::secrets::KeySpec;
use provisor_store::{KeyRing, Store};

use super::api_tokens::{self, NewToken, Scope};
use super::sessions::{self, Login};
use super::staff::{self, NewStaff};
use super::*;
use crate::config::AccountsConfig;

const PW: &str = "correct horse battery";

/// Tests that count password checks must not overlap with others that check one.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct T {
    _dir: tempfile::TempDir,
    store: Store,
}

async fn store() -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let ring = KeyRing::from_spec(&KeySpec::Keys {
        text: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string(),
        from: "test".to_string(),
    })
    .expect("ring");
    let store = Store::open_with_secrets(&url, ring).await.expect("store");
    T { _dir: dir, store }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
}

fn person(email: &str, role: Role, departments: &[&str]) -> NewStaff {
    NewStaff {
        email: email.to_string(),
        name: email.split('@').next().unwrap().to_string(),
        role,
        password: Password::new(PW, email).unwrap(),
        departments: departments.iter().map(ToString::to_string).collect(),
    }
}

fn by() -> crate::audit::Actor {
    crate::audit::Actor::system("test")
}

fn shell() -> Actor {
    Actor::Shell {
        user: "root".to_string(),
    }
}

async fn with_owner(t: &T) -> i64 {
    staff::add_owner(
        &t.store,
        &by(),
        person("owner@x.example", Role::Owner, &[]),
        t0(),
    )
    .await
    .expect("owner")
    .id
}

async fn login(
    t: &T,
    email: &str,
    pw: &str,
    totp: Option<&str>,
    addr: &str,
    now: DateTime<Utc>,
) -> provisor_store::error::Result<sessions::Opened> {
    let password = Password::given(pw);
    sessions::login(
        &t.store,
        &AccountsConfig::default(),
        Login {
            realm: Realm::Staff,
            email,
            password: &password,
            totp,
            source_addr: Some(addr),
        },
        now,
    )
    .await
}

async fn auth(t: &T, token: &str, now: DateTime<Utc>) -> provisor_store::error::Result<Principal> {
    authenticate(&t.store, &AccountSettings::default(), token, now).await
}

#[tokio::test]
async fn the_first_account_is_an_owner_and_only_an_owner_makes_another() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    let e = staff::add(
        &t.store,
        &shell(),
        &by(),
        person("a@x.example", Role::Admin, &[]),
        t0(),
    )
    .await
    .expect_err("no owner yet");
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    let owner = with_owner(&t).await;
    let e = staff::add_owner(
        &t.store,
        &by(),
        person("o2@x.example", Role::Owner, &[]),
        t0(),
    )
    .await
    .expect_err("a second first owner");
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    // The shell adds staff, but not another owner.
    staff::add(
        &t.store,
        &shell(),
        &by(),
        person("admin@x.example", Role::Admin, &[]),
        t0(),
    )
    .await
    .expect("admin");
    let e = staff::add(
        &t.store,
        &shell(),
        &by(),
        person("o2@x.example", Role::Owner, &[]),
        t0(),
    )
    .await
    .expect_err("shell makes no owner");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    let admin = staff::find(&t.store, "admin@x.example").await.unwrap();
    let e = staff::add(
        &t.store,
        &Actor::Staff { id: admin.id },
        &by(),
        person("s@x.example", Role::Support, &[]),
        t0(),
    )
    .await
    .expect_err("an admin manages no staff");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    staff::add(
        &t.store,
        &Actor::Staff { id: owner },
        &by(),
        person("o2@x.example", Role::Owner, &[]),
        t0(),
    )
    .await
    .expect("an owner makes an owner");
}

#[tokio::test]
async fn the_last_enabled_owner_is_never_disabled_or_demoted() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    let owner = with_owner(&t).await;
    let me = Actor::Staff { id: owner };
    for r in [
        staff::disable(&t.store, &shell(), &by(), "owner@x.example", t0()).await,
        staff::set_role(&t.store, &me, &by(), "owner@x.example", Role::Admin, t0()).await,
    ] {
        assert_eq!(r.expect_err("last owner").kind(), ErrorKind::Forbidden);
    }
    staff::add(
        &t.store,
        &me,
        &by(),
        person("o2@x.example", Role::Owner, &[]),
        t0(),
    )
    .await
    .unwrap();
    staff::set_role(&t.store, &me, &by(), "o2@x.example", Role::Admin, t0())
        .await
        .expect("not the last");
    staff::set_role(&t.store, &me, &by(), "o2@x.example", Role::Owner, t0())
        .await
        .unwrap();
    let v = staff::disable(&t.store, &me, &by(), "owner@x.example", t0())
        .await
        .expect("another owner left");
    assert!(v.disabled_at.is_some());
    let e = staff::disable(&t.store, &shell(), &by(), "o2@x.example", t0())
        .await
        .expect_err("now the last");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn sessions_expire_go_idle_end_at_logout_and_with_a_disabled_account() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    let owner = with_owner(&t).await;
    let o = login(&t, "owner@x.example", PW, None, "192.0.2.1", t0())
        .await
        .expect("login");
    assert!(o.token.starts_with("pvs_") && o.token.len() == 68);
    assert_ne!(o.session.token_hash, o.token, "only the hash is stored");
    assert!(!format!("{o:?}").contains(&o.token));
    let p = auth(&t, &o.token, t0() + Duration::minutes(10))
        .await
        .expect("in use");
    assert_eq!(p.staff_id(), Some(owner));
    assert_eq!(p.role, Some(Role::Owner));
    assert_eq!(p.credential, Credential::Session { id: o.session.id });
    // Seen at +10 min: idle counts from there, 30 minutes.
    auth(&t, &o.token, t0() + Duration::minutes(39))
        .await
        .expect("not idle yet");
    let e = auth(&t, &o.token, t0() + Duration::minutes(70))
        .await
        .expect_err("idle");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("unused"), "{e}");
    // Absolute expiry: 12 hours, however busy.
    let o = login(&t, "owner@x.example", PW, None, "192.0.2.1", t0())
        .await
        .unwrap();
    let mut at = t0();
    while at < t0() + Duration::hours(12) {
        at += Duration::minutes(20);
        let r = auth(&t, &o.token, at).await;
        assert_eq!(r.is_ok(), at < t0() + Duration::hours(12), "{at}: {r:?}");
    }
    // Logout ends it.
    let o = login(&t, "owner@x.example", PW, None, "192.0.2.1", t0())
        .await
        .unwrap();
    sessions::logout(&t.store, &o.token, None, t0())
        .await
        .expect("logout");
    assert!(auth(&t, &o.token, t0()).await.is_err());
    // Disabling an account ends its sessions.
    staff::add(
        &t.store,
        &shell(),
        &by(),
        person("s@x.example", Role::Support, &[]),
        t0(),
    )
    .await
    .unwrap();
    let s = login(&t, "s@x.example", PW, None, "192.0.2.1", t0())
        .await
        .unwrap();
    auth(&t, &s.token, t0()).await.expect("works");
    staff::disable(&t.store, &shell(), &by(), "s@x.example", t0())
        .await
        .unwrap();
    assert!(auth(&t, &s.token, t0()).await.is_err());
    staff::enable(&t.store, &shell(), &by(), "s@x.example", t0())
        .await
        .unwrap();
    assert!(
        auth(&t, &s.token, t0()).await.is_err(),
        "ended sessions stay ended"
    );
}

#[tokio::test]
async fn the_eleventh_failure_is_refused_without_a_hash_check_and_the_window_passes() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    with_owner(&t).await;
    for i in 0..10 {
        let e = login(
            &t,
            "owner@x.example",
            "wrong password!",
            None,
            "192.0.2.9",
            t0() + Duration::seconds(i),
        )
        .await
        .expect_err("wrong");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    }
    let before = password::checks();
    let e = login(
        &t,
        "owner@x.example",
        PW,
        None,
        "192.0.2.9",
        t0() + Duration::seconds(20),
    )
    .await
    .expect_err("11th");
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert_eq!(password::checks(), before, "no hash was checked");
    assert!(e.to_string().contains("try again in 40 seconds"), "{e}");
    // From another address, the account is still limited; another account from the
    // same address too.
    let e = login(
        &t,
        "owner@x.example",
        PW,
        None,
        "198.51.100.1",
        t0() + Duration::seconds(20),
    )
    .await
    .expect_err("per account");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    let e = login(
        &t,
        "nobody@x.example",
        PW,
        None,
        "192.0.2.9",
        t0() + Duration::seconds(20),
    )
    .await
    .expect_err("per address");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(password::checks(), before);
    // The ten checked failures are in the audit log; the three refused before any
    // check are not (the attempts table holds them).
    assert_eq!(
        audited(&t, crate::audit::Action::SessionLoginFailed)
            .await
            .len(),
        10
    );
    // After the window the right password works.
    login(
        &t,
        "owner@x.example",
        PW,
        None,
        "192.0.2.9",
        t0() + Duration::seconds(61),
    )
    .await
    .expect("after the window");
}

async fn audited(
    t: &T,
    action: crate::audit::Action,
) -> Vec<provisor_store::entities::audit_entry::Model> {
    let filter = crate::audit::Filter {
        action: Some(action),
        ..Default::default()
    };
    crate::audit::list(&t.store, &filter, 100)
        .await
        .expect("audit")
}

#[tokio::test]
async fn logins_failed_and_opened_and_logouts_are_audited_by_the_account() {
    use provisor_store::entities::kinds::ActorKind;
    let _s = SERIAL.lock().await;
    let t = store().await;
    let owner = with_owner(&t).await;
    let e = login(
        &t,
        "Owner@X.example",
        "wrong password!",
        None,
        "192.0.2.7",
        t0(),
    );
    e.await.expect_err("wrong");
    let e = login(&t, "who@x.example", PW, None, "192.0.2.8", t0());
    e.await.expect_err("unknown");
    let failed = audited(&t, crate::audit::Action::SessionLoginFailed).await;
    let seen: Vec<_> = failed
        .iter()
        .map(|f| {
            (
                f.actor_kind,
                f.actor_id,
                f.actor_name.as_str(),
                f.source_addr.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (ActorKind::Staff, None, "who@x.example", Some("192.0.2.8")),
            (ActorKind::Staff, None, "Owner@X.example", Some("192.0.2.7")),
        ]
    );
    for f in &failed {
        assert_eq!(f.object_id, None);
        assert_eq!(
            f.after.as_deref(),
            Some(r#"{"realm":"staff","reason":"password"}"#),
            "an unknown email and a wrong password are recorded alike"
        );
    }
    let o = login(&t, "owner@x.example", PW, None, "192.0.2.7", t0())
        .await
        .expect("login");
    let opened = audited(&t, crate::audit::Action::SessionLogin).await;
    assert_eq!(opened.len(), 1);
    let (e, session) = (&opened[0], o.session.id.to_string());
    assert_eq!(
        (e.actor_kind, e.actor_id, e.actor_name.as_str()),
        (ActorKind::Staff, Some(owner), "owner@x.example")
    );
    assert_eq!(e.source_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(e.object_id.as_deref(), Some(session.as_str()));
    sessions::logout(&t.store, &o.token, Some("192.0.2.9"), t0())
        .await
        .expect("logout");
    let ended = audited(&t, crate::audit::Action::SessionLogout).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].actor_id, Some(owner));
    assert_eq!(ended[0].object_id.as_deref(), Some(session.as_str()));
    assert_eq!(ended[0].source_addr.as_deref(), Some("192.0.2.9"));
    // No password, hash or session token reaches an entry.
    let all = crate::audit::list(&t.store, &crate::audit::Filter::default(), 100)
        .await
        .expect("audit");
    for e in &all {
        let text = format!("{e:?}");
        assert!(
            !text.contains("pvs_") && !text.contains("$argon2") && !text.contains(PW),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    with_owner(&t).await;
    let before = password::checks();
    let a = login(&t, "nobody@x.example", PW, None, "192.0.2.1", t0())
        .await
        .expect_err("unknown");
    let b = login(
        &t,
        "owner@x.example",
        "not the password",
        None,
        "192.0.2.2",
        t0(),
    )
    .await
    .expect_err("wrong");
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.kind(), b.kind());
    assert_eq!(password::checks(), before + 2, "both checked a hash");
}

#[tokio::test]
async fn totp_needs_a_right_code_used_once() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    let owner = with_owner(&t).await;
    let e = totp::enroll(&t.store, &shell(), &by(), "owner@x.example", t0())
        .await
        .expect("enroll");
    assert!(e.uri.starts_with("otpauth://totp/"), "{}", e.uri);
    assert!(!format!("{e:?}").contains(&e.secret));
    let row = staff::get(&t.store, owner).await.unwrap();
    let stored = row.totp_secret.expect("sealed");
    assert!(
        !stored.contains(&e.secret) && stored.starts_with("v1:"),
        "sealed, not plain"
    );
    // Not on until confirmed: login needs no code.
    login(&t, "owner@x.example", PW, None, "192.0.2.1", t0())
        .await
        .expect("no code yet");
    let code = totp::code_at(&e.secret, t0()).unwrap();
    let bad = if code == "000000" { "111111" } else { "000000" };
    let refused = totp::confirm(&t.store, &shell(), &by(), "owner@x.example", bad, t0()).await;
    assert!(refused.is_err(), "a wrong code turns nothing on");
    let v = totp::confirm(&t.store, &shell(), &by(), "owner@x.example", &code, t0())
        .await
        .expect("confirm");
    assert!(v.totp);
    let later = t0() + Duration::seconds(60);
    let e1 = login(&t, "owner@x.example", PW, None, "192.0.2.1", later)
        .await
        .expect_err("needs a code");
    assert_eq!(e1.kind(), ErrorKind::Unauthenticated);
    let wrong = if totp::code_at(&e.secret, later).unwrap() == "123456" {
        "654321"
    } else {
        "123456"
    };
    assert!(
        login(&t, "owner@x.example", PW, Some(wrong), "192.0.2.1", later)
            .await
            .is_err()
    );
    let code = totp::code_at(&e.secret, later).unwrap();
    login(&t, "owner@x.example", PW, Some(&code), "192.0.2.1", later)
        .await
        .expect("right code");
    let again = login(
        &t,
        "owner@x.example",
        PW,
        Some(&code),
        "192.0.2.1",
        later + Duration::seconds(5),
    )
    .await
    .expect_err("reused");
    assert!(again.to_string().contains("already used"), "{again}");
}

#[tokio::test]
async fn tokens_are_shown_once_scoped_and_refused_when_revoked_expired_or_disabled() {
    let _s = SERIAL.lock().await;
    let t = store().await;
    let owner = with_owner(&t).await;
    staff::add(
        &t.store,
        &shell(),
        &by(),
        person("s@x.example", Role::Support, &[]),
        t0(),
    )
    .await
    .unwrap();
    let support = staff::find(&t.store, "s@x.example").await.unwrap().id;
    let new = |scope, expires_at| NewToken {
        name: "ci".to_string(),
        scope,
        read_only: true,
        endpoints: vec!["GET /v1/services/*".to_string()],
        expires_at,
    };
    // A token for an account never has more than its role.
    let e = api_tokens::issue(
        &t.store,
        &shell(),
        &by(),
        new(
            Scope::Staff {
                email: "s@x.example".into(),
                role: Some(Role::Admin),
            },
            None,
        ),
        t0(),
    )
    .await
    .expect_err("more than the account");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    let e = api_tokens::issue(
        &t.store,
        &Actor::Staff { id: support },
        &by(),
        new(Scope::Role(Role::Support), None),
        t0(),
    )
    .await
    .expect_err("support issues only its own");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    let i = api_tokens::issue(
        &t.store,
        &Actor::Staff { id: support },
        &by(),
        new(
            Scope::Staff {
                email: "s@x.example".into(),
                role: None,
            },
            None,
        ),
        t0(),
    )
    .await
    .expect("its own");
    assert!(i.token.starts_with("pvt_") && !format!("{i:?}").contains(&i.token));
    let listed = serde_json::to_string(&api_tokens::list(&t.store).await.unwrap()).unwrap();
    assert!(
        !listed.contains(&i.token) && !listed.contains(&digest(&i.token)),
        "{listed}"
    );
    let p = auth(
        &t,
        &format!("Bearer {}", i.token),
        t0() + Duration::minutes(1),
    )
    .await
    .expect("works");
    assert_eq!(
        (p.role, p.read_only, p.staff_id()),
        (Some(Role::Support), true, Some(support))
    );
    assert!(p.may_reach("GET", "/v1/services/{id}"));
    assert!(!p.may_reach("POST", "/v1/services"));
    assert!(!p.may_reach("GET", "/v1/invoices"));
    let used = api_tokens::list(&t.store).await.unwrap();
    assert_eq!(used[0].last_used_at, Some(t0() + Duration::minutes(1)));
    // Disabled account: refused; enabled again: works.
    staff::disable(&t.store, &shell(), &by(), "s@x.example", t0())
        .await
        .unwrap();
    assert_eq!(
        auth(&t, &i.token, t0()).await.expect_err("disabled").kind(),
        ErrorKind::Unauthenticated
    );
    staff::enable(&t.store, &shell(), &by(), "s@x.example", t0())
        .await
        .unwrap();
    auth(&t, &i.token, t0()).await.expect("enabled again");
    // Revoked.
    api_tokens::revoke(
        &t.store,
        &Actor::Staff { id: owner },
        &by(),
        i.view.id,
        t0(),
    )
    .await
    .unwrap();
    assert!(auth(&t, &i.token, t0())
        .await
        .unwrap_err()
        .to_string()
        .contains("revoked"));
    // Expired.
    let i = api_tokens::issue(
        &t.store,
        &shell(),
        &by(),
        new(Scope::Role(Role::Billing), Some(t0() + Duration::hours(1))),
        t0(),
    )
    .await
    .unwrap();
    auth(&t, &i.token, t0() + Duration::minutes(59))
        .await
        .expect("not yet");
    assert!(auth(&t, &i.token, t0() + Duration::hours(1))
        .await
        .unwrap_err()
        .to_string()
        .contains("expired"));
}

#[tokio::test]
async fn the_configured_usage_token_reaches_only_the_usage_endpoint() {
    let t = store().await;
    let settings = AccountSettings::default().with_usage_token("0123456789abcdef0123456789abcdef");
    let p = authenticate(
        &t.store,
        &settings,
        "Bearer 0123456789abcdef0123456789abcdef",
        t0(),
    )
    .await
    .expect("usage token");
    assert_eq!(p.credential, Credential::ConfiguredToken);
    assert!(p.may_reach("POST", "/v1/usage"));
    assert!(!p.may_reach("GET", "/v1/services/{id}"));
    assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    for bad in [
        "",
        "Bearer ",
        "0123456789abcdef0123456789abcdeX",
        "pvs_00",
        "pvt_00",
    ] {
        let e = authenticate(&t.store, &settings, bad, t0())
            .await
            .expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{bad}");
    }
}

#[tokio::test]
async fn a_task_is_taken_by_staff_of_its_department() {
    let t = store().await;
    with_owner(&t).await;
    provisor_engine::catalog::add_department(&t.store, "dc", None, t0())
        .await
        .unwrap();
    provisor_engine::catalog::add_department(&t.store, "other", None, t0())
        .await
        .unwrap();
    staff::add(
        &t.store,
        &shell(),
        &by(),
        person("in@x.example", Role::Support, &["dc"]),
        t0(),
    )
    .await
    .unwrap();
    staff::add(
        &t.store,
        &shell(),
        &by(),
        person("out@x.example", Role::Support, &["other"]),
        t0(),
    )
    .await
    .unwrap();
    let e = staff::take_task(&t.store, 1, "in@x.example", t0())
        .await
        .expect_err("no task #1");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = staff::set_departments(
        &t.store,
        &shell(),
        &by(),
        "in@x.example",
        &["nope".to_string()],
        t0(),
    )
    .await
    .expect_err("no such department");
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn a_key_rotation_seals_totp_again_and_it_still_works() {
    let _s = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let ring = KeyRing::for_home(&dir.path().join("secret.key")).expect("ring");
    let store = Store::open_with_secrets(&url, ring).await.expect("store");
    let t = T { _dir: dir, store };
    let owner = with_owner(&t).await;
    let e = totp::enroll(&t.store, &shell(), &by(), "owner@x.example", t0())
        .await
        .unwrap();
    let code = totp::code_at(&e.secret, t0()).unwrap();
    totp::confirm(&t.store, &shell(), &by(), "owner@x.example", &code, t0())
        .await
        .unwrap();
    let before = staff::get(&t.store, owner)
        .await
        .unwrap()
        .totp_secret
        .unwrap();
    let done = provisor_store::secrets::rotate(&t.store)
        .await
        .expect("rotate");
    let after = staff::get(&t.store, owner)
        .await
        .unwrap()
        .totp_secret
        .unwrap();
    assert_ne!(
        before.split(':').nth(1),
        after.split(':').nth(1),
        "sealed with the new key"
    );
    assert_eq!(after.split(':').nth(1), Some(done.key_id.as_str()));
    let later = t0() + Duration::seconds(90);
    let code = totp::code_at(&e.secret, later).unwrap();
    login(&t, "owner@x.example", PW, Some(&code), "192.0.2.1", later)
        .await
        .expect("the second factor still opens");
}
