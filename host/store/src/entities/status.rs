//! The states a service, an operation, an invoice, a task and a module file can be in,
//! typed. Stored as the same text as before (`"active"`, `"queued"`, `"unpaid"`…), so no
//! migration changes a row; printed as those words (`Display`, `as_str`), and text a
//! person typed becomes a variant through `parse`. The closed sets of kinds and outcomes
//! are in `kinds.rs`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a service is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Ordered; its create has not run yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Its create is running.
    #[sea_orm(string_value = "provisioning")]
    Provisioning,
    /// Live on its panel.
    #[sea_orm(string_value = "active")]
    Active,
    /// Suspended (overdue, or by staff).
    #[sea_orm(string_value = "suspended")]
    Suspended,
    /// Gone from its panel.
    #[sea_orm(string_value = "terminated")]
    Terminated,
    /// Its create failed for good.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Waiting for staff (its create turned into a task).
    #[sea_orm(string_value = "manual")]
    Manual,
}

/// Where an operation is in the queue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Due at `next_run_at`.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Claimed by a worker under a lease.
    #[sea_orm(string_value = "running")]
    Running,
    /// Finished.
    #[sea_orm(string_value = "done")]
    Done,
    /// Turned into a task for staff.
    #[sea_orm(string_value = "manual")]
    Manual,
    /// Cancelled by staff or by its invoice.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// A create held until its order's invoice is paid. Workers claim only `queued`
    /// operations, so a held create never runs early.
    #[sea_orm(string_value = "awaiting_payment")]
    AwaitingPayment,
}

impl OperationStatus {
    /// Not finished: queued, running or waiting for staff. A service has at most one
    /// such operation at a time.
    pub const UNFINISHED: [OperationStatus; 3] = [
        OperationStatus::Queued,
        OperationStatus::Running,
        OperationStatus::Manual,
    ];
}

/// Where an invoice is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being made: no number yet, nothing due.
    #[sea_orm(string_value = "draft")]
    Draft,
    /// Issued (numbered) and not paid in full.
    #[sea_orm(string_value = "unpaid")]
    Unpaid,
    /// Paid in full.
    #[sea_orm(string_value = "paid")]
    Paid,
    /// Cancelled before it was paid.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Paid, then every payment given back.
    #[sea_orm(string_value = "refunded")]
    Refunded,
}

/// Where a manual task is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for someone in its department.
    #[sea_orm(string_value = "open")]
    Open,
    /// A member of staff has it.
    #[sea_orm(string_value = "taken")]
    Taken,
    /// Completed: its operation is done.
    #[sea_orm(string_value = "done")]
    Done,
    /// Sent back: its operation is queued again.
    #[sea_orm(string_value = "returned")]
    Returned,
    /// Its operation was cancelled.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl TaskStatus {
    /// Still to be dealt with: open or taken.
    pub const UNFINISHED: [TaskStatus; 2] = [TaskStatus::Open, TaskStatus::Taken];

    /// Whether the task is still to be dealt with (open or taken).
    pub fn is_unfinished(self) -> bool {
        TaskStatus::UNFINISHED.contains(&self)
    }
}

/// The latest verdict on a file in the modules directory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum ModuleFileStatus {
    /// Probed, checked and loaded.
    #[sea_orm(string_value = "loaded")]
    Loaded,
    /// Refused, with the reason beside it.
    #[sea_orm(string_value = "refused")]
    Refused,
    /// Loaded, then its file was removed (the module serves until a restart).
    #[sea_orm(string_value = "missing")]
    Missing,
}

words!(ServiceStatus {
    Pending => "pending",
    Provisioning => "provisioning",
    Active => "active",
    Suspended => "suspended",
    Terminated => "terminated",
    Failed => "failed",
    Manual => "manual",
});
words!(OperationStatus {
    Queued => "queued",
    Running => "running",
    Done => "done",
    Manual => "manual",
    Cancelled => "cancelled",
    AwaitingPayment => "awaiting_payment",
});
words!(InvoiceStatus {
    Draft => "draft",
    Unpaid => "unpaid",
    Paid => "paid",
    Cancelled => "cancelled",
    Refunded => "refunded",
});
words!(TaskStatus {
    Open => "open",
    Taken => "taken",
    Done => "done",
    Returned => "returned",
    Cancelled => "cancelled",
});
words!(ModuleFileStatus {
    Loaded => "loaded",
    Refused => "refused",
    Missing => "missing",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_stored_values() {
        words_match!(
            ServiceStatus,
            OperationStatus,
            InvoiceStatus,
            TaskStatus,
            ModuleFileStatus
        );
    }
}
