//! Billing's settings, in one typed value: the billing time zone, the recurring run's
//! days, the usage run's chunk size and the attempts of the operations billing queues.
//!
//! Billing code never reads the environment: it gets these through
//! [`crate::Driver::settings`] (or a `&Settings` parameter where there is no driver).
//! The application's typed configuration (`provisor.toml`, each `PROVISOR_*` variable
//! named below overriding it) builds them once at start: `provisor_app::Config::
//! billing_settings`.

use provisor_store::error::{Error, Result};

use crate::zone::BillingZone;

/// The default of [`Settings::renew_days`].
pub const DEFAULT_RENEW_DAYS: u32 = 7;
/// The default of [`Settings::grace_days`].
pub const DEFAULT_GRACE_DAYS: u32 = 3;
/// The default of [`Settings::terminate_days`].
pub const DEFAULT_TERMINATE_DAYS: u32 = 14;
/// The default of [`Settings::chunk`].
pub const DEFAULT_CHUNK: usize = 500;
/// The most days any of the day settings may be.
const MAX_DAYS: u32 = 366;

/// Billing's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `PROVISOR_BILLING_TZ` (default UTC): the zone billing days and month ends are in.
    pub zone: BillingZone,
    /// `PROVISOR_RENEW_DAYS` (default 7): a renewal is invoiced this many days before
    /// its period starts (its due date).
    pub renew_days: u32,
    /// `PROVISOR_GRACE_DAYS` (default 3): an unpaid renewal more than this many days
    /// past its due date queues a suspend.
    pub grace_days: u32,
    /// `PROVISOR_TERMINATE_DAYS` (default 14): more than this many days past its due
    /// date, a terminate.
    pub terminate_days: u32,
    /// `PROVISOR_BILLING_CHUNK` (default 500): clients invoiced per transaction by the
    /// monthly usage run.
    pub chunk: usize,
    /// `PROVISOR_MAX_ATTEMPTS` (the store's default, 5): attempts an operation billing
    /// queues (an unsuspend when an invoice is paid) gets.
    pub max_attempts: i32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            zone: BillingZone::utc(),
            renew_days: DEFAULT_RENEW_DAYS,
            grace_days: DEFAULT_GRACE_DAYS,
            terminate_days: DEFAULT_TERMINATE_DAYS,
            chunk: DEFAULT_CHUNK,
            max_attempts: provisor_store::queue::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl Settings {
    /// Refuses settings billing cannot run with, naming the setting and the fix.
    pub fn check(&self) -> Result<()> {
        for (key, value, default) in [
            ("PROVISOR_RENEW_DAYS", self.renew_days, DEFAULT_RENEW_DAYS),
            ("PROVISOR_GRACE_DAYS", self.grace_days, DEFAULT_GRACE_DAYS),
            (
                "PROVISOR_TERMINATE_DAYS",
                self.terminate_days,
                DEFAULT_TERMINATE_DAYS,
            ),
        ] {
            if value > MAX_DAYS {
                return Err(days_error(key, &value.to_string(), default));
            }
        }
        if self.terminate_days <= self.grace_days {
            return Err(Error::Invalid(format!(
                "PROVISOR_TERMINATE_DAYS ({}) must be more than PROVISOR_GRACE_DAYS ({}): a service is suspended before it is terminated",
                self.terminate_days, self.grace_days
            )));
        }
        if self.chunk == 0 {
            return Err(Error::Invalid(format!(
                "PROVISOR_BILLING_CHUNK is 0: set it to a number of clients above 0 (default {DEFAULT_CHUNK})"
            )));
        }
        if self.max_attempts < 1 {
            return Err(Error::Invalid(format!(
                "PROVISOR_MAX_ATTEMPTS is {}: set it to 1 or more (default {})",
                self.max_attempts,
                provisor_store::queue::DEFAULT_MAX_ATTEMPTS
            )));
        }
        Ok(())
    }
}

fn days_error(key: &str, raw: &str, default: u32) -> Error {
    Error::Invalid(format!(
        "{key}={raw:?} is not a number of days: set it to a whole number from 0 to {MAX_DAYS} (default {default}), or unset it"
    ))
}

/// Test-only hooks, compiled in with the `test-hooks` cargo feature (off by default, so
/// a release build has none): the end-to-end tests set these variables to stop a run
/// half-way and prove that the next run finishes the job.
#[cfg(feature = "test-hooks")]
pub(crate) mod test_hooks {
    /// The renewal step exits the process after this many clients.
    pub const CRASH_AFTER_CLIENTS: &str = "PROVISOR_TEST_CRASH_AFTER_CLIENTS";
    /// The monthly usage run fails after this many chunks committed.
    pub const STOP_AFTER_CHUNKS: &str = "PROVISOR_BILLING_STOP_AFTER_CHUNKS";

    /// The number `key` holds, if set.
    pub fn number(key: &str) -> Option<usize> {
        std::env::var(key).ok()?.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_bad_settings() {
        let ok = Settings::default();
        assert!(ok.check().is_ok());
        let far = Settings {
            renew_days: 400,
            ..ok
        };
        assert!(far
            .check()
            .unwrap_err()
            .to_string()
            .contains("PROVISOR_RENEW_DAYS=\"400\" is not a number of days"));
        let early = Settings {
            grace_days: 14,
            ..ok
        };
        assert!(early
            .check()
            .unwrap_err()
            .to_string()
            .contains("must be more than PROVISOR_GRACE_DAYS (14)"));
        assert!(Settings { chunk: 0, ..ok }.check().is_err());
        assert!(Settings {
            max_attempts: 0,
            ..ok
        }
        .check()
        .is_err());
    }
}
