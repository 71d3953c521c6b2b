//! The one place where a failed host call becomes either a WIT `error` the
//! plugin can handle or a trap that ends the call.
//!
//! A denial and an upstream failure go back to the plugin; a blown budget or
//! an oversized request traps, because a plugin that ignored the error could
//! otherwise keep going past its limits.

use std::fmt;

use wasmvisor_manifest::ByteSize;

use crate::runtime::bindings::wasmvisor::plugin::types::Error as WitError;
use crate::runtime::dispatch::ErrorKind;

/// A limit that ends the call when hit (surfaced as a trap and then as a
/// typed reconcile failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// More host calls than `limits.host-calls`.
    #[error("exceeded its budget of {limit} host calls per call")]
    HostCalls {
        /// The budget.
        limit: u32,
    },
    /// A request body over the operator's cap.
    #[error("sent a {what} body of {} (cap {})", ByteSize(*size as u64), ByteSize(*limit as u64))]
    Output {
        /// Which call.
        what: &'static str,
        /// Bytes sent.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Linear memory beyond `limits.memory`.
    #[error("tried to grow its memory to {} (limit {})", ByteSize(*wanted as u64), ByteSize(*limit as u64))]
    Memory {
        /// Bytes asked for.
        wanted: usize,
        /// The limit.
        limit: usize,
    },
}

/// How a host call failed.
#[derive(Debug)]
pub enum HostCallError {
    /// Outside the plugin's capabilities: `forbidden` for the plugin.
    Denied(String),
    /// The backend failed: the WIT error for the plugin.
    Failed(WitError),
    /// A limit was hit: trap.
    Limit(LimitExceeded),
}

impl fmt::Display for HostCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCallError::Denied(what) => write!(f, "denied: {what}"),
            HostCallError::Failed(e) => write!(f, "{e:?}"),
            HostCallError::Limit(l) => write!(f, "{l}"),
        }
    }
}

impl HostCallError {
    /// An error a stand-in answered (replay, shadow), exactly as the plugin
    /// got it when recorded.
    pub(crate) fn answered(kind: ErrorKind, message: String) -> Self {
        HostCallError::Failed(match kind {
            ErrorKind::Forbidden => WitError::Forbidden(message),
            ErrorKind::NotFound => WitError::NotFound(message),
            ErrorKind::Conflict => WitError::Conflict(message),
            ErrorKind::Invalid => WitError::Invalid(message),
            ErrorKind::Unavailable => WitError::Unavailable(message),
            ErrorKind::Internal => WitError::Internal(message),
        })
    }
}

/// The decision: WIT error or trap.
pub(crate) fn convert(err: HostCallError) -> wasmtime::Result<WitError> {
    match err {
        HostCallError::Denied(what) => Ok(WitError::Forbidden(what)),
        HostCallError::Failed(e) => Ok(e),
        HostCallError::Limit(limit) => Err(wasmtime::Error::new(limit)),
    }
}
