//! Related kinds: a change to one object re-queues the reconciled objects it
//! is related to by something other than a controller reference.
//!
//! This is controller-runtime's `Watches(kind, EnqueueRequestsFromMapFunc(f))`
//! with the map function declared instead of coded, so the host can run it
//! without calling into the plugin: a VirtualMachine's new IP re-queues the
//! VirtualMachineServices whose selector matches it, an Endpoints change the
//! Service of the same name, a Machine the Cluster its label names. Related
//! objects are always looked up in the changed object's namespace (or
//! cluster-wide when the reconciled kind is cluster-scoped), as owner
//! references are.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Watch, default_cluster};

/// A kind (apiVersion and kind) in the cluster of the declaration it sits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KindName {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
}

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version, self.kind)
    }
}

/// A path into an object's JSON: dotted names, with keys that contain dots
/// or slashes in brackets, e.g. `spec.virtualNetwork` or
/// `metadata.labels["cluster.x-k8s.io/cluster-name"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldPath {
    text: String,
    steps: Vec<String>,
}

impl FieldPath {
    /// The value at this path, if every step exists.
    pub fn lookup<'a>(&self, object: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.steps.iter().try_fold(object, |value, step| value.get(step))
    }

    /// The string at this path, if there is one.
    pub fn string<'a>(&self, object: &'a serde_json::Value) -> Option<&'a str> {
        self.lookup(object)?.as_str()
    }

    fn parse(text: &str) -> Option<Vec<String>> {
        let mut steps = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(bracketed) = rest.strip_prefix("[\"") {
                let (key, after) = bracketed.split_once("\"]")?;
                steps.push(key.to_owned());
                rest = after;
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                steps.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
            if let Some(after) = rest.strip_prefix('.') {
                if after.is_empty() || after.starts_with('[') {
                    return None;
                }
                rest = after;
            } else if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
        (!steps.is_empty() && steps.iter().all(|s| !s.is_empty())).then_some(steps)
    }
}

impl TryFrom<String> for FieldPath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match Self::parse(&text) {
            Some(steps) => Ok(Self { text, steps }),
            None => Err(format!(
                "field path {text:?} is malformed; write dotted JSON names with keys that hold dots in brackets, e.g. `spec.selector` or `metadata.labels[\"cluster.x-k8s.io/cluster-name\"]`"
            )),
        }
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> String {
        path.text
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a changed related object finds the reconciled objects to re-queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum RelatedBy {
    /// Every owner reference to the reconciled kind, controller or not
    /// (`EnqueueRequestForOwner` without `OnlyControllerOwner`): a
    /// VirtualNetwork owned plainly by its VSphereCluster.
    OwnerReference,
    /// The changed object's string field at this path names the object to
    /// re-queue: `metadata.name` maps an Endpoints to its Service,
    /// `metadata.labels["cluster.x-k8s.io/cluster-name"]` a Machine to its Cluster.
    NameField(FieldPath),
    /// The reconciled objects whose string field at this path names the
    /// changed object: `spec.virtualNetwork` of VirtualNetworkInterfaces
    /// that sit on a VirtualNetwork.
    ReferencedBy(FieldPath),
    /// The reconciled objects whose label map at this path (`matchLabels`
    /// semantics: every pair must be among the changed object's labels, and
    /// an empty or missing map selects nothing) selects the changed object:
    /// `spec.selector` of VirtualMachineServices.
    SelectedBy(FieldPath),
    /// Every reconciled object in scope (the changed object's namespace, or
    /// all when the reconciled kind is cluster-scoped): for an object that
    /// decides over all related objects at once, such as a pool that hands
    /// out one block per Node.
    Every,
}

impl fmt::Display for RelatedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelatedBy::OwnerReference => f.write_str("an owner reference"),
            RelatedBy::NameField(path) => write!(f, "the name in {path}"),
            RelatedBy::ReferencedBy(path) => write!(f, "their {path} naming it"),
            RelatedBy::SelectedBy(path) => write!(f, "their selector {path} matching it"),
            RelatedBy::Every => f.write_str("every one of them"),
        }
    }
}

/// One `[[related]]` entry of a manifest.
///
/// ```toml
/// [[related]]
/// api-version = "vmoperator.vmware.com/v1alpha1"
/// kind = "VirtualMachine"
/// reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
/// by = { selected-by = "spec.selector" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Related {
    /// Cluster of the related kind (default `default`); the reconciled kind
    /// is looked up in the same cluster.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// `apiVersion` of the related kind.
    pub api_version: String,
    /// `kind` of the related kind.
    pub kind: String,
    /// The reconciled kind (one of the manifest's `watches`) to re-queue.
    pub reconciles: KindName,
    /// How to find the objects to re-queue.
    pub by: RelatedBy,
}

impl Related {
    /// The related kind.
    pub fn kind_ref(&self) -> crate::KindRef {
        crate::KindRef {
            cluster: self.cluster.clone(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Checks the entry against the manifest's watches: the reconciled kind
    /// must be watched in the same cluster.
    pub(crate) fn validate(&self, watches: &[Watch]) -> Result<(), String> {
        if self.api_version.is_empty() || self.kind.is_empty() {
            return Err(format!("related {}: api-version and kind must be set", self.kind_ref()));
        }
        let watched = watches.iter().any(|w| {
            w.cluster == self.cluster
                && w.api_version == self.reconciles.api_version
                && w.kind == self.reconciles.kind
        });
        if !watched {
            return Err(format!(
                "related {}: reconciles {} is not among the plugin's watches in cluster {:?}; add a [[watches]] entry for it",
                self.kind_ref(),
                self.reconciles,
                self.cluster
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::Manifest;

    use super::*;

    const BASE: &str = r#"
        name = "vm-service"
        version = "0.1.0"

        [[watches]]
        api-version = "vmoperator.vmware.com/v1alpha1"
        kind = "VirtualMachineService"
    "#;

    fn with(related: &str) -> Result<Manifest, String> {
        Manifest::parse(&format!("{BASE}\n{related}")).map_err(|e| e.to_string())
    }

    #[test]
    fn each_way_of_relating_parses() {
        let m = with(
            r#"
            [[related]]
            api-version = "vmoperator.vmware.com/v1alpha1"
            kind = "VirtualMachine"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { selected-by = "spec.selector" }

            [[related]]
            api-version = "v1"
            kind = "Endpoints"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { name-field = "metadata.name" }

            [[related]]
            api-version = "cluster.x-k8s.io/v1beta1"
            kind = "Machine"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { name-field = 'metadata.labels["cluster.x-k8s.io/cluster-name"]' }

            [[related]]
            api-version = "vmware.com/v1alpha1"
            kind = "VirtualNetwork"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { referenced-by = "spec.virtualNetwork" }

            [[related]]
            api-version = "vmware.com/v1alpha1"
            kind = "VirtualNetwork"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = "owner-reference"

            [[related]]
            api-version = "v1"
            kind = "Node"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = "every"
            "#,
        )
        .unwrap();
        let ways: Vec<String> = m.related.iter().map(|r| r.by.to_string()).collect();
        assert_eq!(
            ways,
            [
                "their selector spec.selector matching it",
                "the name in metadata.name",
                "the name in metadata.labels[\"cluster.x-k8s.io/cluster-name\"]",
                "their spec.virtualNetwork naming it",
                "an owner reference",
                "every one of them",
            ]
        );
        assert_eq!(m.related[0].cluster, "default");
    }

    #[test]
    fn a_related_kind_must_re_queue_a_watched_kind() {
        let error = with(
            r#"
            [[related]]
            api-version = "v1"
            kind = "Endpoints"
            reconciles = { api-version = "v1", kind = "Service" }
            by = { name-field = "metadata.name" }
            "#,
        )
        .unwrap_err();
        assert!(error.contains("reconciles v1/Service is not among the plugin's watches"), "{error}");
    }

    #[test]
    fn malformed_entries_are_refused_with_the_reason() {
        let empty_step = with(
            r#"
            [[related]]
            api-version = "v1"
            kind = "Endpoints"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { name-field = "metadata..name" }
            "#,
        )
        .unwrap_err();
        assert!(empty_step.contains("is malformed"), "{empty_step}");
        let unknown_way = with(
            r#"
            [[related]]
            api-version = "v1"
            kind = "Endpoints"
            reconciles = { api-version = "vmoperator.vmware.com/v1alpha1", kind = "VirtualMachineService" }
            by = { guessed = "x" }
            "#,
        )
        .unwrap_err();
        assert!(unknown_way.contains("unknown variant `guessed`"), "{unknown_way}");
    }

    fn path(text: &str) -> Result<FieldPath, String> {
        FieldPath::try_from(text.to_owned())
    }

    #[test]
    fn field_paths_look_up_nested_strings() {
        let vnet = path("spec.virtualNetwork").unwrap();
        let object = json!({"spec": {"virtualNetwork": "c1-vnet"}});
        assert_eq!(vnet.string(&object), Some("c1-vnet"));
        assert_eq!(vnet.string(&json!({"spec": {}})), None);
        assert_eq!(vnet.string(&json!({"spec": {"virtualNetwork": 3}})), None);
    }

    #[test]
    fn bracketed_keys_hold_dots_and_slashes() {
        let label = path(r#"metadata.labels["cluster.x-k8s.io/cluster-name"]"#).unwrap();
        let object = json!({"metadata": {"labels": {"cluster.x-k8s.io/cluster-name": "c1"}}});
        assert_eq!(label.string(&object), Some("c1"));
        let nested = path(r#"metadata.annotations["a.b/c"].x"#).unwrap();
        assert_eq!(nested.string(&json!({"metadata": {"annotations": {"a.b/c": {"x": "y"}}}})), Some("y"));
        assert_eq!(label.to_string(), r#"metadata.labels["cluster.x-k8s.io/cluster-name"]"#);
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in ["", "a..b", "a.", ".a", r#"a["b"#, r#"a["b"]c"#, r#"a.["b"]"#, r#"a[""]"#] {
            assert!(path(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
