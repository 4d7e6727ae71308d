//! Loading one module file: permission checks, a probe in a child process (so a
//! library whose initialisers crash or hang cannot take the host down), the
//! content-addressed copy the host actually maps, and the in-process load.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abi_stable::abi_stability::abi_checking::{
    check_layout_compatibility, AbiInstability, AbiInstabilityErrors,
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use provisor_module_api::abi::ModuleRoot_Ref;
use provisor_module_api::{Manifest, ModuleError};
use sha2::{Digest, Sha256};

/// How module files are checked before they are mapped into this process.
#[derive(Debug, Clone)]
pub struct LoadPolicy {
    /// The `provisor` executable used to probe a file in a child process first; `None`
    /// loads directly (benchmarks, and the probe itself).
    pub probe_exe: Option<PathBuf>,
    /// How long a probe may take before the file is refused as hanging.
    pub probe_timeout: Duration,
    /// Refuse world-writable files and files not owned by this process's user.
    pub strict_modes: bool,
}

impl LoadPolicy {
    /// Probe with the running executable, strict modes on.
    pub fn standard() -> LoadPolicy {
        LoadPolicy {
            probe_exe: std::env::current_exe().ok(),
            probe_timeout: Duration::from_secs(20),
            strict_modes: true,
        }
    }
    /// Load in-process without a probe.
    pub fn direct() -> LoadPolicy {
        LoadPolicy {
            probe_exe: None,
            probe_timeout: Duration::from_secs(20),
            strict_modes: true,
        }
    }
}

/// The most a module file may weigh: a real module is a few MiB; anything bigger is a
/// wrong file, and reading it whole could exhaust memory.
pub const MAX_MODULE_BYTES: u64 = 256 * 1024 * 1024;

/// Why an entry of the modules directory is not a module file, judged from its own
/// metadata (a symlink is not followed): `None` for a regular file. The reason says
/// what the entry is and how to fix it; the entry is never opened.
pub fn not_a_regular_file(path: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot read it: {e}")),
    };
    let ty = meta.file_type();
    if ty.is_file() {
        return None;
    }
    Some(if ty.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "an unreadable target".to_string());
        if std::fs::metadata(path).is_err() {
            format!("it is a dangling symbolic link (to {target}, which does not exist); remove it and copy the module file itself here")
        } else {
            format!("it is a symbolic link (to {target}); links are not followed: replace the symlink with the file itself (cp --remove-destination {target} {})", path.display())
        }
    } else if ty.is_dir() {
        "it is a directory, not a module file: remove it or rename it so its name does not end in .so".to_string()
    } else if ty.is_fifo() {
        "it is a named pipe (FIFO), not a module file; it is never read: remove it and copy the module file itself here".to_string()
    } else if ty.is_char_device() || ty.is_block_device() {
        "it is a device file, not a module file; it is never read: remove it and copy the module file itself here".to_string()
    } else if ty.is_socket() {
        "it is a socket, not a module file: remove it and copy the module file itself here"
            .to_string()
    } else {
        "it is not a regular file: remove it and copy the module file itself here".to_string()
    })
}

/// Reads a module file safely: only a regular file (a FIFO, device or directory is
/// refused before any read can block), at most [`MAX_MODULE_BYTES`]. With
/// `follow_links` false a symlink is refused too (the modules directory); a path
/// named on the command line may be a link to a regular file. The error is the
/// reason, ready for "module file X refused: {reason}".
pub fn read_module_file(path: &Path, follow_links: bool) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !follow_links {
        if let Some(reason) = not_a_regular_file(path) {
            return Err(ReadError::Refused(reason));
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Missing(format!(
                "there is no file {}: check the path",
                path.display()
            )))
        }
        Err(e) => return Err(ReadError::Refused(format!("cannot read it: {e}"))),
    };
    if !meta.is_file() {
        return Err(ReadError::Refused(not_a_regular_file(path).unwrap_or_else(
            || "it is not a regular file: give the module file itself".into(),
        )));
    }
    check_size(meta.len())?;
    // O_NONBLOCK: should the entry be swapped for a FIFO after the check, open does not
    // wait for a writer; O_NOFOLLOW likewise for a symlink swapped in.
    let mut flags = libc::O_NONBLOCK;
    if !follow_links {
        flags |= libc::O_NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| ReadError::Refused(format!("cannot open it: {e}")))?;
    let opened = file
        .metadata()
        .map_err(|e| ReadError::Refused(format!("cannot read it: {e}")))?;
    if !opened.is_file() {
        return Err(ReadError::Refused(
            "it changed into something that is not a regular file while being read; copy the module file itself here".into(),
        ));
    }
    check_size(opened.len())?;
    let mut bytes = Vec::with_capacity(opened.len() as usize);
    file.take(MAX_MODULE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Refused(format!("cannot read it: {e}")))?;
    check_size(bytes.len() as u64)?;
    Ok(bytes)
}

fn check_size(len: u64) -> Result<(), ReadError> {
    if len > MAX_MODULE_BYTES {
        return Err(ReadError::Refused(format!(
            "it is {len} bytes, more than the {} MiB a module file may have: it is not a module (check the file)",
            MAX_MODULE_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Why [`read_module_file`] read nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The path names nothing.
    Missing(String),
    /// The entry is there but is not a module file one may read.
    Refused(String),
}

impl ReadError {
    /// The reason, for a message.
    pub fn reason(&self) -> &str {
        match self {
            ReadError::Missing(r) | ReadError::Refused(r) => r,
        }
    }
}

/// The SHA-256 of a file's bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuses files a hoster should not trust: not a regular file, world-writable, or
/// owned by another user (like sshd's `StrictModes`).
pub fn check_file_modes(path: &Path, strict: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if !strict {
        return Ok(());
    }
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(format!(
            "it is world-writable (mode {:o}), so anyone could replace it: run chmod o-w {}",
            meta.permissions().mode() & 0o7777,
            path.display()
        ));
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(format!(
            "it is owned by uid {}, not by the user running Provisor (uid {me}): run chown {me} {}",
            meta.uid(),
            path.display()
        ));
    }
    Ok(())
}

#[allow(unsafe_code)]
fn current_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Whether the bytes start like an ELF file.
pub fn looks_like_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Loads `path` into this process and reads its manifest. `abi_stable` checks the
/// interface's major version and every type's layout first.
///
/// `abi_stable` 0.11 insists that a library has every field the host's prefix types
/// have, so a module built against an older 1.x (whose vtable ends before methods
/// appended since) fails its check. That one case is accepted here: when the only
/// differences are prefix types that are shorter in the module, the module is loaded
/// without the layout check, and calls to what it lacks run the interface's default
/// bodies (`NotSupported`). Any other difference is refused.
pub fn load_in_process(path: &Path) -> Result<(ModuleRoot_Ref, Manifest), String> {
    let header = lib_header_from_path(path).map_err(|e| describe_library_error(&e))?;
    let root = match header.init_root_module::<ModuleRoot_Ref>() {
        Ok(root) => root,
        Err(err @ LibraryError::AbiInstability(_)) => {
            let Some(module_layout) = header.layout() else {
                return Err(describe_library_error(&err));
            };
            let host_layout = <ModuleRoot_Ref as abi_stable::StableAbi>::LAYOUT;
            match check_layout_compatibility(host_layout, module_layout) {
                Err(found) if only_appended_fields_missing(&found) => load_older_minor(header)?,
                _ => return Err(describe_library_error(&err)),
            }
        }
        Err(err) => return Err(describe_library_error(&err)),
    };
    let manifest = read_manifest(root)?;
    Ok((root, manifest))
}

/// Whether every layout difference is a prefix type (root module or vtable) that ends
/// earlier in the module than in the host: a module built before fields were appended.
fn only_appended_fields_missing(found: &AbiInstabilityErrors) -> bool {
    // Entries without problems of their own are the path down to the one that has.
    let mut problems = found.errors.iter().flat_map(|e| e.errs.iter()).peekable();
    problems.peek().is_some()
        && problems
            .all(|x| matches!(x, AbiInstability::FieldCountMismatch(n) if n.expected > n.found))
}

#[allow(unsafe_code)]
fn load_older_minor(
    header: &'static abi_stable::library::LibHeader,
) -> Result<ModuleRoot_Ref, String> {
    // SAFETY: the layout check passed but for prefix types that end before fields the
    // host appended after `last_prefix_field` (checked by the caller); the major
    // version is still checked by this call. abi_stable's accessors for appended
    // fields consult the module's own field count at run time, so the host never
    // reads a field or vtable slot the module does not have.
    unsafe { header.init_root_module_with_unchecked_layout::<ModuleRoot_Ref>() }
        .map_err(|e| describe_library_error(&e))
}

/// Calls the root module's `manifest` and checks what it says.
pub fn read_manifest(root: ModuleRoot_Ref) -> Result<Manifest, String> {
    let json = std::panic::catch_unwind(|| (root.manifest())())
        .map_err(|_| "its manifest() panicked".to_string())?
        .into_result()
        .map_err(|e| format!("its manifest() failed: {}", ModuleError::from_abi(e)))?;
    let manifest: Manifest = serde_json::from_str(json.as_str())
        .map_err(|e| format!("its manifest is not valid: {e}"))?;
    validate_manifest(&manifest)?;
    Ok(manifest)
}

/// The plan presets a loaded module offers (`Module::presets`, carried in its
/// manifest's JSON); none from a module built before presets existed.
pub fn read_presets(root: ModuleRoot_Ref) -> Result<Vec<provisor_module_api::PlanPreset>, String> {
    let json = std::panic::catch_unwind(|| (root.manifest())())
        .map_err(|_| "its manifest() panicked".to_string())?
        .into_result()
        .map_err(|e| format!("its manifest() failed: {}", ModuleError::from_abi(e)))?;
    let value: serde_json::Value = serde_json::from_str(json.as_str())
        .map_err(|e| format!("its manifest is not valid: {e}"))?;
    match value.get(provisor_module_api::PRESETS_KEY) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(p) => serde_json::from_value(p.clone())
            .map_err(|e| format!("its plan presets are not valid: {e}")),
    }
}

fn validate_manifest(m: &Manifest) -> Result<(), String> {
    let name_ok = !m.name.is_empty()
        && m.name.len() <= 64
        && m.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !m.name.starts_with('-');
    if !name_ok {
        return Err(format!(
            "its manifest names it {:?}: a module name is 1-64 lowercase letters, digits and '-'",
            m.name
        ));
    }
    semver::Version::parse(&m.version).map_err(|e| {
        format!(
            "its manifest version {:?} is not semantic versioning (like 1.2.0): {e}",
            m.version
        )
    })?;
    for (what, schema) in [
        ("settings_schema", &m.settings_schema),
        ("plan_schema", &m.plan_schema),
    ] {
        jsonschema::validator_for(schema)
            .map_err(|e| format!("its manifest's {what} is not valid JSON Schema: {e}"))?;
    }
    Ok(())
}

/// Turns `abi_stable`'s error into one line that names the problem and the fix.
pub fn describe_library_error(err: &LibraryError) -> String {
    let host_api = provisor_module_api::API_VERSION;
    match err {
        LibraryError::OpenError { err, .. } => format!(
            "cannot be loaded as a shared library ({}): it is damaged, truncated or not built for this platform; rebuild it or copy it again",
            one_line(&err.to_string())
        ),
        LibraryError::GetSymbolError { .. } => "is a shared library but not a Provisor module (it has no abi_stable root module): build it with provisor_module_api::export_module!".to_string(),
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "was built against provisor-module-api {actual_version}, but this host speaks {host_api}: rebuild it against provisor-module-api {}.x",
            host_api.split('.').next().unwrap_or("1")
        ),
        LibraryError::AbiInstability(e) => {
            let text = e.to_string();
            let problems: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    l.starts_with("Error:")
                        || l.contains("mismatched")
                        || l.contains("incompatible")
                        || l.contains("Expected:")
                        || l.contains("Found:")
                })
                .take(4)
                .collect();
            format!(
                "its interface does not match provisor-module-api {host_api} (abi_stable found incompatible type layouts: {}); it is a different kind of abi_stable library or was built against an incompatible copy of the interface: rebuild it against provisor-module-api {}.x",
                if problems.is_empty() { one_line(&text) } else { problems.join(" | ") },
                host_api.split('.').next().unwrap_or("1")
            )
        }
        LibraryError::Many(errs) => errs
            .iter()
            .map(describe_library_error)
            .collect::<Vec<_>>()
            .join("; "),
        other => format!("was refused by the loader: {}", one_line(&other.to_string())),
    }
}

fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut s = joined.join(" ");
    if s.len() > 400 {
        s.truncate(400);
        s.push('…');
    }
    s
}

/// Loads `path` in a child `provisor __probe` process and reports its manifest, so a
/// crash or hang while loading is contained.
pub fn probe_in_child(exe: &Path, path: &Path, timeout: Duration) -> Result<Manifest, String> {
    let mut child = Command::new(exe)
        .arg("__probe")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the probe process {}: {e}", exe.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "loading it hung for more than {}s (its initialisers never returned)",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for the probe process: {e}")),
        }
    };
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot read the probe's answer: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = stdout.lines().rev().find(|l| l.starts_with('{')) {
        if let Ok(answer) = serde_json::from_str::<ProbeAnswer>(line) {
            return match answer {
                ProbeAnswer::Ok { manifest } => Ok(manifest),
                ProbeAnswer::Refused { reason } => Err(reason),
            };
        }
    }
    let how = match status.signal() {
        Some(sig) => format!("killed by signal {sig}"),
        None => format!("exit status {}", status.code().unwrap_or(-1)),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr.lines().rev().take(2).collect::<Vec<_>>().join(" | ");
    Err(format!(
        "loading it crashed the loader ({how}{}); the file is broken or not built for this host",
        if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        }
    ))
}

/// What `provisor __probe FILE` prints as its last line.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum ProbeAnswer {
    /// The file loads; here is its manifest.
    Ok {
        /// The manifest.
        manifest: Manifest,
    },
    /// The file was refused.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The body of `provisor __probe FILE`: loads the file here and prints the answer.
pub fn run_probe(path: &Path) -> std::io::Result<()> {
    let answer = match load_in_process(path) {
        Ok((_, manifest)) => ProbeAnswer::Ok { manifest },
        Err(reason) => ProbeAnswer::Refused { reason },
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::to_string(&answer).unwrap_or_default()
    )?;
    out.flush()
}

/// Writes `bytes` to `dest` atomically (temporary file + rename), read-only.
pub fn write_atomically(dest: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}
