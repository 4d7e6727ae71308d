#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod abi;
mod error;
mod host;
mod module;
mod types;

pub use error::{ErrorKind, ModuleError};
pub use host::{base64, form_encode, url_encode, Host, HttpRequest, HttpResponse, Level};
pub use module::Module;
pub use serde_json;
pub use types::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version of this interface crate, recorded in every module's manifest.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `export_module!` expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::module::{root_module, Adapter};
    pub use abi_stable::library::{
        __call_root_module_loader as call_root_module_loader, CheckTypeLayout, LibHeader,
        RootModuleResult,
    };
}
