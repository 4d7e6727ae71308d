//! What every handler and layer shares: the store, the settings the use cases need, the
//! authenticator and the limits.

use std::sync::Arc;
use std::time::Duration;

use provisor_app::accounts::AccountSettings;
use provisor_runtime::Runtime;
use provisor_store::clock::Clock;
use provisor_store::Store;

/// The environment variable holding the usage-push token (`api.token`).
pub const TOKEN_VAR: &str = "PROVISOR_API_TOKEN";

/// The body limit of JSON requests (routes other than usage batches).
pub const JSON_MAX_BODY: usize = 1024 * 1024;

/// The API's shared state.
pub(crate) struct Api {
    pub(crate) store: Store,
    /// The runtime the use cases that reach modules take (orders, service requests).
    pub(crate) rt: Arc<Runtime>,
    /// Billing's settings (the configuration's `[billing]`), for the usage import.
    pub(crate) billing: provisor_billing::Settings,
    /// The daemon's clock: when a pushed batch is recorded as received, keys made.
    pub(crate) clock: Clock,
    /// What authentication needs: session lifetimes and the configured usage token.
    pub(crate) accounts: AccountSettings,
    /// `api.max_body_bytes`: the limit of usage batches.
    pub(crate) max_body: usize,
    /// The limit of JSON bodies (the smaller of [`JSON_MAX_BODY`] and `max_body`).
    pub(crate) json_max_body: usize,
    /// The longest pause between two chunks of a body.
    pub(crate) body_timeout: Duration,
    /// How long a request waits for another with the same idempotency key to end.
    pub(crate) idempotency_wait: Duration,
    /// The origins whose pages may call the API (CORS).
    pub(crate) cors_origins: Vec<String>,
}
