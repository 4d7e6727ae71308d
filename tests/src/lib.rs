//! Helpers for the end-to-end tests: run the real `provisor` binary in a temporary
//! home, copy real module `.so` files in, start `provisor serve` and read its log.
//!
//! The binary and the modules come from `cargo build --workspace` (the README's test
//! command runs it first); the two out-of-workspace ABI fixtures are built on demand.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    let _guard = FIXTURE_BUILD.lock().unwrap_or_else(|p| p.into_inner());
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
    fn from(out: Output) -> Run {
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
}

impl TestHome {
    /// A fresh home on embedded SQLite.
    pub fn new() -> TestHome {
        TestHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: None,
            env: Vec::new(),
        }
    }
    /// A fresh home on the given database.
    pub fn with_database(url: Option<String>) -> TestHome {
        TestHome {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: url,
            env: Vec::new(),
        }
    }
    /// Sets an environment variable for every command this home runs.
    pub fn with_env(mut self, key: &str, value: &str) -> TestHome {
        self.env.push((key.to_string(), value.to_string()));
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
            .env("PROVISOR_LOG", "warn");
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(url) = &self.database_url {
            c.arg("--database-url").arg(url);
        }
        c
    }
    /// Runs `provisor --home HOME ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("provisor runs"),
        )
    }
    /// Starts `provisor serve` with extra arguments and waits until it is ready.
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
        d.wait_for("provisor serve: ready", Duration::from_secs(30));
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
            if start.elapsed() > limit {
                panic!(
                    "provisor serve did not print {needle:?} within {limit:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
/// loudly when the server cannot be reached: CI sets PROVISOR_TEST_PG on purpose.
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
