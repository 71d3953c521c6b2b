//! The resources this server serves: built-in kinds plus the kinds CRDs add at run time.
//!
//! In: the built-in table ([`crate::builtin`]) and stored CRDs. Out: [`Resource`] lookups
//! by (group, version, plural) for the request pipeline, and the group/version lists
//! discovery publishes. A CRD change replaces that CRD's entries in one step.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::builtin::BuiltinKind;

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
                crate::builtin::BuiltinKind::SelfSubjectAccessReview
                | crate::builtin::BuiltinKind::SelfSubjectRulesReview
                | crate::builtin::BuiltinKind::SelfSubjectReview,
            ) => &["create"],
            _ => &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.strategy, Strategy::Custom(_))
    }
}

/// A group and the versions it serves, preferred first.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Served versions, preferred (storage, or first declared) first.
    pub versions: Vec<String>,
}

type Key = (String, String, String);

/// The live set of served resources.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    resources: BTreeMap<Key, Arc<Resource>>,
    /// CRD name → the keys it added.
    crds: BTreeMap<String, Vec<Key>>,
    /// Group → versions in preference order (insertion order of first sighting).
    group_order: Vec<Group>,
}

impl Registry {
    /// A registry holding the built-in kinds.
    pub fn with_builtins() -> Registry {
        let registry = Registry::default();
        let mut inner = Inner::default();
        for resource in crate::builtin::resources() {
            inner.insert(resource);
        }
        if let Ok(mut guard) = registry.inner.write() {
            *guard = inner;
        }
        registry
    }

    /// Finds the resource served at `group/version/plural`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        let inner = self.inner.read().ok()?;
        inner.resources.get(&(group.to_owned(), version.to_owned(), plural.to_owned())).cloned()
    }

    /// Finds a resource by group and kind at any served version, preferring `version`.
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<Resource>> {
        let inner = self.inner.read().ok()?;
        inner.resources.values().find(|r| r.group == group && r.kind == kind).cloned()
    }

    /// All resources of one group/version.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<Resource>> {
        let Ok(inner) = self.inner.read() else { return Vec::new() };
        inner.resources.values().filter(|r| r.group == group && r.version == version).cloned().collect()
    }

    /// All served groups (the core group, named "", first).
    pub fn groups(&self) -> Vec<Group> {
        let Ok(inner) = self.inner.read() else { return Vec::new() };
        inner.group_order.clone()
    }

    /// Replaces what CRD `name` serves with `resources` (empty to remove it).
    pub fn set_crd(&self, name: &str, resources: Vec<Resource>) {
        let Ok(mut inner) = self.inner.write() else { return };
        if let Some(keys) = inner.crds.remove(name) {
            for key in keys {
                inner.resources.remove(&key);
            }
            inner.rebuild_groups();
        }
        let keys: Vec<Key> = resources.into_iter().map(|r| inner.insert(r)).collect();
        if !keys.is_empty() {
            inner.crds.insert(name.to_owned(), keys);
        }
    }
}

impl Inner {
    fn insert(&mut self, resource: Resource) -> Key {
        let key = (resource.group.clone(), resource.version.clone(), resource.plural.clone());
        let preferred = resource.version == resource.storage_version;
        match self.group_order.iter_mut().find(|g| g.name == resource.group) {
            Some(group) if !group.versions.contains(&resource.version) => {
                if preferred {
                    group.versions.insert(0, resource.version.clone());
                } else {
                    group.versions.push(resource.version.clone());
                }
            }
            Some(_) => {}
            None => self
                .group_order
                .push(Group { name: resource.group.clone(), versions: vec![resource.version.clone()] }),
        }
        self.resources.insert(key.clone(), Arc::new(resource));
        key
    }

    fn rebuild_groups(&mut self) {
        for group in &mut self.group_order {
            group
                .versions
                .retain(|v| self.resources.keys().any(|(g, version, _)| *g == group.name && version == v));
        }
        self.group_order.retain(|g| !g.versions.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(version: &str, storage: &str) -> Resource {
        Resource {
            group: "example.com".into(),
            version: version.into(),
            storage_version: storage.into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec!["wd".into()],
            categories: vec![],
            status_subresource: true,
            strategy: Strategy::Custom(Arc::default()),
        }
    }

    #[test]
    fn builtins_are_served() {
        let registry = Registry::with_builtins();
        let cm = registry.get("", "v1", "configmaps").unwrap();
        assert_eq!(cm.kind, "ConfigMap");
        assert!(cm.namespaced);
        assert_eq!(registry.groups()[0].name, "");
    }

    #[test]
    fn a_crd_adds_and_removes_its_versions() {
        let registry = Registry::with_builtins();
        registry.set_crd("widgets.example.com", vec![widget("v1beta1", "v1"), widget("v1", "v1")]);
        assert!(registry.get("example.com", "v1beta1", "widgets").is_some());
        let group = registry.groups().into_iter().find(|g| g.name == "example.com").unwrap();
        assert_eq!(group.versions, ["v1", "v1beta1"]);
        registry.set_crd("widgets.example.com", vec![widget("v1", "v1")]);
        assert!(registry.get("example.com", "v1beta1", "widgets").is_none());
        registry.set_crd("widgets.example.com", vec![]);
        assert!(registry.get("example.com", "v1", "widgets").is_none());
        assert!(registry.groups().iter().all(|g| g.name != "example.com"));
    }
}
