//! What billing asks of provisioning, done with the engine: reading a service's usage
//! from its module and queueing an action on a service (recorded in the audit log as
//! the driver's actor's, like any other request).

use serde_json::{Map, Value};

use crate::audit::Actor;
use provisor_billing::Settings;
use provisor_runtime::{Call, Runtime};
use provisor_store::clock::Clock;
use provisor_store::entities::kinds::OperationKind;
use provisor_store::error::Result;
use provisor_store::Store;

/// The engine-backed [`provisor_billing::Driver`].
pub struct EngineDriver<'a> {
    rt: &'a Runtime,
    settings: Settings,
    actor: &'a Actor,
}

impl<'a> EngineDriver<'a> {
    /// A driver over `rt`, with billing's settings (the configuration's `[billing]`,
    /// see [`crate::Ctx::billing`]), queueing what billing asks for as `actor`.
    pub fn new(rt: &'a Runtime, settings: Settings, actor: &'a Actor) -> Self {
        EngineDriver {
            rt,
            settings,
            actor,
        }
    }
}

#[async_trait::async_trait]
impl provisor_billing::Driver for EngineDriver<'_> {
    fn store(&self) -> &Store {
        &self.rt.store
    }

    fn clock(&self) -> &Clock {
        &self.rt.clock
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn read_usage(
        &self,
        service_id: i64,
        request: Map<String, Value>,
    ) -> Result<provisor_module_api::UsageReport> {
        provisor_engine::call_now(self.rt, service_id, Call::Usage, request).await
    }

    async fn request(&self, service_id: i64, action: OperationKind) -> Result<i64> {
        crate::services::request(
            self.rt,
            self.actor,
            service_id,
            action,
            Value::Null,
            self.settings.max_attempts,
        )
        .await
        .map(|op| op.id)
    }
}
