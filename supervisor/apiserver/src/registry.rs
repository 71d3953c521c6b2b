//! The resources this server serves: built-in kinds plus the kinds CRDs add at run time.
//!
//! In: the built-in table ([`crate::builtin`]) and stored CRDs. Out: [`Resource`] lookups
//! by (group, version, plural) for the request pipeline, and the group/version lists
//! discovery publishes. A CRD change replaces that CRD's entries in one step.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::resource::Resource;

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
    use crate::resource::Strategy;

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
