//! Reading arguments: dates, KEY=VALUE pairs, paths and JSON files named on the
//! command line.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use provisor_store::error::{Error, Result};
use provisor_store::schema;

/// A `YYYY-MM-DD` argument, refused by name when it is not a real date.
pub(crate) fn parse_day(flag: &str, text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::Invalid(format!(
            "{flag} {text:?} is not a date: write YYYY-MM-DD (a day that exists, e.g. 2026-02-28)"
        ))
    })
}

pub(crate) fn key_values(items: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for item in items {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "{what} {:?} must look like KEY=VALUE",
                provisor_store::input::preview(item)
            ))
        })?;
        if k.is_empty() {
            return Err(Error::Invalid(format!(
                "{what} {:?} has no key",
                provisor_store::input::preview(item)
            )));
        }
        provisor_store::input::check_line(
            &format!("{what} key"),
            k,
            provisor_store::input::NAME_MAX,
        )?;
        provisor_store::input::check_line(
            &format!("{what} {k}"),
            v,
            provisor_store::input::TEXT_MAX,
        )?;
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(out)
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .map_err(|e| Error::io("cannot read the current directory", e))?
            .join(path))
    }
}

pub(crate) fn read_settings(path: &Path) -> Result<Value> {
    read_json_object(path, "settings")
}

/// Reads a JSON object from `path` (or standard input for `-`); `what` names the file
/// in errors ("the settings file", "the request file"). A missing file is not found.
pub(crate) fn read_json_object(path: &Path, what: &str) -> Result<Value> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io(format!("cannot read {what} from standard input"), e))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| {
            let msg = format!("cannot read the {what} file {}: {e}", path.display());
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(msg)
            } else {
                Error::Invalid(msg)
            }
        })?
    };
    let map = schema::parse_object(&text, &format!("the {what} file {}", path.display()))?;
    Ok(Value::Object(map))
}
