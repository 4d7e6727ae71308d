//! The typed requests and answers that travel across the boundary as JSON.
//!
//! Every struct here is serialised with `serde_json`. Fields are only ever **added**,
//! and every added field has a default, so a module built against an older 1.x SDK
//! reads a newer host's requests (unknown fields are ignored) and vice versa.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a module is and what it can do, read by the host before any instance exists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The module's name: lowercase letters, digits and `-` (e.g. `computestacks`).
    /// Handlers refer to modules by this name.
    pub name: String,
    /// The module's own semantic version (`1.4.2`); a higher version upgrades a lower.
    pub version: String,
    /// The `provisor-module-api` version the module was built against (the SDK fills
    /// this in).
    #[serde(default)]
    pub api_version: String,
    /// One line for admins.
    #[serde(default)]
    pub description: String,
    /// The calls this module implements; the rest answer `NotSupported`.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// JSON Schema of a handler's connection settings. A property with
    /// `"writeOnly": true` is a secret: never printed, redacted from every log.
    #[serde(default = "empty_object_schema")]
    pub settings_schema: Value,
    /// JSON Schema of a plan's settings for this module.
    #[serde(default = "empty_object_schema")]
    pub plan_schema: Value,
}

/// The keyword of `plan_schema` that holds the order schema (see
/// [`Manifest::with_order_schema`]). JSON Schema ignores keywords it does not know, so
/// the plan schema validates plans exactly as before.
pub const ORDER_SCHEMA_KEYWORD: &str = "x-provisor-order";

impl Manifest {
    /// Declares what an order must give the module: a JSON Schema of the service's
    /// resources (the plan's resources with the chosen configurable options applied,
    /// as in [`PlanInfo::resources`]). The host checks every order against it before
    /// anything is written or invoiced, so a create never fails for a value the client
    /// could have been asked for: e.g. `{"required": ["ip"], "properties": {"ip":
    /// {"type": "string"}}}` for a license bound to a server's address.
    ///
    /// Kept inside `plan_schema` under [`ORDER_SCHEMA_KEYWORD`], so manifests stay
    /// readable by every 1.x host and module.
    #[must_use]
    pub fn with_order_schema(mut self, schema: Value) -> Self {
        if !self.plan_schema.is_object() {
            self.plan_schema = empty_object_schema();
        }
        if let Some(m) = self.plan_schema.as_object_mut() {
            m.insert(ORDER_SCHEMA_KEYWORD.to_string(), schema);
        }
        self
    }

    /// The order schema set by [`Manifest::with_order_schema`], if any.
    pub fn order_schema(&self) -> Option<&Value> {
        self.plan_schema.get(ORDER_SCHEMA_KEYWORD)
    }
}

/// A tariff plan a module offers to create in the hoster's catalog, the way ISPsystem's
/// NOC addon "creates the tariff plans, addons and options" on activation. The host
/// offers a module's presets when a handler is added (`provisor plans presets
/// HANDLER`) and creates each one once, as an ordinary plan served by that handler:
/// the hoster edits it afterwards and sets its prices. See [`crate::Module::presets`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PlanPreset {
    /// The plan's name in the catalog (`ISPmanager 6 Lite`).
    pub name: String,
    /// One line for the hoster.
    #[serde(default)]
    pub description: String,
    /// An addon plan (sold on another service) rather than a plan of its own.
    #[serde(default)]
    pub addon: bool,
    /// The plan's settings, valid against the manifest's `plan_schema`.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// The plan's resources.
    #[serde(default)]
    pub resources: Map<String, Value>,
    /// Configurable options: `{name: {choice: {resource: value}}}`.
    #[serde(default)]
    pub options: Map<String, Value>,
    /// The vendor's list price, for the hoster to see. Never set as a price: prices
    /// are the hoster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_price: Option<ListPrice>,
}

/// A vendor's list price shown beside a [`PlanPreset`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ListPrice {
    /// Decimal text (`"4.00"`).
    pub amount: String,
    /// ISO 4217 code (`"USD"`); `None` when the vendor's list names none (then it is
    /// meant in the hoster's default currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `monthly`, `quarterly`, `semiannual` or `annual`.
    pub period: String,
    /// What else is charged, in words (`"12.00 per additional node"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The key of the manifest's JSON that carries [`crate::Module::presets`] to the host.
pub const PRESETS_KEY: &str = "presets";

/// A schema that accepts any JSON object.
pub fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object"})
}

/// A call a module may implement.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Capability {
    TestConnection,
    Create,
    Suspend,
    Unsuspend,
    Terminate,
    ChangePlan,
    Renew,
    Usage,
    Sso,
    ListAccounts,
    ClientArea,
    AdminActions,
    Daily,
}

impl Capability {
    /// Every capability, in the order of the ABI.
    pub const ALL: [Capability; 13] = [
        Capability::TestConnection,
        Capability::Create,
        Capability::Suspend,
        Capability::Unsuspend,
        Capability::Terminate,
        Capability::ChangePlan,
        Capability::Renew,
        Capability::Usage,
        Capability::Sso,
        Capability::ListAccounts,
        Capability::ClientArea,
        Capability::AdminActions,
        Capability::Daily,
    ];

    /// The `snake_case` name used in manifests and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::TestConnection => "test_connection",
            Capability::Create => "create",
            Capability::Suspend => "suspend",
            Capability::Unsuspend => "unsuspend",
            Capability::Terminate => "terminate",
            Capability::ChangePlan => "change_plan",
            Capability::Renew => "renew",
            Capability::Usage => "usage",
            Capability::Sso => "sso",
            Capability::ListAccounts => "list_accounts",
            Capability::ClientArea => "client_area",
            Capability::AdminActions => "admin_actions",
            Capability::Daily => "daily",
        }
    }
}

/// The client who owns a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct ClientInfo {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub country: String,
}

/// The plan a service is sold under, with the resources the module should provision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PlanInfo {
    /// The plan's name in the catalog.
    #[serde(default)]
    pub name: String,
    /// The remote account template (package, user group, pricelist) if the plan names one.
    #[serde(default)]
    pub template: Option<String>,
    /// Resources after configurable options are applied (`{"cpu": 2, "ram_gb": 4}`).
    #[serde(default)]
    pub resources: Map<String, Value>,
    /// The plan's module settings, validated against the manifest's `plan_schema`.
    #[serde(default)]
    pub settings: Value,
}

/// A service as the module sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceInfo {
    /// The host's service id: stable for the life of the service.
    pub id: i64,
    /// The host's state name (`pending`, `active`, `suspended`, …).
    #[serde(default)]
    pub status: String,
    /// The owner.
    #[serde(default)]
    pub client: ClientInfo,
    /// The plan.
    #[serde(default)]
    pub plan: PlanInfo,
    /// The remote id a previous call returned, if any.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// Attributes previous calls returned (username, IP, domain, license key …).
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// For an addon: the service it is attached to.
    #[serde(default)]
    pub parent: Option<Box<ServiceInfo>>,
}

/// A lifecycle call: create, suspend, unsuspend, terminate, change plan, renew, or a
/// custom admin action.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LifecycleRequest {
    /// Stable across every retry of the same operation: a module makes a retried create
    /// adopt what an earlier attempt made instead of making a second one.
    pub operation_key: String,
    /// 1 for the first try, 2 for the first retry, …
    #[serde(default = "one")]
    pub attempt: u32,
    /// The service the call is about.
    pub service: ServiceInfo,
    /// The module's own state from an earlier `InProgress` answer of this operation.
    #[serde(default)]
    pub state: Option<Value>,
    /// Call-specific parameters (the new plan for `change_plan`, the action's form for
    /// `run_action`).
    #[serde(default)]
    pub params: Value,
    /// For `run_action`: which action.
    #[serde(default)]
    pub action: Option<String>,
}

fn one() -> u32 {
    1
}

/// How a lifecycle call ended, when it did not fail.
///
/// On the wire: an object whose `status` is `done`, `in_progress` or `needs_human`,
/// with that variant's fields beside it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Outcome {
    /// The remote side did it. The host stores `remote_id` and merges `attributes` into
    /// the service's attributes.
    Done {
        #[serde(default)]
        remote_id: Option<String>,
        #[serde(default)]
        attributes: Map<String, Value>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Started but not finished (the panel works asynchronously). The host calls again
    /// after `poll_after_secs` with the same `operation_key` and `state`; this does not
    /// count as a failed attempt.
    InProgress {
        poll_after_secs: u32,
        #[serde(default)]
        state: Value,
        #[serde(default)]
        message: Option<String>,
    },
    /// A person must do it. The host opens a task for the handler's department with this
    /// form; what staff fill in is stored exactly as a `Done`'s attributes would be.
    NeedsHuman {
        reason: String,
        #[serde(default)]
        fields: Vec<FormField>,
    },
}

/// The flat shape `Outcome` is read from. serde's derive for an internally tagged enum
/// buffers the whole object before choosing the variant, which doubled the cost of
/// decoding an answer; this reads it in one pass. Same JSON either way.
#[derive(Deserialize)]
struct OutcomeWire {
    status: String,
    #[serde(default)]
    remote_id: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    poll_after_secs: Option<u32>,
    #[serde(default)]
    state: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    fields: Vec<FormField>,
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = OutcomeWire::deserialize(d)?;
        match w.status.as_str() {
            "done" => Ok(Outcome::Done {
                remote_id: w.remote_id,
                attributes: w.attributes,
                message: w.message,
            }),
            "in_progress" => Ok(Outcome::InProgress {
                poll_after_secs: w
                    .poll_after_secs
                    .ok_or_else(|| D::Error::missing_field("poll_after_secs"))?,
                state: w.state,
                message: w.message,
            }),
            "needs_human" => Ok(Outcome::NeedsHuman {
                reason: w.reason.ok_or_else(|| D::Error::missing_field("reason"))?,
                fields: w.fields,
            }),
            other => Err(D::Error::unknown_variant(
                other,
                &["done", "in_progress", "needs_human"],
            )),
        }
    }
}

impl Outcome {
    /// `Done` with nothing to store.
    pub fn done() -> Self {
        Outcome::Done {
            remote_id: None,
            attributes: Map::new(),
            message: None,
        }
    }
}

/// One field of a form staff fill in to finish a task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FormField {
    /// Key under which the value is stored (`remote_id` is stored as the remote id).
    pub name: String,
    /// Label shown to staff.
    pub label: String,
    /// How to read the value.
    #[serde(default)]
    pub kind: FieldKind,
    /// Whether completing the task needs it.
    #[serde(default)]
    pub required: bool,
    /// A hint shown under the field.
    #[serde(default)]
    pub help: Option<String>,
}

/// How a form field's value is typed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FieldKind {
    #[default]
    Text,
    Secret,
    Number,
    Url,
    Ip,
    Date,
}

/// `test_connection`'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConnectionInfo {
    /// One line for the admin ("connected to ComputeStacks 8.2 as admin@…").
    pub message: String,
    /// Anything else worth showing.
    #[serde(default)]
    pub details: Value,
}

/// `usage`'s request: the service and a half-open period `[start, end)` of UTC dates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct UsageRequest {
    pub service: ServiceInfo,
    /// First day of the period, `YYYY-MM-DD`.
    pub period_start: String,
    /// First day after the period, `YYYY-MM-DD`.
    pub period_end: String,
}

/// Metered usage of one service for one period.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UsageReport {
    /// One item per metered thing (a VM, a product), kept for drill-down.
    pub items: Vec<UsageItem>,
}

/// One metered line. Quantities and money are canonical decimal text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UsageItem {
    /// The remote's id for the item (VM id, usage row id): dedupes re-reads.
    pub key: String,
    /// What it is, for the invoice line.
    pub description: String,
    /// The unit (`hour`, `token`, `GB`).
    pub unit: String,
    /// How many units, as decimal text.
    pub quantity: String,
    /// Price per unit, as decimal text, when the remote side prices it.
    #[serde(default)]
    pub rate: Option<String>,
    /// The line's amount, as decimal text, when the remote side prices it.
    #[serde(default)]
    pub amount: Option<String>,
    /// Anything else (token rate, monthly cap, per-hour breakdown).
    #[serde(default)]
    pub details: Value,
}

/// Who a single-sign-on link is for.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Audience {
    #[default]
    Client,
    Admin,
}

/// `sso`'s request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct SsoRequest {
    pub service: ServiceInfo,
    /// Defaults to the client.
    #[serde(default)]
    pub audience: Audience,
}

/// A single-sign-on link, minted on request (tokens are short-lived).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct SsoLink {
    pub url: String,
    /// RFC 3339 time after which the link no longer works, if known.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `list_accounts`' request: one page, counted from 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct ListAccountsRequest {
    pub page: u32,
    pub per_page: u32,
}

impl Default for ListAccountsRequest {
    fn default() -> Self {
        ListAccountsRequest {
            page: 1,
            per_page: 50,
        }
    }
}

/// One page of existing remote accounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccountPage {
    /// The accounts on this page.
    pub accounts: Vec<RemoteAccount>,
    /// The next page to ask for, or `None` on the last page.
    #[serde(default)]
    pub next_page: Option<u32>,
    /// The total number of accounts, if the remote side says.
    #[serde(default)]
    pub total: Option<u64>,
}

/// An account that exists on the remote panel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct RemoteAccount {
    pub remote_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: RemoteStatus,
    /// The remote plan/group/template name, to match a local plan.
    #[serde(default)]
    pub plan_hint: Option<String>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// A remote account's state, as far as the host cares.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum RemoteStatus {
    Active,
    Suspended,
    Terminated,
    #[default]
    Unknown,
}

/// `client_area`'s answer: a small structured panel the host renders.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct Panel {
    pub title: String,
    #[serde(default)]
    pub rows: Vec<PanelRow>,
    #[serde(default)]
    pub links: Vec<PanelLink>,
}

/// A label/value line of a [`Panel`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct PanelRow {
    pub label: String,
    pub value: String,
}

/// A link of a [`Panel`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct PanelLink {
    pub label: String,
    pub url: String,
}

/// A request that names only a service (`client_area`, `admin_actions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct ServiceRequest {
    pub service: ServiceInfo,
}

/// A custom button an admin may press for a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AdminAction {
    /// Passed back as `LifecycleRequest::action`.
    pub name: String,
    /// The button's label.
    pub label: String,
    /// A confirmation question, for destructive actions.
    #[serde(default)]
    pub confirm: Option<String>,
}

/// `daily`'s request: the date of the run and every service of the handler that is
/// not terminated.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct DailyRequest {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(default)]
    pub services: Vec<ServiceInfo>,
}

/// What the daily run did, and what it asks the host to do.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DailyReport {
    /// One entry per thing done or asked for.
    pub actions: Vec<DailyAction>,
}

/// One thing the daily run did (a renewal) or asks the host to queue (a terminate).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DailyAction {
    /// The service concerned, if any.
    #[serde(default)]
    pub service_id: Option<i64>,
    /// A short machine name (`renewed`, `pool_dropped`, `lifetime_ended`).
    pub event: String,
    /// One line for admins.
    #[serde(default)]
    pub message: String,
    /// An operation the host should queue for `service_id` (`terminate`, `suspend`).
    #[serde(default)]
    pub request: Option<String>,
    /// Attributes to merge into the service.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_round_trips_every_variant_and_refuses_unknown_ones() {
        let cases = [
            Outcome::Done {
                remote_id: Some("r1".into()),
                attributes: json!({"ip": "192.0.2.1"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                message: None,
            },
            Outcome::InProgress {
                poll_after_secs: 30,
                state: json!({"task": 7}),
                message: Some("waiting".into()),
            },
            Outcome::NeedsHuman {
                reason: "do it".into(),
                fields: vec![FormField {
                    name: "remote_id".into(),
                    label: "Id".into(),
                    kind: FieldKind::Text,
                    required: true,
                    help: None,
                }],
            },
        ];
        for case in cases {
            let text = serde_json::to_string(&case).unwrap();
            assert_eq!(
                serde_json::from_str::<Outcome>(&text).unwrap(),
                case,
                "{text}"
            );
        }
        assert_eq!(
            serde_json::from_value::<Outcome>(json!({"status": "done"})).unwrap(),
            Outcome::done()
        );
        let err = serde_json::from_value::<Outcome>(json!({"status": "maybe"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `maybe`"), "{err}");
        let err = serde_json::from_value::<Outcome>(json!({"status": "in_progress"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("poll_after_secs"), "{err}");
    }
}
