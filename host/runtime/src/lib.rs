//! The runtime: module instances for handlers, and every call into them.
//!
//! Owns: building an instance per handler (module + settings), calling it on a
//! blocking thread under a time limit with the call context set, recording each call
//! in the module log, and retiring instances (an upgraded module, changed settings):
//! a retired instance's `shutdown` runs once its last call in flight has returned.
//! Must not: change a service's state; the engine decides what an answer means.

#![warn(missing_docs)]

pub mod modlog;
pub mod registry;
pub mod services;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use chrono::Utc;
use provisor_module_api::abi::{AbiError, HostServices_TO, ProcessingModuleBox};
use provisor_module_api::{ErrorKind, ModuleError};
use serde::{de::DeserializeOwned, Serialize};

use crate::modlog::{LogRow, ModuleLog};
use crate::registry::{LoadedModule, Registry};
use provisor_store::clock::Clock;
use provisor_store::entities::handler;
use provisor_store::error::{Error, Fix, Listing, Message, Result};
use provisor_store::home::Home;
use provisor_store::schema::{self, Redactor};
use provisor_store::Store;
pub use services::CallContext;
use services::{HostServicesImpl, Owner};

/// A call into a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// Checks that the handler's settings reach the remote panel.
    TestConnection,
    /// Creates the remote account or license for a service.
    Create,
    /// Suspends a service.
    Suspend,
    /// Resumes a suspended service.
    Unsuspend,
    /// Terminates a service.
    Terminate,
    /// Moves a service to another plan or set of resources.
    ChangePlan,
    /// Extends a service's remote term (licenses).
    Renew,
    /// Reports a service's metered usage for a period.
    Usage,
    /// Mints a single-sign-on link.
    Sso,
    /// Lists the remote accounts, a page at a time (import and sync).
    ListAccounts,
    /// The panel shown in the client area.
    ClientArea,
    /// The custom admin actions offered for a service.
    AdminActions,
    /// Runs one custom admin action.
    RunAction,
    /// The module's daily run for a date.
    Daily,
}

impl Call {
    /// The call's name, as in manifests and the module log.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::TestConnection => "test_connection",
            Call::Create => "create",
            Call::Suspend => "suspend",
            Call::Unsuspend => "unsuspend",
            Call::Terminate => "terminate",
            Call::ChangePlan => "change_plan",
            Call::Renew => "renew",
            Call::Usage => "usage",
            Call::Sso => "sso",
            Call::ListAccounts => "list_accounts",
            Call::ClientArea => "client_area",
            Call::AdminActions => "admin_actions",
            Call::RunAction => "run_action",
            Call::Daily => "daily",
        }
    }

    /// Every call, in ABI order.
    pub const ALL: [Call; 14] = [
        Call::TestConnection,
        Call::Create,
        Call::Suspend,
        Call::Unsuspend,
        Call::Terminate,
        Call::ChangePlan,
        Call::Renew,
        Call::Usage,
        Call::Sso,
        Call::ListAccounts,
        Call::ClientArea,
        Call::AdminActions,
        Call::RunAction,
        Call::Daily,
    ];

    /// The call named `name`.
    pub fn parse(name: &str) -> Result<Call> {
        Call::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Call::ALL.iter().map(|c| c.as_str()).collect();
                Error::Invalid(format!(
                    "unknown module call {name:?}; one of: {}",
                    names.join(", ")
                ))
            })
    }

    fn invoke(self, obj: &ProcessingModuleBox, request: &str) -> RResult<RString, AbiError> {
        let r = RStr::from_str(request);
        match self {
            Call::TestConnection => obj.test_connection(r),
            Call::Create => obj.create(r),
            Call::Suspend => obj.suspend(r),
            Call::Unsuspend => obj.unsuspend(r),
            Call::Terminate => obj.terminate(r),
            Call::ChangePlan => obj.change_plan(r),
            Call::Renew => obj.renew(r),
            Call::Usage => obj.usage(r),
            Call::Sso => obj.sso(r),
            Call::ListAccounts => obj.list_accounts(r),
            Call::ClientArea => obj.client_area(r),
            Call::AdminActions => obj.admin_actions(r),
            Call::RunAction => obj.run_action(r),
            Call::Daily => obj.daily(r),
        }
    }
}

/// Limits and defaults of the runtime.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long one module call may run before the host gives up on it (the thread is
    /// abandoned; the call fails as transient).
    pub call_timeout: Duration,
    /// Default timeout of one HTTP request made for a module.
    pub http_timeout: Duration,
    /// How many abandoned calls a handler may have stuck (their threads still in the
    /// module) before the host stops calling it until one returns.
    pub max_stuck_calls: usize,
    /// Whether this process writes its stuck calls to `handlers.stuck_calls` (the
    /// daemon does; a short-lived CLI process keeps them to itself, as its threads go
    /// with it).
    pub record_stuck_calls: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(30),
            max_stuck_calls: 4,
            record_stuck_calls: false,
        }
    }
}

/// A call's state, decided once: it returned in time, or it was abandoned.
const RUNNING: u8 = 0;
const RETURNED: u8 = 1;
const ABANDONED: u8 = 2;

/// A handler's calls that were abandoned past the call limit and whose threads are
/// still in the module. Kept per handler name (instances come and go; threads stay),
/// and written to `handlers.stuck_calls` so `handlers list` in any process shows it.
#[derive(Clone)]
struct Stuck {
    count: Arc<AtomicUsize>,
    record: bool,
    handler_id: i64,
    store: Store,
    runtime: tokio::runtime::Handle,
}

impl Stuck {
    fn changed(&self, by: isize) {
        let n = if by > 0 {
            self.count.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.count.fetch_sub(1, Ordering::SeqCst).saturating_sub(1)
        };
        if !self.record {
            return;
        }
        let store = self.store.clone();
        let id = self.handler_id;
        self.runtime.spawn(async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let _turn = store.write_turn().await;
            let r = handler::Entity::update_many()
                .col_expr(
                    handler::Column::StuckCalls,
                    sea_orm::sea_query::Expr::value(n as i32),
                )
                .filter(handler::Column::Id.eq(id))
                .exec(store.db())
                .await;
            if let Err(e) = r {
                tracing::warn!("cannot record handler #{id}'s stuck calls ({n}): {e}");
            }
        });
    }
}

/// A module instance configured for one handler.
pub struct Instance {
    /// The handler's name.
    pub handler: String,
    /// The module it was built from.
    pub module: Arc<LoadedModule>,
    /// The settings it was built with; other settings build a new instance.
    settings: String,
    obj: Option<ProcessingModuleBox>,
    redactor: Redactor,
    runtime: tokio::runtime::Handle,
    log: ModuleLog,
    call_timeout: Duration,
    stuck: Stuck,
    max_stuck: usize,
}

impl Instance {
    /// Why the host does not call this handler now: too many of its calls are stuck.
    pub fn blocked(&self) -> Option<String> {
        let n = self.stuck.count.load(Ordering::SeqCst);
        (n >= self.max_stuck).then(|| {
            format!(
                "handler {} is not called: {n} of its calls to module {} are stuck (abandoned after the {}s call limit, their threads still inside the module; at most {} allowed). Its operations wait and run once a stuck call returns; check the remote panel and the module, or restart the daemon to free the threads",
                self.handler,
                self.module.name(),
                self.call_timeout.as_secs(),
                self.max_stuck
            )
        })
    }

    /// Calls the module with a JSON request; answers the JSON response.
    pub async fn call_raw(
        self: &Arc<Self>,
        call: Call,
        request: String,
        ctx: CallContext,
    ) -> Result<String, ModuleError> {
        // No new thread for a handler whose stuck calls reached the cap.
        if let Some(reason) = self.blocked() {
            return Err(ModuleError::transient(reason));
        }
        let this = Arc::clone(self);
        let started = Instant::now();
        let req_for_log = self.redactor.redact(&request);
        let ctx_for_log = ctx.clone();
        let state = Arc::new(AtomicU8::new(RUNNING));
        let state_in_call = Arc::clone(&state);
        let task = tokio::task::spawn_blocking(move || {
            let Some(obj) = this.obj.as_ref() else {
                return (
                    RResult::RErr(
                        ModuleError::transient("the instance is shutting down").into_abi(),
                    ),
                    Vec::new(),
                );
            };
            let answer = services::with_context(ctx, || call.invoke(obj, &request));
            if state_in_call
                .compare_exchange(RUNNING, RETURNED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // Abandoned earlier: its thread is free again.
                this.stuck.changed(-1);
                tracing::warn!(handler = %this.handler, "an abandoned {} call returned at last", call.as_str());
            }
            answer
        });
        // The handler's secrets plus what the call's secret-marked responses carried
        // (a minted token): redacted from the logged answer and from the error the
        // caller prints and stores.
        let mut redactor = self.redactor.clone();
        let result = match tokio::time::timeout(self.call_timeout, task).await {
            Ok(Ok((answer, secrets))) => {
                redactor = redactor.with_values(&secrets);
                answer
                    .into_result()
                    .map(RString::into_string)
                    .map_err(|e| services::redact_error(&redactor, ModuleError::from_abi(e)))
            }
            Ok(Err(join)) => Err(ModuleError::new(
                ErrorKind::Panicked,
                format!("the call crashed on the host side: {join}"),
            )),
            Err(_) => {
                if state
                    .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    self.stuck.changed(1);
                }
                Err(ModuleError::transient(format!(
                    "{} did not answer within {}s (the call limit); it was abandoned",
                    call.as_str(),
                    self.call_timeout.as_secs()
                )))
            }
        };
        let (response, outcome) = match &result {
            // A single sign-on link is a credential while it lasts: never logged.
            Ok(_) if call == Call::Sso => (
                "[redacted: single sign-on link]".to_string(),
                "ok".to_string(),
            ),
            Ok(text) => (redactor.redact(text), "ok".to_string()),
            Err(e) => (redactor.redact(&e.to_string()), e.kind.as_str().to_string()),
        };
        self.log.record(LogRow {
            // Wall time: the log says when the real exchange happened (beside tracing's lines
            // and the remote panel's own logs), whatever date a pinned clock runs for.
            at: Utc::now(),
            handler: self.handler.clone(),
            module: self.module.name().to_string(),
            module_version: self.module.manifest.version.clone(),
            service_id: ctx_for_log.service_id,
            operation_id: ctx_for_log.operation_id,
            attempt: ctx_for_log.attempt,
            kind: "call",
            call: call.as_str().to_string(),
            request: req_for_log,
            response,
            outcome,
            duration_ms: started.elapsed().as_millis() as i64,
        });
        result
    }

    /// Calls the module with a typed request and decodes the typed answer.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        self: &Arc<Self>,
        call: Call,
        request: &Req,
        ctx: CallContext,
    ) -> Result<Resp, ModuleError> {
        let json = serde_json::to_string(request).map_err(|e| {
            ModuleError::permanent(format!("cannot encode the {} request: {e}", call.as_str()))
        })?;
        let text = self.call_raw(call, json, ctx).await?;
        serde_json::from_str(&text).map_err(|e| {
            ModuleError::permanent(format!(
                "module {} {} answered {} with malformed JSON: {e}",
                self.module.name(),
                self.module.manifest.version,
                call.as_str()
            ))
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            let handler = self.handler.clone();
            let module = format!("{} {}", self.module.name(), self.module.manifest.version);
            // Module code runs on blocking threads only (its host services may block).
            let job = move || {
                obj.shutdown();
                drop(obj);
                tracing::info!(handler = %handler, "instance of module {module} shut down");
            };
            drop(self.runtime.spawn_blocking(job));
        }
    }
}

/// The runtime: registry, storage, clock, the module log and the live instances.
pub struct Runtime {
    /// `$PROVISOR_HOME`: the modules directory, the database and the key file.
    pub home: Home,
    /// The database.
    pub store: Store,
    /// The modules loaded and the verdicts on every module file.
    pub registry: Arc<Registry>,
    /// The clock every business date and time is read from.
    pub clock: Clock,
    /// The module log writer.
    pub log: ModuleLog,
    /// The call and HTTP timeouts and the stuck-call limit.
    pub limits: Limits,
    http: reqwest::Client,
    instances: Mutex<HashMap<String, Arc<Instance>>>,
    /// One lock per handler name, held while its instance is built, so callers that
    /// race (the daemon's connection check and its daily run at start) share one
    /// instance instead of each instantiating the module and retiring the other's.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Stuck calls per handler name, kept across instances.
    stuck: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl Runtime {
    /// Builds a runtime (call inside a tokio runtime).
    pub fn new(
        home: Home,
        store: Store,
        registry: Arc<Registry>,
        clock: Clock,
        limits: Limits,
    ) -> Result<Runtime> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("provisor/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Io(format!("cannot build the HTTP client: {e}")))?;
        let log = ModuleLog::start(store.clone());
        Ok(Runtime {
            home,
            store,
            registry,
            clock,
            log,
            limits,
            http,
            instances: Mutex::new(HashMap::new()),
            building: Mutex::new(HashMap::new()),
            stuck: Mutex::new(HashMap::new()),
        })
    }

    fn stuck_count(&self, handler: &str) -> Arc<AtomicUsize> {
        let mut map = self.stuck.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(handler.to_string()).or_default())
    }

    fn instances(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Instance>>> {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A handler's stored settings with their secrets opened, checked against its
    /// module's schema. Secrets are opened here only, for the module; the plain text
    /// lives in the instance and the module, never in the database.
    fn open_settings(
        &self,
        h: &handler::Model,
        module: &LoadedModule,
    ) -> Result<serde_json::Value> {
        let mut settings: serde_json::Value = serde_json::from_str(&h.settings).map_err(|e| {
            Error::Invalid(format!(
                "handler {}'s stored settings are not JSON: {e}",
                h.name
            ))
        })?;
        provisor_store::secrets::open_settings(self.store.secrets(), &h.name, &mut settings)?;
        schema::validate(
            &module.manifest.settings_schema,
            &settings,
            &format!("handler {}'s settings", h.name),
        )
        .map_err(|e| {
            Error::invalid(
                e.into_message()
                    .text(format!(
                        " (module {} {}); ",
                        module.name(),
                        module.manifest.version
                    ))
                    .fix(Fix::AddHandlerAgain {
                        handler: h.name.clone(),
                    }),
            )
        })?;
        Ok(settings)
    }

    /// The live instance for a handler, built (or rebuilt after an upgrade or a
    /// settings change) as needed.
    pub async fn instance(&self, h: &handler::Model) -> Result<Arc<Instance>> {
        let module = self.registry.get(&h.module).ok_or_else(|| not_loaded(h))?;
        if let Some(existing) = self.current_instance(h, &module) {
            return Ok(existing);
        }
        let lock = {
            let mut building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(building.entry(h.name.clone()).or_default())
        };
        let _building = lock.lock().await;
        // Another caller may have built it while this one waited.
        if let Some(existing) = self.current_instance(h, &module) {
            return Ok(existing);
        }
        let settings = self.open_settings(h, &module)?;
        let redactor = Redactor::for_settings(&settings, &module.manifest.settings_schema);
        let services = HostServicesImpl::new(
            Owner {
                handler: h.name.clone(),
                handler_id: h.id,
                module: module.name().to_string(),
                module_version: module.manifest.version.clone(),
            },
            redactor.clone(),
            self.store.clone(),
            tokio::runtime::Handle::current(),
            self.clock.clone(),
            self.http.clone(),
            self.limits.http_timeout,
            self.log.clone(),
        );
        let host = HostServices_TO::from_value(services, TD_Opaque);
        let root = module.root();
        let settings_text = settings.to_string();
        let task = tokio::task::spawn_blocking(move || {
            (root.instantiate())(host, RStr::from_str(&settings_text))
        });
        let obj = match tokio::time::timeout(self.limits.call_timeout, task).await {
            Ok(Ok(answer)) => answer.into_result().map_err(|e| Error::Module {
                context: format!(
                    "handler {}: module {} {} could not be instantiated",
                    h.name,
                    module.name(),
                    module.manifest.version
                ),
                source: services::redact_error(&redactor, ModuleError::from_abi(e)),
            })?,
            Ok(Err(join)) => {
                return Err(Error::Io(format!(
                    "instantiating handler {} crashed: {join}",
                    h.name
                )))
            }
            Err(_) => {
                return Err(Error::Module {
                    context: format!("handler {}", h.name),
                    source: ModuleError::transient(format!(
                        "module {} did not finish instantiate within {}s",
                        module.name(),
                        self.limits.call_timeout.as_secs()
                    )),
                })
            }
        };
        let instance = Arc::new(Instance {
            handler: h.name.clone(),
            module,
            settings: h.settings.clone(),
            obj: Some(obj),
            redactor,
            runtime: tokio::runtime::Handle::current(),
            log: self.log.clone(),
            call_timeout: self.limits.call_timeout,
            stuck: Stuck {
                count: self.stuck_count(&h.name),
                record: self.limits.record_stuck_calls,
                handler_id: h.id,
                store: self.store.clone(),
                runtime: tokio::runtime::Handle::current(),
            },
            max_stuck: self.limits.max_stuck_calls,
        });
        let old = self
            .instances()
            .insert(h.name.clone(), Arc::clone(&instance));
        drop(old); // retired: shuts down when its calls in flight return
        Ok(instance)
    }

    /// The cached instance of `h`, if it was built from `module`'s current load with the
    /// handler's current settings.
    fn current_instance(&self, h: &handler::Model, module: &LoadedModule) -> Option<Arc<Instance>> {
        self.instances()
            .get(&h.name)
            .filter(|i| i.module.generation == module.generation && i.settings == h.settings)
            .map(Arc::clone)
    }

    /// Retires every instance built from an older load of `module`.
    pub fn retire_module(&self, module: &str) {
        let current = self.registry.get(module).map(|m| m.generation);
        let retired: Vec<Arc<Instance>> = {
            let mut map = self.instances();
            let names: Vec<String> = map
                .iter()
                .filter(|(_, i)| i.module.name() == module && Some(i.module.generation) != current)
                .map(|(n, _)| n.clone())
                .collect();
            names.iter().filter_map(|n| map.remove(n)).collect()
        };
        for i in retired {
            tracing::info!(handler = %i.handler, "retiring the instance of {} {}; it shuts down when its calls in flight return", i.module.name(), i.module.manifest.version);
        }
    }

    /// Retires a handler's instance (settings changed, handler removed).
    pub fn retire_handler(&self, handler: &str) {
        let old = self.instances().remove(handler);
        drop(old);
    }

    /// Retires every instance (shutdown).
    pub fn retire_all(&self) {
        let all: Vec<Arc<Instance>> = self.instances().drain().map(|(_, i)| i).collect();
        drop(all);
    }
}

/// The refusal for a handler whose module is not loaded.
fn not_loaded(h: &handler::Model) -> Error {
    Error::invalid(
        Message::new(format!(
            "handler {} uses module {}, which is not loaded: ",
            h.name, h.module
        ))
        .fix(Fix::InstallModule {
            module: h.module.clone(),
        })
        .text(" (")
        .fix(Fix::See {
            listing: Listing::Modules,
        })
        .text(" for refusals)"),
    )
}
