//! Module call benchmark (issue 2): what calling a module through its loaded `.so`
//! costs beside the same module linked directly into the host (its rlib), for a no-op
//! call and for a realistic `create` (about 1 KB of JSON each way).
//!
//! ```text
//! cargo bench -p provisor --bench module_call
//! ```
//!
//! The module is `tests/fixtures/modules/bench-noop` (crate-type cdylib + rlib):
//! `test_connection` answers a constant, `create` echoes the service back as `Done`.
//! `manual-task`'s `.so` is measured too, as a real module, without a direct baseline
//! (two rlibs that use `export_module!` cannot link into one binary).
//!
//! Before measuring, this program runs `cargo build` for both cdylibs into the profile
//! directory it was built in (so the `.so` has the same profile as the bench); set
//! `PROVISOR_BENCH_SKIP_BUILD=1` to skip that and use the `.so` files already there.
//!
//! Every figure is printed beside its baseline measured in the same run:
//!
//! * **direct**: the rlib's own root module (`root_module::<M>()`), instantiated in
//!   this process: the same `abi_stable` `ProcessingModule` object, the same JSON, the
//!   same code, only not loaded from a file. `.so` minus direct is what loading the
//!   module as a shared library adds.
//! * **typed**: the rlib's `Module` trait called as plain Rust (no ABI, no JSON): the
//!   floor if modules were compiled into the host. `.so` minus typed is the whole
//!   boundary (JSON encode/decode both ways, vtable call, panic guard).
//!
//! The harness is hand-rolled: each variant is warmed up and calibrated to ~1 ms
//! batches, then batches of all variants of a scenario run interleaved (so compiler
//! jobs running beside the bench hit every variant alike). A figure is the median of
//! the per-call means of the batches during which the thread was not switched out
//! (read from `/proc/thread-self/schedstat`: a preempted batch's wall time includes
//! other processes), with the fastest batch in brackets. An overhead or ratio is the
//! median over rounds of the difference (ratio) between the two variants' batches of
//! the same round, which ran milliseconds apart: a shared machine whose speed drifts
//! over seconds moves both alike.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use abi_stable::library::lib_header_from_path;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{ROption, RResult, RStr, RString};
use provisor_fixture_bench_noop::{BenchNoop, Settings};
use provisor_module_api::abi::{
    AbiError, HostServices, HostServicesBox, HostServices_TO, ModuleRoot_Ref, ProcessingModuleBox,
    KIND_NOT_SUPPORTED,
};
use provisor_module_api::serde_json::{self, json, Map, Value};
use provisor_module_api::{
    ClientInfo, ConnectionInfo, Host, LifecycleRequest, Module, Outcome, PlanInfo, ServiceInfo,
};

const BATCH: Duration = Duration::from_millis(1);
const ROUNDS: usize = 300;
const WARM_UP: Duration = Duration::from_millis(100);
const TARGET_OVERHEAD_NS: f64 = 1_000.0;
const TARGET_CREATE_NS: f64 = 20_000.0;

// ---------------------------------------------------------------------------------
// A minimal host: the module calls measured here never use its services.

struct BenchHost;

fn unsupported() -> AbiError {
    AbiError {
        kind: KIND_NOT_SUPPORTED,
        message: RString::from("the benchmark host has no key-value store or HTTP"),
        detail: ROption::RNone,
    }
}

impl HostServices for BenchHost {
    fn log(&self, _level: u8, _message: RStr<'_>, _fields_json: RStr<'_>) {}
    fn now(&self) -> RString {
        RString::from("2026-01-01T00:00:00Z")
    }
    fn kv_get(&self, _key: RStr<'_>) -> RResult<ROption<RString>, AbiError> {
        RResult::ROk(ROption::RNone)
    }
    fn kv_put(&self, _key: RStr<'_>, _value: RStr<'_>) -> RResult<(), AbiError> {
        RResult::RErr(unsupported())
    }
    fn kv_delete(&self, _key: RStr<'_>) -> RResult<(), AbiError> {
        RResult::RErr(unsupported())
    }
    fn kv_list(&self, _prefix: RStr<'_>) -> RResult<RString, AbiError> {
        RResult::ROk(RString::from("{}"))
    }
    fn http(&self, _request_json: RStr<'_>) -> RResult<RString, AbiError> {
        RResult::RErr(unsupported())
    }
}

fn services() -> HostServicesBox {
    HostServices_TO::from_value(BenchHost, TD_Opaque)
}

fn instantiate(root: ModuleRoot_Ref, settings: &str) -> ProcessingModuleBox {
    match (root.instantiate())(services(), RStr::from_str(settings)) {
        RResult::ROk(obj) => obj,
        RResult::RErr(e) => panic!("instantiating the module failed: {e:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Finding (and building) the `.so` files.

/// `target/<profile>`: the directory this bench executable was built into
/// (`target/<profile>/deps/module_call-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let deps = exe
        .parent()
        .expect("the bench executable is in a directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps/ has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

fn build_command(dir: &Path, packages: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build");
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => {
            cmd.arg("--release");
        }
        Some("debug") | None => {}
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    if let Some(target_dir) = dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    cmd
}

fn shown(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn cdylibs(packages: &[(&str, &str)]) -> Vec<PathBuf> {
    let dir = profile_dir();
    let names: Vec<&str> = packages.iter().map(|(p, _)| *p).collect();
    let mut cmd = build_command(&dir, &names);
    if std::env::var_os("PROVISOR_BENCH_SKIP_BUILD").is_none() {
        eprintln!(
            "module_call: building the module .so files: {}",
            shown(&cmd)
        );
        match cmd.status() {
            Ok(s) if s.success() => {}
            Ok(s) => panic!(
                "`{}` failed ({s}); fix the build, or build the .so files yourself and rerun with PROVISOR_BENCH_SKIP_BUILD=1",
                shown(&cmd)
            ),
            Err(e) => panic!(
                "cannot run `{}`: {e}; build the .so files yourself and rerun with PROVISOR_BENCH_SKIP_BUILD=1",
                shown(&cmd)
            ),
        }
    }
    packages
        .iter()
        .map(|(_, lib)| {
            let path = dir.join(format!("lib{lib}.so"));
            assert!(
                path.exists(),
                "{} is missing: run `{}` (from the workspace root) first",
                path.display(),
                shown(&cmd)
            );
            path
        })
        .collect()
}

fn load_so(path: &Path, settings: &str) -> ProcessingModuleBox {
    let root = lib_header_from_path(path)
        .and_then(abi_stable::library::LibHeader::init_root_module::<ModuleRoot_Ref>)
        .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
    instantiate(root, settings)
}

// ---------------------------------------------------------------------------------
// The realistic request: a VPS order, about 1 KB of JSON.

fn realistic_request() -> LifecycleRequest {
    let resources: Map<String, Value> = json!({
        "cpu": 4, "ram_gb": 8, "disk_gb": 160, "bandwidth_tb": 4, "ipv4": 1, "ipv6": 64,
        "backups": true, "os": "debian-12", "location": "fra1", "ddos_protection": "standard"
    })
    .as_object()
    .cloned()
    .expect("an object");
    let attributes: Map<String, Value> = json!({
        "hostname": "vps48213.customer.example.com",
        "domain": "customer.example.com",
        "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2m3Yk0mFv0dJ8b7oQy9vS3x2cU4pZtN1rLkWgE5aB jane@laptop",
        "order_id": "ORD-2026-000481",
        "promo_code": "SPRING26",
        "reverse_dns": "vps48213.customer.example.com",
        "notes": "Customer asked for the Frankfurt location and weekly backups kept for 4 weeks; please confirm by email",
        "custom_fields": {"company": "Example GmbH", "vat_id": "DE123456789", "purpose": "staging for the web shop"}
    })
    .as_object()
    .cloned()
    .expect("an object");
    LifecycleRequest {
        operation_key: "svc-48213-create-7c1f0b9e2d".to_string(),
        attempt: 1,
        service: ServiceInfo {
            id: 48213,
            status: "pending".to_string(),
            client: ClientInfo {
                id: 1042,
                name: "Jane Example".to_string(),
                email: "jane.example@customer.example.com".to_string(),
                currency: "EUR".to_string(),
                country: "DE".to_string(),
            },
            plan: PlanInfo {
                name: "VPS M (4 vCPU / 8 GB)".to_string(),
                template: Some("vps-m-2026".to_string()),
                resources,
                settings: json!({"checklist": "rack, image, monitoring", "node_group": "fra1-general"}),
            },
            remote_id: None,
            attributes,
            parent: None,
        },
        state: None,
        params: json!({}),
        action: None,
    }
}

// ---------------------------------------------------------------------------------
// The harness.

/// One variant: runs `iters` calls and returns the time they took (setup excluded).
type Variant<'a> = (&'a str, Box<dyn FnMut(u64) -> Duration + 'a>);

struct Stat {
    /// Median per-call time over the batches that ran without being switched out.
    median_ns: f64,
    /// The fastest batch's per-call time.
    min_ns: f64,
    /// How many batches ran without being switched out (of `ROUNDS`).
    kept: usize,
    /// Each round's per-call time, and whether that batch ran without being switched
    /// out.
    rounds: Vec<(f64, bool)>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `.so` against a baseline, round by round: the two batches of a round ran within a
/// few milliseconds of each other, so a machine that speeds up and slows down over
/// seconds (a shared VM) moves both alike. Answers the median of the per-round
/// differences and the median of the per-round ratios.
fn paired(base: &Stat, so: &Stat) -> (f64, f64) {
    let both = |clean_only: bool| -> Vec<(f64, f64)> {
        base.rounds
            .iter()
            .zip(&so.rounds)
            .filter(|((_, b), (_, s))| !clean_only || (*b && *s))
            .map(|((b, _), (s, _))| (*b, *s))
            .collect()
    };
    let mut pairs = both(true);
    if pairs.len() < ROUNDS / 10 {
        pairs = both(false);
    }
    (
        median(pairs.iter().map(|(b, s)| s - b).collect()),
        median(pairs.iter().map(|(b, s)| s / b).collect()),
    )
}

/// How many times this thread has been scheduled onto a CPU (the third field of
/// `/proc/thread-self/schedstat`), or `None` where the kernel does not say. A batch
/// during which it changes was preempted, and its wall time includes other processes.
fn times_scheduled() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(2)?.parse().ok()
}

fn calibrate(f: &mut dyn FnMut(u64) -> Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = f(iters);
        if t >= BATCH / 4 {
            let per = t.as_nanos() as f64 / iters as f64;
            return ((BATCH.as_nanos() as f64 / per) as u64).max(1);
        }
        iters *= 2;
    }
}

fn measure(variants: &mut [Variant<'_>]) -> Vec<Stat> {
    let iters: Vec<u64> = variants
        .iter_mut()
        .map(|(_, f)| {
            let iters = calibrate(f.as_mut());
            // Warm up: caches, branch predictors, the allocator's free lists.
            let warm = Instant::now();
            while warm.elapsed() < WARM_UP {
                f(iters);
            }
            calibrate(f.as_mut())
        })
        .collect();
    let mut rounds = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            // Rotate the order so no variant always runs right after another.
            let i = (round + k) % variants.len();
            let before = times_scheduled();
            let t = (variants[i].1)(iters[i]);
            let after = times_scheduled();
            let per_call = t.as_nanos() as f64 / iters[i] as f64;
            rounds[i].push((per_call, before.is_some() && before == after));
        }
    }
    rounds
        .into_iter()
        .map(|rounds| {
            let all: Vec<f64> = rounds.iter().map(|(t, _)| *t).collect();
            let clean: Vec<f64> = rounds.iter().filter(|(_, c)| *c).map(|(t, _)| *t).collect();
            let kept = clean.len();
            let min_ns = all.iter().copied().fold(f64::INFINITY, f64::min);
            // Too few clean batches (or no schedstat): fall back to every batch.
            let median_ns = if kept >= ROUNDS / 10 {
                median(clean)
            } else {
                median(all)
            };
            Stat {
                median_ns,
                min_ns,
                kept,
                rounds,
            }
        })
        .collect()
}

fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// A typed `create` consumes its request: the clones are made before the clock starts,
/// a few at a time so that they are still in cache when the module reads them (as a
/// request the host just built would be).
fn timed_typed_create<M: Module>(m: &M, req: &LifecycleRequest, iters: u64) -> Duration {
    const CHUNK: u64 = 16;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let requests: Vec<LifecycleRequest> = (0..n).map(|_| req.clone()).collect();
        let start = Instant::now();
        for r in requests {
            black_box(m.create(black_box(r)).expect("create succeeds"));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// The host's half of a call: encode the request, call across the ABI, decode the answer.
fn abi_create(obj: &ProcessingModuleBox, req: &LifecycleRequest) -> Outcome {
    let json = serde_json::to_string(req).expect("the request encodes");
    let answer = obj
        .create(RStr::from_str(&json))
        .into_result()
        .expect("create succeeds");
    serde_json::from_str(answer.as_str()).expect("the answer decodes")
}

fn abi_noop(obj: &ProcessingModuleBox) -> ConnectionInfo {
    let answer = obj
        .test_connection(RStr::from_str("{}"))
        .into_result()
        .expect("test_connection succeeds");
    serde_json::from_str(answer.as_str()).expect("the answer decodes")
}

fn fmt_ns(ns: f64) -> String {
    format!("{ns:.0} ns")
}

fn fmt_us(ns: f64) -> String {
    format!("{:.2} µs", ns / 1000.0)
}

fn signed(ns: f64, fmt: fn(f64) -> String) -> String {
    if ns < 0.0 {
        format!("-{}", fmt(-ns))
    } else {
        format!("+{}", fmt(ns))
    }
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn line(what: &str, base_name: &str, base: &Stat, so: &Stat, fmt: fn(f64) -> String) -> String {
    let (overhead, ratio) = paired(base, so);
    format!(
        "{what}: {base_name} {} [{}], .so {} [{}], overhead {} (ratio {ratio:.2})",
        fmt(base.median_ns),
        fmt(base.min_ns),
        fmt(so.median_ns),
        fmt(so.min_ns),
        signed(overhead, fmt).trim_start_matches('+'),
    )
}

/// manual-task's noop and create through its .so.
fn measure_manual(so_manual: &ProcessingModuleBox, req: &LifecycleRequest) -> Vec<Stat> {
    measure(&mut [
        (
            "noop",
            Box::new(|n| timed(n, || drop(black_box(abi_noop(so_manual))))),
        ),
        (
            "create",
            Box::new(|n| timed(n, || drop(black_box(abi_create(so_manual, black_box(req)))))),
        ),
    ])
}

/// The parts of a create call, each timed on its own: the JSON both ways and the
/// module's work (bench-noop, in-process, no ABI).
// The closures borrow the JSON texts: as a tail expression, the array of them would
// outlive those locals.
#[allow(clippy::let_and_return)]
fn measure_parts(typed_noop: &BenchNoop, req: &LifecycleRequest, answer: &Outcome) -> Vec<Stat> {
    let req_json = serde_json::to_string(req).expect("encodes");
    let answer_json = serde_json::to_string(answer).expect("encodes");
    let stats = measure(&mut [
        (
            "encode request",
            Box::new(|n| timed(n, || drop(black_box(serde_json::to_string(black_box(req)))))),
        ),
        (
            "decode request",
            Box::new(|n| {
                timed(n, || {
                    drop(black_box(serde_json::from_str::<LifecycleRequest>(
                        black_box(&req_json),
                    )));
                })
            }),
        ),
        (
            "module work",
            Box::new(|n| timed_typed_create(typed_noop, req, n)),
        ),
        (
            "encode answer",
            Box::new(|n| {
                timed(n, || {
                    drop(black_box(serde_json::to_string(black_box(answer))));
                })
            }),
        ),
        (
            "decode answer",
            Box::new(|n| {
                timed(n, || {
                    drop(black_box(serde_json::from_str::<Outcome>(black_box(
                        &answer_json,
                    ))));
                })
            }),
        ),
    ]);
    stats
}

/// One line: the median of each part of a create call, and their sum.
fn print_breakdown(parts: &[Stat]) {
    let names = [
        "encode request",
        "decode request",
        "module work",
        "encode answer",
        "decode answer",
    ];
    let breakdown: Vec<String> = names
        .iter()
        .zip(parts)
        .map(|(name, st)| format!("{name} {}", fmt_us(st.median_ns)))
        .collect();
    println!(
        "create ~1KB breakdown (bench-noop, in-process, no ABI): {}; sum {}",
        breakdown.join("../.."),
        fmt_us(parts.iter().map(|p| p.median_ns).sum())
    );
}

/// The targets of issue 2, met or not: the .so's overhead over the direct and the
/// typed call, and a create's round trip.
fn print_targets(noop: &[Stat], create: &[Stat], manual: &[Stat]) {
    let [n_typed, n_direct, n_so] = [&noop[0], &noop[1], &noop[2]];
    let [c_typed, c_direct, c_so] = [&create[0], &create[1], &create[2]];
    let (over_noop, _) = paired(n_direct, n_so);
    let (over_create, _) = paired(c_direct, c_so);
    let worst_create = c_so.median_ns.max(manual[1].median_ns);
    println!();
    println!(
        "target: overhead <= 1 µs: {} (.so over direct: noop {}, create {}); create < 20 µs: {} (.so round trip, median [fastest batch]: bench-noop {} [{}], manual-task {} [{}])",
        pass(over_noop <= TARGET_OVERHEAD_NS && over_create <= TARGET_OVERHEAD_NS),
        signed(over_noop, fmt_ns),
        signed(over_create, fmt_us),
        pass(worst_create < TARGET_CREATE_NS),
        fmt_us(c_so.median_ns),
        fmt_us(c_so.min_ns),
        fmt_us(manual[1].median_ns),
        fmt_us(manual[1].min_ns),
    );
    let (strict_noop, _) = paired(n_typed, n_so);
    let (strict_create, _) = paired(c_typed, c_so);
    println!(
        "strict (.so over the typed call): noop overhead <= 1 µs: {} ({}); create overhead <= 1 µs: {} ({}: the JSON encode/decode both ways)",
        pass(strict_noop <= TARGET_OVERHEAD_NS),
        signed(strict_noop, fmt_ns),
        pass(strict_create <= TARGET_OVERHEAD_NS),
        signed(strict_create, fmt_us),
    );
}

// ---------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this without it, and
    // a timed run there would mean nothing: skip then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("module_call: run with `cargo bench -p provisor --bench module_call`");
        return;
    }

    let paths = cdylibs(&[
        ("provisor-fixture-bench-noop", "provisor_fixture_bench_noop"),
        ("provisor-manual-task", "provisor_manual_task"),
    ]);
    let so_noop = load_so(&paths[0], "{}");
    let so_manual = load_so(&paths[1], "{}");
    let direct_noop = instantiate(
        provisor_module_api::__private::root_module::<BenchNoop>(),
        "{}",
    );
    let typed_noop = BenchNoop::new(Host::from_abi(services()), Settings::default())
        .expect("bench-noop instantiates");

    let req = realistic_request();
    let req_len = serde_json::to_string(&req).expect("encodes").len();
    // The same answers on every path, and their sizes.
    let answer = abi_create(&so_noop, &req);
    assert_eq!(answer, abi_create(&direct_noop, &req));
    assert_eq!(answer, typed_noop.create(req.clone()).expect("create"));
    assert_eq!(abi_noop(&so_noop), abi_noop(&direct_noop));
    let answer_len = serde_json::to_string(&answer).expect("encodes").len();
    let manual_answer = abi_create(&so_manual, &req);
    let manual_answer_len = serde_json::to_string(&manual_answer)
        .expect("encodes")
        .len();

    println!("module_call (issue 2)");
    println!("  .so files: {}", paths[0].display());
    println!("             {}", paths[1].display());
    println!(
        "  create request {req_len} B of JSON; bench-noop answers {answer_len} B, manual-task {manual_answer_len} B"
    );
    println!(
        "  {ROUNDS} interleaved batches of ~{} ms per variant; median per call over the batches not preempted [fastest batch]",
        BATCH.as_millis()
    );
    let started = Instant::now();

    let noop = measure(&mut [
        (
            "typed",
            Box::new(|n| timed(n, || drop(black_box(typed_noop.test_connection())))),
        ),
        (
            "direct",
            Box::new(|n| timed(n, || drop(black_box(abi_noop(&direct_noop))))),
        ),
        (
            ".so",
            Box::new(|n| timed(n, || drop(black_box(abi_noop(&so_noop))))),
        ),
    ]);
    let create = measure(&mut [
        (
            "typed",
            Box::new(|n| timed_typed_create(&typed_noop, &req, n)),
        ),
        (
            "direct",
            Box::new(|n| {
                timed(n, || {
                    drop(black_box(abi_create(&direct_noop, black_box(&req))));
                })
            }),
        ),
        (
            ".so",
            Box::new(|n| timed(n, || drop(black_box(abi_create(&so_noop, black_box(&req)))))),
        ),
    ]);
    let manual = measure_manual(&so_manual, &req);
    let parts = measure_parts(&typed_noop, &req, &answer);
    let [n_typed, n_direct, n_so] = [&noop[0], &noop[1], &noop[2]];
    let [c_typed, c_direct, c_so] = [&create[0], &create[1], &create[2]];

    println!();
    println!("bench-noop; direct = the same module's rlib, through the same abi_stable object built in-process");
    println!("{}", line("noop", "direct", n_direct, n_so, fmt_ns));
    println!("{}", line("create ~1KB", "direct", c_direct, c_so, fmt_us));
    println!("bench-noop; typed = the rlib's Module trait called as plain Rust (no ABI, no JSON)");
    println!("{}", line("noop", "typed", n_typed, n_so, fmt_ns));
    println!("{}", line("create ~1KB", "typed", c_typed, c_so, fmt_us));
    print_breakdown(&parts);
    println!(
        "manual-task, a real module, .so only (its rlib cannot link beside bench-noop's: both export the root-module symbol)"
    );
    println!(
        "noop (test_connection): .so {} [{}]; create ~1KB (answers a {manual_answer_len} B task form): .so {} [{}]",
        fmt_ns(manual[0].median_ns),
        fmt_ns(manual[0].min_ns),
        fmt_us(manual[1].median_ns),
        fmt_us(manual[1].min_ns),
    );

    print_targets(&noop, &create, &manual);
    let fewest = noop
        .iter()
        .chain(&create)
        .chain(&parts)
        .chain(&manual)
        .map(|st| st.kept)
        .min()
        .unwrap_or(0);
    println!(
        "measured in {:.1} s; batches not preempted: at least {fewest} of {ROUNDS} per variant{}",
        started.elapsed().as_secs_f64(),
        if fewest < ROUNDS / 10 {
            " (too few: some medians are over every batch)"
        } else {
            ""
        }
    );
}
