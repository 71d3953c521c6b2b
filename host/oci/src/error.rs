//! Why a registry operation failed, one variant per thing an operator fixes
//! differently.

/// An OCI registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error(
        "{reference:?} is not an OCI reference ({reason}); write REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST"
    )]
    InvalidReference {
        /// What was given.
        reference: String,
        /// The parser's reason.
        reason: String,
    },
    /// The docker config file could not be used.
    #[error("registry credentials in {path}: {message}")]
    Credentials {
        /// The docker config file.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The registry did not answer.
    #[error("registry {registry} is unreachable: {detail}")]
    Unreachable {
        /// The registry host.
        registry: String,
        /// The transport error.
        detail: String,
    },
    /// The registry refused our credentials.
    #[error(
        "registry {registry} refused access to {reference}: {detail}; log in (docker config) or pass --username/--password"
    )]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The reference.
        reference: String,
        /// The registry's message.
        detail: String,
    },
    /// Nothing at that reference.
    #[error("{reference} not found in the registry: {detail}")]
    NotFound {
        /// The reference.
        reference: String,
        /// The registry's message.
        detail: String,
    },
    /// Bytes did not hash to the digest that named them.
    #[error("digest mismatch for {what} of {reference}: expected {expected}, got {actual}; refusing it")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// `manifest`, `component layer`, `cached component`, …
        what: String,
        /// The digest that named the content.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The artifact is not a wasmvisor plugin.
    #[error("{reference} is not a wasmvisor plugin artifact: {reason}")]
    NotAPlugin {
        /// The reference (or file).
        reference: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// Any other registry answer.
    #[error("registry operation on {reference} failed: {detail}")]
    Registry {
        /// The reference.
        reference: String,
        /// The client's message.
        detail: String,
    },
}

impl OciError {
    /// Sorts an `oci-client` error into the variants above.
    pub(crate) fn from_client(
        reference: &str,
        registry: &str,
        error: oci_client::errors::OciDistributionError,
    ) -> Self {
        use oci_client::errors::{DigestError, OciDistributionError as E, OciErrorCode};
        let detail = error.to_string();
        match error {
            E::RequestError(e) if e.is_connect() || e.is_timeout() => {
                Self::Unreachable { registry: registry.to_owned(), detail: chain(&e) }
            }
            E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => {
                Self::Unauthorized { registry: registry.to_owned(), reference: reference.to_owned(), detail }
            }
            E::ImageManifestNotFoundError(_) => Self::NotFound { reference: reference.to_owned(), detail },
            E::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                Self::NotFound { reference: reference.to_owned(), detail }
            }
            E::RegistryError { ref envelope, .. }
                if envelope
                    .errors
                    .iter()
                    .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) =>
            {
                Self::Unauthorized { registry: registry.to_owned(), reference: reference.to_owned(), detail }
            }
            E::DigestError(DigestError::VerificationError { expected, actual }) => Self::DigestMismatch {
                reference: reference.to_owned(),
                what: "content".into(),
                expected,
                actual,
            },
            E::ServerError { code: 404, .. } => Self::NotFound { reference: reference.to_owned(), detail },
            E::ServerError { code: 401 | 403, .. } => {
                Self::Unauthorized { registry: registry.to_owned(), reference: reference.to_owned(), detail }
            }
            _ => Self::Registry { reference: reference.to_owned(), detail },
        }
    }
}

/// An error with its sources, `a: b: c`, since reqwest hides the cause
/// (connection refused, …) one level down.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
