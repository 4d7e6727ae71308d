//! The OpenAPI 3.1 document, built from the route table ([`crate::table::ROUTES`]) and
//! the types the routes answer with (`utoipa`'s `ToSchema`), so it cannot list a route
//! the server does not serve or miss one it does. `docs/openapi.json` is this document,
//! checked in; a test fails when they differ (`docs/api.md` says how to regenerate it).

use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths,
    Ref, ResponseBuilder, ServerBuilder, Tag,
};
use utoipa::ToSchema;

use crate::problem::{FieldError, Problem, PROBLEM_JSON};
use crate::routes::audit::{AuditActor, AuditEntry};
use crate::routes::billing::{
    BillingEvent, BillingRun, HandlerDaily, InvoiceLine, IssueInvoice, NewBillingRun, NewPayment,
    NewRefund, Payment, Refund,
};
use crate::routes::catalog::{
    Department, Deposit, Ledger, LedgerEntry, NewDepartment, NewPrice, Plan, Price,
};
use crate::routes::clients::{Client, NewClient};
use crate::routes::handlers::{ConnectionTest, Handler, ModuleFile, ModuleInstalled, NewHandler};
use crate::routes::health::Health;
use crate::routes::invoices::Invoice;
use crate::routes::operations::{
    self as ops, LogRow, OperationAttempt, OperationDetail, RetriedOperation,
};
use crate::routes::service_ops::{ActionRequest, Audience, Panel, PlanChange, SsoLink, SsoRequest};
use crate::routes::services::{NewOrder, OrderPlaced, Queued, Service};
use crate::routes::sessions::{LoginRealm, Me, NewSession, SessionOpened};
use crate::routes::tasks::{Task, TaskReturned, TaskValues};
use crate::routes::usage::UsageImported;
use crate::table::{Method, Operation, Policy, Route, ROUTES};

/// The list envelope every listing answers with (Stripe's).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema for the document only")]
struct List {
    /// Always `list`.
    #[schema(example = "list")]
    object: String,
    /// The objects, in id order.
    data: Vec<serde_json::Value>,
    /// Whether objects follow the last one.
    has_more: bool,
    /// The path of the next page, when there is one (`…?limit=20&starting_after=42`).
    #[schema(example = "/v1/invoices?limit=20&starting_after=42")]
    next: Option<String>,
}

/// The bearer security scheme's name in the document.
const BEARER: &str = "bearer";

fn schema(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn json_response(description: &str, schema_name: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema(schema_name)))
                .build(),
        )
        .build()
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(schema("Problem")))
                .build(),
        )
        .build()
}

fn json_body(schema_name: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(utoipa::openapi::Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema(schema_name)))
                .build(),
        )
        .build()
}

fn id_param(what: &str) -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name("id")
        .parameter_in(utoipa::openapi::path::ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(format!("The {what}'s id")))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer),
        ))
        .build()
}

fn name_param(what: &str) -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name("name")
        .parameter_in(utoipa::openapi::path::ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some(format!("The {what}'s name")))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
        ))
        .build()
}

fn query_param(name: &str, description: &str, integer: bool) -> utoipa::openapi::path::Parameter {
    let t = if integer {
        utoipa::openapi::Type::Integer
    } else {
        utoipa::openapi::Type::String
    };
    utoipa::openapi::path::ParameterBuilder::new()
        .name(name)
        .parameter_in(utoipa::openapi::path::ParameterIn::Query)
        .description(Some(description))
        .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(t)))
        .build()
}

/// A listing: the cursor's parameters, `filters`, and the envelope of `item`s.
fn listing(op: OperationBuilder, item: &str, filters: &[(&str, &str, bool)]) -> OperationBuilder {
    let mut op = op
        .parameter(query_param(
            "limit",
            "How many objects, 1 to 100 (default 20)",
            true,
        ))
        .parameter(query_param(
            "starting_after",
            "The id of the last object of the page before",
            true,
        ));
    for (name, description, integer) in filters {
        op = op.parameter(query_param(name, description, *integer));
    }
    op.response(
        "200",
        json_response(&format!("A page of {item} objects, in id order"), "List"),
    )
    .response("400", problem("A bad limit, cursor or filter, named"))
}

/// The operations of invoices' changes, billing runs and the audit log.
fn billing_operation(op: OperationBuilder, operation: Operation) -> OperationBuilder {
    match operation {
        Operation::ListInvoiceLines => op.response("200", json_response("The invoice's lines (InvoiceLine objects), all on one page", "List")),
        Operation::IssueInvoice => op
            .request_body(Some({
                let mut body = json_body("IssueInvoice");
                body.required = Some(utoipa::openapi::Required::False);
                body
            }))
            .response("200", json_response("The invoice, issued", "Invoice"))
            .response("400", problem("A bad date, or the invoice is no draft")),
        Operation::PayInvoice => op
            .request_body(Some(json_body("NewPayment")))
            .response("201", json_response("The payment, recorded", "Payment"))
            .response("200", json_response("A payment with this reference was already recorded; nothing changed", "Payment"))
            .response("400", problem("The payment does not fit the invoice (amount, currency, status), the field named")),
        Operation::RefundInvoice => op
            .request_body(Some(json_body("NewRefund")))
            .response("201", json_response("The refund, recorded", "Refund"))
            .response("200", json_response("A refund with this reference was already recorded; nothing changed", "Refund"))
            .response("400", problem("The refund does not fit the invoice (more than was paid, wrong currency), the field named")),
        Operation::CancelInvoice => op
            .response("200", json_response("The invoice, cancelled", "Invoice"))
            .response("400", problem("The invoice is paid or already cancelled")),
        Operation::RunBilling => op
            .request_body(Some(json_body("NewBillingRun")))
            .response("200", json_response("What was billed, or would be in a dry run", "BillingRun"))
            .response("400", problem("A bad date or period, named")),
        Operation::ListAudit => listing(
            op,
            "AuditEntry",
            &[
                ("actor", "KIND[:ID|NAME]: staff, client, token, module, system or shell (staff:3, client:a@example.com)", false),
                ("object", "KIND[:ID]: invoice, service:12, invoice:2026-000003", false),
                ("action", "An action as recorded: invoice.pay", false),
                ("since", "A day (YYYY-MM-DD, from its start in UTC) or an RFC 3339 time", false),
            ],
        ),
        _ => op,
    }
}

/// The answers of the catalog's routes: plans, departments, handlers, modules, ledgers.
fn catalog(operation: Operation, op: OperationBuilder) -> OperationBuilder {
    match operation {
        Operation::ListPlans => listing(op, "Plan", &[]),
        Operation::GetPlan => op.response("200", json_response("The plan with its prices and deposits", "Plan")),
        Operation::SetPlanPrice => op
            .request_body(Some(json_body("NewPrice")))
            .response("200", json_response("The plan with its prices now", "Plan"))
            .response("400", problem("The currency, period or amount is refused, named")),
        Operation::ListDepartments => listing(op, "Department", &[]),
        Operation::AddDepartment => op
            .request_body(Some(json_body("NewDepartment")))
            .response("201", json_response("The department added", "Department"))
            .response("400", problem("The name or email is refused, or the department exists")),
        Operation::ListHandlers => listing(op, "Handler", &[]),
        Operation::GetHandler => op.response("200", json_response("The handler, secrets redacted", "Handler")),
        Operation::AddHandler => op
            .request_body(Some(json_body("NewHandler")))
            .response("201", json_response("The handler added, secrets redacted", "Handler"))
            .response("400", problem("The settings do not fit the module's schema, or a field is refused, named")),
        Operation::EnableHandler | Operation::DisableHandler => op
            .response("200", json_response("The handler now (the same answer when nothing changed)", "Handler")),
        Operation::TestHandler => op
            .response("200", json_response("The connection works", "ConnectionTest"))
            .response("400", problem("The module has no connection test"))
            .response("502", problem("The connection test failed")),
        Operation::ListModules => listing(op, "ModuleFile", &[]),
        Operation::UploadModule => op
            .request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some("The module's .so file, at most api.max_body_bytes"))
                    .required(Some(utoipa::openapi::Required::True))
                    .content("application/octet-stream", ContentBuilder::new().build())
                    .build(),
            ))
            .response("201", json_response("Installed: what the registry did", "ModuleInstalled"))
            .response("400", problem("Refused (the reason named; nothing is left in the modules directory), or not sent as application/octet-stream"))
            .response("413", problem("The file is over api.max_body_bytes")),
        Operation::GetLedger => op.response("200", json_response("The client's credit ledger and balance", "Ledger")),
        _ => op,
    }
}

/// The path's `{id}` or `{name}` parameter and its 404.
fn path_params(r: &Route, op: OperationBuilder) -> OperationBuilder {
    let what = r.tag.trim_end_matches('s');
    if r.path.contains("{name}") {
        return op
            .parameter(name_param(what))
            .response("404", problem("No object of that name"));
    }
    if r.path.contains("{id}") {
        return op.parameter(id_param(what)).response(
            "404",
            problem("No such object, or one this credential may not see"),
        );
    }
    op
}

/// The `Idempotency-Key` header of a POST and its answers.
fn idempotent(op: OperationBuilder) -> OperationBuilder {
    op
            .parameter(
                utoipa::openapi::path::ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(utoipa::openapi::path::ParameterIn::Header)
                    .description(Some("1 to 255 printable characters: the same key and body replay the first answer (Idempotent-Replayed: true); another body is a 422"))
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255)),
                    )),
            )
            .response("409", problem("A request with the same Idempotency-Key is still running"))
            .response("422", problem("The Idempotency-Key was used for another request"))
}

/// The responses of a service's other actions, operations and tasks.
fn service_ops_and_queue(op: OperationBuilder, o: Operation) -> OperationBuilder {
    match o {
        Operation::ChangeServicePlan => op
            .request_body(Some(json_body("PlanChange")))
            .response(
                "202",
                json_response("The plan change is queued as an operation", "Queued"),
            )
            .response(
                "400",
                problem("No such plan, or a malformed body (the field named)"),
            )
            .response("409", problem("The service is in no state for it")),
        Operation::RenewService => op
            .response(
                "202",
                json_response("The renewal is queued as an operation", "Queued"),
            )
            .response("409", problem("The service is in no state for it")),
        Operation::ServiceSso => op
            .request_body(Some(json_body("SsoRequest")))
            .response(
                "200",
                json_response(
                    "The link, answered once (Cache-Control: no-store) and never stored",
                    "SsoLink",
                ),
            )
            .response(
                "400",
                problem("A malformed body, or the module offers no sign-in link"),
            ),
        Operation::GetServicePanel => op
            .response("200", json_response("The module's panel", "Panel"))
            .response("400", problem("The module offers no panel")),
        Operation::RunServiceAction => op
            .parameter(
                utoipa::openapi::path::ParameterBuilder::new()
                    .name("action")
                    .parameter_in(utoipa::openapi::path::ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .description(Some("The action's name, as the module offers it"))
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::String),
                    )),
            )
            .request_body(Some(json_body("ActionRequest")))
            .response(
                "202",
                json_response("The action is queued as an operation", "Queued"),
            )
            .response(
                "400",
                problem("No such action, a field refused, or confirmation missing"),
            ),
        Operation::ListOperations => listing(
            op,
            "Operation",
            &[
                ("status", "Only operations in this status", false),
                ("service_id", "Only this service's operations", true),
                ("kind", "Only operations of this kind", false),
            ],
        ),
        Operation::GetOperation => op.response(
            "200",
            json_response(
                "The operation with its attempts and module log",
                "OperationDetail",
            ),
        ),
        Operation::RetryOperation => op
            .response(
                "200",
                json_response("The operation, queued again or due now", "RetriedOperation"),
            )
            .response("409", problem("The operation is in no state for a retry")),
        Operation::CancelOperation => op
            .response("200", json_response("The cancelled operation", "Operation"))
            .response(
                "409",
                problem("The operation is in no state to be cancelled"),
            ),
        Operation::ListTasks => listing(
            op,
            "Task",
            &[
                ("status", "Only tasks in this status", false),
                ("department", "Only this department's tasks", false),
            ],
        ),
        Operation::GetTask => op.response("200", json_response("The task", "Task")),
        Operation::TakeTask => op
            .response(
                "200",
                json_response("The task, taken by the caller's staff account", "Task"),
            )
            .response("409", problem("The task is no longer open")),
        Operation::CompleteTask => op
            .request_body(Some(json_body("TaskValues")))
            .response(
                "200",
                json_response("The task, done; its operation is done", "Task"),
            )
            .response(
                "400",
                problem("A value is missing or refused, the field named"),
            ),
        Operation::ReturnTask => op
            .response(
                "200",
                json_response("The task and its operation, queued again", "TaskReturned"),
            )
            .response("409", problem("The task is no longer open or taken")),
        _ => op,
    }
}

/// The request body and answers of each operation. Every operation is named, so the
/// compiler flags a route added without them.
fn responses(op: OperationBuilder, o: Operation) -> OperationBuilder {
    match o {
        Operation::CreateSession => op
            .request_body(Some(json_body("NewSession")))
            .response("201", json_response("The session; its token is shown this once", "SessionOpened"))
            .response("400", problem("A field is missing or malformed"))
            .response("401", problem("The email, password or code is wrong (the same answer for an unknown email)"))
            .response("429", problem("Too many failed logins for this email or address; the detail says when to retry")),
        Operation::DeleteSession => op.response(
            "204",
            ResponseBuilder::new().description("The session ended").build(),
        ),
        Operation::GetMe => op.response("200", json_response("Who the credential stands for", "Me")),
        Operation::ListClients => listing(op, "Client", &[("email", "Only the client of this email", false)]),
        Operation::GetClient => op.response("200", json_response("The client", "Client")),
        Operation::CreateClient => op
            .request_body(Some(json_body("NewClient")))
            .response("201", json_response("The client added", "Client"))
            .response("400", problem("A field is refused, named")),
        Operation::ListServices => listing(
            op,
            "Service",
            &[
                ("client_id", "Only this client's services", true),
                ("status", "Only services in this status", false),
                ("plan_id", "Only services on this plan", true),
            ],
        ),
        Operation::GetService => op.response("200", json_response("The service", "Service")),
        Operation::CreateService => op
            .request_body(Some(json_body("NewOrder")))
            .response("201", json_response("The order: the service, its create operation and its invoice", "OrderPlaced"))
            .response("400", problem("The order is refused, the field named")),
        Operation::SuspendService | Operation::UnsuspendService | Operation::TerminateService => op
            .response("202", json_response("The request is queued as an operation", "Queued"))
            .response("409", problem("The service is in no state for it")),
        Operation::ListInvoices => listing(
            op,
            "Invoice",
            &[
                ("client_id", "Only this client's invoices", true),
                ("status", "Only invoices in this status", false),
            ],
        ),
        Operation::GetInvoice => op.response("200", json_response("The invoice", "Invoice")),
        Operation::ListPlans
        | Operation::GetPlan
        | Operation::SetPlanPrice
        | Operation::ListDepartments
        | Operation::AddDepartment
        | Operation::ListHandlers
        | Operation::GetHandler
        | Operation::AddHandler
        | Operation::EnableHandler
        | Operation::DisableHandler
        | Operation::TestHandler
        | Operation::ListModules
        | Operation::UploadModule
        | Operation::GetLedger => catalog(o, op),
        Operation::Health => op.response("200", json_response("The server answers", "Health")),
        Operation::OpenApi => op.response(
            "200",
            ResponseBuilder::new()
                .description("This document")
                .content("application/json", ContentBuilder::new().build())
                .build(),
        ),
        Operation::PushUsage => op
            .request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some("A JSON array, or JSON lines, of usage records: transaction_id, service_id, unit, quantity (a decimal string or number), and period_start (a date) or at (an RFC 3339 time)"))
                    .content("application/json", ContentBuilder::new().build())
                    .content("application/x-ndjson", ContentBuilder::new().build())
                    .build(),
            ))
            .response("200", json_response("Imported (or every record a duplicate); the transaction committed", "UsageImported"))
            .response("400", problem("A record is refused; nothing was imported"))
            .response("413", problem("The batch is over api.max_body_bytes")),
        // Invoices' changes, billing runs, the audit log.
        o @ (Operation::ListInvoiceLines
        | Operation::IssueInvoice
        | Operation::PayInvoice
        | Operation::RefundInvoice
        | Operation::CancelInvoice
        | Operation::RunBilling
        | Operation::ListAudit) => billing_operation(op, o),
        // A service's other actions, operations and tasks.
        o @ (Operation::ChangeServicePlan
        | Operation::RenewService
        | Operation::ServiceSso
        | Operation::GetServicePanel
        | Operation::RunServiceAction
        | Operation::ListOperations
        | Operation::GetOperation
        | Operation::RetryOperation
        | Operation::CancelOperation
        | Operation::ListTasks
        | Operation::GetTask
        | Operation::TakeTask
        | Operation::CompleteTask
        | Operation::ReturnTask) => service_ops_and_queue(op, o),
    }
}

fn operation(r: &Route) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(r.operation_id))
        .summary(Some(r.summary))
        .tag(r.tag);
    op = path_params(r, op);
    op = responses(op, r.operation);
    if r.method == Method::Post
        && !matches!(
            r.operation,
            Operation::CreateSession | Operation::ServiceSso
        )
    {
        op = idempotent(op);
    }
    if r.policy == Policy::Public {
        op = op.securities(Some(Vec::<SecurityRequirement>::new()));
    } else {
        op = op
            .security(SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []))
            .response(
                "401",
                problem("No credential, or one the server does not know (wrong, revoked, expired)"),
            );
        if !matches!(r.policy, Policy::Signed) {
            op = op.response(
                "403",
                problem("The credential may not call this route (its role, read-only or endpoint limits; a client on a staff route)"),
            );
        }
    }
    op.response(
        "default",
        problem("Any other refusal, as a problem document"),
    )
    .build()
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for r in ROUTES {
        let method = match r.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Delete => HttpMethod::Delete,
        };
        paths.add_path_operation(r.path, vec![method], operation(r));
    }
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(
        "A session (`pvs_…`) or an API token (`pvt_…`); usage pushes use the server's api.token"
            .to_string(),
    );
    let components = ComponentsBuilder::new()
        .schema_from::<Problem>()
        .schema_from::<FieldError>()
        .schema_from::<List>()
        .schema_from::<Health>()
        .schema_from::<UsageImported>()
        .schema_from::<LoginRealm>()
        .schema_from::<NewSession>()
        .schema_from::<SessionOpened>()
        .schema_from::<Me>()
        .schema_from::<Client>()
        .schema_from::<NewClient>()
        .schema_from::<Service>()
        .schema_from::<NewOrder>()
        .schema_from::<OrderPlaced>()
        .schema_from::<Queued>()
        .schema_from::<Invoice>()
        .schema_from::<InvoiceLine>()
        .schema_from::<IssueInvoice>()
        .schema_from::<NewPayment>()
        .schema_from::<Payment>()
        .schema_from::<NewRefund>()
        .schema_from::<Refund>()
        .schema_from::<NewBillingRun>()
        .schema_from::<BillingEvent>()
        .schema_from::<HandlerDaily>()
        .schema_from::<BillingRun>()
        .schema_from::<AuditActor>()
        .schema_from::<AuditEntry>()
        .schema_from::<PlanChange>()
        .schema_from::<Audience>()
        .schema_from::<SsoRequest>()
        .schema_from::<SsoLink>()
        .schema_from::<Panel>()
        .schema_from::<ActionRequest>()
        .schema_from::<ops::Operation>()
        .schema_from::<OperationAttempt>()
        .schema_from::<LogRow>()
        .schema_from::<OperationDetail>()
        .schema_from::<RetriedOperation>()
        .schema_from::<Task>()
        .schema_from::<TaskValues>()
        .schema_from::<TaskReturned>()
        .schema_from::<Plan>()
        .schema_from::<Price>()
        .schema_from::<Deposit>()
        .schema_from::<NewPrice>()
        .schema_from::<Department>()
        .schema_from::<NewDepartment>()
        .schema_from::<Handler>()
        .schema_from::<NewHandler>()
        .schema_from::<ConnectionTest>()
        .schema_from::<ModuleFile>()
        .schema_from::<ModuleInstalled>()
        .schema_from::<Ledger>()
        .schema_from::<LedgerEntry>()
        .security_scheme(BEARER, SecurityScheme::Http(bearer))
        .build();
    let mut meta = Tag::new("meta");
    meta.description = Some("The server itself".into());
    let mut usage = Tag::new("usage");
    usage.description = Some("Usage pushed by modules and panels".into());
    let tag = |name: &str, description: &str| {
        let mut t = Tag::new(name);
        t.description = Some(description.into());
        t
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Provisor API")
                .version("1")
                .description(Some("Billing and provisioning for hosting providers. Errors are application/problem+json (RFC 9457); listings are cursor-paginated (limit, starting_after); every POST takes an Idempotency-Key; money is a decimal string with its currency; times are RFC 3339."))
                .license(Some(LicenseBuilder::new().name("Apache-2.0").build())),
        )
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .paths(paths)
        .components(Some(components))
        .tags(Some([
            meta,
            tag("sessions", "Logging in and out; who a credential stands for"),
            usage,
            tag("clients", "The hoster's customers"),
            tag("services", "What clients ordered: orders and service requests"),
            tag("invoices", "What clients are billed"),
            tag("billing", "Billing runs"),
            tag("audit", "Who changed what, when and from where"),
            tag("operations", "The durable queue of lifecycle calls"),
            tag("tasks", "Operations that need a person, by department"),
            tag("plans", "The catalog: tariff plans, their prices and deposits"),
            tag("departments", "Who takes manual tasks"),
            tag("handlers", "Modules plus their connection settings (secrets redacted)"),
            tag("modules", "Module files: their state, uploads"),
        ]))
        .build()
}

/// The document as the server serves it and `docs/openapi.json` holds it: pretty JSON
/// ending in a newline.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document could not be written: {e}\"}}"));
    text.push('\n');
    text
}
