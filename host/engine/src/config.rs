//! The engine's retry and lease settings.

use std::time::Duration;

use chrono::Utc;

/// Retry and lease settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Delay before the first retry of a transient failure (BILLmanager: 5 minutes).
    pub retry_base: Duration,
    /// Double the delay on every further attempt (with ±20 % jitter) instead of a
    /// fixed schedule.
    pub exponential: bool,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// Attempts before an operation turns manual.
    pub max_attempts: i32,
    /// How long a claimed operation stays leased without a heartbeat.
    pub lease: Duration,
    /// Operations one worker runs at once.
    pub concurrency: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retry_base: Duration::from_secs(300),
            exponential: false,
            retry_max: Duration::from_secs(6 * 3600),
            max_attempts: 5,
            lease: Duration::from_secs(120),
            concurrency: 16,
        }
    }
}

impl EngineConfig {
    /// The delay before retry number `attempt` (1 = after the first failure).
    pub fn retry_delay(&self, attempt: i32) -> Duration {
        if !self.exponential {
            return self.retry_base;
        }
        let factor = 2u32.saturating_pow(attempt.clamp(1, 20) as u32 - 1);
        let base = self.retry_base.saturating_mul(factor).min(self.retry_max);
        // ±20 % jitter so a burst of failures does not retry in lockstep.
        // Wall time's nanoseconds as a cheap random source, not as a time (a pinned clock
        // would give every retry the same jitter).
        let nanos = Utc::now().timestamp_subsec_nanos() % 400;
        let jitter = base.as_secs_f64() * ((f64::from(nanos) / 1000.0) - 0.2);
        Duration::from_secs_f64((base.as_secs_f64() + jitter).max(1.0))
    }
}
