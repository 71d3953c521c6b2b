//! An in-memory [`KubeBackend`] for tests and benchmarks of the runtime core.
//!
//! It keeps the API-server behaviour plugins rely on (resourceVersion, uid,
//! generation bumps on spec changes, label selectors, status apply touching
//! only status) and nothing more: apply merges the applied fields into the
//! stored object rather than tracking field managers. Discovery knows the
//! built-in cluster-scoped kinds ([`CLUSTER_SCOPED`]) and any a test adds.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Map, Value};
use wasmvisor_manifest::ResourceScope;

use super::backend::{KubeBackend, KubeError, ReadSource};
use crate::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

/// Built-in cluster-scoped kinds, as `(apiVersion, kind)`.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "PersistentVolume"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
];

/// Objects of every cluster, keyed by identity.
#[derive(Debug, Default)]
pub struct MemoryKube {
    state: Mutex<State>,
    /// Cluster-scoped kinds beyond [`CLUSTER_SCOPED`].
    cluster_scoped: Mutex<Vec<(String, String)>>,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<ObjectRef, Value>,
    revision: u64,
}

impl MemoryKube {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes discovery report `api_version`/`kind` as cluster-scoped (a CRD
    /// with `scope: Cluster`).
    pub fn cluster_scoped(&self, api_version: &str, kind: &str) {
        let mut kinds = self.cluster_scoped.lock().unwrap_or_else(|p| p.into_inner());
        kinds.push((api_version.to_owned(), kind.to_owned()));
    }

    /// Stores `object` in `cluster` as a user would create it (no field manager).
    pub fn insert(&self, cluster: &str, object: Value) -> Result<Value, KubeError> {
        let target = ObjectRef::of(cluster, &object).map_err(|e| KubeError::Invalid(e.to_string()))?;
        Ok(self.lock().upsert(&target, object, false))
    }

    /// A stored object, if present.
    pub fn object(&self, target: &ObjectRef) -> Option<Value> {
        self.lock().objects.get(target).cloned()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written object
        // (every write is a single insert), so a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn upsert(&mut self, target: &ObjectRef, applied: Value, status_only: bool) -> Value {
        self.revision += 1;
        let revision = self.revision;
        let stored = match self.objects.remove(target) {
            Some(mut current) => {
                let old_spec = current.get("spec").cloned();
                if status_only {
                    if let Some(status) = applied.get("status") {
                        merge(current.as_object_mut().expect("stored objects are maps"), "status", status);
                    }
                } else {
                    let status = current.get("status").cloned();
                    merge_value(&mut current, &applied);
                    // The main resource ignores status, as the API server does.
                    match status {
                        Some(s) => current["status"] = s,
                        None => _ = current.as_object_mut().map(|m| m.remove("status")),
                    }
                }
                if current.get("spec") != old_spec.as_ref() {
                    let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
                    current["metadata"]["generation"] = (generation + 1).into();
                }
                current
            }
            None => {
                let mut created = applied;
                if status_only {
                    created.as_object_mut().map(|m| m.remove("status"));
                }
                let meta = &mut created["metadata"];
                meta["uid"] = format!("00000000-0000-4000-8000-{revision:012x}").into();
                meta["generation"] = 1.into();
                meta["creationTimestamp"] = "1970-01-01T00:00:00Z".into();
                created
            }
        };
        let mut stored = stored;
        stored["metadata"]["resourceVersion"] = revision.to_string().into();
        self.objects.insert(target.clone(), stored.clone());
        stored
    }
}

/// JSON merge: maps merge recursively, `null` removes, anything else replaces.
fn merge_value(into: &mut Value, from: &Value) {
    match (into.as_object_mut(), from.as_object()) {
        (Some(target), Some(source)) => {
            for (key, value) in source {
                merge(target, key, value);
            }
        }
        _ => *into = from.clone(),
    }
}

fn merge(target: &mut Map<String, Value>, key: &str, value: &Value) {
    match (target.get_mut(key), value) {
        (_, Value::Null) => {
            target.remove(key);
        }
        (Some(existing), Value::Object(_)) if existing.is_object() => merge_value(existing, value),
        _ => {
            target.insert(key.to_owned(), value.clone());
        }
    }
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

#[async_trait]
impl KubeBackend for MemoryKube {
    async fn scope(&self, _cluster: &str, api_version: &str, kind: &str) -> Result<ResourceScope, KubeError> {
        let builtin = CLUSTER_SCOPED.iter().any(|(v, k)| *v == api_version && *k == kind);
        let added = self.cluster_scoped.lock().unwrap_or_else(|p| p.into_inner());
        Ok(if builtin || added.iter().any(|(v, k)| v == api_version && k == kind) {
            ResourceScope::Cluster
        } else {
            ResourceScope::Namespaced
        })
    }

    async fn get(&self, target: &ObjectRef, _source: ReadSource) -> Result<Value, KubeError> {
        self.object(target).ok_or_else(|| KubeError::NotFound(target.to_string()))
    }

    async fn list(
        &self,
        kinds: &KindScope,
        selector: Option<&LabelSelector>,
        _source: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        let state = self.lock();
        Ok(state
            .objects
            .iter()
            .filter(|(r, _)| {
                r.cluster == kinds.cluster
                    && r.api_version == kinds.api_version
                    && r.kind == kinds.kind
                    && (kinds.namespace.is_none() || r.namespace == kinds.namespace)
            })
            .filter(|(_, obj)| selector.is_none_or(|s| s.matches(&labels_of(obj))))
            .map(|(_, obj)| obj.clone())
            .collect())
    }

    async fn apply(
        &self,
        target: &ObjectRef,
        object: &Value,
        _field_manager: &str,
        status: bool,
        _force: bool,
    ) -> Result<Value, KubeError> {
        let mut state = self.lock();
        if status && !state.objects.contains_key(target) {
            return Err(KubeError::NotFound(target.to_string()));
        }
        Ok(state.upsert(target, object.clone(), status))
    }

    async fn delete(&self, target: &ObjectRef) -> Result<(), KubeError> {
        let mut state = self.lock();
        state.objects.remove(target);
        state.revision += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}}, "spec": data})
    }

    #[tokio::test]
    async fn apply_creates_then_merges_and_bumps_generation_on_spec_change() {
        let kube = MemoryKube::new();
        let target = ObjectRef::of("c", &cm("a", json!({"x": 1}))).unwrap();
        let first = kube.apply(&target, &cm("a", json!({"x": 1})), "m", false, true).await.unwrap();
        assert_eq!(first["metadata"]["generation"], 1);
        let same = kube.apply(&target, &cm("a", json!({"x": 1})), "m", false, true).await.unwrap();
        assert_eq!(same["metadata"]["generation"], 1);
        let changed = kube.apply(&target, &cm("a", json!({"x": 2})), "m", false, true).await.unwrap();
        assert_eq!(changed["metadata"]["generation"], 2);
        assert!(changed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]);
    }

    #[tokio::test]
    async fn status_apply_touches_only_status() {
        let kube = MemoryKube::new();
        let target = ObjectRef::of("c", &cm("a", json!({}))).unwrap();
        assert!(matches!(
            kube.apply(&target, &json!({"status": {"ok": true}}), "m", true, true).await,
            Err(KubeError::NotFound(_))
        ));
        kube.insert("c", cm("a", json!({"x": 1}))).unwrap();
        let mut with_status = cm("a", json!({"x": 9}));
        with_status["status"] = json!({"ok": true});
        let out = kube.apply(&target, &with_status, "m", true, true).await.unwrap();
        assert_eq!(out["status"]["ok"], true);
        assert_eq!(out["spec"]["x"], 1);
        // And the main resource ignores status.
        with_status["status"] = json!({"ok": false});
        let out = kube.apply(&target, &with_status, "m", false, true).await.unwrap();
        assert_eq!(out["status"]["ok"], true);
    }

    #[tokio::test]
    async fn list_filters_by_namespace_and_labels() {
        let kube = MemoryKube::new();
        kube.insert("c", cm("a", json!({}))).unwrap();
        kube.insert("c", cm("b", json!({}))).unwrap();
        let kinds = KindScope {
            cluster: "c".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: None,
        };
        let sel = LabelSelector::parse("app=b").unwrap();
        let found = kube.list(&kinds, Some(&sel), ReadSource::Cache).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["metadata"]["name"], "b");
        let other_ns = KindScope { namespace: Some("x".into()), ..kinds };
        assert!(kube.list(&other_ns, None, ReadSource::Server).await.unwrap().is_empty());
    }
}
