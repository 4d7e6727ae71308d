//! Reliability of the durable operation queue through the real binary, on embedded
//! SQLite and (when `PROVISOR_TEST_PG` is set) PostgreSQL, with the `recorder` fixture
//! module, which keeps an append-only journal of the accounts it made and a log of
//! every create call it received:
//!
//! * crash safety: `provisor work` is killed (SIGKILL) at random moments while it processes
//!   500 creates, and restarted each time; once the expired leases are reaped and the
//!   queue drained, every service is active, every operation done, and the module made
//!   each account exactly once (re-executing an interrupted create is expected; the
//!   module adopts what the earlier attempt made);
//! * concurrency: two workers on the same database never run the same operation.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use provisor_e2e::{backends, bin, so, TestHome};
use serde_json::Value;

/// A tiny xorshift64 generator: random kill moments without a dependency. The seed is
/// printed so a failing run can be replayed with `PROVISOR_CRASH_SEED`.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let seed = std::env::var("PROVISOR_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x9E37_79B9_7F4A_7C15)
            });
        eprintln!("operations_crash: random seed {seed} (replay with PROVISOR_CRASH_SEED={seed})");
        XorShift(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const CLIENT: &str = "crash@example.com";

/// A home with the recorder module, department `ops`, handler `rec` writing its
/// journal to `<home>/journal`, one client and plan `P`.
fn setup(url: Option<String>, sleep_ms: u64) -> TestHome {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    home.run(&["departments", "add", "ops"]).ok();
    let settings = serde_json::json!({
        "journal": journal(&home).to_str().expect("utf-8 path"),
        "sleep_ms": sleep_ms,
    });
    let f = home.write("rec.json", &settings.to_string());
    home.run(&[
        "handlers",
        "add",
        "rec",
        "--module",
        "recorder",
        "--settings",
        f.to_str().unwrap(),
        "--department",
        "ops",
    ])
    .ok();
    home.run(&["clients", "add", "--name", "Crash Test", "--email", CLIENT])
        .ok();
    home.run(&["plans", "add", "P", "--handler", "rec"]).ok();
    home
}

fn journal(home: &TestHome) -> PathBuf {
    home.path().join("journal")
}

/// Orders `n` services of plan `P` and returns their ids. This calls the same
/// `provisor_app::order::order` as `provisor services order`, but in this process: the command
/// builds a whole runtime (module scan and load) per order, ~0.1 s of CPU each, which
/// would make ordering 500 services the bulk of this test.
fn order(home: &TestHome, n: usize) -> BTreeSet<i64> {
    use provisor_runtime::{self as runtime, registry};
    use provisor_store::{clock::Clock, home::Home, Store};
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ids: Vec<i64> = tokio.block_on(async {
        let h = Home::new(home.path()).expect("home");
        let url = home.database_url.clone().unwrap_or_else(|| h.sqlite_url());
        let store = Store::open(&url).await.expect("open the database");
        let reg = registry::Registry::new(
            h.clone(),
            store.clone(),
            registry::LoadPolicy::standard(),
            false,
            "operations_crash",
        );
        let rt = runtime::Runtime::new(
            h,
            store,
            std::sync::Arc::new(reg),
            Clock::system(),
            runtime::Limits::default(),
        )
        .expect("runtime");
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let o = provisor_app::order::order(
                &rt,
                &provisor_billing::Settings::default(),
                &provisor_app::audit::Actor::shell(),
                CLIENT,
                "P",
                None,
                serde_json::Map::new(),
            )
            .await
            .expect("order");
            ids.push(o.service_id);
        }
        rt.log.flush().await;
        ids
    });
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), n, "ordering returned duplicate service ids");
    // The command line orders the same way.
    let one = home
        .run(&[
            "services", "order", "--client", CLIENT, "--plan", "P", "--json",
        ])
        .json()["service_id"]
        .as_i64()
        .expect("service_id");
    assert!(!set.contains(&one));
    set.into_iter().chain([one]).collect()
}

/// Starts `provisor work --until-idle ARGS…` with its output in `log`.
fn spawn_worker(home: &TestHome, args: &[&str], log: &Path) -> Child {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("worker log");
    let mut c = Command::new(bin());
    c.arg("--home").arg(home.path());
    if let Some(url) = &home.database_url {
        c.arg("--database-url").arg(url);
    }
    c.env_remove("PROVISOR_HOME")
        .env_remove("DATABASE_URL")
        .env("PROVISOR_LOG", "warn")
        .args(["work", "--until-idle"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("provisor work starts")
}

/// Waits for a child until `deadline`; `None` if it is still running then.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for a worker that must finish on its own; kills it and fails after `limit`.
fn finish(mut child: Child, limit: Duration, log: &Path, what: &str) {
    match wait_until(&mut child, Instant::now() + limit) {
        Some(status) => assert!(
            status.success(),
            "{what} exited with {status}:\n{}",
            read(log)
        ),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}:\n{}", read(log));
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `ops list --status all` as (id → operation).
fn all_ops(home: &TestHome) -> Vec<Value> {
    match home
        .run(&[
            "ops", "list", "--status", "all", "--limit", "100000", "--json",
        ])
        .json()
    {
        Value::Array(v) => v,
        other => panic!("ops list is not an array: {other}"),
    }
}

/// Operations that are queued or running (a worker may still finish them).
fn unfinished(home: &TestHome) -> usize {
    all_ops(home)
        .iter()
        .filter(|o| matches!(o["status"].as_str(), Some("queued" | "running")))
        .count()
}

/// How many create calls the module has received so far.
fn call_count(home: &TestHome) -> usize {
    let mut p = journal(home).into_os_string();
    p.push(".calls");
    read(Path::new(&p)).lines().count()
}

/// The journal's lines, as (operation key, service id).
fn journal_lines(home: &TestHome) -> Vec<(String, i64)> {
    read(&journal(home))
        .lines()
        .map(|l| {
            let (k, s) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad journal line {l:?}"));
            (
                k.to_string(),
                s.parse()
                    .unwrap_or_else(|_| panic!("bad journal line {l:?}")),
            )
        })
        .collect()
}

/// How many create calls the module received per operation key, and from which pids.
fn calls(home: &TestHome) -> BTreeMap<String, Vec<u32>> {
    let mut p = journal(home).into_os_string();
    p.push(".calls");
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for l in read(Path::new(&p)).lines() {
        let mut it = l.split(' ');
        let key = it.next().unwrap_or_default().to_string();
        let pid = it
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad calls line {l:?}"));
        out.entry(key).or_default().push(pid);
    }
    out
}

/// Every service active with the module's remote id, every operation a `done` create,
/// one welcome email per service, and a journal with exactly one line per service.
fn assert_all_done_once(backend: &str, home: &TestHome, services: &BTreeSet<i64>) {
    let n = services.len();
    let listed = home
        .run(&["services", "list", "--limit", "100000", "--json"])
        .json();
    let listed = listed.as_array().expect("services list is an array");
    assert_eq!(listed.len(), n, "[{backend}] services listed");
    for s in listed {
        let id = s["id"].as_i64().expect("id");
        assert!(services.contains(&id), "[{backend}] unknown service {s}");
        assert_eq!(s["status"], "active", "[{backend}] service {s}");
        assert_eq!(
            s["remote_id"],
            Value::from(format!("r-{id}")),
            "[{backend}] service {s}"
        );
    }

    let ops = all_ops(home);
    assert_eq!(ops.len(), n, "[{backend}] one operation per service");
    let not_done: Vec<&Value> = ops.iter().filter(|o| o["status"] != "done").collect();
    assert!(
        not_done.is_empty(),
        "[{backend}] {} operation(s) not done, e.g. {}",
        not_done.len(),
        not_done[0]
    );
    let op_keys: BTreeMap<String, i64> = ops
        .iter()
        .map(|o| {
            assert_eq!(o["kind"], "create", "[{backend}] {o}");
            (
                o["operation_key"].as_str().expect("key").to_string(),
                o["service_id"].as_i64().expect("service_id"),
            )
        })
        .collect();
    assert_eq!(op_keys.len(), n, "[{backend}] distinct operation keys");

    let outbox = home.run(&["outbox", "list", "--json"]).json();
    let welcomes: Vec<i64> = outbox
        .as_array()
        .expect("outbox is an array")
        .iter()
        .filter(|m| m["kind"] == "welcome")
        .map(|m| m["service_id"].as_i64().expect("service_id"))
        .collect();
    let distinct: BTreeSet<i64> = welcomes.iter().copied().collect();
    assert_eq!(
        (welcomes.len(), &distinct),
        (n, services),
        "[{backend}] exactly one welcome email per service"
    );

    // The module's side: no account made twice.
    let lines = journal_lines(home);
    let keys: BTreeSet<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    let sids: BTreeSet<i64> = lines.iter().map(|(_, s)| *s).collect();
    let mut seen = BTreeSet::new();
    let dupes: Vec<&(String, i64)> = lines.iter().filter(|(k, _)| !seen.insert(k)).collect();
    assert!(
        dupes.is_empty(),
        "[{backend}] the module made {} account(s) twice: {:?}",
        dupes.len(),
        &dupes[..dupes.len().min(10)]
    );
    assert_eq!(lines.len(), n, "[{backend}] journal lines");
    assert_eq!(keys.len(), n, "[{backend}] distinct keys in the journal");
    assert_eq!(&sids, services, "[{backend}] service ids in the journal");
    for (k, s) in &lines {
        assert_eq!(
            op_keys.get(k),
            Some(s),
            "[{backend}] journal line {k} {s} does not match an operation"
        );
    }
}

const SERVICES: usize = 500;
const MIN_KILLS: usize = 20;

#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn crash_scenario(backend: &str, url: Option<String>) {
    let t0 = Instant::now();
    // 20 ms between the journal check and the append (under the module's lock): one
    // worker needs about 10 s for 500 creates, so at least 20 kills land mid-queue
    // (at 5 ms a worker finishes all 500 in about 3 s, before 20 runs could be killed).
    let home = setup(url, 20);
    let services = order(&home, SERVICES - 1);
    let ordered_in = t0.elapsed();
    let logs = home.path().join("workers");
    std::fs::create_dir_all(&logs).unwrap();
    let args = ["--lease-secs", "3", "--concurrency", "8"];

    // Kill at random moments, 100-700 ms after the worker starts, until at least
    // MIN_KILLS kills hit a worker that had started creates in that run. Every fourth
    // run is killed at its moment whatever it is doing (start-up, reaping, claiming);
    // the others, if still starting up then (slow on a loaded machine), are killed a
    // random 0-300 ms after their first create instead, so the loop stays short.
    let mut rng = XorShift::seeded();
    let t1 = Instant::now();
    let (mut kills, mut kills_mid, mut runs, mut clean) = (0usize, 0usize, 0usize, 0usize);
    while kills_mid < MIN_KILLS {
        assert!(
            t1.elapsed() < Duration::from_secs(150),
            "[{backend}] only {kills_mid} kills mid-work ({kills} in all) in {:?}",
            t1.elapsed()
        );
        runs += 1;
        let strict = runs % 4 == 0;
        let log = logs.join(format!("run-{runs}.log"));
        let calls_before = call_count(&home);
        let mut child = spawn_worker(&home, &args, &log);
        let mut deadline = Instant::now() + Duration::from_millis(rng.between(100, 700));
        let mut started = false;
        let exited = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            let now = Instant::now();
            if !started && call_count(&home) > calls_before {
                started = true;
                if now >= deadline {
                    deadline = now + Duration::from_millis(rng.between(0, 300));
                }
            }
            if now >= deadline && (started || strict) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match exited {
            None => {
                child.kill().expect("SIGKILL the worker");
                child.wait().expect("reap the worker");
                kills += 1;
                if call_count(&home) > calls_before {
                    kills_mid += 1;
                }
            }
            Some(status) => {
                assert!(
                    status.success(),
                    "[{backend}] worker run {runs} exited with {status}:\n{}",
                    read(&log)
                );
                clean += 1;
                let left = unfinished(&home);
                assert!(
                    left > 0,
                    "[{backend}] the queue drained after {kills_mid} kills mid-work (want \
                     {MIN_KILLS}): the module is too fast for the kill schedule"
                );
                // Only leases of killed workers are left: they expire within 3 s.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let killed_in = t1.elapsed();
    let calls_at_last_kill = call_count(&home);

    // Drain: the reaper of the next run requeues what the killed workers held.
    let t2 = Instant::now();
    let mut drains = 0;
    loop {
        drains += 1;
        let log = logs.join(format!("drain-{drains}.log"));
        let child = spawn_worker(&home, &args, &log);
        finish(
            child,
            Duration::from_secs(120),
            &log,
            &format!("[{backend}] drain run {drains}"),
        );
        if unfinished(&home) == 0 {
            break;
        }
        assert!(
            t2.elapsed() < Duration::from_secs(90),
            "[{backend}] {} operation(s) still unfinished after {:?} of draining: {:?}",
            unfinished(&home),
            t2.elapsed(),
            all_ops(&home)
                .iter()
                .filter(|o| o["status"] != "done")
                .take(5)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let drained_in = t2.elapsed();

    assert_all_done_once(backend, &home, &services);

    let per_key = calls(&home);
    let total: usize = per_key.values().map(Vec::len).sum();
    let repeated = per_key.values().filter(|v| v.len() > 1).count();
    let most = per_key.values().map(Vec::len).max().unwrap_or(0);
    let attempts_max = all_ops(&home)
        .iter()
        .filter_map(|o| o["attempts"].as_i64())
        .max()
        .unwrap_or(0);
    assert_eq!(per_key.len(), SERVICES, "[{backend}] keys the module saw");
    // Creates whose account an earlier, killed attempt had already made: the kill
    // landed between the module's append and the worker's commit.
    let adopted = home
        .run(&["services", "list", "--limit", "100000", "--json"])
        .json()
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["attributes"]["adopted"] == true)
        .count();
    eprintln!(
        "[{backend}] crash safety: {SERVICES} services ordered in {ordered_in:.1?}; \
         {kills} SIGKILLs ({kills_mid} after the run had started creates) in {runs} worker runs \
         ({clean} ended on their own) in {killed_in:.1?} \
         ({calls_at_last_kill} create calls by then); drained in {drains} run(s), {drained_in:.1?}; \
         {total} create calls for {SERVICES} operations: {} re-executions, {repeated} keys \
         executed more than once (at most {most} times; highest attempt count {attempts_max}); \
         {adopted} services adopted the account of a killed attempt; \
         journal: {SERVICES} accounts, none twice; total {:.1?}",
        total - SERVICES,
        t0.elapsed()
    );
}

#[test]
fn killed_workers_never_create_a_service_twice_on_every_backend() {
    for (backend, url) in backends() {
        crash_scenario(backend, url);
    }
}

const CONCURRENT: usize = 200;

fn concurrency_scenario(backend: &str, url: Option<String>) {
    let t0 = Instant::now();
    let home = setup(url, 5);
    let services = order(&home, CONCURRENT - 1);
    let ordered_in = t0.elapsed();

    let t1 = Instant::now();
    let logs: Vec<PathBuf> = (1..=2)
        .map(|i| home.path().join(format!("worker-{i}.log")))
        .collect();
    let reports: Vec<PathBuf> = (1..=2)
        .map(|i| home.path().join(format!("worker-{i}.json")))
        .collect();
    // Both start before either is waited for; each writes its report as JSON.
    let children: Vec<Child> = (0..2)
        .map(|i| {
            let mut c = Command::new(bin());
            c.arg("--home").arg(home.path());
            if let Some(url) = &home.database_url {
                c.arg("--database-url").arg(url);
            }
            c.env_remove("PROVISOR_HOME")
                .env_remove("DATABASE_URL")
                .env("PROVISOR_LOG", "warn")
                .args(["work", "--until-idle", "--concurrency", "8", "--json"])
                .stdin(Stdio::null())
                .stdout(File::create(&reports[i]).expect("report file"))
                .stderr(File::create(&logs[i]).expect("log file"))
                .spawn()
                .expect("provisor work starts")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        finish(
            child,
            Duration::from_secs(120),
            &logs[i],
            &format!("[{backend}] worker {}", i + 1),
        );
    }
    let worked_in = t1.elapsed();

    let mut done = Vec::new();
    for r in &reports {
        let text = read(r);
        let report: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("[{backend}] worker report is not JSON ({e}): {text}"));
        assert_eq!(report["lost_leases"], 0, "[{backend}] {report}");
        assert_eq!(report["retried"], 0, "[{backend}] {report}");
        assert_eq!(report["manual"], 0, "[{backend}] {report}");
        done.push(report["done"].as_u64().expect("done"));
    }
    // No kills, a 120 s lease: the two runs together did every operation, once.
    assert_eq!(
        done.iter().sum::<u64>(),
        CONCURRENT as u64,
        "[{backend}] operations done by the two workers: {done:?}"
    );

    assert_all_done_once(backend, &home, &services);

    // No operation ran twice: each key reached the module exactly once.
    let per_key = calls(&home);
    let twice: Vec<(&String, &Vec<u32>)> = per_key.iter().filter(|(_, v)| v.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "[{backend}] {} operation(s) executed more than once by the two workers, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(per_key.len(), CONCURRENT, "[{backend}] keys the module saw");
    let mut by_pid: BTreeMap<u32, usize> = BTreeMap::new();
    for pids in per_key.values() {
        *by_pid.entry(pids[0]).or_default() += 1;
    }
    eprintln!(
        "[{backend}] concurrency: {CONCURRENT} services ordered in {ordered_in:.1?}; two workers \
         done {done:?} (creates per pid {by_pid:?}) in {worked_in:.1?}; every key executed once; \
         total {:.1?}",
        t0.elapsed()
    );
}

#[test]
fn two_workers_never_run_the_same_operation_on_every_backend() {
    for (backend, url) in backends() {
        concurrency_scenario(backend, url);
    }
}
