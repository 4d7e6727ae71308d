//! Who is calling: the [`Authenticate`] trait turns a bearer credential into a
//! [`Principal`], and each route's [`Policy`] says which principals may call it. The
//! accounts work plugs its `authenticate(bearer)` in as another implementation of the
//! trait (sessions `pvs_…`, API tokens `pvt_…`), handed to [`crate::Server`]; the only one
//! today is [`UsageToken`], the `api.token` of usage pushes.
//!
//! Must not: log, echo or store a credential; compare one in variable time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use provisor_store::error::Result;

use crate::problem::{Kind, Problem};
use crate::table::Policy;

/// Whom a request's credential stands for; set as a request extension for the
/// handlers and the idempotency layer (whose keys are per principal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential's id: the owner of its idempotency keys ("usage-token" for the
    /// `api.token`).
    pub id: String,
    /// What it may do.
    pub grants: Vec<Policy>,
}

impl Principal {
    /// Whether it may call a route of `policy`.
    pub fn allows(&self, policy: Policy) -> bool {
        policy == Policy::Public || self.grants.contains(&policy)
    }
}

/// The owner of a request's idempotency keys when it carries no credential.
pub const ANONYMOUS: &str = "anonymous";

/// Turns a bearer credential into a principal.
#[async_trait::async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// The principal `bearer` stands for; `None` when it is no credential this server
    /// knows (wrong, revoked, expired).
    async fn authenticate(&self, bearer: &[u8]) -> Result<Option<Principal>>;

    /// What a caller should send, for the 401's detail ("the token set in
    /// `PROVISOR_API_TOKEN` on the server").
    fn hint(&self) -> String;
}

/// The `api.token` of usage pushes: one shared secret, compared by its SHA-256 in
/// constant time.
pub struct UsageToken {
    digest: [u8; 32],
    named: String,
}

impl UsageToken {
    /// The token, and where it is set (`PROVISOR_API_TOKEN`), for the hint.
    pub fn new(token: &[u8], named: &str) -> UsageToken {
        UsageToken {
            digest: digest(token),
            named: named.to_string(),
        }
    }
}

impl std::fmt::Debug for UsageToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageToken")
            .field("token", &"(hidden)")
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[async_trait::async_trait]
impl Authenticate for UsageToken {
    async fn authenticate(&self, bearer: &[u8]) -> Result<Option<Principal>> {
        Ok(
            bool::from(digest(bearer).ct_eq(&self.digest)).then(|| Principal {
                id: "usage-token".to_string(),
                grants: vec![Policy::UsagePush],
            }),
        )
    }

    fn hint(&self) -> String {
        format!("the token set in {} on the server", self.named)
    }
}

/// The bearer credential of `Authorization: Bearer <credential>`; an error names what
/// is wrong with the header.
fn bearer<'h>(
    headers: &'h HeaderMap,
    hint: &str,
) -> std::result::Result<Option<&'h [u8]>, Problem> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.as_bytes();
    match value.iter().position(|b| *b == b' ') {
        Some(i) if value[..i].eq_ignore_ascii_case(b"bearer") => Ok(Some(value[i + 1..].trim_ascii())),
        _ => Err(Problem::new(
            Kind::Unauthenticated,
            format!("the Authorization header holds no bearer token: send `Authorization: Bearer <token>` with {hint}"),
        )
        .field("Authorization")),
    }
}

/// Authenticates a request to a route of `policy`: a credential, when sent, must be
/// known (else 401), and a route that is not public needs one that its policy allows.
/// The principal goes into the request's extensions.
pub(crate) async fn check(
    State((auth, policy)): State<(Arc<dyn Authenticate>, Policy)>,
    mut req: Request,
    next: Next,
) -> Response {
    let hint = auth.hint();
    let presented = match bearer(req.headers(), &hint) {
        Ok(p) => p,
        Err(p) if policy == Policy::Public => {
            drop(p);
            None
        }
        Err(p) => return p.into_response(),
    };
    let principal = match presented {
        None => None,
        Some(b) => match auth.authenticate(b).await {
            Ok(Some(p)) => Some(p),
            Ok(None) if policy == Policy::Public => None,
            Ok(None) => {
                return Problem::new(
                    Kind::Unauthenticated,
                    format!("the bearer token is wrong: send {hint}"),
                )
                .field("Authorization")
                .into_response()
            }
            Err(e) => return Problem::from_error(&e).into_response(),
        },
    };
    match &principal {
        Some(p) if !p.allows(policy) => {
            // No route has another policy yet: the accounts work answers 403 here.
            return Problem::new(
                Kind::Unauthenticated,
                format!("this credential may not call this route: send {hint}"),
            )
            .into_response();
        }
        None if policy != Policy::Public => {
            return Problem::new(
                Kind::Unauthenticated,
                format!("the Authorization header is missing: send `Authorization: Bearer <token>` with {hint}"),
            )
            .field("Authorization")
            .into_response();
        }
        _ => {}
    }
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_usage_token_is_checked_in_full() {
        let t = UsageToken::new(b"0123456789abcdef0123456789abcdef", "PROVISOR_API_TOKEN");
        assert!(t
            .authenticate(b"0123456789abcdef0123456789abcdef")
            .await
            .unwrap()
            .is_some());
        assert!(t
            .authenticate(b"0123456789abcdef0123456789abcde")
            .await
            .unwrap()
            .is_none());
        assert!(!format!("{t:?}").contains("0123"));
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h, "x").unwrap(), None);
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer(&h, "x").is_err());
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h, "x").unwrap(), Some(&b"abc"[..]));
    }
}
