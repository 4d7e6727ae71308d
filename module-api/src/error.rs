//! [`ModuleError`]: what a module answers when a call fails, and what the host does
//! about it.

use std::fmt;

use abi_stable::std_types::{ROption, RString};
use serde::{Deserialize, Serialize};

use crate::abi::{self, AbiError};

/// How the host should react to a failure. The host, never the module, decides
/// retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Try again later (timeouts, 5xx, 429, dropped connections).
    Transient,
    /// Retrying will not help; a person must act.
    Permanent,
    /// The handler's or plan's settings are wrong.
    InvalidConfig,
    /// The module does not implement the call.
    NotSupported,
    /// The module panicked and the SDK caught it.
    Panicked,
}

impl ErrorKind {
    /// The wire code of this kind.
    pub fn code(self) -> u32 {
        match self {
            ErrorKind::Transient => abi::KIND_TRANSIENT,
            ErrorKind::Permanent => abi::KIND_PERMANENT,
            ErrorKind::InvalidConfig => abi::KIND_INVALID_CONFIG,
            ErrorKind::NotSupported => abi::KIND_NOT_SUPPORTED,
            ErrorKind::Panicked => abi::KIND_PANICKED,
        }
    }

    /// The kind of a wire code; unknown codes (from a newer module) are `Permanent`.
    pub fn from_code(code: u32) -> Self {
        match code {
            abi::KIND_TRANSIENT => ErrorKind::Transient,
            abi::KIND_INVALID_CONFIG => ErrorKind::InvalidConfig,
            abi::KIND_NOT_SUPPORTED => ErrorKind::NotSupported,
            abi::KIND_PANICKED => ErrorKind::Panicked,
            _ => ErrorKind::Permanent,
        }
    }

    /// The `snake_case` name shown to admins.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::NotSupported => "not_supported",
            ErrorKind::Panicked => "panicked",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed module call: a kind the host acts on, a message for people and,
/// optionally, the remote system's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleError {
    /// What the host should do about it.
    pub kind: ErrorKind,
    /// One line: what failed and, where known, the fix.
    pub message: String,
    /// The remote system's answer (status, body), if any.
    pub detail: Option<String>,
}

impl ModuleError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ModuleError {
            kind,
            message: message.into(),
            detail: None,
        }
    }
    /// Try again later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    /// A person must act.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }
    /// The settings are wrong.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }
    /// The call is not implemented.
    pub fn not_supported(call: &str) -> Self {
        Self::new(
            ErrorKind::NotSupported,
            format!("this module does not support {call}"),
        )
    }
    /// Attaches the remote system's words.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Converts to the ABI struct.
    pub fn into_abi(self) -> AbiError {
        AbiError {
            kind: self.kind.code(),
            message: RString::from(self.message),
            detail: match self.detail {
                Some(d) => ROption::RSome(RString::from(d)),
                None => ROption::RNone,
            },
        }
    }

    /// Converts from the ABI struct.
    pub fn from_abi(err: AbiError) -> Self {
        ModuleError {
            kind: ErrorKind::from_code(err.kind),
            message: err.message.into_string(),
            detail: err.detail.into_option().map(RString::into_string),
        }
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (remote said: {detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModuleError {}

impl From<serde_json::Error> for ModuleError {
    fn from(err: serde_json::Error) -> Self {
        ModuleError::permanent(format!("malformed JSON: {err}"))
    }
}
