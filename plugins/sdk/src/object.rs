//! Kubernetes objects as plugins see them: typed where you want, JSON where
//! you don't.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bindings::wasmvisor::plugin::types;

/// One object in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Cluster name in the host configuration.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn namespaced(cluster: &str, api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            cluster: cluster.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster_scoped(cluster: &str, api_version: &str, kind: &str, name: &str) -> Self {
        Self {
            cluster: cluster.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl From<types::ObjectRef> for ObjectRef {
    fn from(r: types::ObjectRef) -> Self {
        Self {
            cluster: r.cluster,
            api_version: r.api_version,
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
        }
    }
}

impl From<&ObjectRef> for types::ObjectRef {
    fn from(r: &ObjectRef) -> Self {
        Self {
            cluster: r.cluster.clone(),
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }
}

/// A collection of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KindRef {
    /// Cluster name.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// One namespace, or all.
    pub namespace: Option<String>,
}

impl From<&KindRef> for types::KindRef {
    fn from(r: &KindRef) -> Self {
        Self {
            cluster: r.cluster.clone(),
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
        }
    }
}

/// An owner reference (`metadata.ownerReferences[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// Owner's apiVersion.
    pub api_version: String,
    /// Owner's kind.
    pub kind: String,
    /// Owner's name.
    pub name: String,
    /// Owner's uid.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether foreground deletion of the owner waits for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// The metadata fields plugins use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// UID (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Spec generation (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Resource version (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Owners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Finalizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Set when deletion was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// When the object was created (set by the server; RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

impl ObjectMeta {
    /// The owner reference marked `controller: true`, if any.
    pub fn controller_owner(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|o| o.controller == Some(true))
    }
}

/// An object with typed spec and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<Spec, Status> {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec (absent fields take `Spec::default()`).
    #[serde(default)]
    pub spec: Spec,
    /// Status, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl<Spec, Status> Object<Spec, Status> {
    /// This object's identity in `cluster`.
    pub fn object_ref(&self, cluster: &str) -> ObjectRef {
        ObjectRef {
            cluster: cluster.to_owned(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// An owner reference to this object, to put on what it owns. `None`
    /// until the server has given the object a uid.
    pub fn owner_reference(&self, controller: bool) -> Option<OwnerReference> {
        Some(OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.metadata.name.clone(),
            uid: self.metadata.uid.clone()?,
            controller: controller.then_some(true),
            block_owner_deletion: controller.then_some(true),
        })
    }

    /// Whether deletion was requested.
    pub fn is_being_deleted(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

/// An object with untyped spec and status.
pub type DynamicObject = Object<serde_json::Value, serde_json::Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_reference_needs_a_uid() {
        let mut o: DynamicObject =
            serde_json::from_str(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#)
                .unwrap();
        assert_eq!(o.owner_reference(true), None);
        o.metadata.uid = Some("u1".into());
        let r = o.owner_reference(true).unwrap();
        assert_eq!((r.kind.as_str(), r.uid.as_str(), r.controller), ("Namespace", "u1", Some(true)));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["blockOwnerDeletion"], true);
        assert_eq!(json["apiVersion"], "v1");
    }

    #[test]
    fn missing_spec_defaults() {
        let o: Object<BTreeMap<String, String>, ()> =
            serde_json::from_str(r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"}}"#).unwrap();
        assert!(o.spec.is_empty());
        assert!(!o.is_being_deleted());
    }
}
