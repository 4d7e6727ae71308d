//! The host's error type. Every message names the object, the reason and, where one
//! exists, the fix; `kind()` lets callers (and the CLI's exit code) act on it.

use provisor_module_api::ModuleError;

/// What went wrong, by what a caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input was wrong (unknown id, bad settings, bad file): fix the input.
    Invalid,
    /// The thing asked for does not exist.
    NotFound,
    /// A module refused or failed the call.
    Module,
    /// The database failed.
    Storage,
    /// The filesystem or another process failed.
    Io,
}

/// The host's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Something asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A module call failed.
    #[error("{context}: {source}")]
    Module {
        /// What was being done (`handler cs-1: create for service #4`).
        context: String,
        /// The module's error.
        source: ModuleError,
    },
    /// A database failure.
    #[error("{0}")]
    Storage(String),
    /// A filesystem or process failure.
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Module { .. } => ErrorKind::Module,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// An I/O error about a path.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "consumes the source error like a `From` conversion: `map_err(|e| Error::io(what, e))`"
    )]
    pub fn io(what: impl std::fmt::Display, err: std::io::Error) -> Error {
        Error::Io(format!("{what}: {err}"))
    }
}

/// The host's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
