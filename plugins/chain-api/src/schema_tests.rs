//! Keeps the Rust types and `crds/` in step: for each kind, the spec and status schemas
//! schemars derives from the types must match the CRD's `openAPIV3Schema` field by field,
//! in both directions, with compatible types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde_json::Value;

/// The shape of a schema node, reduced to what both sides can express.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    String,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string` (ports, percentages, quantities).
    IntOrString,
    /// Anything (`x-kubernetes-preserve-unknown-fields` without properties; `serde_json::Value`).
    Any,
    Array(Box<Shape>),
    Map(Box<Shape>),
    Object(BTreeMap<String, Field>),
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    shape: Shape,
    /// CRD: listed in `required`. Rust: not an `Option`.
    required: bool,
}

fn is_null(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::from("null")) || schema.get("const") == Some(&Value::Null)
}

/// Reduces a JSON schema (CRD or schemars, all subschemas inlined) to a [`Shape`]; `nullable`
/// reports whether it admits `null` (how schemars marks an `Option`).
fn shape(schema: &Value, path: &str) -> (Shape, bool) {
    // `true`, `{}` or only annotations: anything, null included (`serde_json::Value`).
    let annotations_only =
        schema.as_object().is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "description" | "default")));
    if schema == &Value::Bool(true) || annotations_only {
        return (Shape::Any, true);
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return (Shape::IntOrString, false);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let nullable = options.iter().any(is_null);
            let rest: Vec<&Value> = options.iter().filter(|o| !is_null(o)).collect();
            let shapes: Vec<Shape> = rest.iter().map(|o| shape(o, path).0).collect();
            let reduced = match shapes.as_slice() {
                [one] => one.clone(),
                [Shape::Integer, Shape::String] | [Shape::String, Shape::Integer] => Shape::IntOrString,
                many if many.iter().all(|s| *s == Shape::String) => Shape::String,
                _ => panic!("{path}: cannot reduce {key} {schema}"),
            };
            return (reduced, nullable);
        }
    }
    let (ty, nullable) = match schema.get("type") {
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(ts)) => {
            let non_null: Vec<&str> = ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
            assert_eq!(non_null.len(), 1, "{path}: several types {ts:?}");
            (non_null[0], ts.len() > 1)
        }
        None if schema.get("enum").is_some() || schema.get("const").is_some() => ("string", false),
        None if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {
            return (Shape::Any, false);
        }
        _ => panic!("{path}: schema without a type: {schema}"),
    };
    let nullable = nullable || schema.get("nullable") == Some(&Value::Bool(true));
    let reduced = match ty {
        "string" => Shape::String,
        "integer" => Shape::Integer,
        "number" => Shape::Number,
        "boolean" => Shape::Boolean,
        "array" => Shape::Array(Box::new(shape(&schema["items"], &format!("{path}[]")).0)),
        "object" => object(schema, path),
        other => panic!("{path}: unknown type {other}"),
    };
    (reduced, nullable)
}

fn object(schema: &Value, path: &str) -> Shape {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object)
        && !properties.is_empty()
    {
        let fields = properties
            .iter()
            .map(|(name, sub)| {
                let (shape, nullable) = shape(sub, &format!("{path}.{name}"));
                (name.clone(), Field { shape, required: required.contains(&name.as_str()) && !nullable })
            })
            .collect();
        return Shape::Object(fields);
    }
    match schema.get("additionalProperties") {
        Some(sub) if sub.is_object() || sub == &Value::Bool(true) => {
            Shape::Map(Box::new(shape(sub, &format!("{path}.*")).0))
        }
        _ if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => Shape::Any,
        _ => Shape::Object(BTreeMap::new()),
    }
}

/// The Rust side: required = not nullable (an `Option` is nullable; `#[serde(default)]` on a
/// plain field does not make it optional on the wire, since it is always written).
fn rust_shape(schema: &Value, path: &str) -> Shape {
    let mut reduced = shape(schema, path).0;
    mark_rust_required(&mut reduced, schema);
    reduced
}

/// schemars lists `required` only for fields without `#[serde(default)]`; what matters for
/// the wire is whether the field is an `Option` (skipped when `None`) or a collection
/// (skipped when empty). Everything else is always serialized, so it counts as required.
fn mark_rust_required(reduced: &mut Shape, schema: &Value) {
    let schema = unwrap_nullable(schema);
    match reduced {
        Shape::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            for (name, field) in fields.iter_mut() {
                let sub = &properties[name];
                let nullable = shape(sub, name).1;
                field.required = !nullable && !matches!(field.shape, Shape::Array(_) | Shape::Map(_));
                mark_rust_required(&mut field.shape, sub);
            }
        }
        Shape::Array(items) => mark_rust_required(items, &schema["items"]),
        Shape::Map(values) => mark_rust_required(values, &schema["additionalProperties"]),
        _ => {}
    }
}

fn unwrap_nullable(schema: &Value) -> &Value {
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let rest: Vec<&Value> = options.iter().filter(|o| !is_null(o)).collect();
            if let [one] = rest.as_slice() {
                return one;
            }
        }
    }
    schema
}

/// Compares the CRD side with the Rust side; pushes one line per disagreement.
fn compare(crd: &Shape, rust: &Shape, path: &str, errors: &mut Vec<String>) {
    match (crd, rust) {
        (Shape::Object(c), Shape::Object(r)) => {
            for (name, cf) in c {
                let child = format!("{path}.{name}");
                match r.get(name) {
                    None => errors.push(format!("{child}: in the CRD, not in the Rust type")),
                    Some(rf) => {
                        if cf.required && !rf.required {
                            errors.push(format!("{child}: required in the CRD, optional in Rust"));
                        }
                        if rf.required && !cf.required {
                            errors.push(format!(
                                "{child}: always serialized by Rust (not an Option), optional in the CRD"
                            ));
                        }
                        compare(&cf.shape, &rf.shape, &child, errors);
                    }
                }
            }
            for name in r.keys().filter(|n| !c.contains_key(*n)) {
                errors.push(format!("{path}.{name}: in the Rust type, not in the CRD"));
            }
        }
        (Shape::Array(c), Shape::Array(r)) => compare(c, r, &format!("{path}[]"), errors),
        (Shape::Map(c), Shape::Map(r)) => compare(c, r, &format!("{path}.*"), errors),
        (c, r) if c == r => {}
        (c, r) => errors.push(format!("{path}: CRD {} vs Rust {}", describe(c), describe(r))),
    }
}

fn describe(shape: &Shape) -> String {
    match shape {
        Shape::Object(fields) => {
            format!("object {{{}}}", fields.keys().cloned().collect::<Vec<_>>().join(", "))
        }
        Shape::Array(items) => format!("array of {}", describe(items)),
        Shape::Map(values) => format!("map of {}", describe(values)),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crds");

fn read_crd(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{CRDS}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Checks one kind: identity against [`Resource`], and spec and status of every served
/// version against the Rust types. Returns the disagreements.
fn check_kind<Spec, Status>(file: &str) -> Vec<String>
where
    Spec: JsonSchema + Default + serde::Serialize,
    Status: JsonSchema + Default + serde::Serialize,
    wasmvisor_sdk::Object<Spec, Status>: Resource,
{
    type R<S, T> = wasmvisor_sdk::Object<S, T>;
    let crd = read_crd(file);
    let mut errors = Vec::new();
    let mut expect = |what: &str, found: &Value, wanted: &str| {
        if found.as_str() != Some(wanted) {
            errors.push(format!("{file}: {what} is {found}, the Rust type says {wanted}"));
        }
    };
    let (group, version) = R::<Spec, Status>::API_VERSION.split_once('/').expect("group/version");
    expect("spec.group", &crd["spec"]["group"], group);
    expect("spec.names.kind", &crd["spec"]["names"]["kind"], R::<Spec, Status>::KIND);
    expect("spec.names.plural", &crd["spec"]["names"]["plural"], R::<Spec, Status>::PLURAL);
    let scope = if R::<Spec, Status>::NAMESPACED { "Namespaced" } else { "Cluster" };
    expect("spec.scope", &crd["spec"]["scope"], scope);
    let expected_file = format!("{group}_{}.yaml", R::<Spec, Status>::PLURAL);
    if file != expected_file {
        errors.push(format!("{file}: should be named {expected_file}"));
    }
    let versions = crd["spec"]["versions"].as_array().cloned().unwrap_or_default();
    let storage: Vec<&str> =
        versions.iter().filter(|v| v["storage"] == true).filter_map(|v| v["name"].as_str()).collect();
    if storage != [version] {
        errors.push(format!("{file}: storage version {storage:?}, the Rust type says {version}"));
    }

    let spec = rust_shape(&schema_of::<Spec>(), "spec");
    let status = rust_shape(&schema_of::<Status>(), "status");
    for v in &versions {
        let name = v["name"].as_str().unwrap_or("?");
        let root = &v["schema"]["openAPIV3Schema"];
        let at = format!("{file} {name}");
        compare(&shape(&root["properties"]["spec"], "spec").0, &spec, &format!("{at}: spec"), &mut errors);
        match root["properties"].get("status") {
            Some(s) => compare(&shape(s, "status").0, &status, &format!("{at}: status"), &mut errors),
            None if status == Shape::Object(BTreeMap::new()) => {}
            None => errors.push(format!("{at}: no status in the CRD, but the Rust status has fields")),
        }
        let has_subresource = v.pointer("/subresources/status").is_some();
        if has_subresource != root["properties"].get("status").is_some() {
            errors.push(format!("{at}: status subresource and status schema disagree"));
        }
        // What a plugin sends when it sets nothing: only fields the CRD requires.
        let default_spec = serde_json::to_value(Spec::default()).unwrap();
        only_required(
            &root["properties"]["spec"],
            &default_spec,
            &format!("{at}: default spec"),
            &mut errors,
        );
        if let Some(s) = root["properties"].get("status") {
            let default_status = serde_json::to_value(Status::default()).unwrap();
            only_required(s, &default_status, &format!("{at}: default status"), &mut errors);
        }
    }
    errors
}

/// Every key of `value` must be required by `schema`, recursively: a default object claims
/// nothing a plugin did not set.
fn only_required(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(map) = value.as_object() else { return };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (key, sub) in map {
        if !required.contains(&key.as_str()) {
            errors.push(format!("{path}.{key}: written by default, not required by the CRD"));
        }
        only_required(&schema["properties"][key], sub, &format!("{path}.{key}"), errors);
    }
}

macro_rules! kinds {
    ($($file:literal => $object:ty),* $(,)?) => {
        /// (CRD file, check of that kind) for every chain kind.
        fn kinds() -> Vec<(&'static str, fn(&str) -> Vec<String>)> {
            vec![$(($file, check_object::<$object>)),*]
        }
    };
}

/// Splits an object type into its spec and status for [`check_kind`].
trait Parts {
    fn check(file: &str) -> Vec<String>;
}

impl<S, T> Parts for wasmvisor_sdk::Object<S, T>
where
    S: JsonSchema + Default + serde::Serialize,
    T: JsonSchema + Default + serde::Serialize,
    wasmvisor_sdk::Object<S, T>: Resource,
{
    fn check(file: &str) -> Vec<String> {
        check_kind::<S, T>(file)
    }
}

fn check_object<O: Parts>(file: &str) -> Vec<String> {
    O::check(file)
}

use crate::Resource;
use crate::{capi, capv, ncp, tkc, vmop};

kinds! {
    "run.tanzu.vmware.com_tanzukubernetesclusters.yaml" => tkc::TanzuKubernetesCluster,
    "run.tanzu.vmware.com_tanzukubernetesreleases.yaml" => tkc::TanzuKubernetesRelease,
    "cluster.x-k8s.io_clusters.yaml" => capi::Cluster,
    "cluster.x-k8s.io_machines.yaml" => capi::Machine,
    "cluster.x-k8s.io_machinesets.yaml" => capi::MachineSet,
    "cluster.x-k8s.io_machinedeployments.yaml" => capi::MachineDeployment,
    "controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml" => capi::KubeadmControlPlane,
    "bootstrap.cluster.x-k8s.io_kubeadmconfigs.yaml" => capi::KubeadmConfig,
    "bootstrap.cluster.x-k8s.io_kubeadmconfigtemplates.yaml" => capi::KubeadmConfigTemplate,
    "vmware.infrastructure.cluster.x-k8s.io_vsphereclusters.yaml" => capv::VSphereCluster,
    "vmware.infrastructure.cluster.x-k8s.io_vspheremachines.yaml" => capv::VSphereMachine,
    "vmware.infrastructure.cluster.x-k8s.io_vspheremachinetemplates.yaml" => capv::VSphereMachineTemplate,
    "vmoperator.vmware.com_virtualmachines.yaml" => vmop::VirtualMachine,
    "vmoperator.vmware.com_virtualmachineservices.yaml" => vmop::VirtualMachineService,
    "vmoperator.vmware.com_virtualmachineclasses.yaml" => vmop::VirtualMachineClass,
    "vmoperator.vmware.com_virtualmachineimages.yaml" => vmop::VirtualMachineImage,
    "vmoperator.vmware.com_virtualmachinesetresourcepolicies.yaml" => vmop::VirtualMachineSetResourcePolicy,
    "vmware.com_virtualnetworks.yaml" => ncp::VirtualNetwork,
    "vmware.com_virtualnetworkinterfaces.yaml" => ncp::VirtualNetworkInterface,
}

#[test]
fn rust_types_and_crds_agree_field_by_field() {
    let errors: Vec<String> = kinds().into_iter().flat_map(|(file, check)| check(file)).collect();
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn every_crd_file_has_a_rust_type_and_is_in_the_kustomization() {
    let mut on_disk: Vec<String> = std::fs::read_dir(CRDS)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut typed: Vec<String> = kinds().into_iter().map(|(file, _)| file.to_owned()).collect();
    typed.sort();
    assert_eq!(on_disk, typed, "CRD files without a Rust type, or Rust types without a CRD file");
    let kustomization = read_crd("kustomization.yaml");
    let mut listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|r| r.ends_with(".yaml"))
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(listed, typed, "crds/kustomization.yaml must list every CRD file");
}

#[test]
fn the_comparison_sees_a_field_on_one_side_only() {
    let crd = shape(
        &serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}),
        "x",
    )
    .0;
    let rust = rust_shape(
        &serde_json::json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}, "c": {"type": ["boolean", "null"]}}}),
        "x",
    );
    let mut errors = Vec::new();
    compare(&crd, &rust, "x", &mut errors);
    assert_eq!(errors, ["x.b: in the CRD, not in the Rust type", "x.c: in the Rust type, not in the CRD"]);
    let wrong_type = rust_shape(
        &serde_json::json!({"type": "object", "properties": {"a": {"type": ["integer", "null"]}, "b": {"type": ["integer", "null"]}}}),
        "x",
    );
    let mut errors = Vec::new();
    compare(&crd, &wrong_type, "x", &mut errors);
    assert_eq!(errors, ["x.a: CRD string vs Rust integer"]);
}
