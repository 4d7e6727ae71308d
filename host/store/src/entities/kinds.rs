//! The closed sets of kinds and outcomes stored as text: what an operation does, what
//! an invoice line bills, which email waits in the outbox, how an attempt ended. Typed
//! like the statuses (`status.rs`), stored as the same words as before, so no migration
//! changes a row. The module log's outcome stays text: it holds HTTP status codes too.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What an operation does to its service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Makes the remote account (queued by an order).
    #[sea_orm(string_value = "create")]
    Create,
    /// Stops the remote account (overdue, or by staff), keeping it.
    #[sea_orm(string_value = "suspend")]
    Suspend,
    /// Starts a suspended remote account again.
    #[sea_orm(string_value = "unsuspend")]
    Unsuspend,
    /// Removes the remote account (as far as its panel does).
    #[sea_orm(string_value = "terminate")]
    Terminate,
    /// Moves the service to the plan in its params (`plan_id`).
    #[sea_orm(string_value = "change_plan")]
    ChangePlan,
    /// Extends a license's term on its panel.
    #[sea_orm(string_value = "renew")]
    Renew,
    /// One of the module's own admin actions, named in its params (`action`): the
    /// actions are the module's, the kind is always this one.
    #[sea_orm(string_value = "action")]
    Action,
}

/// What an invoice line bills.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum InvoiceLineKind {
    /// A service's period (its order, a renewal or a license month).
    #[sea_orm(string_value = "service")]
    Service,
    /// A sign-up deposit: paid, it becomes the client's credit.
    #[sea_orm(string_value = "deposit")]
    Deposit,
    /// A line staff wrote (`invoices create`).
    #[sea_orm(string_value = "manual")]
    Manual,
    /// Metered or imported usage.
    #[sea_orm(string_value = "usage")]
    Usage,
}

/// Which email an outbox row is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// A service has just become active.
    #[sea_orm(string_value = "welcome")]
    Welcome,
    /// An invoice was issued to the client.
    #[sea_orm(string_value = "invoice_created")]
    InvoiceCreated,
    /// An invoice was paid in full.
    #[sea_orm(string_value = "invoice_paid")]
    InvoicePaid,
    /// An invoice is past its due date.
    #[sea_orm(string_value = "invoice_overdue")]
    InvoiceOverdue,
    /// Money paid on an invoice was given back.
    #[sea_orm(string_value = "invoice_refunded")]
    InvoiceRefunded,
}

/// How one attempt of an operation ended (a call that was never made because its
/// handler was full is not an attempt, and has no row).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The module did it.
    #[sea_orm(string_value = "done")]
    Done,
    /// The module is still at it: polled again, not counted as an attempt.
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    /// A transient error: tried again later.
    #[sea_orm(string_value = "retry")]
    Retry,
    /// A person must act: the operation turned manual, with a task.
    #[sea_orm(string_value = "manual")]
    Manual,
}

/// A staff account's role: what it may do (issue 12).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, and manages staff.
    #[sea_orm(string_value = "owner")]
    Owner,
    /// Everything but staff.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Clients, invoices, payments, refunds and billing runs.
    #[sea_orm(string_value = "billing")]
    Billing,
    /// Reads everything, works its departments' tasks, runs service actions.
    #[sea_orm(string_value = "support")]
    Support,
}

/// Who did what the audit log records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A staff account (`actor_id` is `staff.id`).
    #[sea_orm(string_value = "staff")]
    Staff,
    /// A client through their login (`actor_id` is `clients.id`).
    #[sea_orm(string_value = "client")]
    Client,
    /// An API token not bound to a staff account (`actor_id` is `api_tokens.id`).
    #[sea_orm(string_value = "token")]
    Token,
    /// A module, through an operation (`actor_id` is `operations.id`).
    #[sea_orm(string_value = "module")]
    Module,
    /// Provisor itself: the daily run, the scheduler.
    #[sea_orm(string_value = "system")]
    System,
    /// Someone with a shell on the server, through the CLI (`actor_name` is the
    /// operating system's user).
    #[sea_orm(string_value = "shell")]
    Shell,
}

words!(OperationKind {
    Create => "create",
    Suspend => "suspend",
    Unsuspend => "unsuspend",
    Terminate => "terminate",
    ChangePlan => "change_plan",
    Renew => "renew",
    Action => "action",
});
words!(InvoiceLineKind {
    Service => "service",
    Deposit => "deposit",
    Manual => "manual",
    Usage => "usage",
});
words!(EmailKind {
    Welcome => "welcome",
    InvoiceCreated => "invoice_created",
    InvoicePaid => "invoice_paid",
    InvoiceOverdue => "invoice_overdue",
    InvoiceRefunded => "invoice_refunded",
});
words!(AttemptOutcome {
    Done => "done",
    InProgress => "in_progress",
    Retry => "retry",
    Manual => "manual",
});
words!(Role {
    Owner => "owner",
    Admin => "admin",
    Billing => "billing",
    Support => "support",
});
words!(ActorKind {
    Staff => "staff",
    Client => "client",
    Token => "token",
    Module => "module",
    System => "system",
    Shell => "shell",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_stored_values() {
        words_match!(
            OperationKind,
            InvoiceLineKind,
            EmailKind,
            AttemptOutcome,
            Role,
            ActorKind
        );
    }
}
