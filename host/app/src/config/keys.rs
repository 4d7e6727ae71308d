//! Every setting `provisor.toml` may hold, once: its key, the environment variable and
//! flag that override it, its default and what it takes. The loader's messages, the
//! `init` template and `config show` are all read from this table.

use std::fmt::Write as _;

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// `section.name` in `provisor.toml`.
    pub key: &'static str,
    /// The environment variable that overrides the file.
    pub env: &'static str,
    /// The command-line flag that overrides both, if there is one.
    pub flag: Option<&'static str>,
    /// The default, as written in the template (TOML) or described.
    pub default: &'static str,
    /// What the value must be (ends a refusal: "… is refused: {takes}").
    pub takes: &'static str,
    /// A secret: never printed, only "(set)" or "(not set)".
    pub secret: bool,
}

const fn key(
    key: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    default: &'static str,
    takes: &'static str,
) -> KeyDoc {
    KeyDoc {
        key,
        env,
        flag,
        default,
        takes,
        secret: false,
    }
}

const fn secret(key: &'static str, env: &'static str, takes: &'static str) -> KeyDoc {
    KeyDoc {
        key,
        env,
        flag: None,
        default: "(not set)",
        takes,
        secret: true,
    }
}

/// Every key, in the order of the template and of `config show`.
pub const KEYS: &[KeyDoc] = &[
    key(
        "database.url",
        "DATABASE_URL",
        Some("--database-url"),
        "(the home's provisor.db, SQLite)",
        "a postgres://… or sqlite://… URL",
    ),
    key(
        "database.sqlite_pool",
        "PROVISOR_SQLITE_POOL",
        None,
        "8",
        "a whole number of connections from 1 to 64",
    ),
    key(
        "modules.call_timeout_secs",
        "PROVISOR_CALL_TIMEOUT",
        Some("--call-timeout"),
        "60",
        "a whole number of seconds from 1 to 86400",
    ),
    key(
        "modules.max_stuck_calls",
        "PROVISOR_MAX_STUCK_CALLS",
        Some("--max-stuck-calls"),
        "4",
        "a whole number of calls from 1 to 10000",
    ),
    key(
        "engine.retry_secs",
        "PROVISOR_RETRY_SECS",
        Some("--retry-secs"),
        "300",
        "a whole number of seconds from 0 to 604800",
    ),
    key(
        "engine.max_attempts",
        "PROVISOR_MAX_ATTEMPTS",
        None,
        "5",
        "a whole number of attempts from 1 to 1000",
    ),
    key(
        "billing.time_zone",
        "PROVISOR_BILLING_TZ",
        None,
        "\"UTC\"",
        "UTC, a fixed offset such as +01:00 or -05:30, or an IANA name such as Europe/Berlin",
    ),
    key(
        "billing.renew_days",
        "PROVISOR_RENEW_DAYS",
        None,
        "7",
        "a whole number of days from 0 to 366",
    ),
    key(
        "billing.grace_days",
        "PROVISOR_GRACE_DAYS",
        None,
        "3",
        "a whole number of days from 0 to 366",
    ),
    key(
        "billing.terminate_days",
        "PROVISOR_TERMINATE_DAYS",
        None,
        "14",
        "a whole number of days from 0 to 366",
    ),
    key(
        "billing.chunk_clients",
        "PROVISOR_BILLING_CHUNK",
        None,
        "500",
        "a whole number of clients from 1 to 1000000",
    ),
    secret(
        "api.token",
        "PROVISOR_API_TOKEN",
        "a secret of at least 24 printable ASCII characters (`openssl rand -hex 32`)",
    ),
    key(
        "api.max_body_bytes",
        "PROVISOR_API_MAX_BODY",
        None,
        "33554432",
        "a size in bytes from 1 to 1073741824",
    ),
    key(
        "api.header_timeout_secs",
        "PROVISOR_API_HEADER_TIMEOUT_SECS",
        None,
        "10",
        "a whole number of seconds from 1 to 3600",
    ),
    key(
        "api.body_timeout_secs",
        "PROVISOR_API_BODY_TIMEOUT_SECS",
        None,
        "15",
        "a whole number of seconds from 1 to 3600",
    ),
    key(
        "api.max_connections",
        "PROVISOR_API_MAX_CONNECTIONS",
        None,
        "512",
        "a whole number of connections from 1 to 100000",
    ),
    key(
        "api.max_connections_per_ip",
        "PROVISOR_API_MAX_CONNECTIONS_PER_IP",
        None,
        "128",
        "a whole number of connections from 1 to 100000",
    ),
    key(
        "api.cors_origins",
        "PROVISOR_API_CORS_ORIGINS",
        None,
        "(none: no browser page of another origin may call the API)",
        "origins like https://panel.example.com, comma-separated",
    ),
    key(
        "accounts.staff_session_secs",
        "PROVISOR_STAFF_SESSION_SECS",
        None,
        "43200",
        "a whole number of seconds from 60 to 31622400",
    ),
    key(
        "accounts.staff_idle_secs",
        "PROVISOR_STAFF_IDLE_SECS",
        None,
        "1800",
        "a whole number of seconds from 60 to 31622400",
    ),
    key(
        "accounts.client_session_secs",
        "PROVISOR_CLIENT_SESSION_SECS",
        None,
        "2592000",
        "a whole number of seconds from 60 to 31622400",
    ),
    key(
        "accounts.client_idle_secs",
        "PROVISOR_CLIENT_IDLE_SECS",
        None,
        "604800",
        "a whole number of seconds from 60 to 31622400",
    ),
    secret(
        "secrets.key",
        "PROVISOR_SECRET_KEY",
        "base64 keys of 32 bytes, comma-separated, the current one first (`head -c 32 /dev/urandom | base64`)",
    ),
    key(
        "secrets.key_file",
        "PROVISOR_SECRET_KEY_FILE",
        None,
        "(the home's secret.key, made with the home)",
        "the path of an existing key file",
    ),
    key(
        "log.filter",
        "PROVISOR_LOG",
        None,
        "\"warn\" (\"info\" for the daemon)",
        "a log filter such as warn, info or info,provisor=debug",
    ),
];

/// The table entry of `key`.
pub fn doc(key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|k| k.key == key)
}

/// The sections, in order.
pub fn sections() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in KEYS {
        let s = section_of(k.key);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn section_of(key: &'static str) -> &'static str {
    key.split_once('.').map(|(s, _)| s).unwrap_or(key)
}

/// The names a section holds.
pub fn names_in(section: &str) -> Vec<&'static str> {
    KEYS.iter()
        .filter(|k| section_of(k.key) == section)
        .filter_map(|k| k.key.split_once('.').map(|(_, n)| n))
        .collect()
}

/// The closest of `candidates` to a misspelt `word`, when close enough to suggest.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = here;
        }
    }
    row[b.len()]
}

/// A `provisor.toml` with every key commented out at its default, for `provisor init`.
pub fn template() -> String {
    let mut out = String::from(
        "# Provisor's configuration. Every key is shown at its default, commented out.\n\
         # Order of precedence: command-line flag, then environment variable, then this\n\
         # file, then the default. `provisor config show` prints what is in effect.\n\
         # An unknown key or a bad value is refused at start. Keep this file private\n\
         # (chmod 600) if it holds api.token or secrets.key.\n",
    );
    for section in sections() {
        let _ = write!(out, "\n[{section}]\n");
        for k in KEYS.iter().filter(|k| section_of(k.key) == section) {
            let name = k.key.split_once('.').map(|(_, n)| n).unwrap_or(k.key);
            let over = match k.flag {
                Some(f) => format!("{}, {f}", k.env),
                None => k.env.to_string(),
            };
            let _ = writeln!(out, "# {} ({over})", k.takes);
            if k.default.starts_with('(') || k.secret {
                let _ = writeln!(out, "# {name} = …  default: {}", k.default);
            } else {
                let _ = writeln!(out, "# {name} = {}", k.default);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_near_name() {
        let names = names_in("billing");
        assert_eq!(closest("grace_day", &names), Some("grace_days"));
        assert_eq!(closest("zzz", &names), None);
    }

    #[test]
    fn the_template_parses_and_names_every_key() {
        let t = template();
        let parsed: toml::Table = toml::from_str(&t).expect("the template is TOML");
        assert!(
            parsed
                .values()
                .all(|v| v.as_table().is_some_and(toml::map::Map::is_empty)),
            "every key is commented out"
        );
        for k in KEYS {
            let name = k.key.split_once('.').map(|(_, n)| n).unwrap_or(k.key);
            assert!(t.contains(&format!("# {name} =")), "{}", k.key);
        }
    }
}
