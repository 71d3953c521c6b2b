//! What a served resource is: its names, scope, subresources and the strategy that checks
//! its objects ([`Resource`]), for built-in kinds ([`BuiltinKind`]) and CRD versions alike.
//!
//! A leaf of the crate: [`crate::builtin`] and [`crate::crd`] build these descriptions,
//! [`crate::registry`] serves them, and every request stage reads them. Invariant: this
//! module depends on no other module of the crate, so those three never depend on each
//! other through it. The per-kind behaviour of a [`BuiltinKind`] (defaulting, validation,
//! field labels) lives in [`crate::builtin`].

use std::sync::Arc;

use serde_json::Value;

/// One printer column of a Table response.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header text.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `date`, ...).
    pub kind: String,
    /// JSONPath into the object, e.g. `.spec.replicas`.
    pub json_path: String,
    /// Help text.
    pub description: String,
    /// 0 shows always, higher only with `-o wide`.
    pub priority: i64,
}

/// How objects of a custom resource version are checked and shown.
#[derive(Debug, Clone, Default)]
pub struct CustomVersion {
    /// The version's `openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns`.
    pub columns: Vec<Column>,
}

/// Per-kind behaviour: which strategy validates and prepares objects.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// A kind compiled into the server.
    Builtin(BuiltinKind),
    /// A kind served from a CRD.
    Custom(Arc<CustomVersion>),
}

/// A resource served at one group/version.
#[derive(Debug, Clone)]
pub struct Resource {
    /// API group, empty for core.
    pub group: String,
    /// The served version this entry is for.
    pub version: String,
    /// The version objects are stored at (CRDs); objects are rewritten to `version` on read.
    pub storage_version: String,
    /// Kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular resource name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`cm`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether the kind has a `/status` subresource.
    pub status_subresource: bool,
    /// Validation and preparation rules.
    pub strategy: Strategy,
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The storage key prefix shared by all versions: `group/plural` (or the prefix of the
    /// kind it shares storage with, for events.k8s.io Events).
    pub fn storage_resource(&self) -> String {
        if let Strategy::Builtin(kind) = &self.strategy
            && let Some(shared) = kind.shared_storage()
        {
            return shared.to_owned();
        }
        format!("{}/{}", self.group, self.plural)
    }

    /// The verbs discovery announces.
    pub fn verbs(&self) -> &'static [&'static str] {
        match self.strategy {
            Strategy::Builtin(
                BuiltinKind::SelfSubjectAccessReview
                | BuiltinKind::SelfSubjectRulesReview
                | BuiltinKind::SelfSubjectReview,
            ) => &["create"],
            _ => &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.strategy, Strategy::Custom(_))
    }
}

/// A kind compiled into the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 Service.
    Service,
    /// core/v1 Node (cluster-scoped; what a kubelet registers and keeps in `status`).
    Node,
    /// core/v1 Secret.
    Secret,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// apps/v1 Deployment (stored and validated; nothing runs it).
    Deployment,
    /// core/v1 Event.
    CoreEvent,
    /// events.k8s.io/v1 Event.
    Event,
    /// core/v1 Endpoints.
    Endpoints,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice,
    /// coordination.k8s.io/v1 Lease.
    Lease,
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    CustomResourceDefinition,
    /// core/v1 ServiceAccount (tokens through its `token` subresource).
    ServiceAccount,
    /// rbac.authorization.k8s.io/v1 Role.
    Role,
    /// rbac.authorization.k8s.io/v1 ClusterRole.
    ClusterRole,
    /// rbac.authorization.k8s.io/v1 RoleBinding.
    RoleBinding,
    /// rbac.authorization.k8s.io/v1 ClusterRoleBinding.
    ClusterRoleBinding,
    /// authorization.k8s.io/v1 SelfSubjectAccessReview (create only, never stored).
    SelfSubjectAccessReview,
    /// authorization.k8s.io/v1 SelfSubjectRulesReview (create only, never stored).
    SelfSubjectRulesReview,
    /// authentication.k8s.io/v1 SelfSubjectReview (create only, never stored).
    SelfSubjectReview,
}

impl BuiltinKind {
    /// The storage key prefix when this kind shares storage with another API's kind.
    pub fn shared_storage(self) -> Option<&'static str> {
        match self {
            BuiltinKind::Event => Some("/events"),
            _ => None,
        }
    }
}
