//! `provisor audit`: the audit log, newest first — who changed what, and what it was
//! before and after. Thin: the filters and the query are `provisor_app::audit`'s.

use clap::Args;
use serde_json::Value;

use super::{output, Ctx, JsonFlag};
use provisor_app::audit::{self, Filter};
use provisor_store::entities::audit_entry;
use provisor_store::error::{Error, Result};

/// `provisor audit`'s filters.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only entries by this actor: KIND (staff, client, token, module, system, shell),
    /// optionally with :ID or :NAME (shell:root, module:12, system:cron).
    #[arg(long, value_name = "KIND[:ID|NAME]")]
    actor: Option<String>,
    /// Only entries about this object: KIND, optionally with :ID (service:12,
    /// invoice:2026-000001, handler:vps).
    #[arg(long, value_name = "KIND[:ID]")]
    object: Option<String>,
    /// Only entries of this action (service.suspend, invoice.pay …).
    #[arg(long)]
    action: Option<String>,
    /// Only entries from this day (YYYY-MM-DD, UTC) or time (RFC 3339) on.
    #[arg(long, value_name = "DATE|RFC3339")]
    since: Option<String>,
    /// Show at most this many entries (1 to 1000000).
    #[arg(long, default_value_t = 100)]
    limit: u64,
    #[command(flatten)]
    json: JsonFlag,
}

fn entry_json(e: &audit_entry::Model) -> Value {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())))
            .unwrap_or(Value::Null)
    };
    serde_json::json!({
        "id": e.id,
        "at": e.at.to_rfc3339(),
        "actor": {"kind": e.actor_kind, "id": e.actor_id, "name": e.actor_name},
        "source": e.source_addr,
        "action": e.action,
        "object": {"kind": e.object_kind, "id": e.object_id},
        "before": parse(&e.before),
        "after": parse(&e.after),
    })
}

/// What changed, on one line: `status: active → suspended`, else the after object.
fn change(e: &audit_entry::Model) -> String {
    let obj = |t: &Option<String>| -> serde_json::Map<String, Value> {
        t.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    };
    let (before, after) = (obj(&e.before), obj(&e.after));
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    for (k, v) in after.iter().filter(|(_, v)| !v.is_null()) {
        match before.get(k) {
            Some(b) if b != v => parts.push(format!("{k}: {} → {}", show(b), show(v))),
            Some(_) => {}
            None => parts.push(format!("{k}: {}", show(v))),
        }
    }
    for (k, b) in &before {
        if !after.contains_key(k) {
            parts.push(format!("{k} was {}", show(b)));
        }
    }
    parts.join(", ")
}

pub(crate) async fn show(ctx: &Ctx, args: AuditArgs) -> Result<()> {
    if args.limit == 0 || args.limit > output::LIMIT_MAX {
        return Err(Error::Invalid(format!(
            "--limit {} is out of range: give 1 to {}",
            args.limit,
            output::LIMIT_MAX
        )));
    }
    let mut filter = Filter::default();
    if let Some(a) = &args.actor {
        filter = filter.actor(a)?;
    }
    if let Some(o) = &args.object {
        filter = filter.object(o)?;
    }
    if let Some(a) = &args.action {
        filter = filter.action(a)?;
    }
    if let Some(s) = &args.since {
        filter = filter.since(s)?;
    }
    let store = ctx.store().await?;
    let rows = audit::list(&store, &filter, args.limit).await?;
    if args.json.json {
        output::json(&rows.iter().map(entry_json).collect::<Vec<_>>());
    } else if rows.is_empty() {
        println!("no audit entries match");
    } else {
        output::table(
            &["AT", "ACTOR", "ACTION", "OBJECT", "CHANGE"],
            &rows
                .iter()
                .map(|e| {
                    vec![
                        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{}:{}", e.actor_kind, e.actor_name),
                        e.action.clone(),
                        match &e.object_id {
                            Some(id) => format!("{}:{id}", e.object_kind),
                            None => e.object_kind.clone(),
                        },
                        change(e),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}
