//! Reading `provisor.toml`: the serde shape of the file (every section and key optional,
//! unknown ones refused by `deny_unknown_fields`), and refusals that name the file, the
//! line, the key and the fix.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::keys;
use provisor_store::error::Error;

/// The file as written: what it leaves out takes the environment's value or the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub database: Database,
    #[serde(default)]
    pub modules: Modules,
    #[serde(default)]
    pub engine: Engine,
    #[serde(default)]
    pub billing: Billing,
    #[serde(default)]
    pub api: Api,
    #[serde(default)]
    pub accounts: Accounts,
    #[serde(default)]
    pub secrets: Secrets,
    #[serde(default)]
    pub log: Log,
}

/// A number as written (checked against its range after reading, so the message can
/// say the range rather than serde's "expected u32").
pub type Num = Option<Spanned<i64>>;
/// A string as written.
pub type Text = Option<Spanned<String>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: Text,
    pub sqlite_pool: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    pub call_timeout_secs: Num,
    pub max_stuck_calls: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub retry_secs: Num,
    pub max_attempts: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    pub time_zone: Text,
    pub renew_days: Num,
    pub grace_days: Num,
    pub terminate_days: Num,
    pub chunk_clients: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    pub token: Text,
    pub max_body_bytes: Num,
    pub header_timeout_secs: Num,
    pub body_timeout_secs: Num,
    pub max_connections: Num,
    pub max_connections_per_ip: Num,
    pub cors_origins: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::struct_field_names,
    reason = "the fields are the file's keys, which say their unit as every key does"
)]
pub struct Accounts {
    pub staff_session_secs: Num,
    pub staff_idle_secs: Num,
    pub client_session_secs: Num,
    pub client_idle_secs: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    pub key: Text,
    pub key_file: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub filter: Text,
}

/// Parses the file's text; a syntax error, an unknown section or key, or a value of
/// the wrong type is refused naming the file, the line and the key.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, Error> {
    toml::from_str::<FileConfig>(text).map_err(|e| refusal(path, text, &e))
}

/// The 1-based line of byte offset `pos`.
pub fn line_of(text: &str, pos: usize) -> usize {
    text.get(..pos)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

fn refusal(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let at = match e.span() {
        Some(s) => format!("{} line {}", path.display(), line_of(text, s.start)),
        None => path.display().to_string(),
    };
    let msg = e.message().trim();
    let place = e.span().and_then(|s| key_at(text, s.start));
    if let Some(name) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        return Error::Invalid(unknown(&at, place.as_deref(), name));
    }
    match place {
        Some(key) => {
            let takes = keys::doc(&key)
                .map(|d| format!(": it takes {}", d.takes))
                .unwrap_or_default();
            Error::Invalid(format!(
                "{at}: `{key}` is refused ({msg}){takes}; fix the line or remove it"
            ))
        }
        None => Error::Invalid(format!(
            "{at}: {msg}; fix the file (docs/configuration.md lists every key)"
        )),
    }
}

/// The message for an unknown section or key. `place` is the dotted key the error
/// points into: `billing.grace_day` for a key, `biling` for a section.
fn unknown(at: &str, place: Option<&str>, name: &str) -> String {
    let section = place.and_then(|p| p.split_once('.').map(|(s, _)| s));
    match section {
        Some(section) => {
            let names = keys::names_in(section);
            let hint = match keys::closest(name, &names) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("[{section}] takes {}", names.join(", ")),
            };
            format!("{at}: unknown key `{section}.{name}` — {hint}")
        }
        None => {
            let sections = keys::sections();
            let hint = match keys::closest(name, &sections) {
                Some(near) => format!("did you mean `[{near}]`?"),
                None => format!("the sections are {}", sections.join(", ")),
            };
            format!("{at}: unknown section `{name}` — {hint}")
        }
    }
}

/// The dotted key whose name or value covers byte offset `pos` (one level of
/// sections, which is all `provisor.toml` has).
fn key_at(text: &str, pos: usize) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let covers =
        |span: std::ops::Range<usize>| span.start <= pos && pos < span.end.max(span.start + 1);
    for (k, v) in doc.get_ref() {
        if let Some(table) = v.get_ref().as_table() {
            for (k2, v2) in table {
                if covers(k2.span()) || covers(v2.span()) {
                    return Some(format!("{}.{}", k.get_ref(), k2.get_ref()));
                }
            }
        }
        if covers(k.span()) {
            return Some(k.get_ref().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match parse(Path::new("provisor.toml"), text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_misspelt_key_is_named_with_its_section_line_and_the_near_name() {
        let err = refused("[billing]\nrenew_days = 7\ngrace_day = 3\n");
        assert!(err.contains("provisor.toml line 3"), "{err}");
        assert!(err.contains("unknown key `billing.grace_day`"), "{err}");
        assert!(err.contains("did you mean `grace_days`?"), "{err}");
    }

    #[test]
    fn a_misspelt_section_is_named() {
        let err = refused("[biling]\ngrace_days = 3\n");
        assert!(err.contains("unknown section `biling`"), "{err}");
        assert!(err.contains("`[billing]`"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key_and_what_it_takes() {
        let err = refused("[billing]\n\ngrace_days = \"abc\"\n");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("`billing.grace_days`"), "{err}");
        assert!(err.contains("number of days"), "{err}");
    }

    #[test]
    fn values_keep_their_lines() {
        let text = "[modules]\n\ncall_timeout_secs = 5\n";
        let f = parse(Path::new("provisor.toml"), text).expect("parses");
        let v = f.modules.call_timeout_secs.expect("set");
        assert_eq!(*v.get_ref(), 5);
        assert_eq!(line_of(text, v.span().start), 3);
    }
}
