//! The TOTP second factor of a staff account (RFC 6238: SHA-1, 6 digits, 30-second
//! steps, one step either side accepted).
//!
//! The secret is sealed with the store's key ring (as handler secrets are), bound to
//! the account by the associated data, in `staff.totp_secret`. The sealed value holds
//! the secret, whether it is on (confirmed with a code) and the last step a code was
//! used for: a code is taken only for a later step than that, so none works twice.
//! Each use seals the new state and stores it only if the stored value is still the
//! one read, so two logins racing with one code cannot both pass.
//!
//! Owns: enrolment, confirmation, turning it off, checking a code. Must not: show the
//! secret but once, at enrolment.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use provisor_store::entities::staff;
use provisor_store::error::{Error, ErrorKind, Message, Result};
use provisor_store::{db_err, Store};

use super::sealed::{open, seal, State};
use super::staff::{self as staff_accounts, StaffView};
use super::Actor;
use crate::audit::{self, Action};

/// The step, in seconds.
const STEP: u64 = 30;
/// The issuer shown by authenticator apps.
const ISSUER: &str = "Provisor";

/// A new second factor, shown once: the secret (base32) and the `otpauth://` URI an
/// authenticator app reads. Its `Debug` hides both.
pub struct Enrollment {
    /// The secret, base32 without padding, to type into an app.
    pub secret: String,
    /// `otpauth://totp/…` with the secret, for a QR code.
    pub uri: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(hidden)")
    }
}

fn totp(secret_hex: &str, account: &str) -> Result<TOTP> {
    let bytes = hex::decode(secret_hex)
        .map_err(|e| Error::Invalid(format!("a TOTP secret is damaged ({e})")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    .map_err(|e| Error::Invalid(format!("cannot make a TOTP for {account}: {e:?}")))
}

/// The step `code` is valid for at `now` (this step or one either side) and later than
/// `after`, if any.
fn matching_step(t: &TOTP, code: &str, now: DateTime<Utc>, after: Option<u64>) -> Option<u64> {
    let code = code.trim();
    let now = u64::try_from(now.timestamp()).ok()?;
    let current = now / STEP;
    (current.saturating_sub(1)..=current + 1).find(|step| {
        after.is_none_or(|last| *step > last)
            && bool::from(t.generate(step * STEP).as_bytes().ct_eq(code.as_bytes()))
    })
}

/// Starts a second factor for an account (by itself or a manager): a new secret,
/// sealed and off until [`confirm`]ed with a code. Refused while one is on.
pub async fn enroll(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Enrollment> {
    let target = staff_accounts::find(store, email).await?;
    staff_accounts::self_or_manager(store, actor, &target).await?;
    if let Some(sealed) = &target.totp_secret {
        if open(store, target.id, sealed)?.on {
            return Err(Error::invalid(format!(
                "staff account {} already has TOTP on: turn it off first to enrol a new secret",
                target.email
            )));
        }
    }
    let mut bytes = [0u8; 20];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Io(format!("the system's random source failed: {e}")))?;
    let state = State {
        secret: hex::encode(bytes),
        on: false,
        last_step: None,
    };
    let t = totp(&state.secret, &target.email)?;
    let sealed = seal(store, target.id, &state)?;
    store_state(store, &target, Some(sealed), None).await?;
    let id = Some(target.email.clone());
    audit::record_after(store, by, Action::StaffTotpEnroll, id, None, None, now).await?;
    Ok(Enrollment {
        secret: t.get_secret_base32(),
        uri: t.get_url(),
    })
}

/// Stores a new sealed state if the stored one is still `expected` (when given).
async fn store_state(
    store: &Store,
    target: &staff::Model,
    sealed: Option<String>,
    expected: Option<&str>,
) -> Result<bool> {
    let mut q = staff::Entity::update_many()
        .col_expr(
            staff::Column::TotpSecret,
            sea_orm::sea_query::Expr::value(sealed),
        )
        .filter(staff::Column::Id.eq(target.id));
    if let Some(e) = expected {
        q = q.filter(staff::Column::TotpSecret.eq(e));
    }
    let r = q
        .exec(store.db())
        .await
        .map_err(db_err("storing a TOTP secret"))?;
    Ok(r.rows_affected == 1)
}

/// Turns an enrolled second factor on, with a code from the app.
pub async fn confirm(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    let target = staff_accounts::find(store, email).await?;
    staff_accounts::self_or_manager(store, actor, &target).await?;
    let Some(sealed) = target.totp_secret.clone() else {
        return Err(Error::invalid(format!(
            "staff account {} has no TOTP secret enrolled: enrol one first",
            target.email
        )));
    };
    let mut state = open(store, target.id, &sealed)?;
    if state.on {
        return staff_accounts::view(store, target).await;
    }
    let t = totp(&state.secret, &target.email)?;
    let Some(step) = matching_step(&t, code, now, state.last_step) else {
        return Err(Error::invalid(Message::about(
            "code",
            "is not the current code of the enrolled secret: check the authenticator app's clock and try the next code",
        )));
    };
    state.on = true;
    state.last_step = Some(step);
    let new = seal(store, target.id, &state)?;
    if store_state(store, &target, Some(new), Some(&sealed)).await? {
        let (before, after) = (json!({ "totp": false }), json!({ "totp": true }));
        let id = Some(target.email.clone());
        audit::record_after(
            store,
            by,
            Action::StaffTotpConfirm,
            id,
            Some(before),
            Some(after),
            now,
        )
        .await?;
    }
    staff_accounts::view(store, staff_accounts::get(store, target.id).await?).await
}

/// Turns the second factor off (by the account itself or a manager).
pub async fn turn_off(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    let target = staff_accounts::find(store, email).await?;
    staff_accounts::self_or_manager(store, actor, &target).await?;
    store_state(store, &target, None, None).await?;
    if let Some(sealed) = &target.totp_secret {
        let before = json!({ "totp": super::sealed::is_on(store, target.id, sealed)? });
        let after = json!({ "totp": false });
        let id = Some(target.email.clone());
        audit::record_after(
            store,
            by,
            Action::StaffTotpRemove,
            id,
            Some(before),
            Some(after),
            now,
        )
        .await?;
    }
    staff_accounts::view(store, staff_accounts::get(store, target.id).await?).await
}

/// At login, after the password was right: an account with TOTP on needs a code for a
/// step after the last one used. The step is recorded at once.
pub(crate) async fn check_login(
    store: &Store,
    account: &staff::Model,
    code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(sealed) = &account.totp_secret else {
        return Ok(());
    };
    let mut state = open(store, account.id, sealed)?;
    if !state.on {
        return Ok(());
    }
    let refused =
        |why: &str| Error::refused(ErrorKind::Unauthenticated, Message::about("totp", why));
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return Err(refused(
            "is needed: this account has a second factor; send the code from the authenticator app",
        ));
    };
    let t = totp(&state.secret, &account.email)?;
    let Some(step) = matching_step(&t, code, now, state.last_step) else {
        return Err(refused(
            "is wrong or was already used: send the next code from the authenticator app",
        ));
    };
    state.last_step = Some(step);
    let new = seal(store, account.id, &state)?;
    if store_state(store, account, Some(new), Some(sealed)).await? {
        Ok(())
    } else {
        Err(refused(
            "was used by another login at the same time: send the next code",
        ))
    }
}

/// The code of `secret_base32`'s TOTP at `at` (tests and the demo).
pub fn code_at(secret_base32: &str, at: DateTime<Utc>) -> Result<String> {
    let bytes = totp_rs::Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(|e| Error::invalid(format!("not a base32 TOTP secret: {e:?}")))?;
    let t = TOTP::new(Algorithm::SHA1, 6, 1, STEP, bytes, None, String::new())
        .map_err(|e| Error::invalid(format!("not a TOTP secret: {e:?}")))?;
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    Ok(t.generate(secs))
}
