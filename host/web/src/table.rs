//! The route table: every route the API serves, once, with its operation id and the
//! policy that says who may call it. The router is built from this table alone
//! (`routes::router`), the OpenAPI document is built from it, and the authorization
//! matrix of the accounts work will be generated from it, so a route cannot be served
//! without a row here.

/// Who may call a route. The accounts work fills in the staff roles and clients; until
/// then a route is public or needs the usage token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, without a credential.
    Public,
    /// A credential that may push usage (the `api.token` today).
    UsagePush,
}

/// An HTTP method a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// `GET` (and `HEAD`, which answers the same without a body).
    Get,
    /// `POST`: takes an `Idempotency-Key`.
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What a route does: one variant per operation, each served by one handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET /v1/health`.
    Health,
    /// `GET /v1/openapi.json`.
    OpenApi,
    /// `POST /v1/usage`.
    PushUsage,
}

/// How large a request body a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// The JSON default (1 MiB).
    Json,
    /// `api.max_body_bytes` (usage batches: 32 MiB by default).
    Batch,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template (`/v1/services/{id}`).
    pub path: &'static str,
    /// The operation id (OpenAPI's `operationId`), unique.
    pub operation_id: &'static str,
    /// What it does.
    pub operation: Operation,
    /// Who may call it.
    pub policy: Policy,
    /// The body limit.
    pub body: BodyLimit,
    /// A line for the document.
    pub summary: &'static str,
    /// The OpenAPI tag it is listed under.
    pub tag: &'static str,
}

/// Every route, in the document's order.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::Get,
        path: "/v1/health",
        operation_id: "getHealth",
        operation: Operation::Health,
        policy: Policy::Public,
        body: BodyLimit::Json,
        summary: "Whether the server answers",
        tag: "meta",
    },
    Route {
        method: Method::Get,
        path: "/v1/openapi.json",
        operation_id: "getOpenApi",
        operation: Operation::OpenApi,
        policy: Policy::Public,
        body: BodyLimit::Json,
        summary: "This API's OpenAPI 3.1 document",
        tag: "meta",
    },
    Route {
        method: Method::Post,
        path: "/v1/usage",
        operation_id: "pushUsage",
        operation: Operation::PushUsage,
        policy: Policy::UsagePush,
        body: BodyLimit::Batch,
        summary: "Import a batch of usage records (all or nothing, deduplicated by transaction id)",
        tag: "usage",
    },
];

/// The methods a path takes, for `Allow` (`GET` brings `HEAD`).
pub fn allow(path: &str) -> String {
    let mut methods = Vec::new();
    for r in ROUTES.iter().filter(|r| r.path == path) {
        match r.method {
            Method::Get => methods.extend(["GET", "HEAD"]),
            Method::Post => methods.push("POST"),
        }
    }
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn operation_ids_and_method_paths_are_unique() {
        let ids: BTreeSet<_> = ROUTES.iter().map(|r| r.operation_id).collect();
        assert_eq!(ids.len(), ROUTES.len());
        let pairs: BTreeSet<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(pairs.len(), ROUTES.len());
        assert_eq!(allow("/v1/health"), "GET, HEAD");
        assert_eq!(allow("/v1/usage"), "POST");
    }
}
