//! apps/v1 Deployment: stored and validated like the real server, so
//! `kubectl apply --dry-run=server -k deploy/` can be checked here; no
//! controller runs them (no ReplicaSets, no Pods).
//!
//! Defaulting is the real server's for the fields a manifest usually
//! omits (replicas, strategy, revision history, progress deadline, a
//! container's pull and termination policies). Validation covers what
//! a typo in a deploy kit breaks: the selector must be set and match the
//! template's labels, at least one container with a name and an image,
//! unique DNS-label container names, ports and probes in range, and a
//! rolling update that can make progress.

use serde_json::{Value, json};

use crate::meta::object_field;
use crate::status::Cause;
use crate::validation::is_dns1123_label;

/// Fills in what the real server defaults.
pub fn default_deployment(object: &mut Value) {
    let Some(spec) = object_field(object, "spec") else { return };
    spec.entry("replicas").or_insert(json!(1));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    let strategy = spec.entry("strategy").or_insert(json!({}));
    if let Some(strategy) = strategy.as_object_mut() {
        let kind = strategy.entry("type").or_insert(json!("RollingUpdate")).clone();
        if kind == "RollingUpdate" {
            let rolling = strategy.entry("rollingUpdate").or_insert(json!({}));
            if let Some(rolling) = rolling.as_object_mut() {
                rolling.entry("maxUnavailable").or_insert(json!("25%"));
                rolling.entry("maxSurge").or_insert(json!("25%"));
            }
        }
    }
    let containers = object
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for container in containers {
        let Some(container) = container.as_object_mut() else { continue };
        let latest = container.get("image").and_then(Value::as_str).is_some_and(|i| {
            i.rsplit('/').next().is_some_and(|last| !last.contains(':') || last.ends_with(":latest"))
                && !i.contains('@')
        });
        container.entry("imagePullPolicy").or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
        container.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
        container.entry("terminationMessagePolicy").or_insert(json!("File"));
    }
}

/// The Deployment's field causes.
pub fn validate_deployment(object: &Value, causes: &mut Vec<Cause>) {
    let Some(spec) = object.get("spec") else {
        causes.push(Cause::required("spec"));
        return;
    };
    if let Some(replicas) = spec.get("replicas")
        && replicas.as_i64().is_none_or(|r| r < 0)
    {
        causes.push(Cause::invalid("spec.replicas", replicas, "must be greater than or equal to 0"));
    }
    validate_selector(spec, causes);
    validate_strategy(spec, causes);
    match spec.pointer("/template/spec/containers").and_then(Value::as_array) {
        None => causes.push(Cause::required("spec.template.spec.containers")),
        Some(containers) if containers.is_empty() => {
            causes.push(Cause::required("spec.template.spec.containers"))
        }
        Some(containers) => validate_containers(containers, causes),
    }
}

fn validate_selector(spec: &Value, causes: &mut Vec<Cause>) {
    let Some(selector) = spec.get("selector").filter(|s| s.as_object().is_some_and(|s| !s.is_empty())) else {
        causes.push(Cause::required("spec.selector"));
        return;
    };
    let labels = spec.pointer("/template/metadata/labels").and_then(Value::as_object);
    let wanted = selector.get("matchLabels").and_then(Value::as_object).into_iter().flatten();
    for (key, value) in wanted {
        if labels.and_then(|l| l.get(key)) != Some(value) {
            causes.push(Cause::invalid(
                "spec.template.metadata.labels",
                &labels.map_or(Value::Null, |l| Value::Object(l.clone())),
                "`selector` does not match template `labels`",
            ));
            return;
        }
    }
}

fn validate_strategy(spec: &Value, causes: &mut Vec<Cause>) {
    let Some(kind) = spec.pointer("/strategy/type") else { return };
    if kind != "RollingUpdate" && kind != "Recreate" {
        causes.push(Cause::not_supported("spec.strategy.type", kind, &["Recreate", "RollingUpdate"]));
        return;
    }
    let zero = |v: Option<&Value>| v.is_some_and(|v| v == &json!(0) || v == &json!("0%"));
    let rolling = spec.pointer("/strategy/rollingUpdate");
    if kind == "RollingUpdate"
        && zero(rolling.and_then(|r| r.get("maxUnavailable")))
        && zero(rolling.and_then(|r| r.get("maxSurge")))
    {
        causes.push(Cause::invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            &json!(0),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

fn validate_containers(containers: &[Value], causes: &mut Vec<Cause>) {
    let mut names = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        let field = |f: &str| format!("spec.template.spec.containers[{i}].{f}");
        match container.get("name").and_then(Value::as_str) {
            None => causes.push(Cause::required(field("name"))),
            Some(name) if !is_dns1123_label(name) => causes.push(Cause::invalid(
                field("name"),
                &json!(name),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            )),
            Some(name) if names.contains(&name) => causes.push(Cause::duplicate(field("name"), &json!(name))),
            Some(name) => names.push(name),
        }
        if container.get("image").and_then(Value::as_str).is_none_or(|i| i.trim().is_empty()) {
            causes.push(Cause::required(field("image")));
        }
        for (p, port) in container.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let value = port.get("containerPort").unwrap_or(&Value::Null);
            if value.as_i64().is_none_or(|v| !(1..=65535).contains(&v)) {
                causes.push(Cause::invalid(
                    field(&format!("ports[{p}].containerPort")),
                    value,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            let port = container.pointer(&format!("/{probe}/httpGet/port"));
            if let Some(port) = port
                && port.as_i64().is_some_and(|v| !(1..=65535).contains(&v))
            {
                causes.push(Cause::invalid(
                    field(&format!("{probe}.httpGet.port")),
                    port,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "wasmvisor"}},
            "template": {
                "metadata": {"labels": {"app": "wasmvisor"}},
                "spec": {"containers": [{"name": "host", "image": "r.example.com/wasmvisor:0.1.0",
                    "ports": [{"containerPort": 9443}],
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9443}}}]}
            }
        }})
    }

    fn fields(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(|c| c.field.clone()).collect()
    }

    #[test]
    fn a_valid_deployment_is_defaulted_like_the_real_server() {
        let mut d = deployment();
        default_deployment(&mut d);
        let mut causes = Vec::new();
        validate_deployment(&d, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    }

    #[test]
    fn a_broken_deployment_names_each_field() {
        let mut d = deployment();
        d["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "host", "image": "i", "ports": [{"containerPort": 70000}]},
            {"name": "host"},
        ]);
        let mut causes = Vec::new();
        validate_deployment(&d, &mut causes);
        assert_eq!(
            fields(&causes),
            [
                "spec.replicas",
                "spec.template.metadata.labels",
                "spec.template.spec.containers[0].ports[0].containerPort",
                "spec.template.spec.containers[1].name",
                "spec.template.spec.containers[1].image",
            ]
        );
        let mut causes = Vec::new();
        validate_deployment(&json!({"spec": {"template": {"spec": {"containers": []}}}}), &mut causes);
        assert_eq!(fields(&causes), ["spec.selector", "spec.template.spec.containers"]);
    }
}
