//! The module log writer: every module call, HTTP exchange and module log line becomes
//! a `module_log` row. Rows are sent on a channel and written in batches by one task,
//! so recording never sits on a module call's path.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};
use tokio::sync::{mpsc, oneshot};

use provisor_store::entities::module_log;
use provisor_store::Store;

/// Longest request/response text kept per row.
const MAX_TEXT: usize = 64 * 1024;

/// One row to record.
#[derive(Debug, Clone)]
pub struct LogRow {
    /// When the call, exchange or line happened.
    pub at: DateTime<Utc>,
    /// The handler whose instance it was.
    pub handler: String,
    /// The module's name.
    pub module: String,
    /// The module's version.
    pub module_version: String,
    /// The service the call was for, if any.
    pub service_id: Option<i64>,
    /// The operation the call was for, if any.
    pub operation_id: Option<i64>,
    /// The operation's attempt number, if any.
    pub attempt: Option<i32>,
    /// `call`, `http` or `log`.
    pub kind: &'static str,
    /// The call name, `METHOD url`, or the log level.
    pub call: String,
    /// The request (JSON, HTTP) or the log message, redacted; cut to 64 KiB when written.
    pub request: String,
    /// The answer, error or HTTP response, or the log line's fields, redacted; cut to
    /// 64 KiB when written.
    pub response: String,
    /// `ok`, an error kind, or an HTTP status.
    pub outcome: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
}

enum Msg {
    Row(Box<LogRow>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct ModuleLog {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl ModuleLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> ModuleLog {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(async move {
            let mut batch: Vec<module_log::ActiveModel> = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut waiters = Vec::new();
                let mut take = |msg: Msg, batch: &mut Vec<module_log::ActiveModel>| match msg {
                    Msg::Row(row) => batch.push(to_active(*row)),
                    Msg::Flush(done) => waiters.push(done),
                };
                take(first, &mut batch);
                while batch.len() < 500 {
                    match rx.try_recv() {
                        Ok(msg) => take(msg, &mut batch),
                        Err(_) => break,
                    }
                }
                if !batch.is_empty() {
                    let rows = std::mem::take(&mut batch);
                    let _turn = store.write_turn().await;
                    if let Err(e) = module_log::Entity::insert_many(rows)
                        .exec_without_returning(store.db())
                        .await
                    {
                        tracing::error!("cannot write the module log: {e}");
                    }
                }
                for w in waiters {
                    let _ = w.send(());
                }
            }
        });
        ModuleLog { tx }
    }

    /// Queues a row.
    pub fn record(&self, mut row: LogRow) {
        truncate(&mut row.request);
        truncate(&mut row.response);
        let _ = self.tx.send(Msg::Row(Box::new(row)));
    }

    /// Waits until every row queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

fn truncate(text: &mut String) {
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…[truncated]");
    }
}

fn to_active(r: LogRow) -> module_log::ActiveModel {
    module_log::ActiveModel {
        at: Set(r.at),
        handler: Set(r.handler),
        module: Set(r.module),
        module_version: Set(r.module_version),
        service_id: Set(r.service_id),
        operation_id: Set(r.operation_id),
        attempt: Set(r.attempt),
        kind: Set(r.kind.to_string()),
        call: Set(r.call),
        request: Set(r.request),
        response: Set(r.response),
        outcome: Set(r.outcome),
        duration_ms: Set(r.duration_ms),
        ..Default::default()
    }
}
