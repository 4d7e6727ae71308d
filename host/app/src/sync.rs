//! Import and sync (ComputeStacks' Server Sync Tool): page through a handler's
//! `list_accounts`, record remote accounts we do not know as services without
//! provisioning them, and reconcile the states of those we do.

use std::collections::HashMap;

use chrono::Utc;
use provisor_module_api::{
    AccountPage, Capability, ListAccountsRequest, RemoteAccount, RemoteStatus,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;
use serde_json::Value;

use provisor_billing::prices::Period;
use provisor_engine::catalog;
use provisor_engine::handlers;
use provisor_runtime::{Call, CallContext, Runtime};
use provisor_store::db_err;
use provisor_store::entities::status::{OperationStatus, ServiceStatus};
use provisor_store::entities::{client, plan, plan_handler, service};
use provisor_store::error::{Error, Fix, Message, Result};

/// Accounts per page asked of the module.
const PER_PAGE: u32 = 50;
/// A bound on pages, against a module whose `next_page` never ends.
const MAX_PAGES: u32 = 10_000;

/// What an import or sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Pages of accounts read from the module.
    pub pages: u32,
    /// Remote accounts seen.
    pub seen: u64,
    /// Accounts recorded as new services.
    pub imported: u64,
    /// Accounts that already were services.
    pub already_known: u64,
    /// Clients created for accounts whose email matched none.
    pub clients_created: u64,
    /// Imported services given a billing term (`--next-due`).
    pub scheduled: u64,
    /// Services whose status was set to the remote one, one line each (sync).
    pub state_changes: Vec<String>,
    /// Active or suspended services whose remote account is gone (sync).
    pub missing_remotely: Vec<i64>,
}

async fn all_accounts(
    rt: &Runtime,
    name: &str,
) -> Result<(
    provisor_store::entities::handler::Model,
    Vec<RemoteAccount>,
    u32,
)> {
    let h = handlers::get(&rt.store, name).await?;
    let instance = rt.instance(&h).await?;
    if !instance.module.supports(Capability::ListAccounts) {
        return Err(Error::Invalid(format!(
            "module {} {} cannot list accounts, so handler {name} cannot be imported or synced",
            instance.module.name(),
            instance.module.manifest.version
        )));
    }
    let mut accounts = Vec::new();
    let mut page = 1;
    let mut pages = 0;
    loop {
        let answer: AccountPage = instance
            .call(
                Call::ListAccounts,
                &ListAccountsRequest {
                    page,
                    per_page: PER_PAGE,
                },
                CallContext::default(),
            )
            .await
            .map_err(|source| Error::Module {
                context: format!("handler {name}: list_accounts page {page}"),
                source,
            })?;
        pages += 1;
        accounts.extend(answer.accounts);
        match answer.next_page {
            Some(next) if next > page && pages < MAX_PAGES => page = next,
            Some(next) if next <= page => {
                return Err(Error::Invalid(format!(
                    "handler {name}: list_accounts page {page} pointed back to page {next}; the module's paging is broken"
                )))
            }
            _ => break,
        }
    }
    Ok((h, accounts, pages))
}

fn status_of(s: RemoteStatus) -> ServiceStatus {
    match s {
        RemoteStatus::Suspended => ServiceStatus::Suspended,
        RemoteStatus::Terminated => ServiceStatus::Terminated,
        RemoteStatus::Active | RemoteStatus::Unknown => ServiceStatus::Active,
    }
}

/// How `handlers import` places what it brings in.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Every imported account goes on this plan (one the handler serves), instead of
    /// the plan matching its remote plan, else the handler's first plan.
    pub plan: Option<String>,
    /// Imported services are billed from this date: each gets a billing term whose
    /// first period starts then (the plan must have a price).
    pub next_due: Option<chrono::NaiveDate>,
}

/// Where `handlers import` puts a handler's accounts: its plans, the plan accounts land
/// on unless their remote plan matches another, and (`--next-due`) each candidate
/// plan's billing period.
struct Placement {
    plans: Vec<plan::Model>,
    default_plan: plan::Model,
    /// `--plan`: every account goes on `default_plan`.
    forced: bool,
    periods: HashMap<i64, Period>,
}

impl Placement {
    /// The handler's plans and what the options ask, checked before the panel is paged
    /// through: a handler that serves no plan, a `--plan` it does not serve, or a
    /// `--next-due` onto a plan no term can bill is refused.
    async fn new(rt: &Runtime, name: &str, opts: &ImportOptions) -> Result<Placement> {
        let store = &rt.store;
        // The plans first: a handler that serves none is refused before paging through
        // the panel.
        let h = provisor_engine::handlers::get(store, name).await?;
        if let Some(m) = rt.registry.get(&h.module) {
            if !m.supports(Capability::ListAccounts) {
                return Err(Error::Invalid(format!(
                    "module {} {} cannot list accounts, so handler {name} cannot be imported or synced",
                    m.name(),
                    m.manifest.version
                )));
            }
        }
        let links = plan_handler::Entity::find()
            .filter(plan_handler::Column::HandlerId.eq(h.id))
            .all(store.db())
            .await
            .map_err(db_err("reading plans"))?;
        let mut plans = Vec::new();
        for l in &links {
            if let Some(p) = plan::Entity::find_by_id(l.plan_id)
                .one(store.db())
                .await
                .map_err(db_err("reading plans"))?
            {
                plans.push(p);
            }
        }
        let Some(mut default_plan) = plans.iter().find(|p| !p.is_addon).cloned() else {
            return Err(Error::invalid(
                Message::new(format!("handler {name} serves no plan; "))
                    .fix(Fix::AddPlan {
                        handler: name.to_string(),
                    })
                    .text(" so imported accounts have a plan"),
            ));
        };
        // --plan: one plan for every account, one the handler serves and not an addon.
        let forced = match &opts.plan {
            Some(wanted) => {
                let p = catalog::get_plan(store, wanted).await?;
                if !plans.iter().any(|s| s.id == p.id) || p.is_addon {
                    let served: Vec<&str> = plans
                        .iter()
                        .filter(|p| !p.is_addon)
                        .map(|p| p.name.as_str())
                        .collect();
                    return Err(Error::invalid(Message::about(
                        "plan",
                        format!(
                            "{}: handler {name} does not serve it as a plan of its own (it serves {}); add the handler to the plan or choose one of those",
                            p.name,
                            served.join(", ")
                        ),
                    )));
                }
                default_plan = p;
                true
            }
            None => false,
        };
        // --next-due: every plan an account may land on must be billable by a term.
        let mut periods = HashMap::new();
        if opts.next_due.is_some() {
            let candidates: Vec<&plan::Model> = if forced {
                vec![&default_plan]
            } else {
                plans.iter().filter(|p| !p.is_addon).collect()
            };
            for p in candidates {
                let period = provisor_billing::schedule::period_for_terms(store.db(), p)
                    .await
                    .map_err(|e| {
                        Error::invalid(
                            Message::about("next_due", ": ")
                                .then(e.into_message())
                                .text("; nothing was imported (or import onto a priced plan with ")
                                .field("plan")
                                .text(")"),
                        )
                    })?;
                periods.insert(p.id, period);
            }
        }
        Ok(Placement {
            plans,
            default_plan,
            forced,
            periods,
        })
    }

    /// The plan account `a` goes on.
    fn plan_for(&self, a: &RemoteAccount) -> &plan::Model {
        if self.forced {
            &self.default_plan
        } else {
            a.plan_hint
                .as_deref()
                .and_then(|hint| {
                    self.plans.iter().find(|p| {
                        !p.is_addon && (p.template.as_deref() == Some(hint) || p.name == hint)
                    })
                })
                .unwrap_or(&self.default_plan)
        }
    }
}

/// Records every remote account the handler has that we do not know yet.
pub async fn import(rt: &Runtime, name: &str, opts: &ImportOptions) -> Result<SyncReport> {
    let store = &rt.store;
    let placement = Placement::new(rt, name, opts).await?;
    let (h, accounts, pages) = all_accounts(rt, name).await?;
    let known: HashMap<String, i64> = service::Entity::find()
        .filter(service::Column::HandlerId.eq(h.id))
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?
        .into_iter()
        .filter_map(|s| s.remote_id.map(|r| (r, s.id)))
        .collect();
    let mut report = SyncReport {
        pages,
        seen: accounts.len() as u64,
        ..Default::default()
    };
    let now = rt.clock.now();
    for a in accounts {
        if known.contains_key(&a.remote_id) {
            report.already_known += 1;
            continue;
        }
        let client = client_for(store, &a, &mut report, rt.clock.now()).await?;
        if record(store, &h, &placement, &client, &a, opts.next_due, now).await? {
            report.scheduled += 1;
        }
        report.imported += 1;
    }
    Ok(report)
}

/// The client an imported account belongs to: the one with its email, else a new one
/// (named as the panel names it, in billing's default currency).
async fn client_for(
    store: &provisor_store::Store,
    a: &RemoteAccount,
    report: &mut SyncReport,
    now: chrono::DateTime<Utc>,
) -> Result<client::Model> {
    let email = if a.email.is_empty() {
        format!("{}@imported.invalid", a.remote_id)
    } else {
        a.email.clone()
    };
    let client = match catalog::find_client_by_email(store, &email).await? {
        Some(c) => c,
        None => {
            let display = if a.name.is_empty() {
                email.clone()
            } else {
                a.name.clone()
            };
            // The panel's name is made to fit the input rules (escaped, cut), and
            // the client pays in billing's default currency once there is one.
            let display = provisor_store::input::shown(&display, provisor_store::input::NAME_MAX);
            let currency = provisor_billing::currencies::default_currency(store.db())
                .await?
                .map(|c| c.code)
                .unwrap_or_else(|| "EUR".to_string());
            // A country only when the panel tells it (else unknown: no tax).
            let country = a
                .attributes
                .get("country")
                .and_then(Value::as_str)
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
                .unwrap_or_default();
            report.clients_created += 1;
            catalog::add_client(store, &display, &email, &currency, &country, now).await?
        }
    };
    Ok(client)
}

/// Stores account `a` as a service of `client` on the plan `placement` chooses, with a
/// billing term from `next_due` when given; answers whether it got one.
async fn record(
    store: &provisor_store::Store,
    h: &provisor_store::entities::handler::Model,
    placement: &Placement,
    client: &client::Model,
    a: &RemoteAccount,
    next_due: Option<chrono::NaiveDate>,
    now: chrono::DateTime<Utc>,
) -> Result<bool> {
    let plan = placement.plan_for(a);
    let mut scheduled = false;
    let tx = store
        .db()
        .begin()
        .await
        .map_err(db_err("importing an account"))?;
    let svc = service::ActiveModel {
        client_id: Set(client.id),
        plan_id: Set(plan.id),
        handler_id: Set(h.id),
        parent_id: Set(None),
        status: Set(status_of(a.status)),
        remote_id: Set(Some(a.remote_id.clone())),
        attributes: Set(Value::Object(a.attributes.clone()).to_string()),
        options: Set("{}".to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(db_err("storing an imported service"))?;
    if let (Some(next_due), Some(period)) = (next_due, placement.periods.get(&plan.id)) {
        if matches!(svc.status, ServiceStatus::Active | ServiceStatus::Suspended) {
            provisor_billing::schedule::start_term(&tx, &svc, *period, next_due, now).await?;
            scheduled = true;
        }
    }
    tx.commit().await.map_err(db_err("importing an account"))?;
    Ok(scheduled)
}

/// Reconciles the states of the handler's services with the remote accounts.
pub async fn sync(rt: &Runtime, name: &str) -> Result<SyncReport> {
    let (h, accounts, pages) = all_accounts(rt, name).await?;
    let store = &rt.store;
    let remote: HashMap<String, RemoteAccount> = accounts
        .into_iter()
        .map(|a| (a.remote_id.clone(), a))
        .collect();
    let mut report = SyncReport {
        pages,
        seen: remote.len() as u64,
        ..Default::default()
    };
    let services = service::Entity::find()
        .filter(service::Column::HandlerId.eq(h.id))
        .filter(service::Column::Status.is_in([ServiceStatus::Active, ServiceStatus::Suspended]))
        .all(store.db())
        .await
        .map_err(db_err("reading services"))?;
    for s in services {
        let Some(rid) = s.remote_id.clone() else {
            continue;
        };
        match remote.get(&rid) {
            None => report.missing_remotely.push(s.id),
            Some(a) => {
                let want = status_of(a.status);
                if a.status != RemoteStatus::Unknown && want != s.status {
                    // Only when no operation is under way: it will set the state itself.
                    let busy = provisor_store::entities::operation::Entity::find()
                        .filter(provisor_store::entities::operation::Column::ServiceId.eq(s.id))
                        .filter(
                            provisor_store::entities::operation::Column::Status
                                .is_in(OperationStatus::UNFINISHED),
                        )
                        .one(store.db())
                        .await
                        .map_err(db_err("reading operations"))?;
                    if busy.is_some() {
                        continue;
                    }
                    service::Entity::update_many()
                        .col_expr(
                            service::Column::Status,
                            sea_orm::sea_query::Expr::value(want),
                        )
                        .col_expr(
                            service::Column::UpdatedAt,
                            sea_orm::sea_query::Expr::value(rt.clock.now()),
                        )
                        .filter(service::Column::Id.eq(s.id))
                        .filter(service::Column::Status.eq(s.status))
                        .exec(store.db())
                        .await
                        .map_err(db_err("reconciling a service"))?;
                    report.state_changes.push(format!(
                        "service #{} {} -> {want} (remote {rid})",
                        s.id, s.status
                    ));
                }
            }
        }
    }
    Ok(report)
}
