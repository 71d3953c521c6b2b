//! `wasmvisor audit` over the chain's own recordings: for each chain plugin
//! the smallest grant that covers every call it made is no wider than its
//! manifest, rule by rule (same kind or path, a subset of the verbs or
//! methods, of the namespaces); what a manifest asks for and no call used is
//! printed.

use serde_json::Value;

use crate::supervisor::Supervisor;
use crate::support::{command, path, text};

/// The chain's plugins, each of which a run exercises.
pub(crate) const CHAIN: &[&str] = &["tkc", "capi", "capw", "vm-service", "ncp", "cloud-provider", "calico"];

/// The fields a narrower rule may change; everything else must match.
const NARROWED: &[&str] = &["verbs", "methods", "namespaces"];

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// Whether the proposed `rule` is a narrowing of the declared `by`.
fn within(rule: &Value, by: &Value) -> bool {
    let (Some(rule), Some(by)) = (rule.as_object(), by.as_object()) else { return false };
    let same = |key: &str| NARROWED.contains(&key) || rule.get(key) == by.get(key);
    let subset = |key: &str| match (rule.get(key), by.get(key)) {
        (Some(narrow), Some(wide)) if wide.is_array() => {
            let wide = strings(wide);
            strings(narrow).iter().all(|s| wide.contains(s))
        }
        (narrow, wide) => narrow == wide,
    };
    rule.keys().chain(by.keys()).all(|k| same(k)) && NARROWED.iter().all(|k| subset(k))
}

/// Audits the run and checks each chain plugin's proposal against its manifest.
pub(crate) fn proposals_are_within_the_manifests(supervisor: &Supervisor) {
    let out = command(&["audit", "--data-dir", path(supervisor.dir.path()), "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "wasmvisor audit: {}", text(&out.stderr));
    let audits: Vec<Value> = serde_json::from_slice(&out.stdout).expect("audit -o json prints JSON");
    for plugin in CHAIN {
        let audit = audits
            .iter()
            .find(|a| a["plugin"] == *plugin)
            .unwrap_or_else(|| panic!("no audit of {plugin}: the run recorded no reconcile of it"));
        for capability in ["kube", "nsx", "vcenter"] {
            let declared = audit["declared"][capability].as_array().cloned().unwrap_or_default();
            for rule in audit["proposal"][capability].as_array().into_iter().flatten() {
                assert!(
                    declared.iter().any(|by| within(rule, by)),
                    "{plugin}'s proposed {capability} rule {rule} is wider than its manifest: {declared:?}"
                );
            }
        }
        println!("audit {plugin}: unused in its manifest: {}", audit["unused_declared"]);
    }
}
