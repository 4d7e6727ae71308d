//! A staff account's TOTP state, sealed with the store's key ring in
//! `staff.totp_secret` (bound to the account by the associated data): the secret,
//! whether it is on, and the last step a code was used for.
//!
//! Owns: sealing and opening that state. Must not: check codes (see `totp`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use provisor_store::error::{Error, Result};
use provisor_store::secrets::sealed_text;
use provisor_store::Store;

/// What is sealed in `staff.totp_secret`.
#[derive(Serialize, Deserialize)]
pub(crate) struct State {
    /// The secret's bytes, hex.
    pub(crate) secret: String,
    /// Whether a code confirmed it (until then login does not ask for one).
    pub(crate) on: bool,
    /// The last step a code was accepted for.
    pub(crate) last_step: Option<u64>,
}

fn aad(staff_id: i64) -> String {
    provisor_store::secrets::staff_totp_aad(staff_id)
}

fn ring(store: &Store) -> Result<&provisor_store::KeyRing> {
    store.secrets().ok_or_else(|| {
        Error::Invalid(
            "this process has no secret key, which a TOTP secret is sealed with".to_string(),
        )
    })
}

pub(crate) fn seal(store: &Store, staff_id: i64, state: &State) -> Result<String> {
    let value = serde_json::to_value(state)
        .map_err(|e| Error::Io(format!("cannot write a TOTP state: {e}")))?;
    let sealed = ring(store)?.seal(&value, &aad(staff_id))?;
    sealed_text(&sealed)
        .map(ToString::to_string)
        .ok_or_else(|| Error::Io("a sealed TOTP secret has no text".to_string()))
}

pub(crate) fn open(store: &Store, staff_id: i64, sealed: &str) -> Result<State> {
    let value: Value = ring(store)?.open(sealed, &aad(staff_id)).map_err(|e| {
        Error::Invalid(format!(
            "staff account #{staff_id}: its TOTP secret does not open with this process's secret key ({e:?}); turn TOTP off for the account and enrol again"
        ))
    })?;
    serde_json::from_value(value)
        .map_err(|e| Error::Invalid(format!("staff account #{staff_id}: its TOTP state is damaged ({e}); turn TOTP off and enrol again")))
}

/// Whether the account's sealed TOTP state is on (confirmed).
pub(crate) fn is_on(store: &Store, staff_id: i64, sealed: &str) -> Result<bool> {
    Ok(open(store, staff_id, sealed)?.on)
}
