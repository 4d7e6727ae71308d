//! Unit tests with a fake host: the module's calls are plain Rust, so they can be tested
//! without Provisor. The fake implements the ABI's `HostServices` trait in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{ROption, RResult, RStr, RString};
use provisor_module_api::abi::{AbiError, HostServices, HostServices_TO, KIND_PERMANENT};

use super::*;

/// Keeps the key-value store in memory (shared, so a test can look at it) and refuses
/// HTTP.
#[derive(Clone, Default)]
struct FakeHost {
    kv: Arc<Mutex<BTreeMap<String, String>>>,
}

impl HostServices for FakeHost {
    fn log(&self, _level: u8, _message: RStr<'_>, _fields_json: RStr<'_>) {}

    fn now(&self) -> RString {
        "2026-11-21T23:00:00Z".into()
    }

    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RString>, AbiError> {
        let kv = self.kv.lock().unwrap();
        RResult::ROk(
            kv.get(key.as_str())
                .map(|v| RString::from(v.as_str()))
                .into(),
        )
    }

    fn kv_put(&self, key: RStr<'_>, value: RStr<'_>) -> RResult<(), AbiError> {
        let mut kv = self.kv.lock().unwrap();
        kv.insert(key.to_string(), value.to_string());
        RResult::ROk(())
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<(), AbiError> {
        self.kv.lock().unwrap().remove(key.as_str());
        RResult::ROk(())
    }

    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RString, AbiError> {
        let kv = self.kv.lock().unwrap();
        let found: BTreeMap<&String, &String> = kv
            .iter()
            .filter(|(k, _)| k.starts_with(prefix.as_str()))
            .collect();
        RResult::ROk(serde_json::to_string(&found).unwrap().into())
    }

    fn http(&self, _request_json: RStr<'_>) -> RResult<RString, AbiError> {
        RResult::RErr(AbiError {
            kind: KIND_PERMANENT,
            message: "no network in unit tests".into(),
            detail: ROption::RNone,
        })
    }
}

fn module() -> (ExampleMinimal, FakeHost) {
    let fake = FakeHost::default();
    let host = Host::from_abi(HostServices_TO::from_value(fake.clone(), TD_Opaque));
    let settings = Settings {
        greeting: "Hello".into(),
    };
    (ExampleMinimal::new(host, settings).unwrap(), fake)
}

fn request(operation_key: &str, service_id: i64, remote_id: Option<&str>) -> LifecycleRequest {
    LifecycleRequest {
        operation_key: operation_key.into(),
        service: ServiceInfo {
            id: service_id,
            remote_id: remote_id.map(str::to_string),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn remote_id(outcome: Outcome) -> String {
    match outcome {
        Outcome::Done {
            remote_id: Some(id),
            ..
        } => id,
        other => panic!("expected Done with a remote id, got {other:?}"),
    }
}

#[test]
fn a_retried_create_adopts_instead_of_duplicating() {
    let (m, fake) = module();
    let first = remote_id(m.create(request("op-1", 42, None)).unwrap());
    let retry = remote_id(m.create(request("op-1", 42, None)).unwrap());
    assert_eq!(first, "ex-42");
    assert_eq!(retry, first);
    assert_eq!(fake.kv.lock().unwrap().len(), 1);
}

#[test]
fn lifecycle_calls_without_an_account() {
    let (m, _) = module();
    let err = m.suspend(request("op-2", 7, None)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    // Nothing to remove is success.
    assert_eq!(
        m.terminate(request("op-3", 7, None)).unwrap(),
        Outcome::done()
    );
}

#[test]
fn sso_and_client_area() {
    let (m, _) = module();
    let service = request("op-4", 42, Some("ex-42")).service;
    let link = m
        .sso(SsoRequest {
            service: service.clone(),
            audience: Audience::Client,
        })
        .unwrap();
    assert_eq!(link.url, "https://panel.example.invalid/login?user=ex-42");
    let panel = m.client_area(ServiceRequest { service }).unwrap();
    assert_eq!(panel.title, "Hello");
    assert_eq!(panel.rows[0].value, "ex-42");
}

#[test]
fn manifest_lists_what_is_implemented() {
    let m = ExampleMinimal::manifest();
    assert_eq!(m.name, "example-minimal");
    assert_eq!(m.capabilities.len(), 7);
    assert!(!m.capabilities.contains(&Capability::Usage));
}
