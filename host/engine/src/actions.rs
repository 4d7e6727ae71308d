//! A module's custom admin actions (ComputeStacks' `delete_account`, say): which one a
//! caller means, whether it was confirmed, and queueing it as an `action` operation.
//! The CLI and the HTTP API call these, so the rule lives once.
//! Must not: print, or run the action itself (a worker does, through the queue).

use provisor_module_api::AdminAction;
use provisor_runtime::{Call, Runtime};
use provisor_store::entities::kinds::OperationKind;
use provisor_store::entities::operation;
use provisor_store::error::{Error, Fix, Message, Result};
use serde_json::{Map, Value};

/// The admin actions the service's module offers for it now (one module call).
pub async fn list(rt: &Runtime, service_id: i64) -> Result<Vec<AdminAction>> {
    crate::call_now(rt, service_id, Call::AdminActions, Map::new()).await
}

/// The action called `name` among those the module offers for service `service_id`;
/// refused by name, with what is offered, when there is none.
pub fn find<'a>(
    actions: &'a [AdminAction],
    service_id: i64,
    name: &str,
) -> Result<&'a AdminAction> {
    actions.iter().find(|a| a.name == name).ok_or_else(|| {
        let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
        Error::Invalid(format!(
            "service #{service_id}'s module has no admin action {name:?}; it offers: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    })
}

/// An action that asks for confirmation (a destructive one) goes ahead only when the
/// caller confirmed it.
pub fn check_confirmed(action: &AdminAction, confirmed: bool) -> Result<()> {
    match (&action.confirm, confirmed) {
        (Some(question), false) => Err(Error::invalid(
            Message::new(format!(
                "{} asks for confirmation: {question} To go ahead, ",
                action.name
            ))
            .fix(Fix::Confirm)
            .text("."),
        )),
        _ => Ok(()),
    }
}

/// Queues action `name` for the service as an `action` operation, with the form values
/// in `params`, once the module offers it and it is confirmed where it asks to be.
/// `actions` is what [`list`] answered for the service; the operation gets
/// `max_attempts` tries.
pub async fn queue(
    rt: &Runtime,
    service_id: i64,
    actions: &[AdminAction],
    name: &str,
    mut params: Map<String, Value>,
    confirmed: bool,
    max_attempts: i32,
) -> Result<operation::Model> {
    let action = find(actions, service_id, name)?;
    check_confirmed(action, confirmed)?;
    params.insert("action".into(), Value::String(name.to_string()));
    crate::request(
        rt,
        service_id,
        OperationKind::Action,
        Value::Object(params),
        max_attempts,
    )
    .await
}
