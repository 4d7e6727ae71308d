//! The services the host lends each module instance (`abi::HostServices`): logging
//! bridged into `tracing`, the host clock, the handler-scoped key-value store, and HTTP
//! performed by the host's `reqwest` client with every exchange recorded, redacted.
//!
//! Module calls run on blocking threads, so these synchronous methods may block on the
//! runtime (`Handle::block_on`). Nothing here may unwind into the module: every body
//! is wrapped in `catch_unwind`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use chrono::{SecondsFormat, Utc};
use provisor_module_api::abi::{AbiError, HostServices, KIND_PERMANENT, KIND_TRANSIENT};
use provisor_module_api::{HttpRequest, HttpResponse, ModuleError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::modlog::{LogRow, ModuleLog};
use provisor_store::clock::Clock;
use provisor_store::entities::kv_entry;
use provisor_store::schema::Redactor;
use provisor_store::Store;

/// What a module call is about; set for the duration of the call on its thread so the
/// host services can tag log lines and recorded exchanges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The service the call is for, if any.
    pub service_id: Option<i64>,
    /// The operation the call carries out, if any.
    pub operation_id: Option<i64>,
    /// That operation's attempt number.
    pub attempt: Option<i32>,
}

thread_local! {
    static CURRENT: RefCell<CallContext> = RefCell::new(CallContext::default());
    /// The values found in responses the module marked secret during the current call:
    /// redacted from everything the call logs afterwards and from its error.
    static CALL_SECRETS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `ctx` as the current call context on this thread; answers its result
/// and the secret values the call's secret-marked responses carried.
pub fn with_context<T>(ctx: CallContext, f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let previous = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx));
    let previous_secrets = CALL_SECRETS.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    let secrets = CALL_SECRETS.with(|c| std::mem::replace(&mut *c.borrow_mut(), previous_secrets));
    (out, secrets)
}

fn call_secrets() -> Vec<String> {
    CALL_SECRETS.with(|c| c.borrow().clone())
}

fn remember_call_secrets(values: Vec<String>) {
    CALL_SECRETS.with(|c| {
        let mut all = c.borrow_mut();
        for v in values {
            if !all.contains(&v) {
                all.push(v);
            }
        }
    });
}

/// Shortest value taken from a secret response: shorter strings (`"ok"`, a user name
/// like `"bob"`) would blank out ordinary words in the call's later log text.
const MIN_SECRET_LEN: usize = 8;

/// The token-like values of a response the module marked secret: every JSON string
/// value (not the keys); for a body that is not JSON (a notice before it, a cut-off
/// reply), every quoted string that is not a key, and the whole body.
pub fn secret_values(body: &str) -> Vec<String> {
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| strings(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut whole = None;
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => strings(&v, &mut out),
        Err(_) => {
            whole = Some(body.trim().to_string());
            let chars: Vec<char> = body.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                if chars[i] != '"' {
                    i += 1;
                    continue;
                }
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let literal: String = chars[start..(i + 1).min(chars.len())].iter().collect();
                i += 1;
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if chars.get(j) == Some(&':') {
                    continue; // a key
                }
                let text = serde_json::from_str::<String>(&literal)
                    .unwrap_or_else(|_| literal.trim_matches('"').to_string());
                out.push(text);
            }
        }
    }
    // Tokens, keys and links have no spaces; names and sentences stay readable.
    out.retain(|v| v.chars().count() >= MIN_SECRET_LEN && !v.chars().any(char::is_whitespace));
    out.extend(whole.filter(|w| w.chars().count() >= MIN_SECRET_LEN));
    out.sort();
    out.dedup();
    out
}

/// `err` with every secret `redactor` knows removed from its message and detail.
pub fn redact_error(redactor: &Redactor, mut err: ModuleError) -> ModuleError {
    err.message = redactor.redact(&err.message);
    err.detail = err.detail.map(|d| redactor.redact(&d));
    err
}

fn current() -> CallContext {
    CURRENT.with(|c| c.borrow().clone())
}

/// Who the services belong to.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The handler's name.
    pub handler: String,
    /// The handler's row id (its key-value store is keyed by it).
    pub handler_id: i64,
    /// The module's name.
    pub module: String,
    /// The module's version.
    pub module_version: String,
}

/// The host services object for one handler instance.
pub struct HostServicesImpl {
    pub(crate) owner: Owner,
    pub(crate) redactor: Redactor,
    store: Store,
    runtime: tokio::runtime::Handle,
    clock: Clock,
    http: reqwest::Client,
    http_timeout: Duration,
    log: ModuleLog,
}

impl HostServicesImpl {
    /// The services for one instance: its owner, the redactor of the handler's secrets,
    /// and the store, runtime handle, clock, HTTP client and timeout, and module log
    /// they use.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        owner: Owner,
        redactor: Redactor,
        store: Store,
        runtime: tokio::runtime::Handle,
        clock: Clock,
        http: reqwest::Client,
        http_timeout: Duration,
        log: ModuleLog,
    ) -> Self {
        HostServicesImpl {
            owner,
            redactor,
            store,
            runtime,
            clock,
            http,
            http_timeout,
            log,
        }
    }

    fn row(
        &self,
        kind: &'static str,
        call: String,
        request: String,
        response: String,
        outcome: String,
        duration: Duration,
    ) -> LogRow {
        let ctx = current();
        LogRow {
            // Wall time: the log says when the real exchange happened (beside tracing's lines
            // and the remote panel's own logs), whatever date a pinned clock runs for.
            at: Utc::now(),
            handler: self.owner.handler.clone(),
            module: self.owner.module.clone(),
            module_version: self.owner.module_version.clone(),
            service_id: ctx.service_id,
            operation_id: ctx.operation_id,
            attempt: ctx.attempt,
            kind,
            call,
            request,
            response,
            outcome,
            duration_ms: duration.as_millis() as i64,
        }
    }

    fn kv_get_inner(&self, key: &str) -> Result<Option<String>, String> {
        let id = self.owner.handler_id;
        let db = self.store.db().clone();
        let key = key.to_string();
        self.runtime.block_on(async move {
            kv_entry::Entity::find_by_id((id, key))
                .one(&db)
                .await
                .map(|row| row.map(|r| r.value))
                .map_err(|e| e.to_string())
        })
    }

    fn kv_put_inner(&self, key: &str, value: &str) -> Result<(), String> {
        let row = kv_entry::ActiveModel {
            handler_id: Set(self.owner.handler_id),
            key: Set(key.to_string()),
            value: Set(value.to_string()),
            updated_at: Set(self.clock.now()),
        };
        let db = self.store.db().clone();
        let store = self.store.clone();
        self.runtime.block_on(async move {
            let _turn = store.write_turn().await;
            kv_entry::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([kv_entry::Column::HandlerId, kv_entry::Column::Key])
                        .update_columns([kv_entry::Column::Value, kv_entry::Column::UpdatedAt])
                        .to_owned(),
                )
                .exec(&db)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn kv_delete_inner(&self, key: &str) -> Result<(), String> {
        let db = self.store.db().clone();
        let store = self.store.clone();
        let id = self.owner.handler_id;
        let key = key.to_string();
        self.runtime.block_on(async move {
            let _turn = store.write_turn().await;
            kv_entry::Entity::delete_many()
                .filter(kv_entry::Column::HandlerId.eq(id))
                .filter(kv_entry::Column::Key.eq(key))
                .exec(&db)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn kv_swap_inner(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, String> {
        let id = self.owner.handler_id;
        let db = self.store.db().clone();
        let store = self.store.clone();
        let (key, expected, new) = (
            key.to_string(),
            expected.map(str::to_string),
            new.map(str::to_string),
        );
        let now = self.clock.now();
        // Each case is one conditional statement, so the database makes it atomic
        // without a read-then-write transaction.
        self.runtime.block_on(async move {
            let _turn = store.write_turn().await;
            let scoped = || {
                Condition::all()
                    .add(kv_entry::Column::HandlerId.eq(id))
                    .add(kv_entry::Column::Key.eq(key.clone()))
            };
            let affected = match (expected, new) {
                (None, None) => {
                    let found = kv_entry::Entity::find().filter(scoped()).one(&db).await;
                    return found.map(|row| row.is_none()).map_err(|e| e.to_string());
                }
                (None, Some(value)) => {
                    let row = kv_entry::ActiveModel {
                        handler_id: Set(id),
                        key: Set(key.clone()),
                        value: Set(value),
                        updated_at: Set(now),
                    };
                    kv_entry::Entity::insert(row)
                        .on_conflict(
                            OnConflict::columns([
                                kv_entry::Column::HandlerId,
                                kv_entry::Column::Key,
                            ])
                            .do_nothing()
                            .to_owned(),
                        )
                        .exec_without_returning(&db)
                        .await
                        .map_err(|e| e.to_string())?
                }
                (Some(old), Some(value)) => {
                    kv_entry::Entity::update_many()
                        .col_expr(kv_entry::Column::Value, Expr::value(value))
                        .col_expr(kv_entry::Column::UpdatedAt, Expr::value(now))
                        .filter(scoped().add(kv_entry::Column::Value.eq(old)))
                        .exec(&db)
                        .await
                        .map_err(|e| e.to_string())?
                        .rows_affected
                }
                (Some(old), None) => {
                    kv_entry::Entity::delete_many()
                        .filter(scoped().add(kv_entry::Column::Value.eq(old)))
                        .exec(&db)
                        .await
                        .map_err(|e| e.to_string())?
                        .rows_affected
                }
            };
            Ok(affected == 1)
        })
    }

    fn kv_list_inner(&self, prefix: &str) -> Result<String, String> {
        let db = self.store.db().clone();
        let id = self.owner.handler_id;
        let prefix = prefix.to_string();
        let rows = self.runtime.block_on(async move {
            kv_entry::Entity::find()
                .filter(kv_entry::Column::HandlerId.eq(id))
                .filter(kv_entry::Column::Key.starts_with(&prefix))
                .all(&db)
                .await
                .map_err(|e| e.to_string())
        })?;
        let map: BTreeMap<String, String> = rows.into_iter().map(|r| (r.key, r.value)).collect();
        serde_json::to_string(&map).map_err(|e| e.to_string())
    }

    fn http_inner(&self, request_json: &str) -> Result<String, AbiError> {
        let req: HttpRequest = serde_json::from_str(request_json).map_err(|e| {
            abi_error(
                KIND_PERMANENT,
                format!("the module sent a malformed HTTP request: {e}"),
            )
        })?;
        // The handler's secret settings plus what the module marked secret for this
        // exchange (a generated password, a one-time key).
        let redactor = self
            .redactor
            .with_values(&req.secrets)
            .with_values(&call_secrets());
        let secret_response = req.secret_response;
        let (method, url) = http_target(&req, &redactor)?;
        let timeout = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.http_timeout);
        let shown_url = redactor.redact(url.as_str());
        let call = format!("{method} {shown_url}");
        let shown_request = shown_request(&redactor, &req);
        let mut builder = self.http.request(method, url).timeout(timeout);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let started = Instant::now();
        let result = self.runtime.block_on(send(builder));
        let elapsed = started.elapsed();
        let exchange = Exchange {
            call,
            shown_request,
            elapsed,
        };
        match result {
            Ok(resp) => self.http_answered(&resp, redactor, secret_response, exchange),
            Err(e) => Err(self.http_failed(&e, &redactor, timeout, exchange)),
        }
    }

    /// Logs an answered HTTP exchange and hands the response to the module.
    fn http_answered(
        &self,
        resp: &HttpResponse,
        redactor: Redactor,
        secret_response: bool,
        exchange: Exchange,
    ) -> Result<String, AbiError> {
        // What a secret response carries is redacted from everything this
        // call logs from now on, and from its error.
        let redactor = if secret_response {
            let found = secret_values(&resp.body);
            let r = redactor.with_values(&found);
            remember_call_secrets(found);
            r
        } else {
            redactor
        };
        let head: Vec<String> = redactor
            .redact_headers(&resp.headers)
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let shown_response = format!(
            "{}\n\n{}",
            head.join("\n"),
            if secret_response {
                "[redacted: the module marked this response secret]".to_string()
            } else {
                redactor.redact(&resp.body)
            }
        );
        self.log.record(self.row(
            "http",
            exchange.call,
            exchange.shown_request,
            shown_response,
            resp.status.to_string(),
            exchange.elapsed,
        ));
        serde_json::to_string(resp).map_err(|e| abi_error(KIND_PERMANENT, e.to_string()))
    }

    /// Logs an HTTP exchange that got no answer; the module gets a transient error.
    fn http_failed(
        &self,
        e: &reqwest::Error,
        redactor: &Redactor,
        timeout: Duration,
        exchange: Exchange,
    ) -> AbiError {
        let why = if e.is_timeout() {
            format!("timed out after {}ms", timeout.as_millis())
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            "the connection failed".to_string()
        };
        let message = redactor.redact(&format!("{}: {why} ({e})", exchange.call));
        self.log.record(self.row(
            "http",
            exchange.call,
            exchange.shown_request,
            message.clone(),
            "transport_error".into(),
            exchange.elapsed,
        ));
        abi_error(KIND_TRANSIENT, message)
    }
}

/// An HTTP exchange as the module log shows it.
struct Exchange {
    /// `METHOD url`, redacted.
    call: String,
    /// The request's headers and body, redacted.
    shown_request: String,
    elapsed: Duration,
}

/// The method and URL of a module's HTTP request, or why they are not valid.
fn http_target(
    req: &HttpRequest,
    redactor: &Redactor,
) -> Result<(reqwest::Method, reqwest::Url), AbiError> {
    let method =
        reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
            abi_error(
                KIND_PERMANENT,
                format!("unknown HTTP method {:?}", req.method),
            )
        })?;
    let url = reqwest::Url::parse(&req.url).map_err(|e| {
        abi_error(
            KIND_PERMANENT,
            format!("invalid URL {}: {e}", redactor.redact(&req.url)),
        )
    })?;
    Ok((method, url))
}

/// The request's headers and body as the module log shows them.
fn shown_request(redactor: &Redactor, req: &HttpRequest) -> String {
    let headers = redactor.redact_headers(&req.headers);
    let head: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    let body = req
        .body
        .as_deref()
        .map(|b| redactor.redact(b))
        .unwrap_or_default();
    format!("{}\n\n{}", head.join("\n"), body)
}

/// Sends a request and reads the whole answer.
async fn send(builder: reqwest::RequestBuilder) -> Result<HttpResponse, reqwest::Error> {
    let resp = builder.send().await?;
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let bytes = resp.bytes().await?;
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).to_string(),
    })
}

fn abi_error(kind: u32, message: String) -> AbiError {
    AbiError {
        kind,
        message: RString::from(message),
        detail: ROption::RNone,
    }
}

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, AbiError>) -> RResult<T, AbiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e),
        Err(_) => RResult::RErr(abi_error(
            KIND_TRANSIENT,
            format!("the host failed while serving {what}; see the host log"),
        )),
    }
}

impl HostServices for HostServicesImpl {
    fn log(&self, level: u8, message: RStr<'_>, fields_json: RStr<'_>) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let ctx = current();
            let redactor = self.redactor.with_values(&call_secrets());
            let message = redactor.redact(message.as_str());
            let fields = redactor.redact(fields_json.as_str());
            let o = &self.owner;
            macro_rules! emit {
                ($lvl:expr) => {
                    tracing::event!(
                        $lvl,
                        handler = %o.handler,
                        module = %o.module,
                        version = %o.module_version,
                        service = ?ctx.service_id,
                        operation = ?ctx.operation_id,
                        fields = %fields,
                        "{message}"
                    )
                };
            }
            let level_name = match level {
                1 => {
                    emit!(tracing::Level::ERROR);
                    "error"
                }
                2 => {
                    emit!(tracing::Level::WARN);
                    "warn"
                }
                3 => {
                    emit!(tracing::Level::INFO);
                    "info"
                }
                4 => {
                    emit!(tracing::Level::DEBUG);
                    "debug"
                }
                _ => {
                    emit!(tracing::Level::TRACE);
                    "trace"
                }
            };
            self.log.record(self.row(
                "log",
                level_name.to_string(),
                message,
                fields,
                "ok".into(),
                Duration::ZERO,
            ));
        }));
    }

    fn now(&self) -> RString {
        RString::from(self.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RString>, AbiError> {
        guarded("kv_get", || {
            self.kv_get_inner(key.as_str())
                .map(|v| v.map(RString::from).into())
                .map_err(|e| {
                    abi_error(
                        KIND_TRANSIENT,
                        format!("key-value store read of {:?} failed: {e}", key.as_str()),
                    )
                })
        })
    }

    fn kv_put(&self, key: RStr<'_>, value: RStr<'_>) -> RResult<(), AbiError> {
        guarded("kv_put", || {
            self.kv_put_inner(key.as_str(), value.as_str())
                .map_err(|e| {
                    abi_error(
                        KIND_TRANSIENT,
                        format!("key-value store write of {:?} failed: {e}", key.as_str()),
                    )
                })
        })
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<(), AbiError> {
        guarded("kv_delete", || {
            self.kv_delete_inner(key.as_str()).map_err(|e| {
                abi_error(
                    KIND_TRANSIENT,
                    format!("key-value store delete of {:?} failed: {e}", key.as_str()),
                )
            })
        })
    }

    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RString, AbiError> {
        guarded("kv_list", || {
            self.kv_list_inner(prefix.as_str())
                .map(RString::from)
                .map_err(|e| {
                    abi_error(
                        KIND_TRANSIENT,
                        format!("key-value store listing failed: {e}"),
                    )
                })
        })
    }

    fn http(&self, request_json: RStr<'_>) -> RResult<RString, AbiError> {
        guarded("http", || {
            self.http_inner(request_json.as_str()).map(RString::from)
        })
    }

    fn kv_swap(
        &self,
        key: RStr<'_>,
        expected: ROption<RStr<'_>>,
        new: ROption<RStr<'_>>,
    ) -> RResult<bool, AbiError> {
        guarded("kv_swap", || {
            self.kv_swap_inner(
                key.as_str(),
                expected.into_option().map(|s| s.as_str()),
                new.into_option().map(|s| s.as_str()),
            )
            .map_err(|e| {
                abi_error(
                    KIND_TRANSIENT,
                    format!(
                        "key-value compare-and-swap of {:?} failed: {e}",
                        key.as_str()
                    ),
                )
            })
        })
    }
}

#[cfg(test)]
mod tests;
