//! Related mapping: a change to a related object becomes the keys of the
//! reconciled objects it is related to, as the manifest's `[[related]]`
//! entries declare (controller-runtime's `Watches` with a map function).
//!
//! In: a changed object of a related kind, its declaration, and the
//! reconciled kind's cache. Out: the keys to re-queue. Lookups stay in the
//! changed object's namespace when the reconciled kind is namespaced, so a
//! related object can never re-queue objects of another namespace. A
//! deleted object maps the same way as a live one: the objects that
//! referred to it must learn that it went.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;
use wasmvisor_manifest::{Related, RelatedBy};

use super::watch::Informer;
use crate::object::ObjectRef;

/// The reconciled objects `changed` re-queues under `related`, read from
/// `reconciled` (the cache of the kind named in `related.reconciles`).
pub(crate) fn targets(changed: &DynamicObject, related: &Related, reconciled: &Informer) -> Vec<ObjectRef> {
    let namespaced = reconciled.namespaced();
    let namespace = namespaced.then(|| changed.metadata.namespace.clone()).flatten();
    let key = |name: &str| ObjectRef {
        cluster: related.cluster.clone(),
        api_version: related.reconciles.api_version.clone(),
        kind: related.reconciles.kind.clone(),
        namespace: namespace.clone(),
        name: name.to_owned(),
    };
    match &related.by {
        RelatedBy::OwnerReference => changed
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.api_version == related.reconciles.api_version && r.kind == related.reconciles.kind)
            .map(|r| key(&r.name))
            .collect(),
        RelatedBy::NameField(path) => {
            let json = serde_json::to_value(changed).unwrap_or(Value::Null);
            path.string(&json).filter(|n| !n.is_empty()).map(key).into_iter().collect()
        }
        RelatedBy::ReferencedBy(path) => {
            let name = changed.metadata.name.as_deref().unwrap_or_default();
            scan(reconciled, namespace.as_deref(), |candidate| path.string(candidate) == Some(name))
                .map(|n| key(&n))
                .collect()
        }
        RelatedBy::Every => scan(reconciled, namespace.as_deref(), |_| true).map(|n| key(&n)).collect(),
        RelatedBy::SelectedBy(path) => {
            let empty = BTreeMap::new();
            let labels = changed.metadata.labels.as_ref().unwrap_or(&empty);
            scan(reconciled, namespace.as_deref(), |candidate| {
                path.lookup(candidate).is_some_and(|selector| selects(selector, labels))
            })
            .map(|n| key(&n))
            .collect()
        }
    }
}

/// Names of the cached objects in `namespace` (all when `None`) for which
/// `matches` holds on their JSON.
fn scan(
    reconciled: &Informer,
    namespace: Option<&str>,
    matches: impl Fn(&Value) -> bool,
) -> impl Iterator<Item = String> {
    reconciled
        .list()
        .into_iter()
        .filter(move |o| namespace.is_none() || o.metadata.namespace.as_deref() == namespace)
        .filter_map(move |o| {
            let json = serde_json::to_value(&*o).ok()?;
            matches(&json).then(|| o.metadata.name.clone()).flatten()
        })
}

/// `matchLabels` semantics: a non-empty map of strings, every pair present
/// in `labels`. An empty or malformed selector selects nothing, as a
/// selector-less Service selects no pods.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let Some(pairs) = selector.as_object() else { return false };
    !pairs.is_empty()
        && pairs.iter().all(|(k, v)| v.as_str().is_some_and(|v| labels.get(k).map(String::as_str) == Some(v)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_selector_matches_when_every_pair_is_among_the_labels() {
        let labels: BTreeMap<String, String> =
            [("role", "cp"), ("cluster", "c1")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert!(selects(&json!({"role": "cp"}), &labels));
        assert!(selects(&json!({"role": "cp", "cluster": "c1"}), &labels));
        assert!(!selects(&json!({"role": "node"}), &labels));
        assert!(!selects(&json!({"role": "cp", "zone": "a"}), &labels));
        assert!(!selects(&json!({}), &labels), "an empty selector selects nothing");
        assert!(!selects(&json!("role=cp"), &labels), "only a map is a selector");
        assert!(!selects(&json!({"role": 1}), &labels));
    }
}
