//! Helpers for the end-to-end tests: run the real `provisor` binary in a temporary
//! home, copy real module `.so` files in, start `provisor serve` and read its log.
//!
//! The binary and the modules come from `cargo build --workspace` (the README's test
//! command runs it first); the two out-of-workspace ABI fixtures are built on demand.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The password [`TestHome::staff`] gives every account it makes.
pub const STAFF_PASSWORD: &str = "staff password for the tests";

/// How long a test waits for an event (a log line, a row, a process exiting) before it
/// fails: generous, because a loaded machine is slow, not wrong. Tests wait on the event
/// itself and never assert how long it took (docs/testing.md, "Waiting in tests").
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` every 50 ms until it returns `Ok`, and returns that value; `Err` says
/// what the probe saw instead. Fails after `limit`, naming `what` and the last thing
/// seen.
pub fn poll_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        let seen = match probe() {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() <= limit,
            "{what}: still not so after {limit:?}; last seen:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The cargo target directory.
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The built `provisor` binary.
pub fn bin() -> PathBuf {
    let p = target().join("debug").join("provisor");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        p.display()
    );
    p
}

/// A built module from the workspace, by library name (`provisor_manual_task`).
pub fn so(lib: &str) -> PathBuf {
    let p = target().join("debug").join(format!("lib{lib}.so"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        p.display()
    );
    p
}

/// The five shipped modules: (library name, module name).
pub const SHIPPED: [(&str, &str); 5] = [
    ("provisor_computestacks", "computestacks"),
    ("provisor_solusvm", "solusvm"),
    ("provisor_ispsystem_noc", "ispsystem-noc"),
    ("provisor_billmanager_noc_addon", "billmanager-noc-addon"),
    ("provisor_manual_task", "manual-task"),
];

static FIXTURE_BUILD: Mutex<()> = Mutex::new(());

/// Builds one of the out-of-workspace ABI fixture workspaces (`v1-frozen`,
/// `v2-major`) and returns the path of the named library it produces.
pub fn abi_fixture(workspace: &str, lib: &str) -> PathBuf {
    let _guard = FIXTURE_BUILD.lock().unwrap_or_else(PoisonError::into_inner);
    let target_dir = target().join("abi-fixtures");
    let manifest = root()
        .join("tests/fixtures/abi")
        .join(workspace)
        .join("Cargo.toml");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let p = target_dir.join("debug").join(format!("lib{lib}.so"));
    assert!(p.exists(), "{} was not produced", p.display());
    p
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: &Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
    /// Asserts this exit code and returns stderr.
    pub fn fails_with(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stderr
    }
    /// Stdout parsed as JSON.
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }
}

/// A temporary Provisor home, optionally on another database.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    /// Extra environment for every command this home runs (`PROVISOR_RETRY_SECS`…).
    pub env: Vec<(String, String)>,
    /// Named in every failure message of the checked calls (`ok`, `json`…): the
    /// backend, so a scenario run on several at once says which one failed.
    pub label: String,
}

impl TestHome {
    /// A fresh home on embedded SQLite.
    pub fn new() -> TestHome {
        TestHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: None,
            env: Vec::new(),
            label: String::new(),
        }
    }
    /// A fresh home on the given database.
    pub fn with_database(url: Option<String>) -> TestHome {
        TestHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: url,
            env: Vec::new(),
            label: String::new(),
        }
    }
    /// Sets an environment variable for every command this home runs.
    #[must_use]
    pub fn with_env(mut self, key: &str, value: &str) -> TestHome {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
    /// Names this home (the backend) in the failure messages of the checked calls.
    #[must_use]
    pub fn with_label(mut self, label: &str) -> TestHome {
        self.label = label.to_string();
        self
    }
    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// The modules directory (created).
    pub fn modules(&self) -> PathBuf {
        let m = self.path().join("modules");
        std::fs::create_dir_all(&m).expect("modules dir");
        m
    }
    /// Copies a file into the modules directory under `name`.
    pub fn drop_module(&self, src: &Path, name: &str) -> PathBuf {
        let dest = self.modules().join(name);
        let tmp = self.path().join(format!(".{name}.tmp"));
        std::fs::copy(src, &tmp).expect("copy module");
        std::fs::rename(&tmp, &dest).expect("move module in");
        dest
    }
    /// Writes a file in the home and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
    fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--home").arg(self.path());
        c.env_remove("PROVISOR_HOME")
            .env_remove("DATABASE_URL")
            .env_remove("PROVISOR_RETRY_SECS")
            .env_remove("PROVISOR_MAX_ATTEMPTS")
            // Tables cut their last column to COLUMNS when it is set: a runner's own
            // width must not change what the tests read (`ok_env` may set one).
            .env_remove("COLUMNS")
            .env("PROVISOR_LOG", "warn")
            .env("RUST_BACKTRACE", "0");
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(url) = &self.database_url {
            c.arg("--database-url").arg(url);
        }
        c
    }
    /// Runs `provisor --home HOME ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(
            &self
                .command()
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("provisor runs"),
        )
    }
    /// Runs `provisor --home HOME ARGS…` with extra environment for this one command.
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        Run::from(
            &self
                .command()
                .envs(env.iter().copied())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("provisor runs"),
        )
    }
    /// Runs `provisor --home HOME ARGS…` with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("provisor runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Run::from(&child.wait_with_output().expect("provisor runs"))
    }
    /// Runs with `input` on standard input and asserts success; returns stdout.
    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        self.check(self.run_stdin(args, input), &[], args, Some(0))
            .stdout
    }
    /// A staff account `EMAIL` (named after its local part) with `role` and
    /// `departments`, its password [`STAFF_PASSWORD`]; the owner
    /// `owner@staff.example.test` is made first when there is no staff account.
    pub fn staff(&self, email: &str, role: &str, departments: &[&str]) {
        let listed = self.json(&["staff", "list", "--json"]);
        if listed.as_array().is_some_and(Vec::is_empty) {
            self.ok_stdin(
                &[
                    "staff",
                    "add",
                    "owner@staff.example.test",
                    "--name",
                    "owner",
                    "--owner",
                    "--password-stdin",
                ],
                STAFF_PASSWORD,
            );
        }
        let name = email.split('@').next().unwrap_or(email);
        let mut args = vec![
            "staff",
            "add",
            email,
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
        ];
        for d in departments {
            args.push("--department");
            args.push(d);
        }
        self.ok_stdin(&args, STAFF_PASSWORD);
    }
    /// Panics, naming the label, the command and its environment, unless `run` exited
    /// with `code` (any non-zero code for `None`).
    pub fn check(&self, run: Run, env: &[(&str, &str)], args: &[&str], code: Option<i32>) -> Run {
        let good = match code {
            Some(c) => run.code == c,
            None => run.code != 0,
        };
        assert!(
            good,
            "{}`provisor {}`{}: expected exit {}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.tag(),
            args.join(" "),
            if env.is_empty() {
                String::new()
            } else {
                format!(" (env {env:?})")
            },
            code.map(|c| c.to_string())
                .unwrap_or_else(|| "non-zero".into()),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }
    /// `[label] ` for failure messages, or nothing without a label.
    fn tag(&self) -> String {
        if self.label.is_empty() {
            String::new()
        } else {
            format!("[{}] ", self.label)
        }
    }
    /// Runs with extra environment and asserts success; returns stdout.
    pub fn ok_env(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        self.check(self.run_env(env, args), env, args, Some(0))
            .stdout
    }
    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_env(&[], args)
    }
    /// Runs with extra environment, asserts success and parses stdout as JSON.
    pub fn json_env(&self, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
        let out = self.ok_env(env, args);
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!(
                "{}`provisor {}` printed no JSON ({e}):\n{out}",
                self.tag(),
                args.join(" ")
            )
        })
    }
    /// Runs, asserts success and parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_env(&[], args)
    }
    /// Asserts this exit code and returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        self.check(self.run(args), &[], args, Some(code)).stderr
    }
    /// Asserts failure and that stderr names every needle; returns stderr.
    pub fn refused(&self, args: &[&str], needles: &[&str]) -> String {
        self.refusal(args, None, needles)
    }
    /// Asserts this exit code and that stderr names every needle; returns stderr.
    pub fn refused_with(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        self.refusal(args, Some(code), needles)
    }
    fn refusal(&self, args: &[&str], code: Option<i32>, needles: &[&str]) -> String {
        let run = self.check(self.run(args), &[], args, code);
        for n in needles {
            assert!(
                run.stderr.contains(n),
                "{}`provisor {}` was refused, but the message does not name {n:?}:\n{}",
                self.tag(),
                args.join(" "),
                run.stderr
            );
        }
        run.stderr
    }
    /// Runs `handlers add NAME --module MODULE --settings FILE EXTRA…` with the
    /// settings text (JSON or not) written to `NAME.json`, unchecked.
    pub fn try_add_handler(&self, name: &str, module: &str, settings: &str, extra: &[&str]) -> Run {
        let file = self.write(&format!("{name}.json"), settings);
        let mut args = vec![
            "handlers",
            "add",
            name,
            "--module",
            module,
            "--settings",
            file.to_str().expect("a UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
    /// Adds a handler with these settings, in a department or none, and asserts
    /// success.
    pub fn add_handler(
        &self,
        name: &str,
        module: &str,
        settings: &serde_json::Value,
        department: Option<&str>,
    ) {
        let extra = match department {
            Some(d) => vec!["--department", d],
            None => Vec::new(),
        };
        let run = self.try_add_handler(name, module, &settings.to_string(), &extra);
        let args = ["handlers", "add", name, "--module", module];
        self.check(run, &[], &args, Some(0));
    }
    /// Runs one SQL statement on the home's database (`sqlite3` on the embedded file,
    /// `psql` on PostgreSQL), for what no command may do: rows an older version wrote,
    /// a service made in a past month.
    pub fn sql(&self, statement: &str) {
        let out = match &self.database_url {
            Some(url) => Command::new("psql")
                .arg(url)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
                .output(),
            None => Command::new("sqlite3")
                .arg(self.path().join("provisor.db"))
                .arg(statement)
                .output(),
        }
        .unwrap_or_else(|e| panic!("{}cannot run SQL ({e}): {statement}", self.tag()));
        assert!(
            out.status.success(),
            "{}SQL failed: {statement}\n{}",
            self.tag(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    /// `services order --client CLIENT --plan PLAN --json EXTRA…`; returns (service id,
    /// create operation id).
    pub fn order(&self, client: &str, plan: &str, extra: &[&str]) -> (i64, i64) {
        let mut args = vec![
            "services", "order", "--client", client, "--plan", plan, "--json",
        ];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        let id = |key: &str| {
            v[key]
                .as_i64()
                .unwrap_or_else(|| panic!("{}no {key} in {v:#}", self.tag()))
        };
        (id("service_id"), id("operation_id"))
    }
    /// `services show ID --json`.
    pub fn service(&self, id: i64) -> serde_json::Value {
        self.json(&["services", "show", &id.to_string(), "--json"])
    }
    /// `ops show ID --json`.
    pub fn op(&self, id: i64) -> serde_json::Value {
        self.json(&["ops", "show", &id.to_string(), "--json"])
    }
    /// `work --until-idle --json` with extra environment.
    pub fn work_env(&self, env: &[(&str, &str)]) -> serde_json::Value {
        self.json_env(env, &["work", "--until-idle", "--json"])
    }
    /// `work --until-idle --json`.
    pub fn work(&self) -> serde_json::Value {
        self.work_env(&[])
    }
    /// Open and taken tasks (`tasks list --json`).
    pub fn tasks(&self) -> Vec<serde_json::Value> {
        self.json(&["tasks", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    /// Starts `provisor serve` with extra arguments and waits until it is ready.
    /// Starts `provisor ARGS` in this home without waiting (output piped); pair it with
    /// [`exits_within`] for a process that must stop by itself.
    pub fn start(&self, args: &[&str]) -> Child {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("provisor starts")
    }

    pub fn serve(&self, args: &[&str]) -> Daemon {
        let log = self
            .path()
            .join(format!("serve-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command()
            .env("PROVISOR_LOG", "info")
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("provisor serve starts");
        let mut d = Daemon { child, log };
        d.wait_for("provisor serve: ready", PATIENCE);
        d
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        // Databases made by `fresh_pg_database` go with the home.
        if let Some(url) = &self.database_url {
            if let Some((server, name)) = url.rsplit_once('/') {
                let name = name.split('?').next().unwrap_or(name);
                if name.starts_with("provisor_t") {
                    let _ = Command::new("psql")
                        .arg(format!("{server}/postgres"))
                        .args(["-q", "-c"])
                        .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .output();
                }
            }
        }
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `provisor serve`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Everything the daemon printed so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
    /// Waits until the output contains `needle`; returns how long it took.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.output().contains(needle) {
                return start.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "provisor serve exited ({status}) before printing {needle:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                start.elapsed() <= limit,
                "provisor serve did not print {needle:?} within {limit:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// Sends SIGTERM and waits for the daemon to exit by itself; one still running after
    /// `limit` fails the test with its output (and is killed on drop). Returns how it
    /// exited and what it printed.
    pub fn stop_within(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        #[allow(unsafe_code)]
        // SAFETY: kill() with a pid we own and a valid signal number.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self.output());
            }
            assert!(
                start.elapsed() <= limit,
                "provisor serve still running {limit:?} after SIGTERM:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Stops the daemon gracefully and returns its output.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.output()
    }
    fn terminate(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            #[allow(unsafe_code)]
            // SAFETY: kill() with a pid we own and a valid signal number.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Waits for a process that must exit by itself (a refused start, say) and returns
/// what it printed; one still running after `limit` is killed and fails the test,
/// named by `what`.
pub fn exits_within(mut child: Child, limit: Duration, what: &str) -> Run {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{what} kept running:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from(&child.wait_with_output().expect("output"))
}

/// Runs a scenario on every backend at once, each on its own thread (and, in the
/// scenario, its own home and database); prints how long each took and fails, after
/// all have ended, naming the backends whose scenario panicked.
pub fn each_backend(what: &str, scenario: impl Fn(&'static str, Option<String>) + Sync) {
    let scenario = &scenario;
    std::thread::scope(|s| {
        let runs: Vec<_> = backends()
            .into_iter()
            .map(|(backend, url)| {
                let run = s.spawn(move || {
                    let start = Instant::now();
                    scenario(backend, url);
                    start.elapsed()
                });
                (backend, run)
            })
            .collect();
        let mut failed = Vec::new();
        for (backend, run) in runs {
            match run.join() {
                Ok(took) => eprintln!("{what} on {backend}: {took:?}"),
                Err(_) => failed.push(backend),
            }
        }
        assert!(
            failed.is_empty(),
            "{what} failed on {failed:?}; the panic messages above say why"
        );
    });
}

/// The operation id in a CLI message such as `queued suspend as operation #12`.
pub fn operation_id_in(out: &str) -> i64 {
    out.rsplit_once("operation #")
        .and_then(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no operation id in {out:?}"))
}

/// The databases storage tests run on: embedded SQLite always, and PostgreSQL when
/// `PROVISOR_TEST_PG` is set (each call makes a fresh database there).
pub fn backends() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    if let Ok(url) = std::env::var("PROVISOR_TEST_PG") {
        out.push(("postgres", Some(fresh_pg_database(&url))));
    }
    out
}

/// Creates an empty PostgreSQL database next to `url`'s and returns its URL. Fails
/// loudly when the server cannot be reached: CI sets `PROVISOR_TEST_PG` on purpose.
pub fn fresh_pg_database(url: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "provisor_t{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {name}"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .unwrap_or_else(|e| panic!("PROVISOR_TEST_PG is set but psql cannot run: {e}"));
    assert!(
        out.status.success(),
        "PROVISOR_TEST_PG={url}: cannot create a test database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match url.rfind('/') {
        // Every CLI call opens new connections; TLS on loopback only costs time.
        Some(i) => format!("{}/{name}?sslmode=disable", &url[..i]),
        None => panic!("PROVISOR_TEST_PG={url} has no database name"),
    }
}
