//! ISPsystem NOC licenses through the real binary and the real `ispsystem-noc` and
//! `billmanager-noc-addon` modules, against the billmgr simulator, on every backend:
//! the full lifecycle with in-progress polls for the key, the license pool, a lost
//! order reply, renewals and pool expiry driven by `provisor cron --date`, the addon
//! named after its parent and terminated when its lifetime ends, a reseller balance
//! too low to buy anything, and exactly one order debit per service across key polls
//! (the simulator's `func=soft` list, like the documented one, has no `remoteid`), a
//! lost order reply and `provisor work` killed with SIGKILL right after ISPsystem sold
//! the license and again while it waited for the key.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provisor_e2e::{backends, operation_id_in, poll_until, so, TestHome, PATIENCE};
use provisor_simulators::ispsystem::{self, add_days, add_months, Billmgr};
use provisor_simulators::{Fault, FaultRule, Simulator};
use serde_json::{json, Value};

/// Retries run at once: a transient failure is tried again in the same `work` run.
const ENV: [(&str, &str); 1] = [("PROVISOR_RETRY_SECS", "0")];

/// The modules a scenario loads (every loaded module costs each command time).
#[derive(Clone, Copy, PartialEq)]
enum Modules {
    /// `ispsystem-noc` only.
    Noc,
    /// `ispsystem-noc`, `billmanager-noc-addon` and `manual-task`.
    All,
}

/// A home with the license modules (and manual-task), a billmgr simulator, a handler
/// for each module, a client and the plans the scenarios use; the home's checked calls
/// (`ok`, `json`, `work`…) are the harness's, labelled with the backend.
struct Env {
    home: TestHome,
    backend: &'static str,
    sim: Simulator,
    api: Arc<Billmgr>,
}

impl std::ops::Deref for Env {
    type Target = TestHome;
    fn deref(&self) -> &TestHome {
        &self.home
    }
}

impl Env {
    fn new(backend: &'static str, url: Option<String>, modules: Modules) -> Env {
        let mut home = TestHome::with_database(url).with_label(backend);
        for (k, v) in ENV {
            home = home.with_env(k, v);
        }
        home.drop_module(&so("provisor_ispsystem_noc"), "ispsystem-noc.so");
        if modules == Modules::All {
            home.drop_module(
                &so("provisor_billmanager_noc_addon"),
                "billmanager-noc-addon.so",
            );
            home.drop_module(&so("provisor_manual_task"), "manual-task.so");
        }
        let (sim, api) = ispsystem::start_with_handle(Some(&home.path().join("sim")), 0)
            .expect("the billmgr simulator starts");
        let env = Env {
            home,
            backend,
            sim,
            api,
        };
        let settings = json!({
            "url": ispsystem::api_url(&env.sim),
            "username": ispsystem::USERNAME,
            "password": ispsystem::PASSWORD,
            "timeout_ms": 5000,
            "key_poll_secs": 1,
            "key_max_polls": 5,
            "sso_url": format!("{}/billmgr", env.sim.url()),
        });
        let handlers: &[(&str, &str)] = match modules {
            Modules::Noc => &[("noc", "ispsystem-noc")],
            Modules::All => &[
                ("noc", "ispsystem-noc"),
                ("noc-addon", "billmanager-noc-addon"),
            ],
        };
        for &(name, module) in handlers {
            env.add_handler(name, module, &settings, None);
        }
        if modules == Modules::All {
            env.add_handler("staff", "manual-task", &json!({}), None);
        }
        env.ok(&[
            "clients",
            "add",
            "--name",
            "Acme",
            "--email",
            "ops@acme.example",
        ]);
        let servers = json!({"server": {
            "web1": {"ip": "192.0.2.10", "domain": "web1.example"},
            "web2": {"ip": "192.0.2.20", "domain": "web2.example"}
        }});
        env.ok(&[
            "plans",
            "add",
            "Lite",
            "--handler",
            "noc",
            "--settings",
            r#"{"pricelist": 55227}"#,
            "--options",
            &servers.to_string(),
        ]);
        env
    }

    /// Orders a plan for Acme; returns (service id, create operation id).
    fn order(&self, plan: &str, extra: &[&str]) -> (i64, i64) {
        self.home.order("ops@acme.example", plan, extra)
    }

    /// Runs workers until operation `id` is no longer queued (in-progress polls wait a
    /// second between reads); returns how many `work` runs reported it in progress.
    fn settle(&self, id: i64) -> u64 {
        let mut polls = 0;
        poll_until(
            &format!("[{}] operation #{id} settling", self.backend),
            PATIENCE,
            || {
                polls += self.work()["in_progress"].as_u64().unwrap_or(0);
                let op = self.op(id);
                match op.get("operation").unwrap_or(&op)["status"].as_str() {
                    Some("queued" | "running") => {
                        std::thread::sleep(Duration::from_millis(1050));
                        Err(format!("{op:#}"))
                    }
                    _ => Ok(()),
                }
            },
        );
        polls
    }

    fn service(&self, id: i64) -> Value {
        let v = self.home.service(id);
        v.get("service").cloned().unwrap_or(v)
    }

    /// Queues `services KIND ID` and runs it to the end; returns the operation id.
    fn lifecycle(&self, kind: &str, id: i64) -> i64 {
        let out = self.ok(&["services", kind, &id.to_string()]);
        let op = operation_id_in(&out);
        self.settle(op);
        op
    }

    fn license_of(&self, service: &Value) -> ispsystem::License {
        let id: u64 = service["remote_id"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("[{}] no license id on {service:#}", self.backend));
        self.api
            .license(id)
            .expect("the simulator knows the license")
    }

    fn cron(&self, date: &str) -> Value {
        let v = self.json(&["cron", "--date", date, "--json"]);
        self.work();
        v
    }
}

/// Every action a `cron --json` run reported, over all handlers.
fn events(cron: &Value) -> Vec<(Option<i64>, String)> {
    cron["handlers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["actions"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["service_id"].as_i64(),
                a["event"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A plain HTTP GET of an absolute `http://` URL; returns the body.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn noc_lifecycle(env: &Env) {
    let b = env.backend;
    // Both license modules load, as two distinct modules.
    let modules = env.json(&["modules", "list", "--json"]);
    for name in ["ispsystem-noc", "billmanager-noc-addon"] {
        assert!(
            modules
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == name && m["status"] == "loaded"),
            "[{b}] {name} is not loaded: {modules:#}"
        );
    }
    let tested = env.ok(&["handlers", "test", "noc"]);
    assert!(tested.contains("license(s)"), "[{b}] {tested}");

    // Order: the key comes after two empty reads, so the create polls.
    let (id, op) = env.order("Lite", &["--option", "server=web1"]);
    let polls = env.settle(op);
    assert!(polls >= 2, "[{b}] expected in-progress polls, saw {polls}");
    // The module's words on each poll and on the end are kept on the attempts.
    let shown = env.op(op);
    let log: Vec<(String, String)> = shown["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap_or_default().to_string(),
                a["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        log.iter().any(
            |(o, m)| o == "in_progress" && m.contains("waiting for ISPsystem to issue the key")
        ),
        "[{b}] {log:#?}"
    );
    assert!(
        log.last()
            .is_some_and(|(o, m)| o == "done" && !m.is_empty()),
        "[{b}] {log:#?}"
    );
    let text = env.ok(&["ops", "show", &op.to_string()]);
    assert!(
        text.contains("in_progress — waiting for ISPsystem"),
        "[{b}] {text}"
    );
    let svc = env.service(id);
    assert_eq!(svc["status"], "active", "[{b}] {svc:#}");
    let lic = env.license_of(&svc);
    let attrs = &svc["attributes"];
    assert_eq!(attrs["lickey"], lic.lickey.as_str(), "[{b}] {svc:#}");
    assert!(lic.lickey.starts_with("ISP6-"), "[{b}] {lic:?}");
    assert_eq!(attrs["expiredate"], lic.expiredate.as_str());
    assert_eq!(
        (attrs["licname"].as_str(), attrs["ip"].as_str()),
        (Some("web1.example"), Some("192.0.2.10"))
    );
    assert_eq!(lic.remoteid, format!("l{id}"));
    assert_eq!(
        lic.autoprolong, "",
        "[{b}] autoprolong has no documented value and is not sent"
    );
    assert_eq!(env.api.balance(), "992.00", "[{b}] one Lite month debited");
    // Every exchange is in the module log, and the reseller password is not.
    let log = env.ok(&["log", "--handler", "noc", "--limit", "500", "--json"]);
    assert!(log.contains("soft.order.param"), "[{b}] {log}");
    assert!(
        !log.contains(ispsystem::PASSWORD),
        "[{b}] the password leaked into the log"
    );
    assert_eq!(env.api.counts().orders, 1);

    // Client area: name, IP, key, expiry, status.
    let panel = env.json(&["services", "client-area", &id.to_string(), "--json"]);
    let row = |label: &str| {
        panel["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["label"] == label)
            .map(|r| r["value"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("[{b}] no row {label}: {panel:#}"))
    };
    assert_eq!(row("License name"), "web1.example");
    assert_eq!(row("IP address"), "192.0.2.10");
    assert_eq!(row("License key"), lic.lickey);
    assert_eq!(row("Expires"), lic.expiredate);
    assert_eq!(row("Status"), "active");

    // Admin SSO: a one-time key registered with session.newkey, accepted once.
    let link = env.ok(&["services", "sso", &id.to_string(), "--admin"]);
    let link = link.trim();
    assert!(
        link.starts_with(&format!(
            "{}/billmgr?checkcookie=no&func=auth&username=reseller&key=",
            env.sim.url()
        )),
        "[{b}] {link}"
    );
    assert!(http_get(link).contains("Logged in as reseller"), "[{b}]");
    assert!(
        http_get(link).contains("Authorization failed"),
        "[{b}] the key works once"
    );
    assert_eq!(env.api.counts().sso_logins, 1);
    let refused = env.run(&["services", "sso", &id.to_string()]);
    assert_ne!(refused.code, 0, "[{b}] there is no client SSO");

    // Suspend clears the stored key; unsuspend brings it back.
    env.lifecycle("suspend", id);
    let svc = env.service(id);
    assert_eq!(svc["status"], "suspended", "[{b}] {svc:#}");
    assert_eq!(svc["attributes"]["lickey"], "");
    assert_eq!(env.api.status(lic.id), Some(3));
    env.lifecycle("unsuspend", id);
    let svc = env.service(id);
    assert_eq!(svc["status"], "active", "[{b}] {svc:#}");
    assert_eq!(svc["attributes"]["lickey"], lic.lickey.as_str());
    assert_eq!(env.api.status(lic.id), Some(2));

    // Renew: one more month, debited.
    env.lifecycle("renew", id);
    let renewed = add_months(&lic.expiredate, 1).unwrap();
    assert_eq!(
        env.service(id)["attributes"]["expiredate"],
        renewed.as_str(),
        "[{b}]"
    );
    assert_eq!(env.api.license(lic.id).unwrap().expiredate, renewed);
    assert_eq!(env.api.balance(), "984.00");

    // Terminate releases the license into the pool: suspended, free.lic, 0.0.0.0.
    env.lifecycle("terminate", id);
    assert_eq!(env.service(id)["status"], "terminated", "[{b}]");
    let freed = env.api.license(lic.id).unwrap();
    assert_eq!(
        (
            freed.licname.as_str(),
            freed.ip.as_str(),
            freed.remoteid.as_str(),
            freed.suspended
        ),
        ("free.lic", "0.0.0.0", "", true),
        "[{b}]"
    );
    assert_eq!(env.api.status(lic.id), Some(3));
    assert_eq!(env.api.counts().orders, 1);
}

fn pool_and_lost_reply(env: &Env) {
    let b = env.backend;
    env.api.set_key_delay(0);
    // The order goes through at ISPsystem but its reply is lost: the retry adopts it.
    env.sim.faults().add(FaultRule::once(
        "billmgr soft.order.param",
        Fault::LostReply,
    ));
    let (a, op) = env.order("Lite", &["--option", "server=web1"]);
    env.settle(op);
    let svc_a = env.service(a);
    assert_eq!(svc_a["status"], "active", "[{b}] {svc_a:#}");
    assert!(
        env.op(op).to_string().contains("did not answer"),
        "[{b}] the first attempt failed"
    );
    assert_eq!(
        env.api.counts().orders,
        1,
        "[{b}] exactly one license bought"
    );
    assert_eq!(env.api.debits().len(), 1, "[{b}] exactly one debit");
    assert_eq!(env.api.licenses().len(), 1);
    let lic = env.license_of(&svc_a);
    assert_eq!(lic.remoteid, format!("l{a}"));

    // Released, then ordered again on the same pricelist: the pooled license is reused
    // with a new key, and nothing is paid.
    env.lifecycle("terminate", a);
    let (c, op) = env.order("Lite", &["--option", "server=web2"]);
    env.settle(op);
    let svc_c = env.service(c);
    assert_eq!(svc_c["status"], "active", "[{b}] {svc_c:#}");
    assert_eq!(
        svc_c["remote_id"],
        lic.id.to_string(),
        "[{b}] the pooled license is reused"
    );
    let reused = env.api.license(lic.id).unwrap();
    assert_eq!(
        (
            reused.licname.as_str(),
            reused.ip.as_str(),
            reused.remoteid.clone()
        ),
        ("web2.example", "192.0.2.20", format!("l{c}")),
        "[{b}]"
    );
    assert_ne!(
        reused.lickey, lic.lickey,
        "[{b}] the new owner gets a new key"
    );
    assert_eq!(svc_c["attributes"]["lickey"], reused.lickey.as_str());
    assert_eq!(env.api.status(lic.id), Some(2));
    assert_eq!(env.api.counts().orders, 1, "[{b}] no second license");
    assert_eq!(env.api.balance(), "992.00", "[{b}] no second debit");
}

fn cron_renewals_and_pool_expiry(env: &Env) {
    let b = env.backend;
    env.api.set_key_delay(0);
    let (id, op) = env.order("Lite", &["--option", "server=web1"]);
    env.settle(op);
    let lic = env.license_of(&env.service(id));
    let e1 = lic.expiredate.clone();

    // Two days before expiry nothing happens; one day before, the license is renewed.
    let run = env.cron(&add_days(&e1, -2).unwrap());
    assert!(
        !events(&run).iter().any(|(_, e)| e == "renewed"),
        "[{b}] {run:#}"
    );
    assert_eq!(env.api.counts().prolongs, 0);
    let day = add_days(&e1, -1).unwrap();
    env.api.set_today(&day).unwrap();
    let run = env.cron(&day);
    assert!(
        events(&run).contains(&(Some(id), "renewed".into())),
        "[{b}] {run:#}"
    );
    let e2 = add_months(&e1, 1).unwrap();
    assert_eq!(env.api.license(lic.id).unwrap().expiredate, e2);
    assert_eq!(
        env.service(id)["attributes"]["expiredate"],
        e2.as_str(),
        "[{b}]"
    );
    // The same date again renews nothing.
    env.cron(&day);
    assert_eq!(env.api.counts().prolongs, 1, "[{b}]");

    // A month later, again.
    let day = add_days(&e2, -1).unwrap();
    env.api.set_today(&day).unwrap();
    let run = env.cron(&day);
    assert!(
        events(&run).contains(&(Some(id), "renewed".into())),
        "[{b}] {run:#}"
    );
    let e3 = add_months(&e2, 1).unwrap();
    assert_eq!(env.api.license(lic.id).unwrap().expiredate, e3);
    assert_eq!(
        env.api.balance(),
        "976.00",
        "[{b}] an order and two renewals"
    );

    // Released into the pool, the license is kept until a month past its expiry.
    env.lifecycle("terminate", id);
    let drop_day = add_months(&e3, 1).unwrap();
    let run = env.cron(&add_days(&drop_day, -1).unwrap());
    assert!(
        !events(&run).iter().any(|(_, e)| e == "pool_dropped"),
        "[{b}] {run:#}"
    );
    let run = env.cron(&drop_day);
    assert!(
        events(&run).contains(&(None, "pool_dropped".into())),
        "[{b}] {run:#}"
    );
    assert_eq!(
        env.api.counts().prolongs,
        2,
        "[{b}] a pooled license is never renewed"
    );

    // With the pool empty, the next order buys a new license.
    env.api.set_today(&drop_day).unwrap();
    let (next, op) = env.order("Lite", &["--option", "server=web2"]);
    env.settle(op);
    let fresh = env.license_of(&env.service(next));
    assert_ne!(fresh.id, lic.id, "[{b}]");
    assert_eq!(env.api.counts().orders, 2);
}

fn addon_of_a_parent(env: &Env) {
    let b = env.backend;
    env.api.set_key_delay(0);
    // The server is set up by staff (manual-task): its domain is a configurable option
    // of its plan, its IP what staff fill in when they complete the task.
    env.ok(&[
        "plans",
        "add",
        "Server",
        "--handler",
        "staff",
        "--options",
        r#"{"hostname": {"vps": {"domain": "vps.example"}}}"#,
    ]);
    env.ok(&[
        "plans",
        "add",
        "ISPmanager addon",
        "--handler",
        "noc-addon",
        "--addon",
        "--settings",
        r#"{"license_type": "ispmanager6-lite", "lifetime_months": 2}"#,
    ]);
    let (parent, op) = env.order("Server", &["--option", "hostname=vps"]);
    env.settle(op);
    let task = env
        .tasks()
        .into_iter()
        .find(|t| t["service_id"] == parent)
        .unwrap_or_else(|| panic!("[{b}] no task for the server"));
    env.ok(&[
        "tasks",
        "complete",
        &task["id"].to_string(),
        "--set",
        "remote_id=srv-1",
        "--set",
        "ip=203.0.113.5",
    ]);
    assert_eq!(env.service(parent)["status"], "active", "[{b}]");

    let (addon, op) = env.order("ISPmanager addon", &["--addon-of", &parent.to_string()]);
    env.settle(op);
    let svc = env.service(addon);
    assert_eq!(svc["status"], "active", "[{b}] {svc:#}");
    let lic = env.license_of(&svc);
    assert_eq!(
        (
            lic.licname.as_str(),
            lic.ip.as_str(),
            lic.remoteid.clone(),
            lic.pricelist
        ),
        (
            "vps.example_addon",
            "203.0.113.5",
            format!("a{addon}"),
            55227
        ),
        "[{b}]"
    );
    let start = svc["attributes"]["addon_start"]
        .as_str()
        .unwrap()
        .to_string();
    let end = add_months(&start, 2).unwrap();

    // The day before the lifetime ends nothing is terminated; on the day, cron asks the
    // host to terminate the addon and the license goes into the addon handler's pool.
    let run = env.cron(&add_days(&end, -1).unwrap());
    assert!(
        !events(&run).iter().any(|(_, e)| e == "lifetime_ended"),
        "[{b}] {run:#}"
    );
    assert_eq!(env.service(addon)["status"], "active");
    let run = env.cron(&end);
    assert!(
        events(&run).contains(&(Some(addon), "lifetime_ended".into())),
        "[{b}] {run:#}"
    );
    assert_eq!(env.service(addon)["status"], "terminated", "[{b}]");
    assert_eq!(
        env.service(parent)["status"],
        "active",
        "[{b}] the parent stays"
    );
    let freed = env.api.license(lic.id).unwrap();
    assert_eq!(
        (freed.licname.as_str(), freed.ip.as_str()),
        ("free.lic", "0.0.0.0"),
        "[{b}]"
    );
    assert!(freed.suspended);
}

fn balance_too_low(env: &Env) {
    let b = env.backend;
    env.api.set_balance("5.00").unwrap();
    let (id, op) = env.order("Lite", &["--option", "server=web1"]);
    env.settle(op);
    assert_eq!(env.service(id)["status"], "manual", "[{b}]");
    let task = env
        .tasks()
        .into_iter()
        .find(|t| t["service_id"] == id)
        .unwrap_or_else(|| panic!("[{b}] no task"));
    let reason = task["reason"].as_str().unwrap();
    assert!(
        reason.contains("reseller balance is too low") && reason.contains("Nothing was bought"),
        "[{b}] {reason}"
    );
    assert_eq!(env.api.counts().orders, 0, "[{b}]");
    assert!(env.api.licenses().is_empty());
    assert_eq!(env.api.balance(), "5.00");

    // Topped up, the task goes back for another try and the license is bought once.
    env.api.set_balance("100.00").unwrap();
    env.api.set_key_delay(0);
    env.ok(&["tasks", "retry", &task["id"].to_string()]);
    env.settle(op);
    assert_eq!(env.service(id)["status"], "active", "[{b}]");
    assert_eq!(env.api.counts().orders, 1);
    assert_eq!(env.api.balance(), "92.00");
}

/// Starts `provisor work` and SIGKILLs it as soon as `until` holds (checked every few
/// milliseconds), while the simulator holds back the reply of `func`: the worker dies
/// after ISPsystem acted on the call and before the module read the answer.
fn kill_work_when(env: &Env, func: &str, until: impl Fn() -> bool) {
    let b = env.backend;
    env.api.hold_reply(func, 4000);
    let mut child = env.start(&["work", "--until-idle", "--lease-secs", "3"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !until() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("[{b}] the worker exited ({status}) before {func} took effect");
        }
        assert!(Instant::now() < deadline, "[{b}] {func} never took effect");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL the worker");
    child.wait().expect("reap the worker");
    env.api.hold_reply(func, 0);
    // The killed worker's lease (3 s) must expire before the next run reaps it.
    std::thread::sleep(Duration::from_millis(3200));
}

fn one_debit_per_service(env: &Env) {
    let b = env.backend;
    // Key polls: the key comes after three empty reads; every poll re-runs create.
    env.api.set_key_delay(3);
    let (polled, op) = env.order("Lite", &["--option", "server=web1"]);
    assert!(env.settle(op) >= 3, "[{b}] the create polled for the key");
    assert_eq!(
        env.api.counts().orders,
        1,
        "[{b}] polls bought nothing more"
    );

    // A lost order reply: the next attempt finds the license (confirmed by soft.edit).
    env.api.set_key_delay(1);
    env.sim.faults().add(FaultRule::once(
        "billmgr soft.order.param",
        Fault::LostReply,
    ));
    let (lost, op) = env.order("Lite", &["--option", "server=web2"]);
    env.settle(op);
    assert_eq!(env.api.counts().orders, 2, "[{b}]");

    // SIGKILL right after ISPsystem sold the license, before its answer was read.
    let (killed, op) = env.order("Lite", &["--option", "server=web1"]);
    kill_work_when(env, "soft.order.param", || env.api.counts().orders == 3);
    env.settle(op);

    // SIGKILL while the module reads the key of the license it just bought.
    let (kill_polled, op) = env.order("Lite", &["--option", "server=web2"]);
    let reads = || {
        env.sim
            .faults()
            .stats()
            .get("billmgr soft.edit")
            .map_or(0, |s| s.requests)
    };
    let before = reads();
    kill_work_when(env, "soft.edit", || {
        env.api.counts().orders == 4 && reads() > before
    });
    env.settle(op);

    let per = env.api.order_debits_per_remoteid();
    for id in [polled, lost, killed, kill_polled] {
        let svc = env.service(id);
        assert_eq!(svc["status"], "active", "[{b}] #{id}: {svc:#}");
        let lic = env.license_of(&svc);
        assert_eq!(lic.remoteid, format!("l{id}"), "[{b}] #{id}");
        assert_eq!(
            per.get(&format!("l{id}")),
            Some(&1),
            "[{b}] service #{id} paid exactly once: {per:?}"
        );
    }
    assert_eq!(per.len(), 4, "[{b}] {per:?}");
    assert_eq!(env.api.counts().orders, 4, "[{b}]");
    assert_eq!(env.api.balance(), "968.00", "[{b}] four Lite months");
}

fn each_backend(modules: Modules, scenario: fn(&Env)) {
    for (backend, url) in backends() {
        let env = Env::new(backend, url, modules);
        scenario(&env);
    }
}

#[test]
fn a_noc_license_is_ordered_polled_for_its_key_managed_and_released() {
    each_backend(Modules::All, noc_lifecycle);
}

#[test]
fn a_lost_order_reply_buys_one_license_and_a_released_one_is_reused() {
    each_backend(Modules::Noc, pool_and_lost_reply);
}

#[test]
fn cron_renews_the_day_before_expiry_and_drops_pooled_licenses_a_month_past_it() {
    each_backend(Modules::Noc, cron_renewals_and_pool_expiry);
}

#[test]
fn an_addon_license_follows_its_parent_and_ends_with_its_lifetime() {
    each_backend(Modules::All, addon_of_a_parent);
}

#[test]
fn a_reseller_balance_too_low_is_a_task_and_buys_nothing() {
    each_backend(Modules::Noc, balance_too_low);
}

#[test]
fn each_service_pays_once_across_key_polls_lost_replies_and_killed_workers() {
    each_backend(Modules::Noc, one_debit_per_service);
}
