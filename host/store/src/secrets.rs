//! Secret settings at rest: the key ring and the sealing of secret values.
//!
//! A handler setting the module's schema marks `writeOnly: true` is stored as
//! `{"$enc": "v1:<key id>:<base64 of nonce and ciphertext>"}` in place of its value
//! (XChaCha20-Poly1305, the value's JSON text as the plaintext, the handler's name and
//! the setting's JSON pointer as associated data, so a sealed value cannot be moved to
//! another handler or field). Everything else in the settings stays readable.
//!
//! The key comes from `PROVISOR_SECRET_KEY` or `secrets.key` (base64; a comma-separated
//! list, newest first, while a rotation is under way), else from the file
//! `PROVISOR_SECRET_KEY_FILE` or `secrets.key_file` names, else from
//! `$PROVISOR_HOME/secret.key` (made 0600 when missing): the configuration decides
//! which ([`KeySpec`]); this module reads no environment. A key file
//! holds one base64 key per line, the current one first; a rotation keeps the previous
//! one on the second line until every value is sealed with the new key. A key's id is
//! the start of its SHA-256, so a sealed value says which key it needs.
//!
//! Owns: key files, sealing and opening values. Must not: decide which settings are
//! secret (the module's schema does, in `schema.rs`) or print a secret.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The environment variable holding the key itself (base64), for deployments where
/// several nodes share one database.
pub const KEY_VAR: &str = "PROVISOR_SECRET_KEY";
/// The environment variable naming a key file.
pub const KEY_FILE_VAR: &str = "PROVISOR_SECRET_KEY_FILE";
/// The field that marks a sealed value.
pub const SEALED_FIELD: &str = "$enc";

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;

/// One key of the ring.
#[derive(Clone)]
struct Key {
    id: String,
    bytes: [u8; 32],
}

impl Key {
    fn new(bytes: [u8; 32]) -> Key {
        let id = hex::encode(&Sha256::digest(bytes)[..6]);
        Key { id, bytes }
    }

    fn generate() -> Result<Key> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| Error::Io(format!("cannot get random bytes for a secret key: {e}")))?;
        Ok(Key::new(bytes))
    }

    fn encoded(&self) -> String {
        B64.encode(self.bytes)
    }
}

/// Where the configuration says the keys are (`[secrets]` in `provisor.toml`, or
/// `PROVISOR_SECRET_KEY` / `PROVISOR_SECRET_KEY_FILE`).
#[derive(Clone)]
pub enum KeySpec {
    /// The keys themselves, and where they were given.
    Keys {
        /// The keys, base64, comma-separated, newest first.
        text: String,
        /// Where they were given, as messages name it (`PROVISOR_SECRET_KEY`).
        from: String,
    },
    /// A key file that must exist, and where it was given.
    File {
        /// The key file.
        path: PathBuf,
        /// Where it was given, as messages name it (`PROVISOR_SECRET_KEY_FILE`).
        from: String,
    },
    /// The home's `secret.key`, made when missing.
    Home(PathBuf),
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySpec::Keys { from, .. } => write!(f, "Keys(from {from}, hidden)"),
            KeySpec::File { path, from } => write!(f, "File({}, from {from})", path.display()),
            KeySpec::Home(path) => write!(f, "Home({})", path.display()),
        }
    }
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Given as text: `PROVISOR_SECRET_KEY` or `secrets.key` (named here).
    Given(String),
    /// A key file: `$PROVISOR_HOME/secret.key` or `PROVISOR_SECRET_KEY_FILE`.
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Given(from) => write!(f, "{from}"),
            KeySource::File(p) => write!(f, "the key file {}", p.display()),
        }
    }
}

/// The keys secrets are sealed with: the current one first, then older ones still
/// needed to open values a rotation has not reached yet.
pub struct KeyRing {
    source: KeySource,
    keys: RwLock<Vec<Key>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("source", &self.source)
            .field("current", &self.current_id())
            .finish_non_exhaustive()
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The value names a key the ring does not hold.
    UnknownKey(String),
    /// The key is there but the value does not open with it (damaged, or moved).
    Damaged(String),
    /// Not a sealed value this version can read.
    Malformed(String),
}

impl KeyRing {
    /// The ring the configuration names (see [`KeySpec`]).
    pub fn from_spec(spec: &KeySpec) -> Result<KeyRing> {
        match spec {
            KeySpec::Keys { text, from } => Ok(KeyRing {
                source: KeySource::Given(from.clone()),
                keys: RwLock::new(parse_keys(text, from)?),
            }),
            KeySpec::File { path, from } => {
                if !path.exists() {
                    return Err(Error::Invalid(format!(
                        "{from} names {}, which does not exist: point it at the key file the other nodes use (the secret.key made in the first node's home), or unset it",
                        path.display()
                    )));
                }
                KeyRing::from_file(path)
            }
            KeySpec::Home(path) => KeyRing::for_home(path),
        }
    }

    /// The ring in the home's key file, made 0600 when missing.
    pub fn for_home(home_key: &Path) -> Result<KeyRing> {
        if !home_key.exists() {
            create_key_file(home_key, &[Key::generate()?])?;
        }
        KeyRing::from_file(home_key)
    }

    /// The ring in a key file, refusing one that group or others can read.
    pub fn from_file(path: &Path) -> Result<KeyRing> {
        let keys = read_key_file(path)?;
        Ok(KeyRing {
            source: KeySource::File(path.to_path_buf()),
            keys: RwLock::new(keys),
        })
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    fn keys(&self) -> Vec<Key> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The id of the key new values are sealed with.
    pub fn current_id(&self) -> String {
        self.keys()
            .first()
            .map(|k| k.id.clone())
            .unwrap_or_default()
    }

    /// Every key id the ring holds, current first.
    pub fn ids(&self) -> Vec<String> {
        self.keys().into_iter().map(|k| k.id).collect()
    }

    /// Reads the source again (another process rotated the key).
    pub fn reload(&self) -> Result<()> {
        let keys = match &self.source {
            KeySource::Given(_) => return Ok(()),
            KeySource::File(path) => read_key_file(path)?,
        };
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Seals `value` (its JSON text) with the current key; `aad` binds it to its place.
    pub fn seal(&self, value: &Value, aad: &str) -> Result<Value> {
        let keys = self.keys();
        let key = keys
            .first()
            .ok_or_else(|| Error::Invalid(format!("{} holds no key", self.source)))?;
        let sealed = seal_with(key, value, aad)?;
        Ok(serde_json::json!({ SEALED_FIELD: sealed }))
    }

    /// Opens a sealed value's text (`v1:<id>:<data>`), reading the key source again
    /// once when the value names a key the ring does not hold.
    pub fn open(&self, sealed: &str, aad: &str) -> std::result::Result<Value, OpenError> {
        match self.open_once(sealed, aad) {
            Err(OpenError::UnknownKey(id)) => {
                if self.reload().is_ok() {
                    self.open_once(sealed, aad)
                } else {
                    Err(OpenError::UnknownKey(id))
                }
            }
            other => other,
        }
    }

    fn open_once(&self, sealed: &str, aad: &str) -> std::result::Result<Value, OpenError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(version), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed("not version:key:data".into()));
        };
        if version != VERSION {
            return Err(OpenError::Malformed(format!(
                "sealed with format {version}, this version reads {VERSION}"
            )));
        }
        let keys = self.keys();
        let key = keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_string()))?;
        let raw = B64
            .decode(data)
            .map_err(|e| OpenError::Malformed(format!("not base64: {e}")))?;
        if raw.len() < NONCE_LEN {
            return Err(OpenError::Malformed("too short".into()));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| OpenError::Malformed("too short".into()))?;
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Damaged(id.to_string()))?;
        serde_json::from_slice(&plain)
            .map_err(|e| OpenError::Malformed(format!("the plaintext is not JSON: {e}")))
    }

    /// Rotation, step 1: a new key becomes current, the old ones stay readable. The key
    /// file is replaced atomically (written beside it, synced, renamed). Answers the
    /// new key's id. With the key in the environment nothing is generated: the first
    /// key listed in `PROVISOR_SECRET_KEY` is the one values are sealed with.
    pub fn begin_rotation(&self) -> Result<String> {
        let path = match &self.source {
            KeySource::Given(_) => return Ok(self.current_id()),
            KeySource::File(path) => path.clone(),
        };
        let mut keys = read_key_file(&path)?;
        let fresh = Key::generate()?;
        keys.insert(0, fresh.clone());
        replace_key_file(&path, &keys)?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(fresh.id)
    }

    /// Rotation, last step (after the re-sealed values are committed): the key file
    /// keeps only the current key.
    pub fn finish_rotation(&self) -> Result<()> {
        let path = match &self.source {
            KeySource::Given(_) => return Ok(()),
            KeySource::File(path) => path.clone(),
        };
        let keys = read_key_file(&path)?;
        let current: Vec<Key> = keys.into_iter().take(1).collect();
        replace_key_file(&path, &current)?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = current;
        Ok(())
    }
}

fn seal_with(key: &Key, value: &Value, aad: &str) -> Result<String> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| Error::Io(format!("cannot get random bytes for a nonce: {e}")))?;
    let cipher = XChaCha20Poly1305::new((&key.bytes).into());
    let plain = value.to_string();
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| Error::Io("cannot encrypt a secret setting".into()))?;
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&ciphertext);
    Ok(format!("{VERSION}:{}:{}", key.id, B64.encode(raw)))
}

fn parse_keys(text: &str, what: &str) -> Result<Vec<Key>> {
    let mut keys = Vec::new();
    for (n, item) in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
    {
        let bytes = B64
            .decode(item)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match bytes {
            Some(b) => keys.push(Key::new(b)),
            None => {
                return Err(Error::Invalid(format!(
                    "{what}: key {} is not 32 bytes of base64; make one with `head -c 32 /dev/urandom | base64`",
                    n + 1
                )))
            }
        }
    }
    if keys.is_empty() {
        return Err(Error::Invalid(format!(
            "{what} holds no key; make one with `head -c 32 /dev/urandom | base64`"
        )));
    }
    Ok(keys)
}

fn read_key_file(path: &Path) -> Result<Vec<Key>> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::io(
            format!("cannot read the secret key file {}", path.display()),
            e,
        )
    })?;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::Invalid(format!(
            "the secret key file {} is readable by group or others (mode {:o}): refusing to use it; run `chmod 600 {}`",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format!("cannot read the secret key file {}", path.display()),
            e,
        )
    })?;
    parse_keys(&text, &format!("the secret key file {}", path.display()))
}

fn key_file_text(keys: &[Key]) -> String {
    let mut text = String::from(
        "# Provisor's secret key (current first; a rotation keeps the previous one below until\n# every handler secret is sealed with the new one). Keep it 0600 and back it up:\n# without it the handlers' secret settings cannot be read.\n",
    );
    for k in keys {
        text.push_str(&k.encoded());
        text.push('\n');
    }
    text
}

fn write_private(path: &Path, text: &str, create_new: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

fn create_key_file(path: &Path, keys: &[Key]) -> Result<()> {
    write_private(path, &key_file_text(keys), true)
}

fn replace_key_file(path: &Path, keys: &[Key]) -> Result<()> {
    let tmp = path.with_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &key_file_text(keys), true)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The associated data binding a sealed value to its handler and field.
fn aad(handler: &str, pointer: &str) -> String {
    format!("provisor/handler/{handler}{pointer}")
}

/// The associated data a staff account's sealed TOTP state is bound to.
pub fn staff_totp_aad(staff_id: i64) -> String {
    format!("provisor/staff/{staff_id}/totp")
}

/// Whether `v` is a sealed value, and its text.
pub fn sealed_text(v: &Value) -> Option<&str> {
    match v {
        Value::Object(map) if map.len() == 1 => map.get(SEALED_FIELD).and_then(Value::as_str),
        _ => None,
    }
}

/// Seals every plain value at `paths` (JSON pointers) in `settings`. Answers how many
/// were sealed.
pub fn seal_settings(
    ring: &KeyRing,
    handler: &str,
    settings: &mut Value,
    paths: &[String],
) -> Result<usize> {
    let mut n = 0;
    for path in paths {
        if let Some(v) = settings.pointer_mut(path) {
            if v.is_null() || sealed_text(v).is_some() {
                continue;
            }
            *v = ring.seal(v, &aad(handler, path))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Whether any value in `settings` is sealed.
pub fn has_sealed(settings: &Value) -> bool {
    match settings {
        v if sealed_text(v).is_some() => true,
        Value::Object(map) => map.values().any(has_sealed),
        Value::Array(items) => items.iter().any(has_sealed),
        _ => false,
    }
}

/// The key ids the sealed values in `settings` name.
pub fn sealed_key_ids(settings: &Value, out: &mut Vec<String>) {
    match settings {
        v if sealed_text(v).is_some() => {
            if let Some(id) = sealed_text(v).and_then(|t| t.split(':').nth(1)) {
                out.push(id.to_string());
            }
        }
        Value::Object(map) => map.values().for_each(|v| sealed_key_ids(v, out)),
        Value::Array(items) => items.iter().for_each(|v| sealed_key_ids(v, out)),
        _ => {}
    }
}

/// Opens every sealed value in `settings`, in place, and answers their JSON pointers.
/// The error names the handler, the setting, the key and the fix.
pub fn open_settings(
    ring: Option<&KeyRing>,
    handler: &str,
    settings: &mut Value,
) -> Result<Vec<String>> {
    let mut opened = Vec::new();
    open_at(ring, handler, settings, String::new(), &mut opened)?;
    Ok(opened)
}

fn open_at(
    ring: Option<&KeyRing>,
    handler: &str,
    v: &mut Value,
    pointer: String,
    opened: &mut Vec<String>,
) -> Result<()> {
    if let Some(text) = sealed_text(v) {
        let Some(ring) = ring else {
            return Err(Error::Invalid(format!(
                "handler {handler}: its secret setting {pointer} is encrypted, but this process has no secret key: open the database through the `provisor` command with the home's secret.key, {KEY_VAR} or {KEY_FILE_VAR}"
            )));
        };
        *v = ring
            .open(text, &aad(handler, &pointer))
            .map_err(|e| open_error(ring, handler, &pointer, e))?;
        opened.push(pointer);
        return Ok(());
    }
    match v {
        Value::Object(map) => {
            for (k, sub) in map.iter_mut() {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                open_at(ring, handler, sub, p, opened)?;
            }
        }
        Value::Array(items) => {
            for (i, sub) in items.iter_mut().enumerate() {
                open_at(ring, handler, sub, format!("{pointer}/{i}"), opened)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The error for a value that does not open: names the handler and the fix.
pub fn open_error(ring: &KeyRing, handler: &str, pointer: &str, e: OpenError) -> Error {
    let using = format!(
        "{} (key {})",
        ring.source(),
        ring.ids().join(", previous key ")
    );
    match e {
        OpenError::UnknownKey(id) => Error::Invalid(format!(
            "handler {handler}: its secret setting {pointer} was encrypted with key {id}, which is not in {using}: the secret key does not belong to this database. Use the key it was written with (restore $PROVISOR_HOME/secret.key from the backup, or set {KEY_VAR} / {KEY_FILE_VAR} to the key the other nodes use); if it is lost, remove the handler and add it again with its settings"
        )),
        OpenError::Damaged(id) => Error::Invalid(format!(
            "handler {handler}: its secret setting {pointer} does not decrypt with key {id} from {using}: the stored value is damaged or was copied from another handler; add the handler's settings again"
        )),
        OpenError::Malformed(why) => Error::Invalid(format!(
            "handler {handler}: its secret setting {pointer} is not a value this version can decrypt ({why}); add the handler's settings again"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ring(dir: &Path) -> KeyRing {
        let path = dir.join("secret.key");
        create_key_file(&path, &[Key::generate().unwrap()]).unwrap();
        KeyRing::from_file(&path).unwrap()
    }

    #[test]
    fn sealed_values_open_only_in_their_place_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let ring = ring(dir.path());
        let mut settings = json!({"url": "https://cs", "api_secret": "s3cr3t", "n": {"pin": 1234}});
        let paths = vec!["/api_secret".to_string(), "/n/pin".to_string()];
        assert_eq!(
            seal_settings(&ring, "h1", &mut settings, &paths).unwrap(),
            2
        );
        let text = settings.to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("1234"), "{text}");
        assert_eq!(settings["url"], "https://cs");
        // Sealing twice changes nothing.
        assert_eq!(
            seal_settings(&ring, "h1", &mut settings, &paths).unwrap(),
            0
        );

        let mut moved = settings.clone();
        assert!(open_settings(Some(&ring), "h2", &mut moved).is_err());

        let old_id = ring.current_id();
        let new_id = ring.begin_rotation().unwrap();
        assert_ne!(old_id, new_id);
        let mut opened = settings.clone();
        open_settings(Some(&ring), "h1", &mut opened).unwrap();
        assert_eq!(opened["api_secret"], "s3cr3t");
        assert_eq!(opened["n"]["pin"], 1234);
        ring.finish_rotation().unwrap();
        let err = open_settings(Some(&ring), "h1", &mut settings.clone()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("handler h1") && text.contains(&old_id),
            "{text}"
        );
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let _ = ring(dir.path());
        let path = dir.path().join("secret.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyRing::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}

mod rotate;
pub use rotate::{rotate, Rotation};

/// The secret paths each module's recorded manifests mark (the union over its
/// versions: a field secret in any version is sealed).
async fn recorded_secret_paths(
    db: &sea_orm::DatabaseConnection,
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    use super::entities::module_file;
    use sea_orm::EntityTrait;
    let files = module_file::Entity::find()
        .all(db)
        .await
        .map_err(super::db_err("reading the recorded module manifests"))?;
    let mut out = std::collections::HashMap::<String, Vec<String>>::new();
    for f in files {
        let (Some(name), Some(manifest)) = (f.name, f.manifest) else {
            continue;
        };
        let Ok(manifest) = serde_json::from_str::<Value>(&manifest) else {
            continue;
        };
        let Some(schema) = manifest.get("settings_schema") else {
            continue;
        };
        let paths = out.entry(name).or_default();
        for p in crate::schema::secret_paths(schema) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    Ok(out)
}

/// Checks at open that the key belongs to the database (every sealed value opens, and
/// the recorded key id is in the ring), then seals the plain secrets an older version
/// stored (one transaction) and records the key id on first use.
pub(crate) async fn secure(db: &sea_orm::DatabaseConnection, ring: &KeyRing) -> Result<()> {
    use super::entities::{handler, secret_key};
    use sea_orm::{
        ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
        TransactionTrait,
    };
    let handlers = handler::Entity::find()
        .order_by_asc(handler::Column::Name)
        .all(db)
        .await
        .map_err(super::db_err("reading handlers"))?;
    for h in &handlers {
        let Ok(mut v) = serde_json::from_str::<Value>(&h.settings) else {
            continue;
        };
        if has_sealed(&v) {
            open_settings(Some(ring), &h.name, &mut v)?;
        }
    }
    let recorded = secret_key::Entity::find_by_id(1)
        .one(db)
        .await
        .map_err(super::db_err("reading the secret key record"))?;
    if let Some(r) = &recorded {
        if !ring.ids().contains(&r.key_id) {
            let _ = ring.reload();
            if !ring.ids().contains(&r.key_id) {
                return Err(Error::Invalid(format!(
                    "this database's secret settings are sealed with key {}, but {} holds key {}: the secret key does not belong to this database. Use the key it was written with (restore $PROVISOR_HOME/secret.key from the backup, or set {KEY_VAR} / {KEY_FILE_VAR} to the key the other nodes use)",
                    r.key_id,
                    ring.source(),
                    ring.ids().join(", ")
                )));
            }
        }
    }
    let secret_paths = recorded_secret_paths(db).await?;
    let mut changes = Vec::new();
    for h in &handlers {
        let Some(paths) = secret_paths.get(&h.module) else {
            continue;
        };
        let Ok(mut v) = serde_json::from_str::<Value>(&h.settings) else {
            continue;
        };
        if seal_settings(ring, &h.name, &mut v, paths)? > 0 {
            changes.push((h.id, h.settings.clone(), v.to_string()));
        }
    }
    if changes.is_empty() && recorded.is_some() {
        return Ok(());
    }
    // SQLite only: it keeps deleted bytes in free pages and the WAL unless told to zero
    // them (PRAGMAs it alone has); PostgreSQL has no such switch (VACUUM reclaims them).
    let sqlite = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    let txn = db
        .begin()
        .await
        .map_err(super::db_err("sealing plain secret settings"))?;
    if sqlite && !changes.is_empty() {
        // The plain values' old bytes are zeroed in the file, not left in free space.
        txn.execute_unprepared("PRAGMA secure_delete = ON")
            .await
            .map_err(super::db_err("sealing plain secret settings"))?;
    }
    for (id, old, new) in &changes {
        // Only the row as read: a concurrent writer's newer settings are its own.
        handler::Entity::update_many()
            .col_expr(
                handler::Column::Settings,
                sea_orm::sea_query::Expr::value(new.clone()),
            )
            .filter(handler::Column::Id.eq(*id))
            .filter(handler::Column::Settings.eq(old.clone()))
            .exec(&txn)
            .await
            .map_err(super::db_err("sealing plain secret settings"))?;
    }
    if recorded.is_none() {
        secret_key::Entity::insert(secret_key::ActiveModel {
            id: Set(1),
            key_id: Set(ring.current_id()),
            // Wall time: when this key was first used, an event of the key file that
            // other processes also see; the store holds no clock.
            updated_at: Set(chrono::Utc::now()),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(secret_key::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(super::db_err("recording the secret key"))?;
    }
    txn.commit()
        .await
        .map_err(super::db_err("sealing plain secret settings"))?;
    if sqlite && !changes.is_empty() {
        // And the WAL's copies of the old pages go too (best effort: a reader in
        // another process may hold the WAL; its next checkpoint overwrites them).
        let _ = db
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await;
    }
    if !changes.is_empty() {
        tracing::info!(
            "sealed the plain secret settings of {} handler(s) with key {}",
            changes.len(),
            ring.current_id()
        );
    }
    Ok(())
}
