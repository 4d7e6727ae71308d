//! Who is calling, and whether they may: every request that carries
//! `Authorization: Bearer …` is authenticated through `provisor_app::accounts::authenticate`
//! (session tokens `pvs_…`, API tokens `pvt_…`, the configured `api.token`), and the
//! one [`Principal`] it answers goes into the request's extensions. [`check`], the policy
//! middleware, then enforces the route's [`Policy`] from the route table:
//!
//! - no, malformed, unknown, revoked or expired credential → 401;
//! - a credential whose `read_only`/`endpoints` limits keep it off the route → 403;
//! - staff whose role is not among the route's → 403;
//! - a client on a staff-only route → 403, answered before anything is read, so it is
//!   the same for every id and confirms no object (the route itself is public in the
//!   OpenAPI document; a 404 would only lie about it);
//! - a client on a `StaffOrClient` route passes; the handler then resolves ownership
//!   through [`owned`], and another client's object is a 404, never a 403.
//!
//! Must not: log, echo or store a credential.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use provisor_app::accounts::Principal;
use provisor_app::accounts::{Credential, Who};
use provisor_app::audit::Actor;
use provisor_store::entities::kinds::ActorKind;
use provisor_store::error::{Error, Message};

use crate::problem::{Kind, Problem};
use crate::state::Api;
use crate::table::{Policy, Roles, Route};

/// The owner of a request's idempotency keys when it carries no credential.
pub const ANONYMOUS: &str = "anonymous";

/// What a caller should send, for a 401's detail.
const HINT: &str = "a session token (from POST /v1/sessions) or an API token";

/// What a caller of `route` should send, for a 401's detail: usage pushes name where
/// the configured token is set.
fn hint(route: &Route) -> String {
    if route.policy == Policy::UsagePush {
        format!(
            "the token set in {} on the server, or a billing staff session or API token",
            crate::state::TOKEN_VAR
        )
    } else {
        HINT.to_string()
    }
}

/// The stable id of a principal's credential, the owner of its idempotency keys:
/// `session:ID`, `token:ID`, or `usage-token`.
pub fn owner(p: &Principal) -> String {
    match p.credential {
        Credential::Session { id } => format!("session:{id}"),
        Credential::ApiToken { id } => format!("token:{id}"),
        Credential::ConfiguredToken => "usage-token".to_string(),
    }
}

/// How the audit log names the principal, acting from `peer`.
pub fn actor(p: &Principal, peer: SocketAddr) -> Actor {
    let (kind, id, name) = p.audit_actor();
    Actor {
        kind,
        id,
        name,
        source: Some(peer.ip().to_string()),
    }
}

/// Whether a principal is a client (a client session).
fn is_client(p: &Principal) -> bool {
    matches!(p.who, Who::Client { .. })
}

/// Whether a principal holds one of `roles`.
fn holds(p: &Principal, roles: Roles) -> bool {
    roles.iter().any(|r| p.has_role(*r))
}

/// Ownership, the one way a handler resolves it on a `StaffOrClient` route: `Ok` when
/// the principal is staff (the policy already checked the role) or the client that
/// owns the object (`owner_client_id`); otherwise the same 404 as a missing object,
/// naming `what` (`service 12`), so another client's object is never confirmed.
pub fn owned(p: &Principal, owner_client_id: i64, what: &str) -> Result<(), Problem> {
    match p.client_id() {
        Some(id) if id != owner_client_id => Err(not_found(what)),
        _ => Ok(()),
    }
}

/// The 404 of an object that does not exist (or that the caller may not see).
pub fn not_found(what: &str) -> Problem {
    Problem::new(
        Kind::NotFound,
        format!("there is no {what}: check the id (a listing shows the ones you can see)"),
    )
}

/// The bearer credential of `Authorization: Bearer <credential>`; an error names what
/// is wrong with the header.
pub(crate) fn bearer<'h>(headers: &'h HeaderMap, hint: &str) -> Result<Option<&'h str>, Problem> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        Problem::new(
            Kind::Unauthenticated,
            format!("the Authorization header holds no bearer token: send `Authorization: Bearer <token>` with {hint}"),
        )
        .field("Authorization")
    };
    let value = value.to_str().map_err(|_| malformed())?;
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = rest.trim();
            if token.is_empty() {
                Err(malformed())
            } else {
                Ok(Some(token))
            }
        }
        _ => Err(malformed()),
    }
}

fn forbidden(detail: impl Into<String>) -> Problem {
    Problem::new(Kind::Forbidden, detail)
}

/// Whether `p` passes `policy` (its limits already checked); the refusal otherwise.
fn allowed(p: &Principal, policy: Policy) -> Result<(), Problem> {
    let staff_only = "this route is for staff accounts only: a client reaches its own objects under /v1/clients/{id}, /v1/services and /v1/invoices";
    let role_low = |roles: Roles| {
        let names: Vec<&str> = roles
            .iter()
            .map(|r| match r {
                provisor_store::entities::kinds::Role::Owner => "owner",
                provisor_store::entities::kinds::Role::Admin => "admin",
                provisor_store::entities::kinds::Role::Billing => "billing",
                provisor_store::entities::kinds::Role::Support => "support",
            })
            .collect();
        forbidden(format!(
            "this route needs the role {} (or admin, owner), which this credential does not have: ask an owner or admin for the role, or use a credential that has it",
            names.join(" or ")
        ))
    };
    match policy {
        Policy::Public | Policy::Signed => Ok(()),
        Policy::UsagePush => {
            if matches!(p.credential, Credential::ConfiguredToken)
                || holds(p, crate::table::BILLING)
            {
                Ok(())
            } else if is_client(p) {
                Err(forbidden(staff_only))
            } else {
                Err(role_low(crate::table::BILLING))
            }
        }
        Policy::Staff(roles) => {
            if is_client(p) {
                Err(forbidden(staff_only))
            } else if holds(p, roles) {
                Ok(())
            } else {
                Err(role_low(roles))
            }
        }
        Policy::StaffOrClient { staff } => {
            if is_client(p) || holds(p, staff) {
                Ok(())
            } else {
                Err(role_low(staff))
            }
        }
    }
}

/// The policy middleware: a public route runs as it is (a credential it carries is
/// not even read, so a health check costs no database read); any other route needs a
/// known credential that its policy allows, and its principal goes into the request's
/// extensions.
pub(crate) async fn check(
    State((api, route)): State<(Arc<Api>, &'static Route)>,
    mut req: Request,
    next: Next,
) -> Response {
    if route.policy == Policy::Public {
        return next.run(req).await;
    }
    let hint = hint(route);
    let presented = match bearer(req.headers(), &hint) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Problem::new(
                Kind::Unauthenticated,
                format!("the Authorization header is missing: send `Authorization: Bearer <token>` with {hint}"),
            )
            .field("Authorization")
            .into_response()
        }
        Err(p) => return p.into_response(),
    };
    let p = match provisor_app::accounts::authenticate(
        &api.store,
        &api.accounts,
        presented,
        api.clock.now(),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return unauthenticated(&e, &hint),
    };
    if !p.may_reach(route.method.as_str(), route.path) {
        let why = if p.read_only {
            "this credential is read-only and this route changes something"
        } else {
            "this credential is limited to other endpoints"
        };
        return forbidden(format!(
            "{why}: use a credential issued for {} {}",
            route.method.as_str(),
            route.path
        ))
        .into_response();
    }
    if let Err(r) = allowed(&p, route.policy) {
        return r.into_response();
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}

/// The 401 of a credential `accounts` refused; any other failure (the database) as it
/// is.
fn unauthenticated(e: &Error, hint: &str) -> Response {
    let p = Problem::from_error(e);
    if p.status() == Kind::Unauthenticated.status() {
        Problem::new(Kind::Unauthenticated, format!("{} (send {hint})", p.detail))
            .field("Authorization")
            .into_response()
    } else {
        p.into_response()
    }
}

/// The error of a handler that needs a principal and has none (a route whose policy
/// is not public always has one).
pub(crate) fn principal_missing() -> Problem {
    Problem::from_error(&Error::refused(
        provisor_store::error::ErrorKind::Unauthenticated,
        Message::about(
            "Authorization",
            format!("no credential was sent: send {HINT}"),
        ),
    ))
}

/// How the usage import names the configured token's actor.
pub(crate) fn usage_actor(p: Option<&Principal>, peer: SocketAddr) -> Actor {
    match p {
        Some(p) if !matches!(p.credential, Credential::ConfiguredToken) => actor(p, peer),
        _ => Actor {
            kind: ActorKind::Token,
            id: None,
            name: "api token".to_string(),
            source: Some(peer.ip().to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ANY_STAFF, BILLING, SUPPORT};
    use provisor_store::entities::kinds::Role;

    fn staff(role: Role) -> Principal {
        Principal {
            who: Who::Staff {
                id: 1,
                email: "s@x.example".into(),
                name: "S".into(),
            },
            role: Some(role),
            read_only: false,
            endpoints: None,
            credential: Credential::Session { id: 9 },
        }
    }

    fn client(id: i64) -> Principal {
        Principal {
            who: Who::Client {
                id,
                email: "c@x.example".into(),
                name: "C".into(),
            },
            role: None,
            read_only: false,
            endpoints: None,
            credential: Credential::Session { id: 10 + id },
        }
    }

    #[test]
    fn policies_admit_roles_as_they_include_each_other_and_clients_their_own() {
        let status = |p: &Principal, policy| allowed(p, policy).err().map(|e| e.status);
        for role in [Role::Owner, Role::Admin, Role::Billing, Role::Support] {
            assert_eq!(status(&staff(role), Policy::Staff(ANY_STAFF)), None);
        }
        assert_eq!(
            status(&staff(Role::Support), Policy::Staff(BILLING)),
            Some(403)
        );
        assert_eq!(
            status(&staff(Role::Billing), Policy::Staff(SUPPORT)),
            Some(403)
        );
        assert_eq!(status(&staff(Role::Admin), Policy::Staff(SUPPORT)), None);
        assert_eq!(status(&staff(Role::Billing), Policy::UsagePush), None);
        assert_eq!(status(&staff(Role::Support), Policy::UsagePush), Some(403));
        assert_eq!(status(&client(1), Policy::Staff(ANY_STAFF)), Some(403));
        assert_eq!(
            status(&client(1), Policy::StaffOrClient { staff: BILLING }),
            None
        );
        assert_eq!(
            status(
                &staff(Role::Support),
                Policy::StaffOrClient { staff: BILLING }
            ),
            Some(403)
        );
        // Ownership: a client's own object, another's is a 404; staff see any.
        assert!(owned(&client(1), 1, "service 5").is_ok());
        assert_eq!(owned(&client(2), 1, "service 5").unwrap_err().status, 404);
        assert!(owned(&staff(Role::Support), 1, "service 5").is_ok());
        assert_eq!(owner(&client(1)), "session:11");
    }

    #[test]
    fn the_bearer_header_is_parsed_strictly() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h, "x").unwrap(), None);
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer(&h, "x").is_err());
        h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(bearer(&h, "x").is_err());
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h, "x").unwrap(), Some("abc"));
    }
}
