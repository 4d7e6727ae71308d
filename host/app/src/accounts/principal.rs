//! Who is behind a bearer credential: `accounts::authenticate` takes a session token
//! (`pvs_…`), an API token (`pvt_…`) or the configured usage token (`api.token`) and
//! answers the [`Principal`] every front end authorizes a request from.
//!
//! Owns: the dispatch by credential and the principal's shape. Must not: decide what
//! a role may do on each route (the HTTP API does, from the principal).

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use provisor_store::entities::kinds::{ActorKind, Role};

use super::Actor;
use crate::config::{AccountsConfig, Config};

/// The endpoint the configured usage token (`api.token`) is limited to.
pub const USAGE_ENDPOINT: &str = "POST /v1/usage";

/// Who a credential stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Who {
    /// A staff account, through its session.
    Staff {
        /// `staff.id`.
        id: i64,
        /// Login email.
        email: String,
        /// Name shown beside their actions.
        name: String,
    },
    /// A client, through its session.
    Client {
        /// `clients.id`.
        id: i64,
        /// The client's email.
        email: String,
        /// The client's name.
        name: String,
    },
    /// An API token; `staff_id` when it acts for a staff account.
    Token {
        /// `api_tokens.id`.
        id: i64,
        /// Its name.
        name: String,
        /// The staff account it acts for, if any.
        staff_id: Option<i64>,
        /// That account's email, if any.
        staff_email: Option<String>,
    },
    /// The usage-push token of the configuration (`api.token`): no row, limited to
    /// [`USAGE_ENDPOINT`].
    Integration {
        /// What it is (`api.token`).
        name: &'static str,
    },
}

/// Which credential a principal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A session opened by logging in.
    Session {
        /// `sessions.id`.
        id: i64,
    },
    /// An API token.
    ApiToken {
        /// `api_tokens.id`.
        id: i64,
    },
    /// The configured usage token.
    ConfiguredToken,
}

/// Who is asking and what they may do, as every request is authorized from it.
///
/// - `role` is the effective role: a staff session's account role; a token's own role,
///   or its staff account's current role. `None` for a client, who reaches only its
///   own objects.
/// - `read_only`: only reading requests (`GET`, `HEAD`) are allowed.
/// - `endpoints`: when `Some`, the only routes it may reach, each `METHOD /route` or
///   `/route` (any method), the route as templated (`/v1/services/{id}`); an entry
///   ending in `/*` covers every route below it. See [`Principal::may_reach`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Who.
    pub who: Who,
    /// The effective role; `None` for a client.
    pub role: Option<Role>,
    /// Whether it may only read.
    pub read_only: bool,
    /// The routes it is limited to, if it is.
    pub endpoints: Option<Vec<String>>,
    /// The credential it came from.
    pub credential: Credential,
}

impl Principal {
    /// The staff account behind it (a staff session, or a token acting for one).
    pub fn staff_id(&self) -> Option<i64> {
        match &self.who {
            Who::Staff { id, .. } => Some(*id),
            Who::Token { staff_id, .. } => *staff_id,
            _ => None,
        }
    }

    /// The client behind it, for a client session.
    pub fn client_id(&self) -> Option<i64> {
        match &self.who {
            Who::Client { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// Whether the role includes `role` (owner includes every role, admin every role
    /// but owner). A client has no role.
    pub fn has_role(&self, role: Role) -> bool {
        self.role.is_some_and(|r| super::role_includes(r, role))
    }

    /// Whether `method` on `route` (as templated: `/v1/services/{id}`) is within its
    /// `read_only` and `endpoints` limits. Whether its role or ownership allows the
    /// request is the caller's check.
    pub fn may_reach(&self, method: &str, route: &str) -> bool {
        let reading = matches!(method.to_ascii_uppercase().as_str(), "GET" | "HEAD");
        if self.read_only && !reading {
            return false;
        }
        let Some(list) = &self.endpoints else {
            return true;
        };
        list.iter().any(|entry| {
            let (m, path) = match entry.split_once(' ') {
                Some((m, p)) => (Some(m), p.trim()),
                None => (None, entry.as_str()),
            };
            let method_ok = m.is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = match path.strip_suffix("/*") {
                Some(prefix) => route == prefix || route.starts_with(&format!("{prefix}/")),
                None => route == path,
            };
            method_ok && path_ok
        })
    }

    /// The actor account rules take it as.
    pub fn actor(&self) -> Actor {
        match (&self.who, self.role) {
            (
                Who::Staff { id, .. }
                | Who::Token {
                    staff_id: Some(id), ..
                },
                _,
            ) => Actor::Staff { id: *id },
            (Who::Client { id, .. }, _) => Actor::Client { id: *id },
            (Who::Token { id, .. }, Some(role)) => Actor::Token { id: *id, role },
            // A role-less token and the usage token manage nothing.
            (Who::Token { name, .. }, None) => Actor::Integration { name: name.clone() },
            (Who::Integration { name }, _) => Actor::Integration {
                name: (*name).to_string(),
            },
        }
    }

    /// The audit log's actor for it (give it the request's address with
    /// [`crate::audit::Actor::from_addr`]): what the accounts functions take as `by`.
    pub fn audit(&self) -> crate::audit::Actor {
        let (kind, id, name) = self.audit_actor();
        crate::audit::Actor {
            kind,
            id,
            name,
            source: None,
        }
    }

    /// How the audit log names it: the kind, the id and the name. People are named by
    /// their email, as the accounts' own entries name them (`docs/audit.md`); a token by
    /// its name, with the staff account it acts for.
    pub fn audit_actor(&self) -> (ActorKind, Option<i64>, String) {
        match &self.who {
            Who::Staff { id, email, .. } => (ActorKind::Staff, Some(*id), email.clone()),
            Who::Client { id, email, .. } => (ActorKind::Client, Some(*id), email.clone()),
            Who::Token {
                id,
                name,
                staff_email: Some(staff),
                ..
            } => (ActorKind::Token, Some(*id), format!("{name} (for {staff})")),
            Who::Token { id, name, .. } => (ActorKind::Token, Some(*id), name.clone()),
            Who::Integration { name } => (ActorKind::Token, None, (*name).to_string()),
        }
    }
}

/// What authentication needs from the configuration: the session lifetimes and the
/// configured usage token (kept only as its SHA-256). `Debug` hides the token.
#[derive(Clone, Default)]
pub struct AccountSettings {
    /// Session lifetimes (`[accounts]`).
    pub sessions: AccountsConfig,
    usage_token: Option<[u8; 32]>,
}

impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("sessions", &self.sessions)
            .field("usage_token", &self.usage_token.map(|_| "(set)"))
            .finish()
    }
}

impl AccountSettings {
    /// The settings in effect.
    pub fn from_config(config: &Config) -> AccountSettings {
        AccountSettings {
            sessions: config.accounts,
            usage_token: config
                .api
                .token
                .as_ref()
                .map(|t| Sha256::digest(t.expose().as_bytes()).into()),
        }
    }

    /// These settings with `token` as the configured usage token.
    #[must_use]
    pub fn with_usage_token(mut self, token: &str) -> AccountSettings {
        self.usage_token = Some(Sha256::digest(token.as_bytes()).into());
        self
    }

    pub(super) fn is_usage_token(&self, presented: &str) -> bool {
        let Some(expected) = &self.usage_token else {
            return false;
        };
        let got: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(got.ct_eq(expected))
    }
}
