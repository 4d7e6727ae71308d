//! The raw, versioned ABI between the host and a processing module.
//!
//! Everything that crosses the boundary is declared in this one file: two prefix
//! types (the root module and the two trait-object vtables), one error struct, and
//! JSON text. Module authors never touch these types directly; the SDK in the rest of
//! this crate wraps them. Host authors use them through `provisor`'s registry.
//!
//! # Rules for changing this file
//!
//! * Only the crate's **major** version gates loading (`abi_stable` checks it together
//!   with a recursive comparison of every type's layout).
//! * New capabilities are **appended** after the field or method marked
//!   `#[sabi(last_prefix_field)]`, and every appended trait method has a default body:
//!   when a module built against an older copy of this file lacks the method, the
//!   host's call runs that default (which answers `NotSupported`).
//! * Never rename, reorder or retype a field or a method. `Decimal` has no stable
//!   layout: money travels as canonical decimal text inside the JSON.
//!
//! `daily` (on `ProcessingModule`) and `kv_swap` (on `HostServices`) are appended
//! methods. For `daily`: a module built before it existed (the
//! `tests/fixtures/abi/v1-frozen` copy of this file stops before it) still loads, and
//! the host sees `NotSupported` when it asks for the daily run.

#![allow(missing_docs, non_camel_case_types, non_local_definitions)]
// generated `_TO`/`_Ref` items
// `#[sabi_trait]` and `#[derive(StableAbi)]` expand to unsafe trait impls and unsafe
// vtable calls; this file holds no hand-written unsafe code.
#![allow(unsafe_code)]
// The same expansions bind `_self`-style arguments, cast vtable pointers and implement
// Clone by hand on Copy types: clippy's pedantic lints on them are about generated code.
#![allow(
    clippy::used_underscore_binding,
    clippy::cast_ptr_alignment,
    clippy::expl_impl_clone_on_copy
)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString},
    StableAbi,
};

/// The error half of every fallible call across the boundary.
///
/// `kind` is one of the `KIND_*` constants below; a host that meets a kind it does not
/// know treats it as [`KIND_PERMANENT`], so kinds can be added in minor versions.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiError {
    /// One of the `KIND_*` constants.
    pub kind: u32,
    /// One line, for people: what failed and, where known, the fix.
    pub message: RString,
    /// The remote system's own words (status line, error body), if any.
    pub detail: ROption<RString>,
}

/// Try again later: a timeout, a 5xx, a rate limit, a dropped connection.
pub const KIND_TRANSIENT: u32 = 1;
/// Retrying will not help: a person must look (the host opens a task at once).
pub const KIND_PERMANENT: u32 = 2;
/// The handler's or plan's settings are wrong (bad credentials, unknown template).
pub const KIND_INVALID_CONFIG: u32 = 3;
/// The module does not implement this call.
pub const KIND_NOT_SUPPORTED: u32 = 4;
/// The module panicked; the SDK caught it at the boundary.
pub const KIND_PANICKED: u32 = 5;

/// Services the host lends to a module instance: logging, the clock, a key-value store
/// scoped to the handler, and HTTP performed (and recorded) by the host.
///
/// Every call is synchronous; the host runs module calls on blocking threads.
#[sabi_trait]
pub trait HostServices: Send + Sync {
    /// Writes a log line: `level` 1 = error, 2 = warn, 3 = info, 4 = debug, 5 = trace;
    /// `fields_json` is a JSON object (or empty).
    fn log(&self, level: u8, message: RStr<'_>, fields_json: RStr<'_>);

    /// The host clock as RFC 3339 UTC text. Billing and renewals run for any date, so a
    /// module never reads the system clock itself.
    fn now(&self) -> RString;

    /// Reads a value from the handler-scoped key-value store.
    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RString>, AbiError>;

    /// Writes a value to the handler-scoped key-value store (durably, before returning).
    fn kv_put(&self, key: RStr<'_>, value: RStr<'_>) -> RResult<(), AbiError>;

    /// Removes a key from the handler-scoped key-value store; a missing key is fine.
    fn kv_delete(&self, key: RStr<'_>) -> RResult<(), AbiError>;

    /// Lists keys that start with `prefix` as a JSON object `{key: value}`.
    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RString, AbiError>;

    /// Performs an HTTP request described by JSON (see the SDK's `HttpRequest`) and
    /// returns the response as JSON (`HttpResponse`). Transport failures are errors of
    /// kind transient; any HTTP status, even 500, is a response.
    #[sabi(last_prefix_field)]
    fn http(&self, request_json: RStr<'_>) -> RResult<RString, AbiError>;

    /// Atomic compare-and-swap in the handler-scoped key-value store: when the key's
    /// value is `expected` (`RNone`: the key is absent), it becomes `new` (`RNone`: the
    /// key is removed) and the answer is `true`; otherwise nothing changes and the
    /// answer is `false`. Appended after 1.0's prefix: a host without it answers
    /// `NotSupported` through this default body.
    fn kv_swap(
        &self,
        key: RStr<'_>,
        expected: ROption<RStr<'_>>,
        new: ROption<RStr<'_>>,
    ) -> RResult<bool, AbiError> {
        let _ = (key, expected, new);
        RResult::RErr(AbiError {
            kind: KIND_NOT_SUPPORTED,
            message: RString::from("this host has no key-value compare-and-swap: upgrade provisor"),
            detail: ROption::RNone,
        })
    }
}

/// The boxed host-services object handed to [`ModuleRoot::instantiate`].
pub type HostServicesBox = HostServices_TO<'static, RBox<()>>;

/// A configured instance of a module: one per handler. Every call takes JSON text and
/// answers JSON text or an [`AbiError`].
#[sabi_trait]
pub trait ProcessingModule: Send + Sync {
    /// Checks that the handler's settings reach the remote panel.
    fn test_connection(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Creates the remote account/license for a service.
    fn create(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Suspends a service; already suspended is success.
    fn suspend(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Resumes a suspended service; already active is success.
    fn unsuspend(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Terminates a service; already gone is success.
    fn terminate(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Moves a service to another plan or set of resources.
    fn change_plan(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Extends a service's remote term (licenses).
    fn renew(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Reports metered usage of a service for a period.
    fn usage(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Mints a single-sign-on link for the client or an admin.
    fn sso(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Lists existing remote accounts, one page at a time (import and sync).
    fn list_accounts(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// A small structured panel the host renders in the client area.
    fn client_area(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Custom buttons an admin may press for a service.
    fn admin_actions(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Runs one of the custom admin actions.
    fn run_action(&self, request: RStr<'_>) -> RResult<RString, AbiError>;
    /// Called once when the host retires this instance (upgrade, settings change,
    /// shutdown) after every call in flight has returned.
    #[sabi(last_prefix_field)]
    fn shutdown(&self);

    /// The daily run for a date (renewals, expiry, pools). Appended after 1.0's prefix:
    /// modules built without it answer `NotSupported` through this default body.
    fn daily(&self, request: RStr<'_>) -> RResult<RString, AbiError> {
        let _ = request;
        RResult::RErr(AbiError {
            kind: KIND_NOT_SUPPORTED,
            message: RString::from("this module was built without the daily run"),
            detail: ROption::RNone,
        })
    }
}

/// The boxed module instance returned by [`ModuleRoot::instantiate`].
pub type ProcessingModuleBox = ProcessingModule_TO<'static, RBox<()>>;

/// The root module every processing module exports (through the SDK's
/// `export_module!`).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ModuleRoot_Ref)))]
pub struct ModuleRoot {
    /// The module's manifest as JSON (see the SDK's `Manifest`).
    pub manifest: extern "C" fn() -> RResult<RString, AbiError>,
    /// Builds an instance for one handler from its settings JSON (already validated
    /// against the manifest's schema by the host).
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(
        host: HostServicesBox,
        settings_json: RStr<'_>,
    ) -> RResult<ProcessingModuleBox, AbiError>,
}

impl RootModule for ModuleRoot_Ref {
    declare_root_module_statics! {ModuleRoot_Ref}
    const BASE_NAME: &'static str = "provisor_module";
    const NAME: &'static str = "provisor processing module";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
