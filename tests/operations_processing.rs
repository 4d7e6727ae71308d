//! Service processing through the real binary, on embedded SQLite and (when
//! `PROVISOR_TEST_PG` is set) PostgreSQL: the full lifecycle of a service, manual tasks
//! from a module that always needs a human, escalation (panics, transient errors
//! retried until they give up, permanent and unsupported calls), routing between a
//! plan's handlers, and bad input that must be refused without writing anything.

use provisor_e2e::{each_backend, operation_id_in, so, TestHome};
use serde_json::{json, Value};

/// The environment of the escalation test: retry at once, give up after 3 attempts.
const FAST_RETRY: [(&str, &str); 2] =
    [("PROVISOR_RETRY_SECS", "0"), ("PROVISOR_MAX_ATTEMPTS", "3")];

/// A home with some modules, on one backend; the home's checked calls (`ok`, `json`,
/// `fails`, `work`…) are the harness's, and report the backend and the command when
/// they do not do what was expected.
struct Env {
    home: TestHome,
    backend: &'static str,
}

impl std::ops::Deref for Env {
    type Target = TestHome;
    fn deref(&self) -> &TestHome {
        &self.home
    }
}

impl Env {
    fn new(backend: &'static str, url: Option<String>, modules: &[&str]) -> Env {
        let home = TestHome::with_database(url).with_label(backend);
        for m in modules {
            let lib = match *m {
                "versioned" => "provisor_fixture_versioned_v1",
                "panicky" => "provisor_fixture_panicky",
                "manual-task" => "provisor_manual_task",
                other => panic!("unknown module {other}"),
            };
            home.drop_module(&so(lib), &format!("{m}.so"));
        }
        Env { home, backend }
    }

    /// Orders and returns (service id, create operation id, handler).
    fn order(&self, client: &str, plan: &str, extra: &[&str]) -> (i64, i64, String) {
        let mut args = vec![
            "services", "order", "--client", client, "--plan", plan, "--json",
        ];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        (
            v["service_id"].as_i64().expect("service_id"),
            v["operation_id"].as_i64().expect("operation_id"),
            v["handler"].as_str().expect("handler").to_string(),
        )
    }

    /// Queues a lifecycle operation (`services suspend ID` …) and returns its id.
    fn queue(&self, env: &[(&str, &str)], kind: &str, service: i64) -> i64 {
        let out = self.ok_env(env, &["services", kind, &service.to_string()]);
        operation_id_in(&out)
    }

    /// Every task (open or not) of an operation, oldest first.
    fn tasks_of(&self, op: i64) -> Vec<Value> {
        self.json(&["tasks", "list", "--all", "--json"])
            .as_array()
            .expect("tasks list is an array")
            .iter()
            .filter(|t| t["operation_id"] == op)
            .cloned()
            .collect()
    }

    /// Open and taken tasks (all departments).
    fn open_tasks(&self) -> Vec<Value> {
        self.json(&["tasks", "list", "--json"])
            .as_array()
            .expect("tasks list is an array")
            .clone()
    }

    fn outbox(&self) -> Vec<Value> {
        self.json(&["outbox", "list", "--json"])
            .as_array()
            .expect("outbox list is an array")
            .clone()
    }

    /// Everything the processing commands can write, as the CLI shows it.
    fn snapshot(&self) -> Vec<(&'static str, Value)> {
        [
            "services list --json",
            "ops list --status all --json",
            "tasks list --all --json",
            "outbox list --json",
            "clients list --json",
            "plans list --json",
            "departments list --json",
        ]
        .into_iter()
        .map(|cmd| {
            let args: Vec<&str> = cmd.split(' ').collect();
            (cmd, self.json(&args))
        })
        .collect()
    }

    fn assert_unchanged(&self, before: &[(&'static str, Value)], after_what: &str) {
        for ((cmd, was), (_, now)) in before.iter().zip(self.snapshot()) {
            assert_eq!(
                was, &now,
                "[{}] {after_what} wrote something: `provisor {cmd}` changed\nbefore:\n{was:#}\nafter:\n{now:#}",
                self.backend
            );
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time as the CLI prints it
/// (`2026-01-02T03:04:05.123+00:00`), to the second.
fn epoch_secs(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    assert!(s.ends_with("+00:00"), "not a UTC time: {s}");
    let n = |r: std::ops::Range<usize>| -> i64 {
        s.get(r)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("not a time: {s}"))
    };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

// ---------------------------------------------------------------------------------
// 1. The full lifecycle through a module that always succeeds.

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn lifecycle(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url, &["versioned"]);
    env.ok(&["departments", "add", "noc", "--email", "noc@example.com"]);
    env.add_handler("v1", "versioned", &json!({}), Some("noc"));
    env.ok(&[
        "clients",
        "add",
        "--name",
        "Ann Example",
        "--email",
        "ann@example.com",
    ]);
    env.ok(&["plans", "add", "basic", "--handler", "v1"]);

    let (sid, create, handler) = env.order("ann@example.com", "basic", &[]);
    assert_eq!(handler, "v1");
    let s = env.service(sid);
    assert_eq!(s["status"], "pending", "[{backend}] just ordered: {s:#}");
    assert_eq!(s["remote_id"], Value::Null, "[{backend}] {s:#}");
    let o = env.op(create);
    assert_eq!(
        (
            o["kind"].as_str(),
            o["status"].as_str(),
            o["attempts"].as_i64()
        ),
        (Some("create"), Some("queued"), Some(0)),
        "[{backend}] the order's create operation: {o:#}"
    );
    assert_eq!(o["service_id"], sid, "[{backend}] {o:#}");
    assert!(
        env.outbox().is_empty(),
        "[{backend}] an email before the service exists"
    );

    let report = env.work();
    assert_eq!(report["done"], 1, "[{backend}] work report: {report:#}");
    assert_eq!(report["manual"], 0, "[{backend}] work report: {report:#}");
    let s = env.service(sid);
    assert_eq!(s["status"], "active", "[{backend}] after create: {s:#}");
    assert_eq!(s["remote_id"], format!("v-{sid}"), "[{backend}] {s:#}");
    assert_eq!(s["attributes"]["built_by"], "1.0.0", "[{backend}] {s:#}");
    assert_eq!(s["handler"], "v1", "[{backend}] {s:#}");

    let check_outbox = |when: &str| {
        let mails = env.outbox();
        let welcome: Vec<&Value> = mails
            .iter()
            .filter(|m| m["service_id"] == sid && m["kind"] == "welcome")
            .collect();
        assert_eq!(
            (mails.len(), welcome.len()),
            (1, 1),
            "[{backend}] {when}: expected exactly one email, the welcome for service #{sid}:\n{mails:#?}"
        );
        let m = welcome[0];
        assert_eq!(m["recipient"], "ann@example.com", "[{backend}] {m:#}");
        assert_eq!(m["sent_at"], Value::Null, "[{backend}] {m:#}");
        let body = m["body"].as_str().unwrap_or("");
        assert!(
            body.contains(&format!("v-{sid}")) && body.contains("Ann Example"),
            "[{backend}] the welcome email does not name the client and the remote id:\n{m:#}"
        );
    };
    check_outbox("after create");
    // Nothing left to do: a second run does nothing and sends nothing twice.
    let report = env.work();
    assert_eq!(
        (report["done"].as_u64(), report["manual"].as_u64()),
        (Some(0), Some(0)),
        "[{backend}] an idle run did something: {report:#}"
    );

    let mut ops = vec![("create", create)];
    for (kind, status) in [
        ("suspend", "suspended"),
        ("unsuspend", "active"),
        ("terminate", "terminated"),
    ] {
        let id = env.queue(&[], kind, sid);
        let o = env.op(id);
        assert_eq!(
            (o["kind"].as_str(), o["status"].as_str()),
            (Some(kind), Some("queued")),
            "[{backend}] {kind}: {o:#}"
        );
        let report = env.work();
        assert_eq!(report["done"], 1, "[{backend}] {kind}: {report:#}");
        let s = env.service(sid);
        assert_eq!(s["status"], status, "[{backend}] after {kind}: {s:#}");
        assert_eq!(
            s["remote_id"],
            format!("v-{sid}"),
            "[{backend}] {kind} lost the remote id: {s:#}"
        );
        let o = env.op(id);
        assert_eq!(o["status"], "done", "[{backend}] {kind}: {o:#}");
        assert!(
            o["finished_at"].is_string(),
            "[{backend}] {kind}: done but no finished_at: {o:#}"
        );
        ops.push((kind, id));
    }
    check_outbox("after terminate");
    env.refused_with(
        &["services", "suspend", &sid.to_string()],
        2,
        &[&format!("#{sid}"), "terminated"],
    );

    // The service shows every operation, none current.
    let s = env.service(sid);
    let shown: Vec<(String, String)> = s["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("").to_string(),
                o["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        ["create", "suspend", "unsuspend", "terminate"]
            .map(|k| (k.to_string(), "done".to_string()))
            .to_vec(),
        "[{backend}] {s:#}"
    );
    assert_eq!(
        env.json(&["ops", "list", "--json"]),
        json!([]),
        "[{backend}] current operations left over"
    );

    // The module log has one call per operation, tied to it.
    let log = env.json(&["log", "--service", &sid.to_string(), "--json"]);
    let calls: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "call")
        .collect();
    for (kind, id) in &ops {
        let found: Vec<&&Value> = calls.iter().filter(|r| r["call"] == *kind).collect();
        assert_eq!(
            found.len(),
            1,
            "[{backend}] expected one {kind} call in the module log:\n{log:#}"
        );
        let r = found[0];
        assert_eq!(r["operation_id"], *id, "[{backend}] {kind}: {r:#}");
        assert_eq!(r["service_id"], sid, "[{backend}] {kind}: {r:#}");
        assert_eq!(r["attempt"], 1, "[{backend}] {kind}: {r:#}");
        assert_eq!(r["outcome"], "ok", "[{backend}] {kind}: {r:#}");
        assert_eq!(r["handler"], "v1", "[{backend}] {kind}: {r:#}");
    }
    assert_eq!(
        calls.len(),
        4,
        "[{backend}] unexpected calls in the module log:\n{log:#}"
    );

    // Each operation's attempt log.
    for (kind, id) in &ops {
        let o = env.op(*id);
        let attempts = o["attempt_log"]
            .as_array()
            .unwrap_or_else(|| panic!("[{backend}] ops show {id} has no attempt_log: {o:#}"));
        assert_eq!(attempts.len(), 1, "[{backend}] {kind}: {o:#}");
        assert_eq!(attempts[0]["attempt"], 1, "[{backend}] {kind}: {o:#}");
        assert_eq!(attempts[0]["outcome"], "done", "[{backend}] {kind}: {o:#}");
        assert_eq!(
            attempts[0]["error"],
            Value::Null,
            "[{backend}] {kind}: {o:#}"
        );
        assert_eq!(o["attempts"], 1, "[{backend}] {kind}: {o:#}");
    }
}

#[test]
fn a_service_lives_through_create_suspend_unsuspend_terminate() {
    each_backend("lifecycle", lifecycle);
}

// ---------------------------------------------------------------------------------
// 2. A module that always needs a human: the task, its form, completing it.

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn manual_tasks(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url, &["manual-task"]);
    env.ok(&["departments", "add", "dc-ops"]);
    env.add_handler(
        "hands",
        "manual-task",
        &json!({"instructions": "See runbook RB-7"}),
        Some("dc-ops"),
    );
    env.ok(&[
        "clients",
        "add",
        "--name",
        "Bob",
        "--email",
        "bob@example.com",
    ]);
    env.ok(&[
        "plans",
        "add",
        "dedicated",
        "--handler",
        "hands",
        "--settings",
        r#"{"checklist": "rack it, cable it"}"#,
    ]);

    let (sid, create, _) = env.order("bob@example.com", "dedicated", &[]);
    let report = env.work();
    assert_eq!(
        (report["done"].as_u64(), report["manual"].as_u64()),
        (Some(0), Some(1)),
        "[{backend}] {report:#}"
    );
    let s = env.service(sid);
    assert_eq!(s["status"], "manual", "[{backend}] {s:#}");
    let o = env.op(create);
    assert_eq!(o["status"], "manual", "[{backend}] {o:#}");
    assert_eq!(
        o["attempts"], 1,
        "[{backend}] needs-human is not retried: {o:#}"
    );

    let tasks = env.json(&["tasks", "list", "--department", "dc-ops", "--json"]);
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1, "[{backend}] {tasks:#?}");
    let t = &tasks[0];
    let tid = t["id"].as_i64().unwrap();
    assert_eq!(t["status"], "open", "[{backend}] {t:#}");
    assert_eq!(t["department"], "dc-ops", "[{backend}] {t:#}");
    assert_eq!(t["service_id"], sid, "[{backend}] {t:#}");
    assert_eq!(t["operation_id"], create, "[{backend}] {t:#}");
    let reason = t["reason"].as_str().unwrap_or("");
    for needle in [
        &format!("service #{sid}") as &str,
        "rack it, cable it",
        "See runbook RB-7",
        "Bob",
    ] {
        assert!(
            reason.contains(needle),
            "[{backend}] the task's reason does not mention {needle:?}: {t:#}"
        );
    }
    let fields = t["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "remote_id",
            "username",
            "password",
            "ip",
            "login_url",
            "notes"
        ],
        "[{backend}] the module's form: {t:#}"
    );
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f["required"] == true)
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(required, ["remote_id"], "[{backend}] {t:#}");
    let depts = env.json(&["departments", "list", "--json"]);
    assert_eq!(
        depts,
        json!([{"name": "dc-ops", "email": null, "open_tasks": 1}]),
        "[{backend}]"
    );

    let tid_s = tid.to_string();
    env.staff("alice@staff.example.test", "support", &["dc-ops"]);
    env.staff("bob@staff.example.test", "support", &["dc-ops"]);
    env.staff("carol@staff.example.test", "support", &[]);
    // Outside the task's department: refused (forbidden), and nothing changes.
    env.refused_with(
        &[
            "tasks",
            "take",
            &tid_s,
            "--staff",
            "carol@staff.example.test",
        ],
        7,
        &["dc-ops"],
    );
    env.ok(&[
        "tasks",
        "take",
        &tid_s,
        "--staff",
        "alice@staff.example.test",
    ]);
    let t = &env.open_tasks()[0];
    assert_eq!(
        (t["status"].as_str(), t["taken_by"].as_str()),
        (Some("taken"), Some("alice")),
        "[{backend}] {t:#}"
    );
    env.refused_with(
        &["tasks", "take", &tid_s, "--staff", "bob@staff.example.test"],
        2,
        &["alice"],
    );
    // Taking it again as the same person is harmless.
    env.ok(&[
        "tasks",
        "take",
        &tid_s,
        "--staff",
        "alice@staff.example.test",
    ]);

    // Refused completions change nothing.
    let before = env.snapshot();
    env.refused_with(
        &["tasks", "complete", &tid_s, "--set", "ip=192.0.2.9"],
        2,
        &["remote_id"],
    );
    env.refused_with(
        &["tasks", "complete", &tid_s, "--set", "remote_id="],
        2,
        &["remote_id"],
    );
    env.refused_with(&["tasks", "complete", &tid_s], 2, &["remote_id"]);
    env.refused_with(
        &[
            "tasks",
            "complete",
            &tid_s,
            "--set",
            "remote_id=srv-9",
            "--set",
            "colour=blue",
        ],
        2,
        &["colour"],
    );
    env.refused_with(
        &["tasks", "complete", &tid_s, "--set", "remote_id"],
        2,
        &["KEY=VALUE"],
    );
    env.assert_unchanged(&before, "a refused `tasks complete`");
    let s = env.service(sid);
    assert_eq!(
        (s["status"].as_str(), &s["remote_id"]),
        (Some("manual"), &Value::Null),
        "[{backend}] {s:#}"
    );

    let out = env.ok(&[
        "tasks",
        "complete",
        &tid_s,
        "--set",
        "remote_id=srv-9",
        "--set",
        "ip=192.0.2.9",
    ]);
    assert!(out.contains(&format!("#{tid}")), "[{backend}] {out}");
    let s = env.service(sid);
    assert_eq!(s["status"], "active", "[{backend}] {s:#}");
    assert_eq!(s["remote_id"], "srv-9", "[{backend}] {s:#}");
    assert_eq!(s["attributes"]["ip"], "192.0.2.9", "[{backend}] {s:#}");
    assert_eq!(
        s["attributes"].get("remote_id"),
        None,
        "[{backend}] remote_id also stored as an attribute: {s:#}"
    );
    let o = env.op(create);
    assert_eq!(o["status"], "done", "[{backend}] {o:#}");
    assert!(o["finished_at"].is_string(), "[{backend}] {o:#}");
    let mails = env.outbox();
    assert_eq!(mails.len(), 1, "[{backend}] {mails:#?}");
    assert_eq!(mails[0]["kind"], "welcome", "[{backend}] {mails:#?}");
    assert_eq!(mails[0]["service_id"], sid, "[{backend}] {mails:#?}");
    assert_eq!(
        mails[0]["recipient"], "bob@example.com",
        "[{backend}] {mails:#?}"
    );
    let body = mails[0]["body"].as_str().unwrap_or("");
    assert!(
        body.contains("srv-9") && body.contains("192.0.2.9"),
        "[{backend}] the welcome email lacks what staff filled in:\n{body}"
    );
    assert_eq!(
        env.json(&["tasks", "list", "--department", "dc-ops", "--json"]),
        json!([]),
        "[{backend}] the completed task is still listed"
    );
    let done = env.tasks_of(create);
    assert_eq!(done.len(), 1, "[{backend}] {done:#?}");
    assert_eq!(done[0]["status"], "done", "[{backend}] {done:#?}");
    assert_eq!(
        env.json(&["departments", "list", "--json"])[0]["open_tasks"],
        0,
        "[{backend}]"
    );
    env.refused_with(
        &["tasks", "complete", &tid_s, "--set", "remote_id=srv-10"],
        2,
        &["done"],
    );
    env.refused_with(&["tasks", "retry", &tid_s], 2, &["done"]);
    let report = env.work();
    assert_eq!(
        (report["done"].as_u64(), report["manual"].as_u64()),
        (Some(0), Some(0)),
        "[{backend}] the completed operation ran again: {report:#}"
    );
    assert_eq!(env.outbox().len(), 1, "[{backend}] a second welcome email");

    // Suspending is a task too; its form has only optional notes.
    let suspend = env.queue(&[], "suspend", sid);
    env.work();
    assert_eq!(env.service(sid)["status"], "active", "[{backend}]");
    let t = env.tasks_of(suspend);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    assert_eq!(t[0]["department"], "dc-ops", "[{backend}] {t:#?}");
    assert!(
        t[0]["reason"].as_str().unwrap_or("").contains("Suspend"),
        "[{backend}] {t:#?}"
    );
    env.ok(&["tasks", "complete", &t[0]["id"].to_string()]);
    let s = env.service(sid);
    assert_eq!(s["status"], "suspended", "[{backend}] {s:#}");
    assert_eq!(s["remote_id"], "srv-9", "[{backend}] {s:#}");
    assert_eq!(
        env.outbox().len(),
        1,
        "[{backend}] suspending sent an email"
    );
}

#[test]
fn manual_task_services_wait_for_staff_and_move_on_when_completed() {
    each_backend("manual tasks", manual_tasks);
}

// ---------------------------------------------------------------------------------
// 3. Escalation: panics, transient errors until the operation gives up, permanent and
// unsupported calls; ops retry / cancel and tasks retry.

fn escalation_setup(backend: &'static str, url: Option<String>) -> Env {
    let env = Env::new(backend, url, &["panicky", "versioned"]);
    env.ok(&["departments", "add", "noc"]);
    // No --department: its tasks go to "support" (not added here: see
    // `tasks_of_a_handler_without_a_department_are_listed_under_support`).
    env.add_handler("pk", "panicky", &json!({}), None);
    env.add_handler("v1", "versioned", &json!({}), Some("noc"));
    env.ok(&[
        "clients",
        "add",
        "--name",
        "Cy",
        "--email",
        "cy@example.com",
    ]);
    env.ok(&["plans", "add", "wobbly", "--handler", "pk"]);
    env.ok(&["plans", "add", "basic", "--handler", "v1"]);
    env.ok(&["plans", "add", "bigger", "--handler", "v1"]);
    env
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn escalation_of_creates(backend: &'static str, url: Option<String>) {
    let env = escalation_setup(backend, url);
    // A create that panics turns manual at once, with a task.
    let (sid, create, _) = env.order("cy@example.com", "wobbly", &[]);
    let report = env.work();
    assert_eq!(
        (report["manual"].as_u64(), report["retried"].as_u64()),
        (Some(1), Some(0)),
        "[{backend}] a panic must not be retried: {report:#}"
    );
    let o = env.op(create);
    assert_eq!(o["status"], "manual", "[{backend}] {o:#}");
    assert_eq!(o["attempts"], 1, "[{backend}] {o:#}");
    assert_eq!(o["last_error_kind"], "panicked", "[{backend}] {o:#}");
    assert!(
        o["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("create panics on purpose"),
        "[{backend}] {o:#}"
    );
    assert_eq!(env.service(sid)["status"], "manual", "[{backend}]");
    let t = env.tasks_of(create);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    assert_eq!(t[0]["status"], "open", "[{backend}] {t:#?}");
    assert_eq!(
        t[0]["department"], "support",
        "[{backend}] a handler without a department sends its tasks to support: {t:#?}"
    );
    assert!(
        t[0]["reason"].as_str().unwrap_or("").contains("panick"),
        "[{backend}] the task does not say the module panicked: {t:#?}"
    );
    assert!(
        t[0]["fields"].as_array().is_some_and(|f| f
            .iter()
            .any(|f| f["name"] == "remote_id" && f["required"] == true)),
        "[{backend}] a failed create asks for the remote id: {t:#?}"
    );

    // ops retry: queued again with fresh attempts; the task is closed.
    let create_s = create.to_string();
    env.refused_with(&["ops", "cancel", "999"], 3, &["#999"]);
    let out = env.ok(&["ops", "retry", &create_s]);
    assert!(out.contains("queued again"), "[{backend}] {out}");
    let o = env.op(create);
    assert_eq!(
        (o["status"].as_str(), o["attempts"].as_i64()),
        (Some("queued"), Some(0)),
        "[{backend}] after ops retry: {o:#}"
    );
    assert_eq!(env.service(sid)["status"], "provisioning", "[{backend}]");
    assert!(
        env.open_tasks().is_empty(),
        "[{backend}] {:#?}",
        env.open_tasks()
    );
    env.refused_with(&["ops", "retry", &create_s], 2, &["queued"]);
    // It panics again: a second task.
    env.work();
    let o = env.op(create);
    assert_eq!(
        (o["status"].as_str(), o["attempts"].as_i64()),
        (Some("manual"), Some(1)),
        "[{backend}] {o:#}"
    );
    assert_eq!(
        o["attempt_log"].as_array().map(Vec::len),
        Some(2),
        "[{backend}] {o:#}"
    );
    let t = env.tasks_of(create);
    assert_eq!(
        t.iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["returned", "open"],
        "[{backend}] {t:#?}"
    );
    // ops cancel: cancelled, the service failed, the task cancelled.
    let out = env.ok(&["ops", "cancel", &create_s]);
    assert!(out.contains("cancelled"), "[{backend}] {out}");
    let o = env.op(create);
    assert_eq!(o["status"], "cancelled", "[{backend}] {o:#}");
    assert_eq!(env.service(sid)["status"], "failed", "[{backend}]");
    assert_eq!(
        env.tasks_of(create)[1]["status"],
        "cancelled",
        "[{backend}] {:#?}",
        env.tasks_of(create)
    );
    assert!(env.open_tasks().is_empty(), "[{backend}]");
    env.refused_with(&["ops", "cancel", &create_s], 2, &["cancelled"]);
    env.refused_with(&["ops", "retry", &create_s], 2, &["cancelled"]);
    let report = env.work();
    assert_eq!(
        report["manual"], 0,
        "[{backend}] a cancelled op ran: {report:#}"
    );
    assert!(
        env.outbox().is_empty(),
        "[{backend}] an email for a failed service"
    );

    // A call the module does not support is not retried either.
    let (vid, _, _) = env.order("cy@example.com", "basic", &[]);
    env.work();
    assert_eq!(env.service(vid)["status"], "active", "[{backend}]");
    let out = env.ok(&[
        "services",
        "change-plan",
        &vid.to_string(),
        "--plan",
        "bigger",
    ]);
    let change = operation_id_in(&out);
    let report = env.work();
    assert_eq!(
        (report["retried"].as_u64(), report["manual"].as_u64()),
        (Some(0), Some(1)),
        "[{backend}] {report:#}"
    );
    let o = env.op(change);
    assert_eq!(
        (
            o["status"].as_str(),
            o["attempts"].as_i64(),
            o["last_error_kind"].as_str()
        ),
        (Some("manual"), Some(1), Some("not_supported")),
        "[{backend}] {o:#}"
    );
    let t = env.tasks_of(change);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    assert_eq!(t[0]["department"], "noc", "[{backend}] {t:#?}");
    let s = env.service(vid);
    assert_eq!(
        (s["status"].as_str(), s["plan"].as_str()),
        (Some("active"), Some("basic")),
        "[{backend}] {s:#}"
    );
    env.ok(&["ops", "cancel", &change.to_string()]);
    let s = env.service(vid);
    assert_eq!(
        (s["status"].as_str(), s["plan"].as_str()),
        (Some("active"), Some("basic")),
        "[{backend}] cancelling a change of plan changed the service: {s:#}"
    );
    assert!(
        env.open_tasks().is_empty(),
        "[{backend}] {:#?}",
        env.open_tasks()
    );
}

#[test]
fn a_panicking_create_turns_manual_at_once_and_can_be_retried_or_cancelled() {
    each_backend("escalation of creates", escalation_of_creates);
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn escalation_of_retries(backend: &'static str, url: Option<String>) {
    let env = escalation_setup(backend, url);
    // An active panicky service: its create panics, staff complete the task.
    let (sid, create, _) = env.order("cy@example.com", "wobbly", &[]);
    env.work();
    let t = env.tasks_of(create);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    env.ok(&[
        "tasks",
        "complete",
        &t[0]["id"].to_string(),
        "--set",
        "remote_id=pk-1",
    ]);
    let s = env.service(sid);
    assert_eq!(
        (s["status"].as_str(), s["remote_id"].as_str()),
        (Some("active"), Some("pk-1")),
        "[{backend}] {s:#}"
    );
    assert_eq!(env.outbox().len(), 1, "[{backend}] {:#?}", env.outbox());

    // A transient failure with the default settings is retried later, not now.
    let suspend = env.queue(&[], "suspend", sid);
    let report = env.work();
    assert_eq!(
        (report["retried"].as_u64(), report["manual"].as_u64()),
        (Some(1), Some(0)),
        "[{backend}] {report:#}"
    );
    let o = env.op(suspend);
    assert_eq!(
        (
            o["status"].as_str(),
            o["attempts"].as_i64(),
            o["max_attempts"].as_i64()
        ),
        (Some("queued"), Some(1), Some(5)),
        "[{backend}] {o:#}"
    );
    assert_eq!(o["last_error_kind"], "transient", "[{backend}] {o:#}");
    let wait = epoch_secs(&o["next_run_at"]) - epoch_secs(&o["attempt_log"][0]["finished_at"]);
    assert!(
        (290..=310).contains(&wait),
        "[{backend}] the retry is due {wait} s after the failure, not 300 s: {o:#}"
    );
    let report = env.work();
    assert_eq!(
        report["retried"], 0,
        "[{backend}] retried before --retry-secs passed: {report:#}"
    );
    // It waits for its next try: `ops list --status waiting` shows it with its error,
    // and `ops retry` makes it due now, keeping its attempt count.
    let waiting = env.json(&["ops", "list", "--status", "waiting", "--json"]);
    assert_eq!(
        waiting
            .as_array()
            .map(|a| a.iter().map(|o| o["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(suspend)]),
        "[{backend}] {waiting:#}"
    );
    assert!(
        waiting[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "[{backend}] a waiting operation shows its error: {waiting:#}"
    );
    let out = env.ok(&["ops", "retry", &suspend.to_string()]);
    assert!(out.contains("due now"), "[{backend}] {out}");
    let o = env.op(suspend);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    assert!(
        epoch_secs(&o["next_run_at"]) <= now + 1,
        "[{backend}] ops retry left it waiting: {o:#}"
    );
    assert_eq!(
        (o["status"].as_str(), o["attempts"].as_i64()),
        (Some("queued"), Some(1)),
        "[{backend}] ops retry of a waiting operation keeps its attempts: {o:#}"
    );
    // Due now, it is not retried again.
    env.refused_with(&["ops", "retry", &suspend.to_string()], 2, &["already due"]);
    env.refused_with(
        &["services", "suspend", &sid.to_string()],
        2,
        &[&format!("#{suspend}")],
    );
    env.ok(&["ops", "cancel", &suspend.to_string()]);
    assert_eq!(
        env.service(sid)["status"],
        "active",
        "[{backend}] cancelling a suspend changes the service"
    );

    // With no delay and 3 attempts: retried until it gives up, then a task.
    let suspend = env.queue(&FAST_RETRY, "suspend", sid);
    let report = env.work_env(&FAST_RETRY);
    assert_eq!(
        (report["retried"].as_u64(), report["manual"].as_u64()),
        (Some(2), Some(1)),
        "[{backend}] {report:#}"
    );
    let o = env.op(suspend);
    assert_eq!(
        (
            o["status"].as_str(),
            o["attempts"].as_i64(),
            o["max_attempts"].as_i64()
        ),
        (Some("manual"), Some(3), Some(3)),
        "[{backend}] {o:#}"
    );
    assert_eq!(o["last_error_kind"], "transient", "[{backend}] {o:#}");
    let log = o["attempt_log"].as_array().unwrap();
    assert_eq!(
        log.iter()
            .map(|a| (
                a["attempt"].as_i64().unwrap(),
                a["outcome"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(1, "retry"), (2, "retry"), (3, "manual")],
        "[{backend}] {o:#}"
    );
    for a in log {
        assert!(
            a["error"]
                .as_str()
                .unwrap_or("")
                .contains("fixture: always transient"),
            "[{backend}] attempt without the module's error: {o:#}"
        );
    }
    assert_eq!(
        env.service(sid)["status"],
        "active",
        "[{backend}] a failed suspend changed the service"
    );
    let t = env.tasks_of(suspend);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    let reason = t[0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("always transient"),
        "[{backend}] {t:#?}"
    );
    assert_eq!(t[0]["department"], "support", "[{backend}] {t:#?}");
    // tasks retry: the operation is queued with a fresh set of attempts.
    let tid = t[0]["id"].to_string();
    let out = env.ok(&["tasks", "retry", &tid]);
    assert!(out.contains(&format!("#{suspend}")), "[{backend}] {out}");
    let o = env.op(suspend);
    assert_eq!(
        (o["status"].as_str(), o["attempts"].as_i64()),
        (Some("queued"), Some(0)),
        "[{backend}] after tasks retry: {o:#}"
    );
    assert_eq!(
        env.tasks_of(suspend)[0]["status"],
        "returned",
        "[{backend}]"
    );
    env.refused_with(&["tasks", "retry", &tid], 2, &["returned"]);
    env.refused_with(&["tasks", "complete", &tid], 2, &["returned"]);
    // The fresh attempts run out again: another task.
    let report = env.work_env(&FAST_RETRY);
    assert_eq!(
        (report["retried"].as_u64(), report["manual"].as_u64()),
        (Some(2), Some(1)),
        "[{backend}] {report:#}"
    );
    let o = env.op(suspend);
    assert_eq!(
        o["attempt_log"].as_array().map(Vec::len),
        Some(6),
        "[{backend}] {o:#}"
    );
    let t = env.tasks_of(suspend);
    assert_eq!(t.len(), 2, "[{backend}] {t:#?}");
    env.ok(&["ops", "cancel", &suspend.to_string()]);
    assert_eq!(env.service(sid)["status"], "active", "[{backend}]");

    // A permanent error is not retried: manual at once; staff finish the job.
    let terminate = env.queue(&FAST_RETRY, "terminate", sid);
    let report = env.work_env(&FAST_RETRY);
    assert_eq!(
        (report["retried"].as_u64(), report["manual"].as_u64()),
        (Some(0), Some(1)),
        "[{backend}] {report:#}"
    );
    let o = env.op(terminate);
    assert_eq!(
        (
            o["status"].as_str(),
            o["attempts"].as_i64(),
            o["last_error_kind"].as_str()
        ),
        (Some("manual"), Some(1), Some("permanent")),
        "[{backend}] {o:#}"
    );
    let t = env.tasks_of(terminate);
    assert_eq!(t.len(), 1, "[{backend}] {t:#?}");
    assert!(
        t[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("always permanent"),
        "[{backend}] {t:#?}"
    );
    assert_eq!(env.service(sid)["status"], "active", "[{backend}]");
    env.staff("dave@staff.example.test", "admin", &[]);
    env.ok(&[
        "tasks",
        "take",
        &t[0]["id"].to_string(),
        "--staff",
        "dave@staff.example.test",
    ]);
    env.ok(&[
        "tasks",
        "complete",
        &t[0]["id"].to_string(),
        "--set",
        "notes=wiped by hand",
    ]);
    let s = env.service(sid);
    assert_eq!(s["status"], "terminated", "[{backend}] {s:#}");
    assert_eq!(env.op(terminate)["status"], "done", "[{backend}]");
}

#[test]
fn transient_errors_are_retried_until_they_give_up_and_permanent_ones_escalate_at_once() {
    each_backend("escalation of retries", escalation_of_retries);
}

/// A handler without a department sends its tasks to "support"; that department then
/// lists them, like any other, without anyone having to add it first.
fn default_department(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url, &["panicky"]);
    env.add_handler("pk", "panicky", &json!({}), None);
    env.ok(&[
        "clients",
        "add",
        "--name",
        "Gus",
        "--email",
        "gus@example.com",
    ]);
    env.ok(&["plans", "add", "wobbly", "--handler", "pk"]);
    let (sid, create, _) = env.order("gus@example.com", "wobbly", &[]);
    env.work();
    let open = env.open_tasks();
    assert_eq!(open.len(), 1, "[{backend}] {open:#?}");
    assert_eq!(
        (
            open[0]["department"].as_str(),
            &open[0]["service_id"],
            &open[0]["operation_id"]
        ),
        (Some("support"), &json!(sid), &json!(create)),
        "[{backend}] {open:#?}"
    );
    let listed = env.json(&["tasks", "list", "--department", "support", "--json"]);
    assert_eq!(
        listed,
        Value::Array(open.clone()),
        "[{backend}] `tasks list --department support` does not show support's task"
    );
    let depts = env.json(&["departments", "list", "--json"]);
    assert!(
        depts.as_array().is_some_and(|d| d
            .iter()
            .any(|d| d["name"] == "support" && d["open_tasks"] == 1)),
        "[{backend}] `departments list` does not show support with its open task:\n{depts:#}"
    );
}

#[test]
fn tasks_of_a_handler_without_a_department_are_listed_under_support() {
    each_backend("default department", default_department);
}

// ---------------------------------------------------------------------------------
// 4. Routing between a plan's handlers.

fn routing(backend: &'static str, url: Option<String>) {
    let env = Env::new(backend, url, &["versioned"]);
    env.ok(&["departments", "add", "noc"]);
    env.add_handler("ams", "versioned", &json!({}), Some("noc"));
    env.add_handler("fra", "versioned", &json!({}), Some("noc"));
    env.ok(&[
        "clients",
        "add",
        "--name",
        "Di",
        "--email",
        "di@example.com",
    ]);
    env.ok(&[
        "plans",
        "add",
        "duo",
        "--handler",
        "ams",
        "--handler",
        "fra",
    ]);
    let p = env.json(&["plans", "show", "duo", "--json"]);
    assert_eq!(p["handlers"], json!(["ams", "fra"]), "[{backend}] {p:#}");

    let (first, _, h) = env.order("di@example.com", "duo", &[]);
    assert_eq!(h, "ams", "[{backend}] the first handler takes new orders");
    let (second, _, h) = env.order("di@example.com", "duo", &[]);
    assert_eq!(h, "ams", "[{backend}] the first handler takes new orders");
    env.work();
    for id in [first, second] {
        let s = env.service(id);
        assert_eq!(
            (s["status"].as_str(), s["handler"].as_str()),
            (Some("active"), Some("ams")),
            "[{backend}] {s:#}"
        );
    }

    env.ok(&["handlers", "disable", "ams"]);
    let (third, _, h) = env.order("di@example.com", "duo", &[]);
    assert_eq!(h, "fra", "[{backend}] a disabled handler took a new order");
    env.work();
    let s = env.service(third);
    assert_eq!(
        (s["status"].as_str(), s["handler"].as_str()),
        (Some("active"), Some("fra")),
        "[{backend}] {s:#}"
    );

    // The disabled handler's existing services are still processed through it.
    let ams_id =
        env.op(env.service(first)["operations"][0]["id"].as_i64().unwrap())["handler_id"].clone();
    for (kind, status) in [("suspend", "suspended"), ("terminate", "terminated")] {
        let id = env.queue(&[], kind, first);
        let report = env.work();
        assert_eq!(report["done"], 1, "[{backend}] {kind}: {report:#}");
        let s = env.service(first);
        assert_eq!(
            (s["status"].as_str(), s["handler"].as_str()),
            (Some(status), Some("ams")),
            "[{backend}] {kind} through the disabled handler: {s:#}"
        );
        let o = env.op(id);
        assert_eq!(o["status"], "done", "[{backend}] {o:#}");
        assert_eq!(o["handler_id"], ams_id, "[{backend}] {kind}: {o:#}");
        let log = env.json(&["log", "--service", &first.to_string(), "--json"]);
        assert!(
            log.as_array().unwrap().iter().any(|r| r["call"] == kind
                && r["operation_id"] == id
                && r["handler"] == "ams"
                && r["outcome"] == "ok"),
            "[{backend}] no {kind} call through ams in the module log:\n{log:#}"
        );
    }
    assert_eq!(
        env.json(&["handlers", "show", "ams", "--json"])["enabled"],
        false,
        "[{backend}] processing re-enabled the handler"
    );

    // No enabled handler: the order is refused and nothing is written.
    env.ok(&["handlers", "disable", "fra"]);
    let before = env.snapshot();
    env.refused_with(
        &[
            "services",
            "order",
            "--client",
            "di@example.com",
            "--plan",
            "duo",
        ],
        2,
        &["all its handlers are disabled", "ams", "fra", "duo"],
    );
    env.assert_unchanged(&before, "an order for a plan without enabled handlers");
    // The second service (on ams) can still be suspended.
    env.queue(&[], "suspend", second);
    env.work();
    assert_eq!(env.service(second)["status"], "suspended", "[{backend}]");

    // Enabled again, the order of preference holds.
    env.ok(&["handlers", "enable", "fra"]);
    let (_, _, h) = env.order("di@example.com", "duo", &[]);
    assert_eq!(h, "fra", "[{backend}]");
    env.ok(&["handlers", "enable", "ams"]);
    let (_, _, h) = env.order("di@example.com", "duo", &[]);
    assert_eq!(h, "ams", "[{backend}] the first handler is preferred again");
}

#[test]
fn orders_go_to_the_first_enabled_handler_and_disabled_handlers_keep_their_services() {
    each_backend("routing", routing);
}

// ---------------------------------------------------------------------------------
// 5. Bad input: refused with a message naming the thing, nothing written.

/// Two clients and three plans on `versioned`; with `manual_task`, also a handler
/// `hands` of that module (each module loaded makes every command slower).
fn bad_input_setup(backend: &'static str, url: Option<String>, manual_task: bool) -> Env {
    let modules: &[&str] = if manual_task {
        &["versioned", "manual-task"]
    } else {
        &["versioned"]
    };
    let env = Env::new(backend, url, modules);
    env.ok(&["departments", "add", "noc"]);
    env.add_handler("v1", "versioned", &json!({}), Some("noc"));
    if manual_task {
        env.add_handler("hands", "manual-task", &json!({}), Some("noc"));
    }
    for (name, email) in [("Eve", "eve@example.com"), ("Fay", "fay@example.com")] {
        env.ok(&["clients", "add", "--name", name, "--email", email]);
    }
    env.ok(&["plans", "add", "basic", "--handler", "v1"]);
    env.ok(&["plans", "add", "extra-ip", "--handler", "v1", "--addon"]);
    env.ok(&[
        "plans",
        "add",
        "sized",
        "--handler",
        "v1",
        "--resources",
        r#"{"cpu": 2}"#,
        "--options",
        r#"{"ram": {"4": {"ram_gb": 4}, "8": {"ram_gb": 8}}}"#,
    ]);
    env
}

/// Runs every refused command, checks its exit code and message, then that none of
/// them wrote anything.
fn refuse_all(env: &Env, cases: &[(Vec<String>, i32, Vec<&str>)]) {
    let before = env.snapshot();
    for (a, code, needles) in cases {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        env.refused_with(&a, *code, needles);
    }
    env.assert_unchanged(&before, "one of the refused commands");
}

fn order(client: &str, plan: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&["services", "order", "--client", client, "--plan", plan]);
    a.extend(args(extra));
    a
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(ToString::to_string).collect()
}

fn client(name: &str, email: &str, currency: &str) -> Vec<String> {
    args(&[
        "clients",
        "add",
        "--name",
        name,
        "--email",
        email,
        "--currency",
        currency,
    ])
}

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn bad_catalog_input(backend: &'static str, url: Option<String>) {
    let env = bad_input_setup(backend, url, true);
    let eve = "eve@example.com";
    refuse_all(
        &env,
        &[
            // Orders for clients and plans that do not exist.
            (order("999", "basic", &[]), 3, vec!["client 999"]),
            (
                order("nobody@example.com", "basic", &[]),
                3,
                vec!["nobody@example.com"],
            ),
            (order(eve, "no-such-plan", &[]), 3, vec!["no-such-plan"]),
            (order(eve, "777", &[]), 3, vec!["777"]),
            (args(&["clients", "show", "999"]), 3, vec!["999"]),
            (
                args(&["clients", "show", "nobody@example.com"]),
                3,
                vec!["nobody@example.com"],
            ),
            (
                args(&["plans", "show", "no-such-plan"]),
                3,
                vec!["no-such-plan"],
            ),
            (
                args(&["tasks", "list", "--department", "nowhere"]),
                3,
                vec!["nowhere"],
            ),
            // Options.
            (
                order(eve, "sized", &["--option", "ram=16"]),
                2,
                vec!["ram", "16", "\"8\""],
            ),
            (
                order(eve, "sized", &["--option", "disk=10"]),
                2,
                vec!["disk", "ram"],
            ),
            (
                order(eve, "sized", &["--option", "ram"]),
                2,
                vec!["ram", "KEY=VALUE"],
            ),
            (
                order(eve, "basic", &["--option", "ram=8"]),
                2,
                vec!["basic", "ram"],
            ),
            // Plans.
            (
                args(&[
                    "plans",
                    "add",
                    "bad",
                    "--handler",
                    "hands",
                    "--settings",
                    r#"{"checklist": 5}"#,
                ]),
                2,
                vec!["checklist"],
            ),
            (
                args(&[
                    "plans",
                    "add",
                    "bad",
                    "--handler",
                    "hands",
                    "--settings",
                    "{nope",
                ]),
                2,
                vec!["--settings"],
            ),
            (
                args(&[
                    "plans",
                    "add",
                    "bad",
                    "--handler",
                    "v1",
                    "--handler",
                    "hands",
                ]),
                2,
                vec!["versioned", "manual-task", "one module"],
            ),
            (
                args(&["plans", "add", "bad", "--handler", "no-such-handler"]),
                3,
                vec!["no-such-handler"],
            ),
            (
                args(&[
                    "plans",
                    "add",
                    "bad",
                    "--handler",
                    "v1",
                    "--options",
                    r#"{"ram": {"4": 4}}"#,
                ]),
                2,
                vec!["ram"],
            ),
            (
                args(&["plans", "add", "basic", "--handler", "v1"]),
                2,
                vec!["basic", "already exists"],
            ),
            // Clients and departments.
            (
                client("Zed", "not-an-email", "EUR"),
                2,
                vec!["not-an-email"],
            ),
            (
                client("Zed", "zed@localhost", "EUR"),
                2,
                vec!["zed@localhost"],
            ),
            (
                client("Zed", "zed@example.com", "EURO"),
                2,
                vec!["EURO", "currency"],
            ),
            (client("Zed", "zed@example.com", "E1R"), 2, vec!["currency"]),
            (client("Zed", eve, "EUR"), 2, vec![eve, "already exists"]),
            (client(" ", "zed@example.com", "EUR"), 2, vec!["name"]),
            (
                args(&[
                    "clients",
                    "add",
                    "--name",
                    "Zed",
                    "--email",
                    "zed@example.com",
                    "--country",
                    "NLD",
                ]),
                2,
                vec!["NLD", "country"],
            ),
            (
                args(&["departments", "add", "noc"]),
                2,
                vec!["noc", "already exists"],
            ),
        ],
    );

    // The same plan with valid input is accepted, and the chosen option reaches the
    // module (so the refusals above were about the input).
    env.ok(&[
        "plans",
        "add",
        "ok",
        "--handler",
        "hands",
        "--settings",
        r#"{"checklist": "x"}"#,
    ]);
    let (sized, _, _) = env.order(eve, "sized", &["--option", "ram=8"]);
    env.work();
    let s = env.service(sized);
    assert_eq!(
        (s["status"].as_str(), &s["options"]),
        (Some("active"), &json!({"ram": "8"})),
        "[{backend}] {s:#}"
    );
    let log = env.json(&["log", "--service", &sized.to_string(), "--json"]);
    let create = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["call"] == "create")
        .unwrap_or_else(|| panic!("[{backend}] no create call logged: {log:#}"));
    let request: Value = serde_json::from_str(create["request"].as_str().unwrap()).unwrap();
    assert_eq!(
        request["service"]["plan"]["resources"],
        json!({"cpu": 2, "ram_gb": 8}),
        "[{backend}] {request:#}"
    );
}

#[test]
fn bad_catalog_input_is_refused_with_a_reason_and_writes_nothing() {
    each_backend("bad catalog input", bad_catalog_input);
}

fn bad_service_input(backend: &'static str, url: Option<String>) {
    let env = bad_input_setup(backend, url, false);
    let (eve, fay) = ("eve@example.com", "fay@example.com");
    let (live, _, _) = env.order(eve, "basic", &[]);
    let (gone, _, _) = env.order(eve, "basic", &[]);
    env.work();
    env.queue(&[], "terminate", gone);
    env.work();
    assert_eq!(env.service(live)["status"], "active", "[{backend}]");
    assert_eq!(env.service(gone)["status"], "terminated", "[{backend}]");
    // An addon for a live parent is accepted (so the refusals below are about the
    // parent, not the plan); it stays pending.
    let (pending, _, _) = env.order(eve, "extra-ip", &["--addon-of", &live.to_string()]);
    assert_eq!(env.service(pending)["parent_id"], live, "[{backend}]");
    let (live, gone, pending) = (live.to_string(), gone.to_string(), pending.to_string());
    let svc = |kind: &str, id: &str| args(&["services", kind, id]);

    refuse_all(
        &env,
        &[
            // Services, operations and tasks that do not exist.
            (svc("suspend", "999"), 3, vec!["#999"]),
            (svc("unsuspend", "999"), 3, vec!["#999"]),
            (svc("terminate", "999"), 3, vec!["#999"]),
            (
                args(&["services", "change-plan", "999", "--plan", "basic"]),
                3,
                vec!["#999"],
            ),
            (
                args(&["services", "change-plan", &live, "--plan", "nope"]),
                3,
                vec!["nope"],
            ),
            (args(&["services", "show", "999"]), 3, vec!["#999"]),
            (args(&["ops", "show", "999"]), 3, vec!["#999"]),
            (args(&["ops", "retry", "999"]), 3, vec!["#999"]),
            (args(&["ops", "cancel", "999"]), 3, vec!["#999"]),
            (
                args(&["tasks", "take", "999", "--staff", "alice"]),
                3,
                vec!["#999"],
            ),
            (
                args(&["tasks", "complete", "999", "--set", "remote_id=x"]),
                3,
                vec!["#999"],
            ),
            (args(&["tasks", "retry", "999"]), 3, vec!["#999"]),
            // Operations that do not fit the service's state.
            (
                svc("suspend", &pending),
                2,
                vec![&pending, "pending", "active"],
            ),
            (
                svc("unsuspend", &live),
                2,
                vec![&live, "active", "suspended"],
            ),
            (svc("suspend", &gone), 2, vec![&gone, "terminated"]),
            (svc("terminate", &gone), 2, vec![&gone, "terminated"]),
            (
                args(&["services", "change-plan", &live, "--plan", "basic"]),
                2,
                vec!["basic"],
            ),
            (
                args(&["services", "change-plan", &live, "--plan", "extra-ip"]),
                2,
                vec!["extra-ip"],
            ),
            (
                args(&["services", "sso", &pending]),
                2,
                vec![&pending, "pending"],
            ),
            (args(&["ops", "cancel", "1"]), 2, vec!["#1", "done"]),
            (args(&["ops", "retry", "1"]), 2, vec!["#1", "done"]),
            // Addons.
            (
                order(eve, "extra-ip", &["--addon-of", "999"]),
                3,
                vec!["#999"],
            ),
            (
                order(eve, "extra-ip", &["--addon-of", &gone]),
                2,
                vec![&gone, "terminated"],
            ),
            (
                order(fay, "extra-ip", &["--addon-of", &live]),
                2,
                vec![&live, "another client"],
            ),
            (
                order(eve, "extra-ip", &[]),
                2,
                vec!["extra-ip", "--addon-of"],
            ),
            (
                order(eve, "basic", &["--addon-of", &live]),
                2,
                vec!["basic", "not an addon"],
            ),
        ],
    );
    // A second request while one is queued is refused too.
    env.queue(&[], "suspend", live.parse().unwrap());
    let ops = env.json(&["ops", "list", "--status", "all", "--json"]);
    env.refused_with(
        &["services", "suspend", &live],
        2,
        &["already has operation"],
    );
    env.refused_with(
        &["services", "terminate", &live],
        2,
        &["already has operation"],
    );
    assert_eq!(
        env.json(&["ops", "list", "--status", "all", "--json"]),
        ops,
        "[{backend}] a refused request for a busy service queued something"
    );
}

#[test]
fn bad_service_input_is_refused_with_a_reason_and_writes_nothing() {
    each_backend("bad service input", bad_service_input);
}
