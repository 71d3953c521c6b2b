//! Benchmark plugin. [`transform`] is the reconcile logic the runtime
//! benchmark runs three ways: inside this component, as a native function,
//! and behind a loopback webhook. A ConfigMap with `data.mode = "noop"` is
//! the trivial reconcile (parse nothing, call nothing); any other is
//! transformed and applied back (a 2 KB object in and out).

/// Marks the object reconciled: parse, add an annotation, serialize.
pub fn transform(object: &str) -> Result<String, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(object)?;
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let annotations = metadata.entry("annotations").or_insert_with(|| serde_json::json!({}));
        if let Some(map) = annotations.as_object_mut() {
            map.insert("wasmvisor.dev/reconciled".into(), "true".into());
        }
    }
    serde_json::to_string(&value)
}

/// Whether a request is the trivial one (checked without parsing).
pub fn is_noop(object: &str) -> bool {
    object.contains("\"mode\":\"noop\"")
}

/// The bench measures the runtime, not serde: this plugin implements the
/// world directly with the SDK's bindings so the object crosses as text.
mod raw {
    use wasmvisor_sdk::bindings::wasmvisor::plugin::kube;
    use wasmvisor_sdk::bindings::{Error, Guest, Outcome, Request};

    pub(crate) struct Raw;

    impl Guest for Raw {
        fn reconcile(request: Request) -> Result<Outcome, Error> {
            if super::is_noop(&request.object) {
                return Ok(Outcome::Done);
            }
            let out = super::transform(&request.object).map_err(|e| Error::Invalid(e.to_string()))?;
            kube::apply(&request.target.cluster, &out)?;
            Ok(Outcome::Done)
        }

        fn finalize(_request: Request) -> Result<Outcome, Error> {
            Ok(Outcome::Done)
        }
    }

    wasmvisor_sdk::bindings::__export_reconciler_world!(Raw);
}
