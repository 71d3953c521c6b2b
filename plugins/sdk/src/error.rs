//! Typed errors, mirroring the WIT `error` variant.

use std::fmt;

use crate::bindings::wasmvisor::plugin::types::Error as WitError;

/// Why a call or a reconcile failed. Branch on the variant, show the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Outside the plugin's grant; the message names the missing capability.
    Forbidden(String),
    /// The object or path does not exist.
    NotFound(String),
    /// Another writer got there first; re-read and retry.
    Conflict(String),
    /// The request is wrong and will stay wrong.
    Invalid(String),
    /// The backend is unreachable or failing; retry later.
    Unavailable(String),
    /// Anything else.
    Internal(String),
}

impl Error {
    /// Whether the host's backoff and a retry can fix it.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict(_) | Error::Unavailable(_) | Error::Internal(_))
    }

    /// Whether this is a `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, message) = match self {
            Error::Forbidden(m) => ("forbidden", m),
            Error::NotFound(m) => ("not found", m),
            Error::Conflict(m) => ("conflict", m),
            Error::Invalid(m) => ("invalid", m),
            Error::Unavailable(m) => ("unavailable", m),
            Error::Internal(m) => ("internal", m),
        };
        write!(f, "{kind}: {message}")
    }
}

impl std::error::Error for Error {}

impl From<WitError> for Error {
    fn from(e: WitError) -> Self {
        match e {
            WitError::Forbidden(m) => Error::Forbidden(m),
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::Conflict(m) => Error::Conflict(m),
            WitError::Invalid(m) => Error::Invalid(m),
            WitError::Unavailable(m) => Error::Unavailable(m),
            WitError::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<Error> for WitError {
    fn from(e: Error) -> Self {
        match e {
            Error::Forbidden(m) => WitError::Forbidden(m),
            Error::NotFound(m) => WitError::NotFound(m),
            Error::Conflict(m) => WitError::Conflict(m),
            Error::Invalid(m) => WitError::Invalid(m),
            Error::Unavailable(m) => WitError::Unavailable(m),
            Error::Internal(m) => WitError::Internal(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(format!("JSON: {e}"))
    }
}
