//! What the handler's key-value store keeps per SolusVM user: which services hold
//! it and in what state, and the state the panel should be brought to from that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the handler's store keeps about one SolusVM user (`users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Service id → `active` or `suspended`: the services holding the user.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// The VMs this module suspended (and unsuspend resumes). `None`: never recorded
    /// (an imported service), so unsuspend resumes every suspended VM.
    #[serde(default)]
    pub suspended_vms: Option<Vec<u64>>,
}

/// The state the panel should show for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Some service is active.
    Active,
    /// Services hold the user, all suspended.
    Suspended,
    /// No service holds the user any more.
    Locked,
}

impl Wanted {
    pub(crate) fn status(self) -> &'static str {
        match self {
            Wanted::Active => "active",
            Wanted::Suspended => "suspended",
            Wanted::Locked => "locked",
        }
    }
}

impl UserRecord {
    /// Active while any service is active; suspended while the rest are suspended;
    /// locked when none is left.
    pub fn wanted(&self) -> Wanted {
        if self.services.values().any(|s| s == "active") {
            Wanted::Active
        } else if self.services.is_empty() {
            Wanted::Locked
        } else {
            Wanted::Suspended
        }
    }

    /// The service that bills the user's VMs: the lowest-numbered holder, or `me` when
    /// no service holds the user any more.
    pub fn biller(&self, me: i64) -> i64 {
        self.services
            .keys()
            .filter_map(|k| k.parse::<i64>().ok())
            .min()
            .unwrap_or(me)
    }

    pub(crate) fn others(&self, me: i64) -> Vec<String> {
        let me = me.to_string();
        self.services
            .keys()
            .filter(|k| **k != me)
            .map(|k| format!("#{k}"))
            .collect()
    }
}
