//! The host's error type. Every message names the object, the reason and, where one
//! exists, the fix; `kind()` lets callers (and the CLI's exit code) act on it.
//!
//! A refusal that names an input or a next step is an [`Error::Refused`]: its
//! [`Message`] holds the field (by its neutral name) and the [`Fix`] as data, so the
//! CLI can say `--amount` and the command to run while the HTTP API answers a problem
//! document naming `amount` in its `errors`, with its own hint. The other variants are plain
//! text, which every front end shows as it is.

use provisor_module_api::ModuleError;

pub use crate::fix::{Fix, Listing};
pub use crate::message::{Message, Name, Plain, Voice};

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
    /// The request clashes with the state things are in (a request with the same
    /// idempotency key still running): try again later, or change the request.
    Conflict,
    /// No credential, or one that is wrong, expired, ended or revoked: log in again.
    Unauthenticated,
    /// The credential is good but may not do this.
    Forbidden,
    /// Too many attempts: wait until the time the message names.
    RateLimited,
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
    /// A refusal whose message names an input field or a next step (mostly bad input
    /// or something not found, by `kind`), for each front end to word its own way.
    #[error("{message}")]
    Refused {
        /// What the caller can do about it.
        kind: ErrorKind,
        /// What is wrong, with the field at fault and the fix as data.
        message: Message,
    },
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
            Error::Refused { kind, .. } => *kind,
            Error::Module { .. } => ErrorKind::Module,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// Bad input, told by a message that may name the field and the fix.
    pub fn invalid(message: impl Into<Message>) -> Error {
        Error::refused(ErrorKind::Invalid, message)
    }

    /// Something not found, told by a message that may name the fix.
    pub fn not_found(message: impl Into<Message>) -> Error {
        Error::refused(ErrorKind::NotFound, message)
    }

    /// A clash with the state things are in, told by a message that may name the field.
    pub fn conflict(message: impl Into<Message>) -> Error {
        Error::refused(ErrorKind::Conflict, message)
    }

    /// Something not found, and the listing that shows what there is: "no client x;
    /// see the list of clients".
    pub fn not_found_in(what: impl Into<String>, listing: Listing) -> Error {
        Error::not_found(Message::new(what).text("; ").fix(Fix::See { listing }))
    }

    /// An error of `kind` told by `message`.
    pub fn refused(kind: ErrorKind, message: impl Into<Message>) -> Error {
        Error::Refused {
            kind,
            message: message.into(),
        }
    }

    /// The error's message, with its field and fix when it has them.
    pub fn into_message(self) -> Message {
        match self {
            Error::Refused { message, .. } => message,
            other => Message::new(other.to_string()),
        }
    }

    /// The input at fault, by its neutral name, when the message names one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Refused { message, .. } => message.field_at_fault(),
            _ => None,
        }
    }

    /// The message in a front end's words (its fields and fixes as that front end says
    /// them; other errors as they are).
    pub fn render(&self, voice: &dyn Voice) -> String {
        match self {
            Error::Refused { message, .. } => message.render(voice),
            other => other.to_string(),
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
