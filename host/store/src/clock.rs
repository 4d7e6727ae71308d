//! The host clock. Modules and the billing run read time only from here, so a daily
//! run can be performed for any date (`provisor cron --date D`) and tests are
//! deterministic.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// The host clock: the system clock unless pinned.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    pinned: Arc<RwLock<Option<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }
    /// A clock pinned at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        let clock = Clock::default();
        clock.pin(Some(at));
        clock
    }
    /// Pins (or, with `None`, unpins) the clock.
    pub fn pin(&self, at: Option<DateTime<Utc>>) {
        if let Ok(mut guard) = self.pinned.write() {
            *guard = at;
        }
    }
    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.pinned
            .read()
            .ok()
            .and_then(|g| *g)
            .unwrap_or_else(Utc::now)
    }
}
