//! What a billing step did, or would do in a dry run: the events every run reports.

use provisor_store::error::Message;
use serde::Serialize;

/// One thing a billing step did, or would do in a dry run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event {
    /// The step (`month_end`, `postpaid`, `renewal`, `overdue`, `license`…).
    pub step: String,
    /// The client concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    /// The service concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<i64>,
    /// The invoice written (or that would be), by number or id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// Decimal text, in `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The currency code of `amount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// One line for admins (serialized as its plain text).
    pub message: Message,
    /// The step could not do this (e.g. a module could not read usage): nothing was
    /// billed for it, the run reports failure, and the next run for the date tries again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// The handler whose module failed, for a failed event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
}

impl Event {
    /// The failed events of a run, as one line naming each handler and its services
    /// (`None` when nothing failed).
    pub fn failures(events: &[Event]) -> Option<String> {
        let mut by_handler = std::collections::BTreeMap::<&str, Vec<String>>::new();
        for e in events.iter().filter(|e| e.failed) {
            let who = e.handler.as_deref().unwrap_or("(unknown handler)");
            let what = e
                .service_id
                .map(|id| format!("service #{id}"))
                .unwrap_or_else(|| e.step.clone());
            by_handler.entry(who).or_default().push(what);
        }
        if by_handler.is_empty() {
            return None;
        }
        Some(
            by_handler
                .into_iter()
                .map(|(h, s)| format!("handler {h} ({})", s.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}
