//! Fault injection: rules that make a simulator fail the way real panels and networks do.
//!
//! A rule names an endpoint pattern (`"*"`, an exact key such as
//! `"POST /api/admin/users"`, or a prefix ending in `*`), the faults to pick from, the
//! share of matching requests that fail (`rate`, 0.0–1.0) and optionally how many times
//! it fires before it retires. The first rule that matches and fires wins.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One way a request can fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The API's own error body with this status (not applied).
    Error { status: u16, message: String },
    /// A bare 5xx from a proxy in front of the panel (not applied).
    ServerError { status: u16 },
    /// The connection closes before the request is read (not applied).
    Drop,
    /// Nothing comes back for `ms` milliseconds, then the connection closes (not applied).
    Timeout { ms: u64 },
    /// The reply comes `ms` milliseconds late (applied, answered).
    Slow { ms: u64 },
    /// The request takes effect, then the connection closes without a reply: the case
    /// that makes duplicates when a client retries blindly.
    LostReply,
    /// The request takes effect and its reply comes with `prefix` printed before the
    /// body (a PHP notice, a proxy banner), so the body no longer parses (applied,
    /// answered).
    Garbled { prefix: String },
}

impl Fault {
    /// A short name for statistics.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::Error { .. } => "error",
            Fault::ServerError { .. } => "server_error",
            Fault::Drop => "drop",
            Fault::Timeout { .. } => "timeout",
            Fault::Slow { .. } => "slow",
            Fault::LostReply => "lost_reply",
            Fault::Garbled { .. } => "garbled",
        }
    }

    /// A mix of every failing kind, for soak tests: errors, 5xx, drops, short timeouts
    /// and lost replies.
    pub fn mixed(timeout_ms: u64) -> Vec<Fault> {
        vec![
            Fault::Error {
                status: 500,
                message: "injected failure".into(),
            },
            Fault::ServerError { status: 502 },
            Fault::ServerError { status: 503 },
            Fault::Drop,
            Fault::Timeout { ms: timeout_ms },
            Fault::LostReply,
        ]
    }
}

/// A rule: which endpoints, which faults, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// `"*"`, an exact endpoint key, or a prefix ending in `*`.
    pub endpoint: String,
    /// Faults to choose from, uniformly.
    pub faults: Vec<Fault>,
    /// The share of matching requests that fail (default 1.0: every one).
    #[serde(default = "one")]
    pub rate: f64,
    /// Fire at most this many times (default: unlimited).
    #[serde(default)]
    pub times: Option<u32>,
}

fn one() -> f64 {
    1.0
}

impl FaultRule {
    /// Every matching request fails with `fault`, `times` times.
    pub fn once(endpoint: &str, fault: Fault) -> Self {
        FaultRule {
            endpoint: endpoint.into(),
            faults: vec![fault],
            rate: 1.0,
            times: Some(1),
        }
    }

    fn matches(&self, endpoint: &str) -> bool {
        match self.endpoint.strip_suffix('*') {
            Some(prefix) => endpoint.starts_with(prefix),
            None => self.endpoint == endpoint,
        }
    }
}

/// The rules in force and what happened, per endpoint.
#[derive(Default)]
pub struct Faults {
    inner: Mutex<FaultState>,
}

#[derive(Default)]
struct FaultState {
    rules: Vec<FaultRule>,
    rng: Option<fastrand::Rng>,
    stats: BTreeMap<String, EndpointStats>,
}

/// Counts for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// Requests that reached the endpoint (faulted or not).
    pub requests: u64,
    /// Faults injected, by [`Fault::label`].
    pub faults: BTreeMap<String, u64>,
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) {
        self.inner.lock().unwrap().rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.inner.lock().unwrap().rules.clear();
    }

    /// Seeds the random choices (rates and which fault), for reproducible runs.
    pub fn seed(&self, seed: u64) {
        self.inner.lock().unwrap().rng = Some(fastrand::Rng::with_seed(seed));
    }

    /// Counts the request and decides whether it fails, and how.
    pub fn pick(&self, endpoint: &str) -> Option<Fault> {
        let mut guard = self.inner.lock().unwrap();
        let state = &mut *guard;
        let rng = state.rng.get_or_insert_with(fastrand::Rng::new);
        state
            .stats
            .entry(endpoint.to_string())
            .or_default()
            .requests += 1;
        let mut chosen = None;
        for rule in &mut state.rules {
            if !rule.matches(endpoint) || rule.faults.is_empty() || rule.times == Some(0) {
                continue;
            }
            if rule.rate < 1.0 && rng.f64() >= rule.rate {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times -= 1;
            }
            chosen = Some(rule.faults[rng.usize(..rule.faults.len())].clone());
            break;
        }
        state.rules.retain(|r| r.times != Some(0));
        if let Some(fault) = &chosen {
            *state
                .stats
                .get_mut(endpoint)
                .expect("counted above")
                .faults
                .entry(fault.label().to_string())
                .or_default() += 1;
        }
        chosen
    }

    /// Requests and faults per endpoint since the simulator started.
    pub fn stats(&self) -> BTreeMap<String, EndpointStats> {
        self.inner.lock().unwrap().stats.clone()
    }

    /// The rules still in force.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.inner.lock().unwrap().rules.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_times() {
        let f = Faults::default();
        f.add(FaultRule::once("POST /api/admin/users", Fault::LostReply));
        f.add(FaultRule {
            endpoint: "GET *".into(),
            faults: vec![Fault::Drop],
            rate: 1.0,
            times: None,
        });
        assert_eq!(f.pick("GET /api/admin/users"), Some(Fault::Drop));
        assert_eq!(f.pick("POST /api/admin/users"), Some(Fault::LostReply));
        assert_eq!(f.pick("POST /api/admin/users"), None);
        assert_eq!(f.rules().len(), 1);
        let stats = f.stats();
        assert_eq!(stats["POST /api/admin/users"].requests, 2);
        assert_eq!(stats["POST /api/admin/users"].faults["lost_reply"], 1);
    }

    #[test]
    fn rate_is_roughly_honoured() {
        let f = Faults::default();
        f.seed(7);
        f.add(FaultRule {
            endpoint: "*".into(),
            faults: Fault::mixed(10),
            rate: 0.3,
            times: None,
        });
        let hits = (0..10_000).filter(|_| f.pick("x").is_some()).count();
        assert!((2700..3300).contains(&hits), "{hits}");
    }
}
