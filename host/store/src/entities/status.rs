//! The states a service and an operation can be in, typed. Stored as the same text as
//! before (`"active"`, `"queued"`…), so no migration changes a row; compared, matched and
//! printed as those words.

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
    /// A create held until its order's invoice is paid.
    #[sea_orm(string_value = "awaiting_payment")]
    AwaitingPayment,
}

macro_rules! words {
    ($t:ident { $($v:ident => $w:literal),* $(,)? }) => {
        impl $t {
            /// The stored word.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($t::$v => $w,)*
                }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn the_words_are_the_stored_values() {
        for s in ServiceStatus::iter() {
            assert_eq!(s.as_str(), s.to_value());
        }
        for s in OperationStatus::iter() {
            assert_eq!(s.as_str(), s.to_value());
        }
    }
}
