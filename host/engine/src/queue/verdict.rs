//! Calling the module for a prepared operation, and what its answer means.

use std::time::Duration;

use provisor_module_api::{ErrorKind, ModuleError, Outcome};
use serde_json::{Map, Value};

use super::prepare::Prepared;
use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::entities::kinds::OperationKind;

/// What a module's answer means for the operation.
pub(super) enum Verdict {
    Done {
        remote_id: Option<String>,
        attributes: Map<String, Value>,
        /// What the module said it did, kept on the attempt.
        message: Option<String>,
    },
    InProgress {
        after: Duration,
        state: Value,
        message: Option<String>,
    },
    Retry {
        error: ModuleError,
    },
    /// Not called: the handler has too many stuck calls. Queued again, not counted as
    /// an attempt, the reason shown as the operation's error.
    Wait {
        reason: String,
    },
    Manual {
        reason: String,
        fields: Value,
        error: Option<ModuleError>,
    },
}

impl Verdict {
    /// The module's own words on a done or in-progress call (kept on the attempt row).
    pub(super) fn message(&self) -> Option<&str> {
        match self {
            Verdict::Done { message, .. } | Verdict::InProgress { message, .. } => {
                message.as_deref().filter(|m| !m.trim().is_empty())
            }
            _ => None,
        }
    }
}

/// Calls the module for one prepared operation and says what its answer means.
pub(super) async fn call_module(rt: &Runtime, p: &Prepared) -> Verdict {
    let op = &p.op;
    let (Some(svc), Some(h)) = (&p.svc, &p.handler) else {
        return Verdict::Retry {
            error: ModuleError::transient(match &p.request {
                Err(e) => e.to_string(),
                Ok(_) => format!("operation #{}'s service or handler is missing", op.id),
            }),
        };
    };
    let request = match &p.request {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Retry {
                error: ModuleError::transient(e.to_string()),
            }
        }
    };
    let instance = match rt.instance(h).await {
        Ok(i) => i,
        Err(e) => {
            return Verdict::Retry {
                error: ModuleError::transient(e.to_string()),
            }
        }
    };
    if let Some(reason) = instance.blocked() {
        return Verdict::Wait { reason };
    }
    let call = match op.kind {
        OperationKind::Create => Call::Create,
        OperationKind::Suspend => Call::Suspend,
        OperationKind::Unsuspend => Call::Unsuspend,
        OperationKind::Terminate => Call::Terminate,
        OperationKind::ChangePlan => Call::ChangePlan,
        OperationKind::Action => Call::RunAction,
        OperationKind::Renew => Call::Renew,
    };
    let ctx = CallContext {
        service_id: Some(svc.id),
        operation_id: Some(op.id),
        attempt: Some(op.attempts),
    };
    let verdict = match instance.call::<_, Outcome>(call, request, ctx).await {
        Ok(Outcome::Done {
            remote_id,
            attributes,
            message,
        }) => Verdict::Done {
            remote_id,
            attributes,
            message,
        },
        Ok(Outcome::InProgress {
            poll_after_secs,
            state,
            message,
        }) => Verdict::InProgress {
            after: Duration::from_secs(u64::from(poll_after_secs.max(1))),
            state,
            message,
        },
        Ok(Outcome::NeedsHuman { reason, fields }) => Verdict::Manual {
            reason,
            fields: serde_json::to_value(fields).unwrap_or(Value::Array(vec![])),
            error: None,
        },
        Err(e) if e.kind == ErrorKind::Transient => Verdict::Retry { error: e },
        Err(e) => Verdict::Manual {
            reason: format!("{} failed: {e}", op.kind),
            fields: default_fields(op.kind),
            error: Some(e),
        },
    };
    match verdict {
        Verdict::Retry { error } if op.attempts >= op.max_attempts => Verdict::Manual {
            reason: format!(
                "{} gave up after {} attempts; last error: {error}",
                op.kind, op.attempts
            ),
            fields: default_fields(op.kind),
            error: Some(error),
        },
        v => v,
    }
}

pub(super) fn default_fields(kind: OperationKind) -> Value {
    if kind == OperationKind::Create {
        serde_json::json!([
            {"name": "remote_id", "label": "Remote account id", "kind": "text", "required": true},
            {"name": "notes", "label": "Notes", "kind": "text", "required": false}
        ])
    } else {
        serde_json::json!([{"name": "notes", "label": "Notes", "kind": "text", "required": false}])
    }
}
