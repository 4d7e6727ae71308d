//! `provisor config show`: every setting in effect and where it came from (default,
//! provisor.toml and its line, environment variable, flag). Secrets (the API token,
//! the secret key) show only whether they are set.

use clap::Subcommand;
use serde_json::{json, Map, Value};

use crate::output;
use crate::JsonFlag;
use provisor_app::config::Source;
use provisor_app::Ctx;

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Every setting in effect, where it came from and which variable or flag changes
    /// it; the API token and the secret key show only `(set)` or `(not set)`.
    Show(JsonFlag),
}

pub fn run(ctx: &Ctx, cmd: ConfigCmd) {
    match cmd {
        ConfigCmd::Show(flag) => show(ctx, flag.json),
    }
}

fn source_json(s: &Source) -> (&'static str, Value) {
    match s {
        Source::Default => ("default", Value::Null),
        Source::File { line } => ("file", json!(line)),
        Source::Env(name) => ("env", json!(name)),
        Source::Flag(flag) => ("flag", json!(flag)),
    }
}

fn show(ctx: &Ctx, as_json: bool) {
    let cfg = &ctx.config;
    let entries = cfg.entries();
    if as_json {
        let mut settings = Map::new();
        for e in &entries {
            let (kind, from) = source_json(&e.source);
            let mut row = json!({
                "value": e.value,
                "source": kind,
                "env": e.doc.env,
                "flag": e.doc.flag,
                "default": e.doc.default,
            });
            if let Source::File { line } = e.source {
                row["line"] = json!(line);
            } else if !from.is_null() {
                row["from"] = from;
            }
            settings.insert(e.key.to_string(), row);
        }
        output::json(&json!({
            "home": cfg.home,
            "home_source": if cfg.home_given { "given" } else { "default" },
            "file": cfg.file,
            "file_found": cfg.file_found,
            "settings": settings,
        }));
        return;
    }
    println!(
        "home {}{}",
        cfg.home.display(),
        if cfg.home_given {
            ""
        } else {
            " (default: ./provisor-home)"
        }
    );
    println!(
        "file {}{}",
        cfg.file.display(),
        if cfg.file_found { "" } else { " (none)" }
    );
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let value = match &e.value {
                Value::Null => e.doc.default.to_string(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let changed_by = match e.doc.flag {
                Some(f) => format!("{}, {f}", e.doc.env),
                None => e.doc.env.to_string(),
            };
            vec![e.key.to_string(), value, e.source.to_string(), changed_by]
        })
        .collect();
    output::table(&["KEY", "VALUE", "SOURCE", "CHANGED BY"], &rows);
}
