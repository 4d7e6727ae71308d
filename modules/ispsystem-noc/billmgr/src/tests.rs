//! The lifecycle against the billmgr simulator in process: a fake host whose HTTP
//! service calls the simulator's handler directly and can lose a reply after the
//! request took effect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{ROption, RResult, RStr, RString};
use provisor_module_api::abi::{AbiError, HostServices, HostServices_TO, KIND_TRANSIENT};
use provisor_module_api::serde_json::{json, Value};
use provisor_module_api::{
    ErrorKind, Host, HttpRequest, HttpResponse, LifecycleRequest, ListAccountsRequest, Outcome,
    PlanInfo, ServiceInfo,
};
use provisor_simulators::ispsystem::{self, Billmgr};
use provisor_simulators::server::{parse_form, Api, Request};

use crate::*;

#[derive(Clone)]
struct FakeHost {
    sim: Arc<Billmgr>,
    kv: Arc<Mutex<BTreeMap<String, String>>>,
    today: Arc<Mutex<String>>,
    /// `func` values whose next reply is lost after the simulator handled it.
    lose: Arc<Mutex<Vec<String>>>,
    /// `func` values whose next request fails before it reaches the simulator.
    drop: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl HostServices for FakeHost {
    fn log(&self, _level: u8, _message: RStr<'_>, _fields: RStr<'_>) {}

    fn now(&self) -> RString {
        format!("{}T12:00:00Z", self.today.lock().unwrap()).into()
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
        self.kv
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_string());
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

    fn http(&self, request_json: RStr<'_>) -> RResult<RString, AbiError> {
        let req: HttpRequest = serde_json::from_str(request_json.as_str()).unwrap();
        let (path, query) = req
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, p)| {
                let (path, query) = p.split_once('?').unwrap_or((p, ""));
                (format!("/{path}"), parse_form(query))
            })
            .unwrap();
        let sim_req = Request {
            method: req.method.clone(),
            path,
            query,
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: req.body.clone().unwrap_or_default().into_bytes(),
        };
        let func = sim_req.param("func").unwrap_or_default();
        self.calls.lock().unwrap().push(func.clone());
        let mut drop = self.drop.lock().unwrap();
        if let Some(i) = drop.iter().position(|f| *f == func) {
            drop.remove(i);
            return RResult::RErr(AbiError {
                kind: KIND_TRANSIENT,
                message: "operation timed out".into(),
                detail: ROption::RNone,
            });
        }
        std::mem::drop(drop);
        let reply = self.sim.handle(&sim_req);
        let mut lose = self.lose.lock().unwrap();
        if let Some(i) = lose.iter().position(|f| *f == func) {
            lose.remove(i);
            return RResult::RErr(AbiError {
                kind: KIND_TRANSIENT,
                message: "connection closed before the reply".into(),
                detail: ROption::RNone,
            });
        }
        let resp = HttpResponse {
            status: reply.status,
            headers: reply.headers,
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        };
        RResult::ROk(serde_json::to_string(&resp).unwrap().into())
    }

    fn kv_swap(
        &self,
        key: RStr<'_>,
        expected: ROption<RStr<'_>>,
        new: ROption<RStr<'_>>,
    ) -> RResult<bool, AbiError> {
        let mut kv = self.kv.lock().unwrap();
        let current = kv.get(key.as_str()).map(String::as_str);
        if current != expected.into_option().map(|e| e.as_str()) {
            return RResult::ROk(false);
        }
        match new.into_option() {
            Some(v) => kv.insert(key.to_string(), v.to_string()),
            None => kv.remove(key.as_str()),
        };
        RResult::ROk(true)
    }
}

struct World {
    fake: FakeHost,
    host: Host,
    settings: Settings,
}

impl World {
    fn new() -> World {
        let sim = Arc::new(Billmgr::open(None).unwrap());
        sim.set_today("2026-01-31").unwrap();
        let fake = FakeHost {
            sim,
            kv: Arc::default(),
            today: Arc::new(Mutex::new("2026-01-31".into())),
            lose: Arc::default(),
            drop: Arc::default(),
            calls: Arc::default(),
        };
        let host = Host::from_abi(HostServices_TO::from_value(fake.clone(), TD_Opaque));
        let settings: Settings = serde_json::from_value(json!({
            "url": "http://127.0.0.1:1/manager/billmgr",
            "username": ispsystem::USERNAME,
            "password": ispsystem::PASSWORD,
            "key_poll_secs": 1,
            "key_max_polls": 3,
            "sso_url": "http://127.0.0.1:1/billmgr"
        }))
        .unwrap();
        World {
            fake,
            host,
            settings: settings.validate().unwrap(),
        }
    }

    fn sim(&self) -> &Billmgr {
        &self.fake.sim
    }

    fn ops(&self) -> Licenses<'_> {
        Licenses::new(&self.host, &self.settings)
    }

    fn set_today(&self, date: &str) {
        *self.fake.today.lock().unwrap() = date.into();
        self.sim().set_today(date).unwrap();
    }

    fn pool(&self) -> Vec<PoolEntry> {
        self.fake
            .kv
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("pool/"))
            .map(|(_, v)| serde_json::from_str(v).unwrap())
            .collect()
    }

    /// Calls `create` until it is no longer in progress, feeding the state back.
    fn create_until_settled(&self, service: &ServiceInfo, op: &str) -> Outcome {
        let mut state = None;
        for _ in 0..10 {
            let req = request(op, service.clone(), state.take());
            match self.ops().create(&req, &lite(), &binding(service.id)) {
                Ok(Outcome::InProgress { state: s, .. }) => state = Some(s),
                Ok(other) => return other,
                Err(e) if e.kind == ErrorKind::Transient => {}
                Err(e) => panic!("create failed: {e}"),
            }
        }
        panic!("create never settled");
    }
}

fn lite() -> Product {
    Product {
        pricelist: pricelist(55227).unwrap(),
        period: 1,
        addon: None,
    }
}

fn binding(service: i64) -> Binding {
    Binding {
        licname: format!("site{service}.example"),
        ip: format!("192.0.2.{service}"),
        remoteid: format!("l{service}"),
    }
}

fn service(id: i64, remote_id: Option<&str>) -> ServiceInfo {
    ServiceInfo {
        id,
        status: "active".into(),
        remote_id: remote_id.map(str::to_string),
        plan: PlanInfo {
            settings: json!({"pricelist": 55227}),
            ..PlanInfo::default()
        },
        ..ServiceInfo::default()
    }
}

fn request(op: &str, service: ServiceInfo, state: Option<Value>) -> LifecycleRequest {
    LifecycleRequest {
        operation_key: op.into(),
        attempt: 1,
        service,
        state,
        params: Value::Null,
        action: None,
    }
}

fn done_id(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done {
            remote_id: Some(id),
            ..
        } => id.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn attr(outcome: &Outcome, key: &str) -> Value {
    match outcome {
        Outcome::Done { attributes, .. } => attributes.get(key).cloned().unwrap_or(Value::Null),
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn create_orders_once_waits_for_the_key_and_adopts_on_retry() {
    let w = World::new();
    let svc = service(11, None);
    let first = w
        .ops()
        .create(&request("op1", svc.clone(), None), &lite(), &binding(11))
        .unwrap();
    let Outcome::InProgress {
        poll_after_secs,
        state,
        ..
    } = first
    else {
        panic!("expected InProgress, got {first:?}");
    };
    assert_eq!(poll_after_secs, 1);
    assert_eq!(state["polls"], 1);
    let done = w.create_until_settled(&svc, "op1");
    let id = done_id(&done);
    assert!(attr(&done, "lickey").as_str().unwrap().starts_with("ISP6-"));
    assert_eq!(attr(&done, "expiredate"), "2026-02-28");
    assert_eq!(attr(&done, "licname"), "site11.example");
    assert_eq!(attr(&done, "pricelist"), 55227);
    // A retry of the whole operation adopts the same license.
    let again = w.create_until_settled(&svc, "op1");
    assert_eq!(done_id(&again), id);
    assert_eq!(w.sim().counts().orders, 1);
    assert_eq!(w.sim().balance(), "992.00");
    let lic = w.sim().license(id.parse().unwrap()).unwrap();
    assert_eq!(
        (lic.remoteid.as_str(), lic.autoprolong.as_str()),
        ("l11", ""),
        "autoprolong, which has no documented value, is not sent"
    );
    // The order note holds the license under the operation key.
    let note: OrderNote =
        serde_json::from_str(&w.fake.kv.lock().unwrap()[&order_key("op1")]).unwrap();
    assert_eq!(note.license, Some(id.parse().unwrap()));
}

#[test]
fn every_key_poll_reads_the_ordered_license_and_buys_nothing_more() {
    // The list has no remoteid column: polls must not look for the license there.
    let w = World::new();
    w.sim().set_key_delay(2);
    let svc = service(15, None);
    let mut state = None;
    let mut polls = 0;
    let done = loop {
        // A poll may come without the state (a host that lost it): the note is enough.
        let st = if polls == 1 { None } else { state.take() };
        match w
            .ops()
            .create(&request("op15", svc.clone(), st), &lite(), &binding(15))
            .unwrap()
        {
            Outcome::InProgress { state: s, .. } => {
                polls += 1;
                state = Some(s);
            }
            other => break other,
        }
        assert!(polls < 10, "never done");
    };
    assert!(polls >= 2, "{polls}");
    assert_eq!(done_id(&done), w.sim().licenses()[0].id.to_string());
    assert_eq!(w.sim().counts().orders, 1);
    assert_eq!(w.sim().order_debits_per_remoteid()["l15"], 1);
}

#[test]
fn an_order_that_never_answered_is_a_task_and_a_person_decides_to_order_again() {
    let w = World::new();
    // Someone else's license with the same name and IP, bought today: not ours.
    let other = w.create_until_settled(&service(99, None), "c99");
    w.sim().license(done_id(&other).parse().unwrap()).unwrap();
    let svc = service(16, None);
    let mut b = binding(16);
    b.licname = "site99.example".into();
    b.ip = "192.0.2.99".into();
    w.fake.drop.lock().unwrap().push("soft.order.param".into());
    let err = w
        .ops()
        .create(&request("op16", svc.clone(), None), &lite(), &b)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("may have gone through"), "{err}");
    // The next attempts look in the list a few times, then hand it to a person.
    let mut req = request("op16", svc.clone(), None);
    req.attempt = 2;
    for _ in 0..LOST_ORDER_CHECKS {
        let o = w.ops().create(&req, &lite(), &b).unwrap();
        assert!(matches!(o, Outcome::InProgress { .. }), "{o:?}");
    }
    let asked = w.ops().create(&req, &lite(), &b).unwrap();
    let Outcome::NeedsHuman { reason, .. } = asked else {
        panic!("expected NeedsHuman, got {asked:?}");
    };
    assert!(reason.contains("may have sold a license"), "{reason}");
    assert!(
        reason.contains("named site99.example on IP 192.0.2.99"),
        "{reason}"
    );
    assert!(!reason.contains("Nothing was bought"), "{reason}");
    assert_eq!(w.sim().counts().orders, 1, "only service 99's license");
    // A rerun after a crash (a later attempt) asks again and buys nothing.
    req.attempt = 3;
    let again = w.ops().create(&req, &lite(), &b).unwrap();
    assert!(matches!(again, Outcome::NeedsHuman { .. }), "{again:?}");
    assert_eq!(w.sim().counts().orders, 1);
    // Terminating the service meanwhile is a task too: it may own a license.
    let err = w
        .ops()
        .terminate(&request("t16", svc.clone(), None), &lite(), "l16")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(err.message.contains("may own a license"), "{err}");
    // Staff checked and retried the task: attempts start at 1 again, and it orders once.
    req.attempt = 1;
    let mut state = None;
    let done = loop {
        req.state = state.take();
        match w.ops().create(&req, &lite(), &b).unwrap() {
            Outcome::InProgress { state: s, .. } => state = Some(s),
            other => break other,
        }
    };
    assert_ne!(done_id(&done), done_id(&other));
    assert_eq!(w.sim().counts().orders, 2);
    assert_eq!(w.sim().order_debits_per_remoteid()["l16"], 1);
}

#[test]
fn a_lost_order_reply_buys_exactly_one_license() {
    let w = World::new();
    w.fake.lose.lock().unwrap().push("soft.order.param".into());
    let svc = service(12, None);
    let err = w
        .ops()
        .create(&request("op", svc.clone(), None), &lite(), &binding(12))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(w.sim().counts().orders, 1, "the order went through");
    let done = w.create_until_settled(&svc, "op");
    assert_eq!(w.sim().counts().orders, 1);
    assert_eq!(w.sim().debits().len(), 1);
    assert_eq!(w.sim().licenses().len(), 1);
    assert_eq!(done_id(&done), w.sim().licenses()[0].id.to_string());
}

#[test]
fn the_wait_for_a_key_is_bounded() {
    let w = World::new();
    w.sim().set_key_delay(100);
    let svc = service(13, None);
    let mut state = None;
    let mut outcome = None;
    for _ in 0..10 {
        let o = w
            .ops()
            .create(
                &request("op", svc.clone(), state.take()),
                &lite(),
                &binding(13),
            )
            .unwrap();
        match o {
            Outcome::InProgress { state: s, .. } => state = Some(s),
            other => {
                outcome = Some(other);
                break;
            }
        }
    }
    match outcome {
        Some(Outcome::NeedsHuman { reason, fields }) => {
            let id = w.sim().licenses()[0].id;
            assert!(reason.contains(&format!("license {id}")), "{reason}");
            assert!(reason.contains("after 3 reads"), "{reason}");
            assert_eq!(fields[0].name, "remote_id");
        }
        other => panic!("expected NeedsHuman, got {other:?}"),
    }
    assert_eq!(w.sim().counts().orders, 1);
}

#[test]
fn too_little_balance_is_a_task_and_buys_nothing() {
    let w = World::new();
    w.sim().set_balance("1.00").unwrap();
    let out = w
        .ops()
        .create(
            &request("op", service(14, None), None),
            &lite(),
            &binding(14),
        )
        .unwrap();
    match out {
        Outcome::NeedsHuman { reason, .. } => {
            assert!(reason.contains("reseller balance is too low"), "{reason}");
            assert!(reason.contains("Nothing was bought"), "{reason}");
        }
        other => panic!("expected NeedsHuman, got {other:?}"),
    }
    assert_eq!(w.sim().counts(), ispsystem::Counts::default());
}

#[test]
fn terminate_pools_and_the_next_create_reuses_with_a_new_key() {
    let w = World::new();
    let first = w.create_until_settled(&service(21, None), "c21");
    let id = done_id(&first);
    let old_key = attr(&first, "lickey");
    let svc21 = service(21, Some(&id));
    let term = w
        .ops()
        .terminate(&request("t21", svc21.clone(), None), &lite(), "l21")
        .unwrap();
    assert_eq!(attr(&term, "pooled"), true);
    // A retried terminate changes nothing.
    w.ops()
        .terminate(&request("t21", svc21.clone(), None), &lite(), "l21")
        .unwrap();
    let lic = w.sim().license(id.parse().unwrap()).unwrap();
    assert_eq!(
        (
            lic.licname.as_str(),
            lic.ip.as_str(),
            lic.remoteid.as_str(),
            lic.suspended
        ),
        ("free.lic", "0.0.0.0", "", true)
    );
    assert_eq!(w.pool().len(), 1);

    let second = w.create_until_settled(&service(22, None), "c22");
    assert_eq!(done_id(&second), id, "the pooled license is reused");
    assert_ne!(
        attr(&second, "lickey"),
        old_key,
        "with a key the last owner never saw"
    );
    assert_eq!(attr(&second, "licname"), "site22.example");
    assert_eq!(w.sim().counts().orders, 1);
    assert_eq!(w.sim().debits().len(), 1);
    assert!(w.pool().is_empty());
    assert_eq!(w.sim().status(id.parse().unwrap()), Some(2));

    // The first service's terminate, run again, leaves the new owner alone.
    w.ops()
        .terminate(&request("t21", svc21, None), &lite(), "l21")
        .unwrap();
    assert_eq!(
        w.sim().license(id.parse().unwrap()).unwrap().remoteid,
        "l22"
    );
}

#[test]
fn a_pooled_license_past_expiry_is_prolonged_before_reuse_and_dropped_a_month_later() {
    let w = World::new();
    let a = w.create_until_settled(&service(31, None), "c31");
    let a_id = done_id(&a);
    w.ops()
        .terminate(
            &request("t31", service(31, Some(&a_id)), None),
            &lite(),
            "l31",
        )
        .unwrap();
    // Expired on 2026-02-28: reusing it on 2026-03-05 prolongs it first.
    w.set_today("2026-03-05");
    let b = w.create_until_settled(&service(32, None), "c32");
    assert_eq!(done_id(&b), a_id);
    assert_eq!(attr(&b, "expiredate"), "2026-04-05");
    assert_eq!(w.sim().counts().prolongs, 1);

    // Released again; a month past its expiry the daily run drops it from the pool.
    w.ops()
        .terminate(
            &request("t32", service(32, Some(&a_id)), None),
            &lite(),
            "l32",
        )
        .unwrap();
    assert!(w.ops().daily("2026-05-04", &[]).unwrap().is_empty());
    let actions = w.ops().daily("2026-05-05", &[]).unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].event, "pool_dropped");
    assert!(w.pool().is_empty());
}

#[test]
fn two_creates_never_take_the_same_pooled_license() {
    let w = World::new();
    let mut ids = Vec::new();
    for s in [41, 42] {
        let d = w.create_until_settled(&service(s, None), &format!("c{s}"));
        ids.push(done_id(&d));
    }
    for (s, id) in [41, 42].into_iter().zip(&ids) {
        w.ops()
            .terminate(
                &request(&format!("t{s}"), service(s, Some(id)), None),
                &lite(),
                &format!("l{s}"),
            )
            .unwrap();
    }
    assert_eq!(w.pool().len(), 2);
    let threads: Vec<_> = [43, 44]
        .into_iter()
        .map(|s| {
            let host = Host::from_abi(HostServices_TO::from_value(w.fake.clone(), TD_Opaque));
            let settings = w.settings.clone();
            std::thread::spawn(move || {
                let ops = Licenses::new(&host, &settings);
                let mut state = None;
                loop {
                    let req = request(&format!("c{s}"), service(s, None), state.take());
                    match ops.create(&req, &lite(), &binding(s)).unwrap() {
                        Outcome::InProgress { state: st, .. } => state = Some(st),
                        other => return done_id(&other),
                    }
                }
            })
        })
        .collect();
    let mut got: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    assert_eq!(w.sim().counts().orders, 2);
}

#[test]
fn suspend_unsuspend_renew_and_daily_renewal() {
    let w = World::new();
    let d = w.create_until_settled(&service(51, None), "c51");
    let id = done_id(&d);
    let svc = service(51, Some(&id));
    let s = w
        .ops()
        .suspend(&request("s51", svc.clone(), None), "l51")
        .unwrap();
    assert_eq!(attr(&s, "lickey"), "");
    assert_eq!(w.sim().status(id.parse().unwrap()), Some(3));
    // Unsuspending past the expiry date prolongs first.
    w.set_today("2026-03-02");
    let u = w
        .ops()
        .unsuspend(&request("u51", svc.clone(), None), &lite(), &binding(51))
        .unwrap();
    assert_eq!(attr(&u, "expiredate"), "2026-04-02");
    assert!(attr(&u, "lickey").as_str().unwrap().starts_with("ISP6-"));
    assert_eq!(w.sim().status(id.parse().unwrap()), Some(2));

    // An explicit renewal whose reply is lost is not paid twice on retry.
    w.fake.lose.lock().unwrap().push("service.prolong".into());
    let err = w
        .ops()
        .renew(&request("r51", svc.clone(), None), 1, "l51")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    let r = w
        .ops()
        .renew(&request("r51", svc.clone(), None), 1, "l51")
        .unwrap();
    assert_eq!(attr(&r, "expiredate"), "2026-05-02");
    assert_eq!(w.sim().counts().prolongs, 2);

    // The daily run renews from one day before expiry, once.
    let attached = [Attached {
        service_id: 51,
        license: id.parse().unwrap(),
        remoteid: "l51".into(),
        period: 1,
    }];
    assert!(w.ops().daily("2026-04-30", &attached).unwrap().is_empty());
    let acts = w.ops().daily("2026-05-01", &attached).unwrap();
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].event, "renewed");
    assert_eq!(acts[0].attributes["expiredate"], "2026-06-02");
    assert!(w.ops().daily("2026-05-01", &attached).unwrap().is_empty());

    // A license that now belongs to someone else (soft.edit shows its remoteid; the
    // list does not) is not paid for.
    let elid = id.clone();
    w.fake.sim.handle(&billmgr_request(&format!(
        "func=soft.edit&elid={elid}&sok=ok&remoteid=l77"
    )));
    let acts = w.ops().daily("2026-06-01", &attached).unwrap();
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].event, "license_rebound");
    assert_eq!(w.sim().counts().prolongs, 3);
}

fn billmgr_request(rest: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/manager/billmgr".into(),
        query: Vec::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: format!(
            "authinfo={}:{}&out=xml&{rest}",
            ispsystem::USERNAME,
            ispsystem::PASSWORD
        )
        .into_bytes(),
    }
}

#[test]
fn sso_client_area_list_and_errors() {
    let w = World::new();
    let d = w.create_until_settled(&service(61, None), "c61");
    let id = done_id(&d);
    let link = w.ops().admin_sso().unwrap();
    assert!(
        link.url.starts_with(
            "http://127.0.0.1:1/billmgr?checkcookie=no&func=auth&username=reseller&key="
        ),
        "{}",
        link.url
    );
    let panel = w
        .ops()
        .client_area(&service(61, Some(&id)), "l61", "ISPmanager 6 Lite")
        .unwrap();
    let rows: Vec<(&str, &str)> = panel
        .rows
        .iter()
        .map(|r| (r.label.as_str(), r.value.as_str()))
        .collect();
    assert!(rows.contains(&("IP address", "192.0.2.61")), "{rows:?}");
    assert!(rows.contains(&("Status", "active")), "{rows:?}");
    let page = w
        .ops()
        .list_accounts(&ListAccountsRequest {
            page: 1,
            per_page: 10,
        })
        .unwrap();
    assert_eq!(page.accounts.len(), 1);
    assert_eq!(page.next_page, None);

    let bad = Settings {
        password: "wrong".into(),
        ..w.settings.clone()
    };
    let err = Licenses::new(&w.host, &bad).test_connection().unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.message
            .contains("check the handler's username and password"),
        "{err}"
    );
    // Suspending a license ISPsystem does not know is "already gone".
    w.ops()
        .suspend(&request("s", service(62, Some("999")), None), "l62")
        .unwrap();
}
