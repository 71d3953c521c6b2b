//! Identities of Kubernetes objects and kinds as the host passes them around.
//!
//! Parsed once from the WIT records or from object JSON; compared as types.

use std::fmt;

use serde_json::Value;

/// One object in one cluster (the WIT `object-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Cluster name from the host configuration.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

/// A collection of one kind (the WIT `kind-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KindScope {
    /// Cluster name.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// One namespace, or `None` for all.
    pub namespace: Option<String>,
}

/// Why object JSON does not identify an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not a JSON object.
    #[error("object is not valid JSON: {0}")]
    NotJson(String),
    /// A required identity field is missing or not a string.
    #[error("object has no {0} (a string); every object needs apiVersion, kind and metadata.name")]
    Missing(&'static str),
}

impl ObjectRef {
    /// Reads the identity of `object` in `cluster`.
    pub fn of(cluster: &str, object: &Value) -> Result<Self, IdentityError> {
        fn text<'v>(v: Option<&'v Value>, what: &'static str) -> Result<&'v str, IdentityError> {
            v.and_then(Value::as_str).ok_or(IdentityError::Missing(what))
        }
        let metadata = object.get("metadata");
        Ok(Self {
            cluster: cluster.to_owned(),
            api_version: text(object.get("apiVersion"), "apiVersion")?.to_owned(),
            kind: text(object.get("kind"), "kind")?.to_owned(),
            namespace: metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_owned),
            name: text(metadata.and_then(|m| m.get("name")), "metadata.name")?.to_owned(),
        })
    }

    /// Whether `object` has this identity's kind, namespace and name.
    pub fn describes(&self, object: &Value) -> bool {
        ObjectRef::of(&self.cluster, object).is_ok_and(|other| &other == self)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/", self.cluster, self.api_version, self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_from_json() {
        let obj =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"}});
        let r = ObjectRef::of("default", &obj).unwrap();
        assert_eq!(r.to_string(), "default/v1/ConfigMap/ns/a");
        assert!(r.describes(&obj));
        let missing = json!({"apiVersion": "v1", "metadata": {"name": "a"}});
        assert_eq!(ObjectRef::of("default", &missing), Err(IdentityError::Missing("kind")));
    }
}
