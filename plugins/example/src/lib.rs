//! Example plugin: every Namespace labelled `wasmvisor.dev/config=enabled`
//! gets a ConfigMap `wasmvisor-config` whose data are the namespace's
//! annotations under `config.wasmvisor.dev/`, owned by the namespace. On
//! deletion the plugin removes the ConfigMap.

use std::collections::BTreeMap;

use serde_json::json;
use wasmvisor_sdk::{Action, Context, DynamicObject, Error, ObjectRef, Reconciler, log};

/// Name of the ConfigMap kept in each namespace.
pub const CONFIG_MAP: &str = "wasmvisor-config";
/// Annotation prefix copied into the ConfigMap.
pub const PREFIX: &str = "config.wasmvisor.dev/";

struct NamespaceConfig;

/// The ConfigMap `namespace` should have.
pub fn desired(namespace: &DynamicObject) -> Result<serde_json::Value, Error> {
    let data: BTreeMap<&str, &str> = namespace
        .metadata
        .annotations
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?, v.as_str())))
        .collect();
    let owner =
        namespace.owner_reference(true).ok_or_else(|| Error::Invalid("namespace has no uid yet".into()))?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIG_MAP,
            "namespace": namespace.metadata.name,
            "labels": {"app.kubernetes.io/managed-by": "namespace-config"},
            "ownerReferences": [owner],
        },
        "data": data,
    }))
}

impl Reconciler for NamespaceConfig {
    type Object = DynamicObject;

    fn reconcile(ctx: &Context, namespace: DynamicObject) -> Result<Action, Error> {
        let config_map = desired(&namespace)?;
        let keys = config_map["data"].as_object().map_or(0, |d| d.len()).to_string();
        ctx.kube().apply(ctx.cluster(), &config_map)?;
        log::info("config map applied", &[("namespace", &namespace.metadata.name), ("keys", &keys)]);
        Ok(Action::done())
    }

    fn finalize(ctx: &Context, namespace: DynamicObject) -> Result<Action, Error> {
        let target =
            ObjectRef::namespaced(ctx.cluster(), "v1", "ConfigMap", &namespace.metadata.name, CONFIG_MAP);
        ctx.kube().delete(&target)?;
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(NamespaceConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_copies_prefixed_annotations_and_owns() {
        let ns: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-a", "uid": "u-1", "annotations": {
                "config.wasmvisor.dev/region": "eu", "other": "x"}}
        }))
        .unwrap();
        let cm = desired(&ns).unwrap();
        assert_eq!(cm["metadata"]["namespace"], "team-a");
        assert_eq!(cm["data"], json!({"region": "eu"}));
        assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], "u-1");
    }
}
