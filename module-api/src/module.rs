//! [`Module`]: the plain Rust trait a module author implements, and the glue that turns
//! it into the ABI (`export_module!`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};
use serde::{de::DeserializeOwned, Serialize};

use crate::abi::{
    AbiError, HostServicesBox, ModuleRoot, ModuleRoot_Ref, ProcessingModule, ProcessingModuleBox,
    ProcessingModule_TO,
};
use crate::error::{ErrorKind, ModuleError};
use crate::host::Host;
use crate::types::*;

/// A processing module. Implement the calls your panel supports (and list them in the
/// manifest's capabilities); every other call answers `NotSupported`.
///
/// Calls may arrive on several threads at once. A panic anywhere in a call is caught at
/// the boundary and reported as an error of kind `Panicked`; it never takes the host
/// down.
pub trait Module: Send + Sync + Sized + 'static {
    /// The handler's connection settings, decoded from JSON that the host has already
    /// validated against the manifest's `settings_schema`.
    type Settings: DeserializeOwned;

    /// Describes the module. Called without an instance; must be cheap and must not
    /// touch the network.
    fn manifest() -> Manifest;

    /// Tariff plans this module offers to create in the hoster's catalog (see
    /// [`PlanPreset`]); none by default. Called without an instance, like
    /// [`Module::manifest`]; must be cheap and must not touch the network. Each
    /// preset's settings must be valid against the manifest's `plan_schema`.
    fn presets() -> Vec<PlanPreset> {
        Vec::new()
    }

    /// Builds an instance for one handler. Keep it quick: no remote calls here (the
    /// host calls `test_connection` for that).
    fn new(host: Host, settings: Self::Settings) -> Result<Self, ModuleError>;

    /// Checks that the settings reach the remote panel.
    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        Err(ModuleError::not_supported("test_connection"))
    }
    /// Creates the remote account. Must adopt what an earlier attempt with the same
    /// `operation_key` made instead of making a second one.
    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("create"))
    }
    /// Suspends; already suspended is success.
    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("suspend"))
    }
    /// Resumes; already active is success.
    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("unsuspend"))
    }
    /// Terminates; already gone is success.
    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("terminate"))
    }
    /// Changes plan or resources (`request.params` carries the new plan).
    fn change_plan(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("change_plan"))
    }
    /// Extends the remote term.
    fn renew(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("renew"))
    }
    /// Metered usage for a period.
    fn usage(&self, request: UsageRequest) -> Result<UsageReport, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("usage"))
    }
    /// A single-sign-on link, minted now.
    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("sso"))
    }
    /// One page of existing remote accounts.
    fn list_accounts(&self, request: ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("list_accounts"))
    }
    /// The client-area panel.
    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("client_area"))
    }
    /// Custom admin buttons for a service.
    fn admin_actions(&self, request: ServiceRequest) -> Result<Vec<AdminAction>, ModuleError> {
        let _ = request;
        Ok(Vec::new())
    }
    /// Runs a custom admin action (`request.action`).
    fn run_action(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("run_action"))
    }
    /// The daily run for `request.date`.
    fn daily(&self, request: DailyRequest) -> Result<DailyReport, ModuleError> {
        let _ = request;
        Err(ModuleError::not_supported("daily"))
    }
    /// Called once when the host retires the instance, after every call in flight.
    fn shutdown(&self) {}
}

/// Runs `f`, catching panics and turning both panics and errors into the ABI shape.
fn guard<T: Serialize>(f: impl FnOnce() -> Result<T, ModuleError>) -> RResult<RString, AbiError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        f().and_then(|value| serde_json::to_string(&value).map_err(ModuleError::from))
    }));
    match result {
        Ok(Ok(json)) => RResult::ROk(RString::from(json)),
        Ok(Err(err)) => RResult::RErr(err.into_abi()),
        Err(payload) => RResult::RErr(panic_error(&*payload).into_abi()),
    }
}

fn panic_error(payload: &(dyn Any + Send)) -> ModuleError {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    };
    ModuleError::new(ErrorKind::Panicked, format!("module panicked: {what}"))
}

fn decode<T: DeserializeOwned>(call: &str, request: RStr<'_>) -> Result<T, ModuleError> {
    serde_json::from_str(request.as_str()).map_err(|e| {
        ModuleError::permanent(format!("the host sent a malformed {call} request: {e}"))
    })
}

/// Adapts a [`Module`] to the ABI's `ProcessingModule` trait.
#[doc(hidden)]
pub struct Adapter<M>(M);

impl<M: Module> ProcessingModule for Adapter<M> {
    fn test_connection(&self, _request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.test_connection())
    }
    fn create(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.create(decode("create", request)?))
    }
    fn suspend(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.suspend(decode("suspend", request)?))
    }
    fn unsuspend(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.unsuspend(decode("unsuspend", request)?))
    }
    fn terminate(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.terminate(decode("terminate", request)?))
    }
    fn change_plan(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.change_plan(decode("change_plan", request)?))
    }
    fn renew(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.renew(decode("renew", request)?))
    }
    fn usage(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.usage(decode("usage", request)?))
    }
    fn sso(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.sso(decode("sso", request)?))
    }
    fn list_accounts(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.list_accounts(decode("list_accounts", request)?))
    }
    fn client_area(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.client_area(decode("client_area", request)?))
    }
    fn admin_actions(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.admin_actions(decode("admin_actions", request)?))
    }
    fn run_action(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.run_action(decode("run_action", request)?))
    }
    fn shutdown(&self) {
        // A panic here must not cross the boundary either; there is nobody to tell.
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.shutdown()));
    }
    fn daily(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        guard(|| self.0.daily(decode("daily", request)?))
    }
}

extern "C" fn manifest_entry<M: Module>() -> RResult<RString, AbiError> {
    guard(|| {
        let mut manifest = M::manifest();
        manifest.api_version = crate::API_VERSION.to_string();
        // Presets travel in the manifest's JSON beside its fields, so the manifest
        // struct (and every module that builds one) stays as it is.
        let presets = M::presets();
        let mut json = serde_json::to_value(&manifest)?;
        if let (false, Some(map)) = (presets.is_empty(), json.as_object_mut()) {
            map.insert(PRESETS_KEY.to_string(), serde_json::to_value(presets)?);
        }
        Ok(json)
    })
}

extern "C" fn instantiate_entry<M: Module>(
    host: HostServicesBox,
    settings_json: RStr<'_>,
) -> RResult<ProcessingModuleBox, AbiError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let settings: M::Settings = serde_json::from_str(settings_json.as_str()).map_err(|e| {
            ModuleError::invalid_config(format!("the handler settings do not fit this module: {e}"))
        })?;
        M::new(Host::from_abi(host), settings)
    }));
    match result {
        Ok(Ok(module)) => RResult::ROk(ProcessingModule_TO::from_value(Adapter(module), TD_Opaque)),
        Ok(Err(err)) => RResult::RErr(err.into_abi()),
        Err(payload) => RResult::RErr(panic_error(&*payload).into_abi()),
    }
}

/// Builds the root module for `M` (called once, by the library header `export_module!`
/// declares).
#[doc(hidden)]
pub fn root_module<M: Module>() -> ModuleRoot_Ref {
    ModuleRoot {
        manifest: manifest_entry::<M>,
        instantiate: instantiate_entry::<M>,
    }
    .leak_into_prefix()
}

/// Exports a [`Module`] implementation as a Provisor processing module. Write it once,
/// at the root of a `cdylib` crate:
///
/// ```no_run
/// # use provisor_module_api::*;
/// # pub struct MyModule;
/// # impl Module for MyModule {
/// #     type Settings = serde_json::Value;
/// #     fn manifest() -> Manifest {
/// #         Manifest { name: "my-module".into(), version: "1.0.0".into(), api_version: String::new(),
/// #             description: String::new(), capabilities: vec![], settings_schema: empty_object_schema(),
/// #             plan_schema: empty_object_schema() }
/// #     }
/// #     fn new(_: Host, _: serde_json::Value) -> Result<Self, ModuleError> { Ok(MyModule) }
/// # }
/// provisor_module_api::export_module!(MyModule);
/// ```
///
/// It declares the library header `abi_stable` looks for; every entry point catches
/// panics and turns them into errors of kind `Panicked`.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        #[doc(hidden)]
        #[allow(unsafe_code, non_upper_case_globals)]
        // The symbol name abi_stable 0.11 looks up (`ROOT_MODULE_LOADER_NAME`); a unit
        // test in provisor-module-api pins it.
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __PROVISOR_MODULE_HEADER: $crate::__private::LibHeader = {
            extern "C" fn __provisor_root_module() -> $crate::__private::RootModuleResult {
                $crate::__private::call_root_module_loader(
                    $crate::__private::root_module::<$module>,
                )
            }
            // SAFETY: the constructor returns the `ModuleRoot_Ref` this header is
            // declared for, as `from_constructor` requires.
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::abi::ModuleRoot_Ref>(
                    __provisor_root_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn exported_symbol_is_the_one_abi_stable_looks_up() {
        assert_eq!(
            "_1as_0lib_1header_0root_bmodule_bloader",
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
