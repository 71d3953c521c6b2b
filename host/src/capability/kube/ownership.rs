//! Per-plugin ownership of Kubernetes objects inside a granted namespace:
//! an apply never takes fields another plugin manages, and never adds a
//! finalizer to an object another plugin manages (which would let it hold
//! that object's deletion), unless the kube rule admitting it says
//! `foreign = true`, as the endpoint rules do for NSX and vCenter objects.
//!
//! Another plugin manages an object when its name is one of the object's
//! field managers (the host applies as the plugin's name) or the object
//! carries a finalizer the host keeps for it. Which fields collide is the
//! API server's judgement: the host applies without force first; a conflict
//! with another plugin is refused, a conflict with anyone else (a user's
//! `kubectl`) is resent forced, the controller convention the host kept
//! before.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::controller::finalizer;
use crate::runtime::registry::Registry;

/// The plugins the host runs, as one plugin's calls see them.
pub(crate) struct Peers<'a> {
    /// The loaded plugins.
    pub(crate) registry: &'a Registry,
    /// The calling plugin.
    pub(crate) me: &'a str,
}

impl Peers<'_> {
    /// Whether `name` is another loaded plugin.
    fn is_other(&self, name: &str) -> bool {
        name != self.me && self.registry.get(name).is_some()
    }

    /// The other plugins that manage `object`: field managers, and holders
    /// of a finalizer the host keeps for a plugin (its own
    /// `wasmvisor.dev/<plugin>` or one its watches declare).
    pub(crate) fn managing(&self, object: &Value) -> BTreeSet<String> {
        let mut managing: BTreeSet<String> = object["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["manager"].as_str())
            .filter(|manager| self.is_other(manager))
            .map(str::to_owned)
            .collect();
        let held = finalizers(object);
        for (name, entry) in self.registry.snapshot().iter().filter(|(name, _)| *name != self.me) {
            let declared = entry.plugin.manifest.watches.iter().filter_map(|w| w.finalizer.clone());
            let mut kept = declared.chain([finalizer::name(name)]);
            if kept.any(|f| held.contains(&f)) {
                managing.insert(name.clone());
            }
        }
        managing
    }

    /// The other plugins a field-conflict message of the API server names
    /// (`Apply failed with 1 conflict: conflict with "b" using v1: .data.x`,
    /// or one `conflicts with "b":` line per manager); `None` when the
    /// message is not a field conflict (a stale resourceVersion).
    pub(crate) fn in_conflict(&self, message: &str) -> Option<BTreeSet<String>> {
        if !message.starts_with("Apply failed with") {
            return None;
        }
        let managers = message
            .split("with \"")
            .skip(1)
            .filter_map(|rest| rest.split_once('"').map(|(manager, _)| manager))
            .filter(|manager| self.is_other(manager))
            .map(str::to_owned)
            .collect();
        Some(managers)
    }
}

/// `metadata.finalizers` of an object.
pub(crate) fn finalizers(object: &Value) -> BTreeSet<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The finalizers `applied` would add to `current`.
pub(crate) fn added_finalizers(applied: &Value, current: &Value) -> Vec<String> {
    let held = finalizers(current);
    finalizers(applied).into_iter().filter(|f| !held.contains(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_finalizers_are_those_not_yet_held() {
        let current = json!({"metadata": {"finalizers": ["a.io/x"]}});
        let applied = json!({"metadata": {"finalizers": ["a.io/x", "b.io/y"]}});
        assert_eq!(added_finalizers(&applied, &current), ["b.io/y"]);
        assert_eq!(added_finalizers(&applied, &json!({"metadata": {}})), ["a.io/x", "b.io/y"]);
        assert!(added_finalizers(&json!({"metadata": {}}), &current).is_empty());
    }

    #[test]
    fn a_conflict_message_names_its_managers() {
        let registry = Registry::default();
        let peers = Peers { registry: &registry, me: "a" };
        // No plugin is loaded: the managers are judged as users.
        let one = "Apply failed with 1 conflict: conflict with \"kubectl\" using v1: .data.x";
        assert_eq!(peers.in_conflict(one), Some(BTreeSet::new()));
        assert_eq!(peers.in_conflict("the object has been modified; please apply your changes"), None);
    }
}
