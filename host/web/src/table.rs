//! The route table: every route the API serves, once, with its operation id and the
//! policy that says who may call it. The router is built from this table alone
//! (`routes::router`), the policy middleware enforces each row's policy
//! (`auth::check`), the OpenAPI document is built from it, and the authorization
//! matrix (`tests/api_authz.rs`) is generated from it, so a route cannot be served
//! without a row here.

use provisor_store::entities::kinds::Role;

/// Staff roles a route admits: any role that includes one of them (as
/// `provisor_app::accounts::role_includes` defines: owner includes every role, admin
/// every role but owner; billing and support only themselves).
pub type Roles = &'static [Role];

/// Every staff account (billing and support, and so admin and owner).
pub const ANY_STAFF: Roles = &[Role::Billing, Role::Support];
/// Billing staff (and admin, owner).
pub const BILLING: Roles = &[Role::Billing];
/// Support staff (and admin, owner).
pub const SUPPORT: Roles = &[Role::Support];

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, without a credential.
    Public,
    /// Any known credential (a staff or client session, an API token).
    Signed,
    /// A credential that may push usage: the configured `api.token`, or billing staff.
    UsagePush,
    /// Staff of one of these roles; a client is refused (403) before anything is read.
    Staff(Roles),
    /// Staff of one of these roles, or a client for **their own** objects only (the
    /// handler resolves ownership through `auth::owned`: another client's object is a
    /// 404).
    StaffOrClient {
        /// The staff roles admitted.
        staff: Roles,
    },
}

/// An HTTP method a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// `GET` (and `HEAD`, which answers the same without a body).
    Get,
    /// `POST`: takes an `Idempotency-Key`.
    Post,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
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
    /// `POST /v1/sessions`.
    CreateSession,
    /// `DELETE /v1/sessions/current`.
    DeleteSession,
    /// `GET /v1/me`.
    GetMe,
    /// `GET /v1/clients`.
    ListClients,
    /// `GET /v1/clients/{id}`.
    GetClient,
    /// `POST /v1/clients`.
    CreateClient,
    /// `GET /v1/services`.
    ListServices,
    /// `GET /v1/services/{id}`.
    GetService,
    /// `POST /v1/services`.
    CreateService,
    /// `POST /v1/services/{id}/suspend`.
    SuspendService,
    /// `POST /v1/services/{id}/unsuspend`.
    UnsuspendService,
    /// `POST /v1/services/{id}/terminate`.
    TerminateService,
    /// `GET /v1/invoices`.
    ListInvoices,
    /// `GET /v1/invoices/{id}`.
    GetInvoice,
    /// `GET /v1/invoices/{id}/lines`.
    ListInvoiceLines,
    /// `POST /v1/invoices/{id}/issue`.
    IssueInvoice,
    /// `POST /v1/invoices/{id}/payments`.
    PayInvoice,
    /// `POST /v1/invoices/{id}/refunds`.
    RefundInvoice,
    /// `POST /v1/invoices/{id}/cancel`.
    CancelInvoice,
    /// `POST /v1/billing/runs`.
    RunBilling,
    /// `GET /v1/audit`.
    ListAudit,
    /// `POST /v1/services/{id}/change_plan`.
    ChangeServicePlan,
    /// `POST /v1/services/{id}/renew`.
    RenewService,
    /// `POST /v1/services/{id}/sso`.
    ServiceSso,
    /// `GET /v1/services/{id}/panel`.
    GetServicePanel,
    /// `POST /v1/services/{id}/actions/{action}`.
    RunServiceAction,
    /// `GET /v1/operations`.
    ListOperations,
    /// `GET /v1/operations/{id}`.
    GetOperation,
    /// `POST /v1/operations/{id}/retry`.
    RetryOperation,
    /// `POST /v1/operations/{id}/cancel`.
    CancelOperation,
    /// `GET /v1/tasks`.
    ListTasks,
    /// `GET /v1/tasks/{id}`.
    GetTask,
    /// `POST /v1/tasks/{id}/take`.
    TakeTask,
    /// `POST /v1/tasks/{id}/complete`.
    CompleteTask,
    /// `POST /v1/tasks/{id}/return`.
    ReturnTask,
    /// `GET /v1/plans`.
    ListPlans,
    /// `GET /v1/plans/{id}`.
    GetPlan,
    /// `POST /v1/plans/{id}/prices`.
    SetPlanPrice,
    /// `GET /v1/departments`.
    ListDepartments,
    /// `POST /v1/departments`.
    AddDepartment,
    /// `GET /v1/handlers`.
    ListHandlers,
    /// `GET /v1/handlers/{name}`.
    GetHandler,
    /// `POST /v1/handlers`.
    AddHandler,
    /// `POST /v1/handlers/{name}/enable`.
    EnableHandler,
    /// `POST /v1/handlers/{name}/disable`.
    DisableHandler,
    /// `POST /v1/handlers/{name}/test`.
    TestHandler,
    /// `GET /v1/modules`.
    ListModules,
    /// `POST /v1/modules`.
    UploadModule,
    /// `GET /v1/clients/{id}/ledger`.
    GetLedger,
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
    Route {
        method: Method::Post,
        path: "/v1/sessions",
        operation_id: "createSession",
        operation: Operation::CreateSession,
        policy: Policy::Public,
        body: BodyLimit::Json,
        summary: "Log in: a staff or client session token, shown once",
        tag: "sessions",
    },
    Route {
        method: Method::Delete,
        path: "/v1/sessions/current",
        operation_id: "deleteSession",
        operation: Operation::DeleteSession,
        policy: Policy::Signed,
        body: BodyLimit::Json,
        summary: "Log out: end the session the request is made with",
        tag: "sessions",
    },
    Route {
        method: Method::Get,
        path: "/v1/me",
        operation_id: "getMe",
        operation: Operation::GetMe,
        policy: Policy::Signed,
        body: BodyLimit::Json,
        summary: "Who the credential stands for (never the credential)",
        tag: "sessions",
    },
    Route {
        method: Method::Get,
        path: "/v1/clients",
        operation_id: "listClients",
        operation: Operation::ListClients,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "List clients (filter: email)",
        tag: "clients",
    },
    Route {
        method: Method::Post,
        path: "/v1/clients",
        operation_id: "createClient",
        operation: Operation::CreateClient,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary: "Add a client",
        tag: "clients",
    },
    Route {
        method: Method::Get,
        path: "/v1/clients/{id}",
        operation_id: "getClient",
        operation: Operation::GetClient,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "Show a client (a client: itself only)",
        tag: "clients",
    },
    Route {
        method: Method::Get,
        path: "/v1/services",
        operation_id: "listServices",
        operation: Operation::ListServices,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "List services (filters: client_id, status, plan_id; a client: its own)",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services",
        operation_id: "createService",
        operation: Operation::CreateService,
        policy: Policy::StaffOrClient { staff: BILLING },
        body: BodyLimit::Json,
        summary: "Order a plan for a client (a client: for itself)",
        tag: "services",
    },
    Route {
        method: Method::Get,
        path: "/v1/services/{id}",
        operation_id: "getService",
        operation: Operation::GetService,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "Show a service (a client: its own only)",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/suspend",
        operation_id: "suspendService",
        operation: Operation::SuspendService,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Queue a suspend of a service",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/unsuspend",
        operation_id: "unsuspendService",
        operation: Operation::UnsuspendService,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Queue an unsuspend of a service",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/terminate",
        operation_id: "terminateService",
        operation: Operation::TerminateService,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Queue the termination of a service",
        tag: "services",
    },
    Route {
        method: Method::Get,
        path: "/v1/invoices",
        operation_id: "listInvoices",
        operation: Operation::ListInvoices,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "List invoices (filters: client_id, status; a client: its own)",
        tag: "invoices",
    },
    Route {
        method: Method::Get,
        path: "/v1/invoices/{id}",
        operation_id: "getInvoice",
        operation: Operation::GetInvoice,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "Show an invoice with its amounts (a client: its own only)",
        tag: "invoices",
    },
    Route {
        method: Method::Get,
        path: "/v1/invoices/{id}/lines",
        operation_id: "listInvoiceLines",
        operation: Operation::ListInvoiceLines,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "An invoice's lines, in their order (a client: its own invoices only)",
        tag: "invoices",
    },
    Route {
        method: Method::Post,
        path: "/v1/invoices/{id}/issue",
        operation_id: "issueInvoice",
        operation: Operation::IssueInvoice,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary: "Issue a draft invoice: it gets its number and becomes unpaid",
        tag: "invoices",
    },
    Route {
        method: Method::Post,
        path: "/v1/invoices/{id}/payments",
        operation_id: "payInvoice",
        operation: Operation::PayInvoice,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary: "Record a payment on an invoice (once per reference)",
        tag: "invoices",
    },
    Route {
        method: Method::Post,
        path: "/v1/invoices/{id}/refunds",
        operation_id: "refundInvoice",
        operation: Operation::RefundInvoice,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary:
            "Give money paid on an invoice back, to the payer or as credit (once per reference)",
        tag: "invoices",
    },
    Route {
        method: Method::Post,
        path: "/v1/invoices/{id}/cancel",
        operation_id: "cancelInvoice",
        operation: Operation::CancelInvoice,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary: "Cancel a draft or unpaid invoice; what was paid on it becomes credit",
        tag: "invoices",
    },
    Route {
        method: Method::Post,
        path: "/v1/billing/runs",
        operation_id: "runBilling",
        operation: Operation::RunBilling,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary:
            "Run billing for a day, or bill a past month's usage again; a dry run writes nothing",
        tag: "billing",
    },
    Route {
        method: Method::Get,
        path: "/v1/audit",
        operation_id: "listAudit",
        operation: Operation::ListAudit,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "The audit log, newest first (filters: actor, object, action, since)",
        tag: "audit",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/change_plan",
        operation_id: "changeServicePlan",
        operation: Operation::ChangeServicePlan,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Queue a plan change of a service",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/renew",
        operation_id: "renewService",
        operation: Operation::RenewService,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "Queue a renewal of a service",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/sso",
        operation_id: "createServiceSso",
        operation: Operation::ServiceSso,
        policy: Policy::StaffOrClient { staff: SUPPORT },
        body: BodyLimit::Json,
        summary: "A control panel sign-in link (a client: its own service, client audience only); never stored",
        tag: "services",
    },
    Route {
        method: Method::Get,
        path: "/v1/services/{id}/panel",
        operation_id: "getServicePanel",
        operation: Operation::GetServicePanel,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "The module's client-area panel of a service (a client: its own only)",
        tag: "services",
    },
    Route {
        method: Method::Post,
        path: "/v1/services/{id}/actions/{action}",
        operation_id: "runServiceAction",
        operation: Operation::RunServiceAction,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Queue one of the module's admin actions on a service",
        tag: "services",
    },
    Route {
        method: Method::Get,
        path: "/v1/operations",
        operation_id: "listOperations",
        operation: Operation::ListOperations,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "List operations (filters: status, service_id, kind)",
        tag: "operations",
    },
    Route {
        method: Method::Get,
        path: "/v1/operations/{id}",
        operation_id: "getOperation",
        operation: Operation::GetOperation,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "Show an operation with its attempts and module log rows (redacted)",
        tag: "operations",
    },
    Route {
        method: Method::Post,
        path: "/v1/operations/{id}/retry",
        operation_id: "retryOperation",
        operation: Operation::RetryOperation,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Retry an operation: a manual or failed one afresh, a waiting one now",
        tag: "operations",
    },
    Route {
        method: Method::Post,
        path: "/v1/operations/{id}/cancel",
        operation_id: "cancelOperation",
        operation: Operation::CancelOperation,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Cancel a queued or manual operation",
        tag: "operations",
    },
    Route {
        method: Method::Get,
        path: "/v1/tasks",
        operation_id: "listTasks",
        operation: Operation::ListTasks,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "List manual tasks (filters: status, department)",
        tag: "tasks",
    },
    Route {
        method: Method::Get,
        path: "/v1/tasks/{id}",
        operation_id: "getTask",
        operation: Operation::GetTask,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "Show a manual task with its form",
        tag: "tasks",
    },
    Route {
        method: Method::Post,
        path: "/v1/tasks/{id}/take",
        operation_id: "takeTask",
        operation: Operation::TakeTask,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Take a task for the caller's staff account (in the task's department)",
        tag: "tasks",
    },
    Route {
        method: Method::Post,
        path: "/v1/tasks/{id}/complete",
        operation_id: "completeTask",
        operation: Operation::CompleteTask,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Complete a task with its form's values: its operation is done",
        tag: "tasks",
    },
    Route {
        method: Method::Post,
        path: "/v1/tasks/{id}/return",
        operation_id: "returnTask",
        operation: Operation::ReturnTask,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Send a task back: its operation gets fresh automatic attempts",
        tag: "tasks",
    },
    Route {
        method: Method::Get,
        path: "/v1/plans",
        operation_id: "listPlans",
        operation: Operation::ListPlans,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary:
            "List plans with their prices (a client: those it can order, its currency's prices)",
        tag: "plans",
    },
    Route {
        method: Method::Get,
        path: "/v1/plans/{id}",
        operation_id: "getPlan",
        operation: Operation::GetPlan,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "Show a plan with its prices and deposits (a client: an orderable one)",
        tag: "plans",
    },
    Route {
        method: Method::Post,
        path: "/v1/plans/{id}/prices",
        operation_id: "setPlanPrice",
        operation: Operation::SetPlanPrice,
        policy: Policy::Staff(BILLING),
        body: BodyLimit::Json,
        summary: "Set (or, with a null amount, remove) a plan's price for a currency and period",
        tag: "plans",
    },
    Route {
        method: Method::Get,
        path: "/v1/departments",
        operation_id: "listDepartments",
        operation: Operation::ListDepartments,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "List departments",
        tag: "departments",
    },
    Route {
        method: Method::Post,
        path: "/v1/departments",
        operation_id: "addDepartment",
        operation: Operation::AddDepartment,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "Add a department",
        tag: "departments",
    },
    Route {
        method: Method::Get,
        path: "/v1/handlers",
        operation_id: "listHandlers",
        operation: Operation::ListHandlers,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "List handlers (settings redacted)",
        tag: "handlers",
    },
    Route {
        method: Method::Post,
        path: "/v1/handlers",
        operation_id: "addHandler",
        operation: Operation::AddHandler,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "Add a handler; its settings are checked against the module's schema",
        tag: "handlers",
    },
    Route {
        method: Method::Get,
        path: "/v1/handlers/{name}",
        operation_id: "getHandler",
        operation: Operation::GetHandler,
        policy: Policy::Staff(ANY_STAFF),
        body: BodyLimit::Json,
        summary: "Show a handler (settings redacted)",
        tag: "handlers",
    },
    Route {
        method: Method::Post,
        path: "/v1/handlers/{name}/enable",
        operation_id: "enableHandler",
        operation: Operation::EnableHandler,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "Let a handler take new services",
        tag: "handlers",
    },
    Route {
        method: Method::Post,
        path: "/v1/handlers/{name}/disable",
        operation_id: "disableHandler",
        operation: Operation::DisableHandler,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "Stop new services going to a handler",
        tag: "handlers",
    },
    Route {
        method: Method::Post,
        path: "/v1/handlers/{name}/test",
        operation_id: "testHandler",
        operation: Operation::TestHandler,
        policy: Policy::Staff(SUPPORT),
        body: BodyLimit::Json,
        summary: "Run the module's connection test for a handler",
        tag: "handlers",
    },
    Route {
        method: Method::Get,
        path: "/v1/modules",
        operation_id: "listModules",
        operation: Operation::ListModules,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Json,
        summary: "List module files with their state (a refused file: why)",
        tag: "modules",
    },
    Route {
        method: Method::Post,
        path: "/v1/modules",
        operation_id: "uploadModule",
        operation: Operation::UploadModule,
        policy: Policy::Staff(&[Role::Admin]),
        body: BodyLimit::Batch,
        summary:
            "Install a module file (the body, application/octet-stream), checked as a dropped file",
        tag: "modules",
    },
    Route {
        method: Method::Get,
        path: "/v1/clients/{id}/ledger",
        operation_id: "getLedger",
        operation: Operation::GetLedger,
        policy: Policy::StaffOrClient { staff: ANY_STAFF },
        body: BodyLimit::Json,
        summary: "A client's credit ledger and balance (a client: its own)",
        tag: "clients",
    },
];

/// The methods a path takes, for `Allow` (`GET` brings `HEAD`).
pub fn allow(path: &str) -> String {
    let mut methods = Vec::new();
    for r in ROUTES.iter().filter(|r| r.path == path) {
        match r.method {
            Method::Get => methods.extend(["GET", "HEAD"]),
            Method::Post => methods.push("POST"),
            Method::Delete => methods.push("DELETE"),
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
