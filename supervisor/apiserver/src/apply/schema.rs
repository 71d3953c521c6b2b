//! The merge shape of a kind: which objects merge field by field, which lists merge by key
//! or as sets, and what is replaced whole.
//!
//! In: a served [`Resource`]. Out: a [`Shape`]. Custom resources read it from their
//! structural schema (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`); built-in kinds from the same markers written down here for the
//! lists the real API types merge by key (Service ports by port and protocol, conditions by
//! type, CRD versions by name, ownerReferences by uid, finalizers as a set). As in
//! Kubernetes, a list without a marker is atomic and an object without one merges by field.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde_json::{Value, json};

use crate::resource::{BuiltinKind, Resource, Strategy};

/// How a value merges.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Unknown: objects merge field by field, lists and scalars are replaced.
    Any,
    /// Replaced whole: scalars, atomic lists and atomic maps.
    Atomic,
    /// An object merged field by field; `rest` is the shape of fields not in `fields`.
    Struct {
        /// Known fields.
        fields: BTreeMap<String, Shape>,
        /// Shape of other fields (additionalProperties, or [`Shape::Any`]).
        rest: Box<Shape>,
    },
    /// A list of scalars merged as a set (`x-kubernetes-list-type: set`).
    Set,
    /// A list of objects merged by key (`x-kubernetes-list-type: map`).
    Keyed {
        /// The key fields (`x-kubernetes-list-map-keys`).
        keys: Vec<String>,
        /// Values of key fields an item may omit (Service port protocol defaults to TCP).
        defaults: BTreeMap<String, Value>,
        /// Shape of an item.
        item: Box<Shape>,
    },
}

/// The shape of everything without a schema.
pub static ANY: Shape = Shape::Any;

impl Shape {
    /// The shape of field `name` of a value of this shape.
    pub fn field(&self, name: &str) -> &Shape {
        match self {
            Shape::Struct { fields, rest } => fields.get(name).unwrap_or(rest),
            _ => &ANY,
        }
    }

    /// Reads a structural OpenAPI v3 schema.
    pub fn from_openapi(schema: &Value) -> Shape {
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let item = schema.get("items").map(Shape::from_openapi).unwrap_or(Shape::Any);
                match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => Shape::Set,
                    Some("map") => {
                        let keys = schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|k| k.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default();
                        let defaults = schema
                            .pointer("/items/properties")
                            .and_then(Value::as_object)
                            .map(|props| {
                                props
                                    .iter()
                                    .filter_map(|(k, p)| p.get("default").map(|d| (k.clone(), d.clone())))
                                    .collect()
                            })
                            .unwrap_or_default();
                        Shape::Keyed { keys, defaults, item: Box::new(item) }
                    }
                    _ => Shape::Atomic,
                }
            }
            Some("object") | None
                if schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") =>
            {
                Shape::Atomic
            }
            Some("object") | None => {
                let fields = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|props| props.iter().map(|(k, s)| (k.clone(), Shape::from_openapi(s))).collect())
                    .unwrap_or_default();
                let rest = match schema.get("additionalProperties") {
                    Some(extra) if extra.is_object() => Shape::from_openapi(extra),
                    _ => Shape::Any,
                };
                Shape::Struct { fields, rest: Box::new(rest) }
            }
            Some(_) => Shape::Atomic,
        }
    }

    /// The shape of `resource`'s objects, with the metadata every object shares.
    ///
    /// A built-in kind's shape never changes, so it is made once and shared: every write
    /// asks for one.
    pub fn of(resource: &Resource) -> Arc<Shape> {
        static BUILTIN: LazyLock<Mutex<HashMap<BuiltinKind, Arc<Shape>>>> = LazyLock::new(Mutex::default);
        match &resource.strategy {
            Strategy::Custom(version) => {
                Arc::new(Shape::with_metadata(version.schema.as_ref().unwrap_or(&json!({"type": "object"}))))
            }
            Strategy::Builtin(kind) => {
                let mut made = BUILTIN.lock().unwrap_or_else(PoisonError::into_inner);
                made.entry(*kind)
                    .or_insert_with(|| Arc::new(Shape::with_metadata(&builtin_schema(*kind))))
                    .clone()
            }
        }
    }

    /// The shape of `schema` with the metadata every object shares.
    fn with_metadata(schema: &Value) -> Shape {
        let mut shape = Shape::from_openapi(schema);
        if let Shape::Struct { fields, .. } = &mut shape {
            fields.insert("metadata".into(), Shape::from_openapi(&metadata_schema()));
        }
        shape
    }
}

fn metadata_schema() -> Value {
    json!({"type": "object", "properties": {
        "ownerReferences": keyed(&["uid"], json!({})),
        "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
    }})
}

fn keyed(keys: &[&str], properties: Value) -> Value {
    json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys,
        "items": {"type": "object", "properties": properties}})
}

fn conditions() -> Value {
    keyed(&["type"], json!({}))
}

/// The keyed lists of the built-in kinds, as structural schema markers.
fn builtin_schema(kind: BuiltinKind) -> Value {
    match kind {
        BuiltinKind::Service => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "ports": keyed(&["port", "protocol"], json!({"protocol": {"type": "string", "default": "TCP"}})),
            }},
            "status": {"type": "object", "properties": {"conditions": conditions()}},
        }}),
        // As in k8s.io/api: addresses and conditions are maps keyed by type, taints atomic.
        BuiltinKind::Node => json!({"type": "object", "properties": {
            "status": {"type": "object", "properties": {
                "addresses": keyed(&["type"], json!({})),
                "conditions": conditions(),
            }},
        }}),
        BuiltinKind::Namespace => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            }},
            "status": {"type": "object", "properties": {"conditions": conditions()}},
        }}),
        // As in k8s.io/api: containers, ports and volumes are maps keyed by name.
        BuiltinKind::Deployment => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"template": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "containers": keyed(&["name"], json!({
                        "ports": keyed(&["containerPort", "protocol"], json!({})),
                        "env": keyed(&["name"], json!({})),
                        "volumeMounts": keyed(&["mountPath"], json!({})),
                    })),
                    "volumes": keyed(&["name"], json!({})),
                }},
            }}}},
            "status": {"type": "object", "properties": {"conditions": conditions()}},
        }}),
        BuiltinKind::CustomResourceDefinition => json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"versions": keyed(&["name"], json!({}))}},
            "status": {"type": "object", "properties": {"conditions": conditions()}},
        }}),
        BuiltinKind::Secret
        | BuiltinKind::ConfigMap
        | BuiltinKind::CoreEvent
        | BuiltinKind::Event
        | BuiltinKind::Endpoints
        | BuiltinKind::EndpointSlice
        | BuiltinKind::Lease
        | BuiltinKind::ServiceAccount
        | BuiltinKind::Role
        | BuiltinKind::ClusterRole
        | BuiltinKind::RoleBinding
        | BuiltinKind::ClusterRoleBinding
        | BuiltinKind::SelfSubjectAccessReview
        | BuiltinKind::SelfSubjectRulesReview
        | BuiltinKind::SelfSubjectReview => json!({"type": "object"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn crd_markers_become_shapes() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "plain": {"type": "array", "items": {"type": "string"}},
            "sel": {"type": "object", "x-kubernetes-map-type": "atomic"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let shape = Shape::from_openapi(&schema);
        let spec = shape.field("spec");
        assert!(matches!(spec.field("items"), Shape::Keyed { keys, .. } if keys == &["name"]));
        assert_eq!(spec.field("tags"), &Shape::Set);
        assert_eq!(spec.field("plain"), &Shape::Atomic);
        assert_eq!(spec.field("sel"), &Shape::Atomic);
        assert_eq!(spec.field("labels").field("anything"), &Shape::Atomic);
        assert_eq!(spec.field("unknown"), &Shape::Any);
    }

    #[test]
    fn service_ports_merge_by_port_and_protocol() {
        let services = Registry::with_builtins().get("", "v1", "services").unwrap();
        let shape = Shape::of(&services);
        let Shape::Keyed { keys, defaults, .. } = shape.field("spec").field("ports") else { panic!() };
        assert_eq!(keys, &["port", "protocol"]);
        assert_eq!(defaults.get("protocol"), Some(&json!("TCP")));
        assert!(matches!(shape.field("metadata").field("ownerReferences"), Shape::Keyed { .. }));
        assert_eq!(shape.field("metadata").field("finalizers"), &Shape::Set);
    }
}
