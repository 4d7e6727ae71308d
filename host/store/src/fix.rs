//! The next steps a message can name, as data. The library knows what would fix a
//! refusal (add currency EUR, price plan Box, cancel invoice 2026-000003); how to say it
//! is each front end's: the CLI names the command to run, the HTTP API and web pages
//! their own hint. [`Fix::plain`] is the library's own wording, for logs and for front
//! ends that have none yet.
//!
//! Owns: the list of fixes. Must not: name a front end's commands, flags or pages.

use std::fmt::Write as _;

use serde::Serialize;

/// What a listing shows, for [`Fix::See`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    /// The clients.
    Clients,
    /// The plans.
    Plans,
    /// The services.
    Services,
    /// The operations.
    Operations,
    /// The staff's tasks.
    Tasks,
    /// The handlers.
    Handlers,
    /// The invoices.
    Invoices,
    /// The currencies.
    Currencies,
    /// The module files and what became of each (loaded or refused, and why).
    Modules,
}

impl Listing {
    /// The things listed, in words ("clients", "module files").
    pub fn words(self) -> &'static str {
        match self {
            Listing::Clients => "clients",
            Listing::Plans => "plans",
            Listing::Services => "services",
            Listing::Operations => "operations",
            Listing::Tasks => "tasks",
            Listing::Handlers => "handlers",
            Listing::Invoices => "invoices",
            Listing::Currencies => "currencies",
            Listing::Modules => "module files",
        }
    }
}

/// A next step, as a clause each front end words its own way ("see the list of
/// clients", "add currency EUR"). Plans are named as people typed them (name or id),
/// services, operations, invoices' ids and clients by id, invoices by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
pub enum Fix {
    /// Look at a listing.
    See {
        /// Which listing.
        listing: Listing,
    },
    /// Look at how an operation went.
    SeeOperation {
        /// The operation's id.
        operation: i64,
    },
    /// Look at a client's credit ledger.
    SeeLedger {
        /// The client's id.
        client: i64,
    },
    /// Add a currency.
    AddCurrency {
        /// Its ISO 4217 code.
        code: String,
    },
    /// Change a currency that already exists (instead of adding it again).
    ChangeCurrency {
        /// Its ISO 4217 code.
        code: String,
    },
    /// Give a plan a recurring price: in `currency` for `period` where known, applied to
    /// the plan's services already running when `existing`.
    PricePlan {
        /// The plan, as it was named (name or id).
        plan: String,
        /// The currency the price is missing in, when one is.
        currency: Option<String>,
        /// The period (`monthly`, `yearly` …) the price is missing for, when one is.
        period: Option<&'static str>,
        /// Whether the price should apply to the plan's running services too.
        existing: bool,
    },
    /// Give a plan a sign-up deposit in a currency.
    DepositPlan {
        /// The plan, as it was named (name or id).
        plan: String,
        /// The currency the deposit is missing in.
        currency: String,
    },
    /// Set the price of one unit of a plan's usage in a currency.
    PriceUsage {
        /// The plan's id.
        plan: i64,
        /// The currency the price is missing in.
        currency: String,
        /// The usage unit (`GB`, `vcpu_hours` …).
        unit: String,
    },
    /// Say how a plan bills usage (`postpaid`, `month-end`, `pushed`).
    UsageMode {
        /// The plan's id.
        plan: i64,
        /// The mode to set.
        mode: &'static str,
    },
    /// Give a client credit, or take some back (`take`); the client is named when known.
    Credit {
        /// The client's id, when known.
        client: Option<i64>,
        /// Whether credit is taken back rather than given.
        take: bool,
    },
    /// Cancel an unpaid invoice.
    CancelInvoice {
        /// The invoice's number (or id while a draft).
        number: String,
    },
    /// Issue a draft invoice.
    IssueInvoice {
        /// The draft's id.
        invoice: i64,
    },
    /// Give a service a billing term from its next due date.
    ScheduleService {
        /// The service's id.
        service: i64,
    },
    /// Add a department.
    AddDepartment {
        /// The department's name.
        name: String,
    },
    /// Install a module's file.
    InstallModule {
        /// The module's name.
        module: String,
    },
    /// Add a plan that a handler serves.
    AddPlan {
        /// The handler's name.
        handler: String,
    },
    /// Remove a handler and add it again with settings its module accepts.
    AddHandlerAgain {
        /// The handler's name.
        handler: String,
    },
    /// Enable one of a plan's handlers.
    EnableHandler,
    /// Cancel an operation.
    CancelOperation {
        /// The operation's id.
        operation: i64,
    },
    /// Run a worker now (rather than wait for the daemon's).
    RunWorker,
    /// Confirm the action.
    Confirm,
    /// Rotate the secret key again.
    RotateSecrets,
}

impl Fix {
    /// The library's own wording: a clause with no front end's commands in it.
    pub fn plain(&self) -> String {
        match self {
            Fix::See { listing } => format!("see the list of {}", listing.words()),
            Fix::SeeOperation { operation } => format!("see operation #{operation}"),
            Fix::SeeLedger { client } => format!("see client #{client}'s credit ledger"),
            Fix::AddCurrency { code } => format!("add currency {code}"),
            Fix::ChangeCurrency { code } => format!("change currency {code} instead"),
            Fix::PricePlan {
                plan,
                currency,
                period,
                existing,
            } => {
                let mut s = format!("give plan {plan} a");
                if let Some(p) = period {
                    let _ = write!(s, " {p}");
                }
                s.push_str(" price");
                if let Some(c) = currency {
                    let _ = write!(s, " in {c}");
                }
                if *existing {
                    s.push_str(", applied to its services already running");
                }
                s
            }
            Fix::DepositPlan { plan, currency } => {
                format!("give plan {plan} a deposit in {currency}")
            }
            Fix::PriceUsage {
                plan,
                currency,
                unit,
            } => format!("set plan #{plan}'s price per {unit} in {currency}"),
            Fix::UsageMode { plan, mode } => format!("mark plan #{plan}'s usage as {mode}"),
            Fix::Credit { client, take } => {
                let who = client.map_or("the client".to_string(), |c| format!("client #{c}"));
                if *take {
                    format!("take credit back from {who}")
                } else {
                    format!("give {who} credit")
                }
            }
            Fix::CancelInvoice { number } => format!("cancel invoice {number}"),
            Fix::IssueInvoice { invoice } => format!("issue invoice #{invoice} first"),
            Fix::ScheduleService { service } => {
                format!("give service #{service} a billing term from its next due date")
            }
            Fix::AddDepartment { name } => format!("add department {name}"),
            Fix::InstallModule { module } => format!("install the file of module {module}"),
            Fix::AddPlan { handler } => format!("add a plan that handler {handler} serves"),
            Fix::AddHandlerAgain { handler } => {
                format!("remove handler {handler} and add it again with settings that fit")
            }
            Fix::EnableHandler => "enable one of them".into(),
            Fix::CancelOperation { operation } => format!("cancel operation #{operation}"),
            Fix::RunWorker => "run a worker now".into(),
            Fix::Confirm => "confirm it".into(),
            Fix::RotateSecrets => "rotate the secret key again".into(),
        }
    }
}
