//! Unit tests: settings validation, the manifest's schemas, the controller's error
//! bodies, pagination and SSO expiry.

use super::*;
use provisor_module_api::serde_json::Value;

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
        "url": "https://cs.example.com/",
        "api_key": "key",
        "api_secret": "hunter2",
        "api_version": 80,
        "user_group_id": 3,
        "timeout_ms": 10000
    })
}

#[test]
fn manifest_lists_what_is_implemented() {
    let m = ComputeStacks::manifest();
    assert_eq!(m.name, "computestacks");
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
    for c in [Capability::ChangePlan, Capability::Renew, Capability::Daily] {
        assert!(!m.capabilities.contains(&c), "{c:?} is not implemented");
    }
}

#[test]
fn only_the_secret_is_write_only_and_required_names_real_properties() {
    let m = ComputeStacks::manifest();
    let props = m.settings_schema["properties"].as_object().unwrap();
    let secrets: Vec<&str> = props
        .iter()
        .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(secrets, ["api_secret"]);
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
    let schema = ComputeStacks::manifest().settings_schema;
    assert!(fits(&schema, &full()));
    let s = settings(full()).unwrap();
    assert_eq!(s.url, "https://cs.example.com");
    assert_eq!(s.user_group_id, Some(3));
    assert_eq!(s.timeout_ms, 10_000);

    let minimal = json!({"url": "https://cs.example.com", "api_key": "k", "api_secret": "s"});
    assert!(fits(&schema, &minimal));
    let s = settings(minimal).unwrap();
    assert_eq!(s.api_version, DEFAULT_API_VERSION);
    assert_eq!(s.timeout_ms, DEFAULT_TIMEOUT_MS);
}

#[test]
fn schema_and_struct_refuse_the_same_mistakes() {
    let schema = ComputeStacks::manifest().settings_schema;
    let mut missing_secret = full();
    missing_secret.as_object_mut().unwrap().remove("api_secret");
    let mut unknown = full();
    unknown["api_token"] = json!("x");
    let mut obsolete = full();
    obsolete["api_version"] = json!(50);
    let mut not_a_url = full();
    not_a_url["url"] = json!("cs.example.com");
    let mut too_quick = full();
    too_quick["timeout_ms"] = json!(10);
    for bad in [missing_secret, unknown, obsolete, not_a_url, too_quick] {
        assert!(!fits(&schema, &bad), "schema accepted {bad}");
        assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
    }
}

#[test]
fn plan_schema_and_struct_agree() {
    let schema = ComputeStacks::manifest().plan_schema;
    let good = json!({"user_group_id": 2, "initial_deposit": "10.00"});
    assert!(fits(&schema, &good));
    let plan: PlanSettings = serde_json::from_value(good).unwrap();
    assert_eq!(plan.initial_deposit.as_deref(), Some("10.00"));
    assert!(fits(&schema, &json!({})));
    for bad in [
        json!({"initial_deposit": 10}),
        json!({"initial_deposit": "1e3"}),
        json!({"group": 1}),
    ] {
        assert!(!fits(&schema, &bad), "schema accepted {bad}");
    }
    assert!(serde_json::from_value::<PlanSettings>(json!({"group": 1})).is_err());
}

#[test]
fn debug_output_hides_the_secret() {
    let s = settings(full()).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn paging_follows_total_and_per_page() {
    let reply = |total: &str, per: &str| HttpResponse {
        status: 200,
        headers: vec![
            ("total".into(), total.into()),
            ("per-page".into(), per.into()),
        ],
        body: String::new(),
    };
    assert_eq!(next_page(&reply("96", "30"), 1, 30), Some(2));
    assert_eq!(next_page(&reply("96", "30"), 3, 30), Some(4));
    assert_eq!(next_page(&reply("96", "30"), 4, 6), None);
    assert_eq!(next_page(&reply("90", "30"), 3, 30), None);
    assert_eq!(
        next_page(&reply("x", "30"), 3, 30),
        Some(4),
        "no usable headers"
    );
    assert_eq!(
        next_page(&reply("96", "30"), 9, 0),
        None,
        "an empty page ends"
    );
}

#[test]
fn a_user_is_ours_by_external_id_or_by_service_label() {
    let mut u = CsUser {
        id: 5,
        ..Default::default()
    };
    assert!(!u.belongs_to(42));
    u.external_id = Some("provisor-42".into());
    assert!(u.belongs_to(42));
    u.external_id = Some("whmcs-9".into());
    u.labels = json!({"provisor": {"service_id": 42}});
    assert!(u.belongs_to(42));
    assert!(!u.belongs_to(43));
    u.labels = json!({"provisor": {"service_id": "42"}});
    assert!(u.belongs_to(42));
}

#[test]
fn garbage_replies_are_transient_errors_that_name_the_call() {
    let reply = |body: &str| HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: body.to_string(),
    };
    for body in [
        "<html>maintenance</html>",
        "{\"user\": {\"id\": \"x\"}}",
        "",
    ] {
        let err = decode_user("look up the user", &reply(body)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient, "{body}");
        assert!(
            err.message.starts_with("look up the user: "),
            "{}",
            err.message
        );
    }
    let user = decode_user("x", &reply(r#"{"id": 7, "email": "a@b.c"}"#)).unwrap();
    assert_eq!(
        (user.id, user.email()),
        (7, "a@b.c"),
        "a bare object is read too"
    );
}

#[test]
fn sso_expiry_reads_rfc3339_text_and_unix_seconds() {
    let at = text::parse_time("2026-11-30T12:01:00Z").unwrap();
    for v in [
        json!("2026-11-30T12:01:00Z"),
        json!("2026-11-30T12:01:00.000Z"),
        json!(at),
        json!(at.to_string()),
        json!(at as f64 + 0.5),
    ] {
        assert_eq!(sso_expiry(&v), Some(at), "{v}");
    }
    for v in [json!(""), json!("soon"), json!(null), json!(true)] {
        assert_eq!(sso_expiry(&v), None, "{v}");
    }
}

#[test]
fn a_missing_route_is_not_a_missing_user() {
    let reply = |status: u16, body: &str| HttpResponse {
        status,
        headers: Vec::new(),
        body: body.into(),
    };
    let route = reply(
        404,
        r#"{"errors":["Unknown API Call. Please check the documentation."]}"#,
    );
    assert!(unknown_route(&route) && !record_missing(&route));
    for missing in [reply(404, ""), reply(404, r#"{"errors":["Unknown User"]}"#)] {
        assert!(record_missing(&missing) && !unknown_route(&missing));
    }
    assert!(!record_missing(&reply(200, "{}")));
}

#[test]
fn controller_error_bodies_are_read() {
    assert_eq!(
        remote_errors(r#"{"errors":["Email has already been taken","Fname can't be blank"]}"#),
        "Email has already been taken; Fname can't be blank"
    );
    assert_eq!(remote_errors("Throttled\n"), "Throttled");
    assert_eq!(remote_errors(""), "");
}
