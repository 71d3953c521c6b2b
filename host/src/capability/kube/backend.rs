//! The Kubernetes API as the `kube` host functions need it.

use async_trait::async_trait;
use serde_json::Value;
use wasmvisor_manifest::ResourceScope;

use crate::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

/// Where a read is served from (the WIT `read-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSource {
    /// A watch cache where the backend has one.
    Cache,
    /// The API server.
    Server,
}

/// A failed Kubernetes call, classified as the plugin will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: stale resourceVersion or a field-ownership conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 400/422: the request itself is wrong.
    #[error("invalid: {0}")]
    Invalid(String),
    /// 403 from the API server: the host's own credentials lack a right.
    #[error("the API server refused the host: {0}")]
    Refused(String),
    /// The cluster is unknown, unreachable, throttling or failing.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
}

/// A Kubernetes API for several clusters, addressed by cluster name.
#[async_trait]
pub trait KubeBackend: Send + Sync {
    /// Where objects of `api_version`/`kind` live in `cluster`, as its
    /// discovery says: the scope the other methods will address, and so the
    /// scope a call's grant check judges.
    async fn scope(&self, cluster: &str, api_version: &str, kind: &str) -> Result<ResourceScope, KubeError>;

    /// Reads one object.
    async fn get(&self, target: &ObjectRef, source: ReadSource) -> Result<Value, KubeError>;

    /// Lists objects of one kind, filtered by labels.
    async fn list(
        &self,
        kinds: &KindScope,
        selector: Option<&LabelSelector>,
        source: ReadSource,
    ) -> Result<Vec<Value>, KubeError>;

    /// Server-side apply of `object` (identified by `target`) with
    /// `field_manager`; `status` applies through the status subresource;
    /// `force` takes fields other managers own instead of failing with a
    /// [`KubeError::Conflict`] that names them.
    async fn apply(
        &self,
        target: &ObjectRef,
        object: &Value,
        field_manager: &str,
        status: bool,
        force: bool,
    ) -> Result<Value, KubeError>;

    /// Deletes one object; an absent object is not an error.
    async fn delete(&self, target: &ObjectRef) -> Result<(), KubeError>;
}

/// Classifies a kube-rs error as the plugin will see it.
pub fn classify(error: kube::Error) -> KubeError {
    match error {
        kube::Error::Api(status) => {
            let message = status.message.clone();
            match status.code {
                404 => KubeError::NotFound(message),
                409 => KubeError::Conflict(message),
                400 | 422 => KubeError::Invalid(message),
                401 | 403 => KubeError::Refused(message),
                429 | 500..=599 => KubeError::Unavailable(message),
                _ => KubeError::Internal(format!("{} {message}", status.code)),
            }
        }
        kube::Error::SerdeError(e) => KubeError::Internal(format!("decoding the API server's answer: {e}")),
        other => KubeError::Unavailable(other.to_string()),
    }
}
