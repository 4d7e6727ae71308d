//! Accounts: the people and programs that may act, and how they prove it.
//!
//! Staff accounts with a role and departments ([`staff`]), client logins
//! ([`client_logins`]), sessions opened by a password (and a TOTP code when the
//! account has one, [`totp`]) ([`sessions`]), API tokens ([`api_tokens`]), and the
//! one [`authenticate`] every front end calls with a bearer credential to learn the
//! [`Principal`] behind it. Failed logins are rate-limited through the database
//! ([`limits`]), so every node counts the same attempts.
//!
//! Owns: password hashing ([`password`]), token minting (32 bytes from the OS RNG,
//! hex, prefixed `pvs_` for a session and `pvt_` for an API token; only their SHA-256
//! is stored), the rules of who may manage whom. Must not: print, log or return a
//! password, a hash, a token (beyond the once it is minted) or a TOTP secret (beyond
//! the once it is enrolled); know any front end's flags or routes.

pub mod api_tokens;
pub mod client_logins;
pub(crate) mod limits;
pub mod password;
mod principal;
mod sealed;
pub mod sessions;
pub mod staff;
pub mod totp;

pub use password::Password;
pub use principal::{AccountSettings, Credential, Principal, Who, USAGE_ENDPOINT};

use chrono::{DateTime, Utc};

use provisor_store::entities::kinds::Role;
use provisor_store::error::{Error, ErrorKind, Result};
use provisor_store::Store;
use sha2::{Digest, Sha256};

/// Which kind of account a login is for: a staff email and a client email may be the
/// same address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    /// The hoster's staff.
    Staff,
    /// A client, through their login.
    Client,
}

impl Realm {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Staff => "staff",
            Realm::Client => "client",
        }
    }
}

/// Who asks for an account change, for the rules that depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone with a shell on the server, through the CLI: trusted like an owner,
    /// except that only the first owner can be made this way.
    Shell {
        /// The operating system's user.
        user: String,
    },
    /// A staff account (through a session or a token acting for it).
    Staff {
        /// The account's id.
        id: i64,
    },
    /// An API token acting for no staff account, with its role.
    Token {
        /// The token's id.
        id: i64,
        /// Its role.
        role: Role,
    },
    /// A client: may change nothing of accounts but its own password.
    Client {
        /// The client's id.
        id: i64,
    },
    /// A program with no role (the configured usage token): manages no account.
    Integration {
        /// What it is.
        name: String,
    },
}

/// Whether a holder of `holder` may do everything `wanted` may: owner includes every
/// role, admin every role but owner, billing and support only themselves.
pub fn role_includes(holder: Role, wanted: Role) -> bool {
    match holder {
        Role::Owner => true,
        Role::Admin => wanted != Role::Owner,
        other => other == wanted,
    }
}

/// A new random token: `prefix` and 32 bytes from the OS RNG in hex.
pub(crate) fn mint(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Io(format!("the system's random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// The SHA-256 of a token, hex: what the database holds instead of the token.
pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The principal behind a bearer credential (the token itself, or an
/// `Authorization` header's value `Bearer …`): a session token, an API token, or the
/// configured usage token. Each kind checks its own expiry, revocation and account;
/// anything else is refused as unauthenticated.
pub async fn authenticate(
    store: &Store,
    settings: &AccountSettings,
    bearer: &str,
    now: DateTime<Utc>,
) -> Result<Principal> {
    let token = bearer.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(Error::refused(
            ErrorKind::Unauthenticated,
            "no credential was given: send a session token or an API token",
        ));
    }
    if settings.is_usage_token(token) {
        return Ok(Principal {
            who: Who::Integration { name: "api.token" },
            role: Some(Role::Billing),
            read_only: false,
            endpoints: Some(vec![USAGE_ENDPOINT.to_string()]),
            credential: Credential::ConfiguredToken,
        });
    }
    if token.starts_with(sessions::PREFIX) {
        return sessions::authenticate(store, &settings.sessions, token, now).await;
    }
    if token.starts_with(api_tokens::PREFIX) {
        return api_tokens::authenticate(store, token, now).await;
    }
    Err(Error::refused(
        ErrorKind::Unauthenticated,
        "the credential is not a Provisor session or API token: log in again or use a token issued for you",
    ))
}

#[cfg(test)]
mod tests;
