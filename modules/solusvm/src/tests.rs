//! Unit tests: settings validation, the manifest's schemas, the token arithmetic,
//! the calendar months and the user record.

use super::*;
use crate::lifecycle::random_password;
use crate::settings::check_base_url;

fn fits(schema: &Value, instance: &Value) -> bool {
    jsonschema::validator_for(schema)
        .expect("the manifest's schema is valid JSON Schema")
        .is_valid(instance)
}

fn settings(value: Value) -> Result<Settings, String> {
    serde_json::from_value::<Settings>(value)
        .map_err(|e| e.to_string())
        .and_then(|s| s.validate().map_err(|e| e.to_string()))
}

fn full() -> Value {
    json!({
        "url": "https://solus.example.com/api/v1/",
        "api_token": "hunter2",
        "token_price": {"EUR": "0.01", "USD": "0.011"},
        "timeout_ms": 5000,
        "limit_group_id": 4,
        "roles": [2],
        "language_id": 1,
        "sso_url": "{url}/sso?t={token}",
        "admin_url": "{url}/admin/users/{user_id}"
    })
}

#[test]
fn manifest_lists_what_is_implemented() {
    let m = SolusVm::manifest();
    assert_eq!(m.name, "solusvm");
    for c in [
        Capability::TestConnection,
        Capability::Create,
        Capability::Suspend,
        Capability::Unsuspend,
        Capability::Terminate,
        Capability::Usage,
        Capability::Sso,
        Capability::ListAccounts,
        Capability::ClientArea,
        Capability::AdminActions,
    ] {
        assert!(m.capabilities.contains(&c), "{c:?}");
    }
    assert!(!m.capabilities.contains(&Capability::ChangePlan));
    assert!(!m.capabilities.contains(&Capability::Daily));
}

#[test]
fn only_the_token_is_write_only_and_required_names_real_properties() {
    let m = SolusVm::manifest();
    let props = m.settings_schema["properties"].as_object().unwrap();
    let secrets: Vec<&str> = props
        .iter()
        .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(secrets, ["api_token"]);
    for schema in [&m.settings_schema, &m.plan_schema] {
        for name in schema["required"].as_array().into_iter().flatten() {
            assert!(
                schema["properties"].get(name.as_str().unwrap()).is_some(),
                "{name}"
            );
        }
    }
}

#[test]
fn schema_and_struct_accept_full_and_minimal_settings() {
    let schema = SolusVm::manifest().settings_schema;
    assert!(fits(&schema, &full()));
    let s = settings(full()).unwrap();
    assert_eq!(s.url, "https://solus.example.com");
    assert_eq!(s.token_price["USD"], "0.011");
    assert_eq!(s.timeout_ms, 5000);

    let minimal = json!({"url": "http://10.0.0.5", "api_token": "t", "token_price": {"EUR": "1"}});
    assert!(fits(&schema, &minimal));
    let s = settings(minimal).unwrap();
    assert_eq!((s.limit_group_id, s.timeout_ms), (None, DEFAULT_TIMEOUT_MS));
}

#[test]
fn schema_and_struct_refuse_the_same_mistakes() {
    let schema = SolusVm::manifest().settings_schema;
    let mut bad = Vec::new();
    for (key, value) in [
        ("token_price", json!({})),
        ("token_price", json!({"EUR": 0.01})),
        ("token_price", json!({"EUR": "1,5"})),
        ("token_price", json!({"euro": "0.01"})),
        ("password", json!("x")),
        ("timeout_ms", json!(10)),
        ("roles", json!([])),
        ("sso_url", json!("{url}/login")),
        ("admin_url", json!("{url}/admin")),
    ] {
        let mut s = full();
        s[key] = value;
        bad.push(s);
    }
    let mut missing_token = full();
    missing_token.as_object_mut().unwrap().remove("api_token");
    bad.push(missing_token);
    for bad in bad {
        assert!(!fits(&schema, &bad), "schema accepted {bad}");
        assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
    }
}

#[test]
fn plan_schema_and_struct_agree() {
    let schema = SolusVm::manifest().plan_schema;
    for good in [json!({}), json!({"limit_group_id": 2})] {
        assert!(fits(&schema, &good));
        serde_json::from_value::<PlanSettings>(good).unwrap();
    }
    for bad in [json!({"limit_group_id": 0}), json!({"plan_id": 3})] {
        assert!(!fits(&schema, &bad), "schema accepted {bad}");
    }
    assert!(serde_json::from_value::<PlanSettings>(json!({"plan_id": 3})).is_err());
}

#[test]
fn debug_output_hides_the_token() {
    let shown = format!("{:?}", settings(full()).unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn tokens_are_capped_per_month_as_in_the_solusvm_docs() {
    assert_eq!(tokens_for(700, 7, 5000), (4900, false));
    assert_eq!(tokens_for(744, 7, 5000), (5000, true));
    assert_eq!(tokens_for(1, 7, 5000), (7, false));
    assert_eq!(
        tokens_for(10, 7, 0),
        (70, false),
        "no monthly price, no cap"
    );
}

#[test]
fn money_is_decimal_text() {
    assert_eq!(multiply(4900, "0.01").as_deref(), Some("49.00"));
    assert_eq!(multiply(7, "0.011").as_deref(), Some("0.077"));
    assert_eq!(multiply(0, "0.5").as_deref(), Some("0.0"));
    assert_eq!(multiply(3, "2").as_deref(), Some("6"));
    assert_eq!(multiply(u64::MAX, "99999999999999999999999"), None);
}

#[test]
fn periods_split_at_month_boundaries() {
    let d = |t: &str| Date::parse(t).unwrap();
    let shown = |v: Vec<(Date, Date)>| -> Vec<String> {
        v.into_iter().map(|(a, b)| format!("{a}..{b}")).collect()
    };
    assert_eq!(
        shown(month_chunks(d("2026-01-01"), d("2026-02-01"))),
        ["2026-01-01..2026-02-01"]
    );
    assert_eq!(
        shown(month_chunks(d("2025-12-15"), d("2026-02-10"))),
        [
            "2025-12-15..2026-01-01",
            "2026-01-01..2026-02-01",
            "2026-02-01..2026-02-10"
        ]
    );
    assert!(month_chunks(d("2026-02-01"), d("2026-01-01")).is_empty());
    assert!(Date::parse("2026-13-01").is_none());
    assert!(Date::parse("2026-1-01").is_none());
}

#[test]
fn the_record_adds_up_services_to_one_state() {
    let mut r = UserRecord::default();
    assert_eq!(r.wanted(), Wanted::Locked);
    r.services.insert("12".into(), "suspended".into());
    assert_eq!(r.wanted(), Wanted::Suspended);
    r.services.insert("9".into(), "active".into());
    assert_eq!(r.wanted(), Wanted::Active);
    assert_eq!(r.biller(12), 9);
    assert_eq!(r.others(12), ["#9"]);
    r.services.clear();
    assert_eq!(r.biller(12), 12, "no holder left: the asking service bills");
}

#[test]
fn passwords_are_long_and_differ() {
    let (a, b) = (random_password(), random_password());
    assert_eq!(a.len(), 28);
    assert_ne!(a, b);
}

#[test]
fn urls_lose_the_api_suffix() {
    assert_eq!(
        check_base_url("https://s.example/api/v1").unwrap(),
        "https://s.example"
    );
    assert_eq!(
        check_base_url("https://s.example/panel/").unwrap(),
        "https://s.example/panel"
    );
    assert!(check_base_url("ftp://s.example").is_err());
}
