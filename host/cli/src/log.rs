//! `provisor log`: the module log, newest first, secrets redacted.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

use super::{output, Ctx};
use provisor_engine::handlers;
use provisor_store::entities::module_log;
use provisor_store::error::Result;

pub(crate) async fn show(
    ctx: &Ctx,
    handler: Option<String>,
    service: Option<i64>,
    page: output::Paging,
    json: bool,
) -> Result<()> {
    let fetch = page.fetch()?;
    let store = ctx.store().await?;
    let mut q = module_log::Entity::find()
        .order_by_desc(module_log::Column::Id)
        .offset(page.offset)
        .limit(fetch);
    if let Some(h) = &handler {
        handlers::get(&store, h).await?;
        q = q.filter(module_log::Column::Handler.eq(h.clone()));
    }
    if let Some(s) = service {
        q = q.filter(module_log::Column::ServiceId.eq(s));
    }
    let mut rows = q
        .all(store.db())
        .await
        .map_err(provisor_store::db_err("reading the module log"))?;
    let more = page.trim(&mut rows);
    if json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::json!({"id": r.id, "at": r.at.to_rfc3339(), "handler": r.handler, "module": r.module, "module_version": r.module_version, "service_id": r.service_id, "operation_id": r.operation_id, "attempt": r.attempt, "kind": r.kind, "call": r.call, "request": r.request, "response": r.response, "outcome": r.outcome, "duration_ms": r.duration_ms}))
            .collect();
        output::json(&out);
    } else if rows.is_empty() {
        println!("the module log is empty");
    } else {
        output::table(
            &["AT", "HANDLER", "SERVICE", "KIND", "CALL", "OUTCOME", "MS"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        r.handler.clone(),
                        r.service_id
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.kind.clone(),
                        r.call.clone(),
                        r.outcome.clone(),
                        r.duration_ms.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        if more {
            page.more_note(rows.len());
        }
    }
    Ok(())
}
