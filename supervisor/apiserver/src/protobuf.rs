//! Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl 1.32 and newer send built-in objects created by its typed commands
//! (`kubectl create namespace|configmap|secret|service`) as protobuf, and does not fall
//! back to JSON on 415. This module turns those bodies into the JSON the rest of the
//! pipeline works on. It knows the wire schema of the kinds those commands create
//! (Namespace, ConfigMap, Secret, Service, with ObjectMeta) and nothing else: any other
//! kind, or a field number it does not know, is refused rather than silently dropped.
//!
//! The envelope is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message
//! (`typeMeta` = 1, `raw` = 2), `raw` being the object itself. Like Go's JSON encoding with
//! `omitempty`, empty strings, zeros, `false` and zero timestamps are treated as absent.

use base64::Engine;
use serde_json::{Map, Value, json};

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Msg(&'static [Field]),
    StrMap,
    BytesMap,
    Time,
    IntOrString,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, kind: Kind) -> Field {
    Field { num, name, kind, repeated: false }
}

const fn list(num: u64, name: &'static str, kind: Kind) -> Field {
    Field { num, name, kind, repeated: true }
}

const OWNER_REFERENCE: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
    f(6, "controller", Kind::Bool),
    f(7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "generateName", Kind::Str),
    f(3, "namespace", Kind::Str),
    f(4, "selfLink", Kind::Str),
    f(5, "uid", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "generation", Kind::Int),
    f(8, "creationTimestamp", Kind::Time),
    f(9, "deletionTimestamp", Kind::Time),
    f(10, "deletionGracePeriodSeconds", Kind::Int),
    f(11, "labels", Kind::StrMap),
    f(12, "annotations", Kind::StrMap),
    list(13, "ownerReferences", Kind::Msg(OWNER_REFERENCE)),
    list(14, "finalizers", Kind::Str),
];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[list(1, "finalizers", Kind::Str)])),
    f(3, "status", Kind::Msg(&[f(1, "phase", Kind::Str)])),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::StrMap),
    f(3, "binaryData", Kind::BytesMap),
    f(4, "immutable", Kind::Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::BytesMap),
    f(3, "type", Kind::Str),
    f(4, "stringData", Kind::StrMap),
    f(5, "immutable", Kind::Bool),
];

const SERVICE_PORT: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "protocol", Kind::Str),
    f(3, "port", Kind::Int),
    f(4, "targetPort", Kind::IntOrString),
    f(5, "nodePort", Kind::Int),
    f(6, "appProtocol", Kind::Str),
];

const SERVICE_SPEC: &[Field] = &[
    list(1, "ports", Kind::Msg(SERVICE_PORT)),
    f(2, "selector", Kind::StrMap),
    f(3, "clusterIP", Kind::Str),
    f(4, "type", Kind::Str),
    list(5, "externalIPs", Kind::Str),
    f(7, "sessionAffinity", Kind::Str),
    f(8, "loadBalancerIP", Kind::Str),
    list(9, "loadBalancerSourceRanges", Kind::Str),
    f(10, "externalName", Kind::Str),
    f(11, "externalTrafficPolicy", Kind::Str),
    f(12, "healthCheckNodePort", Kind::Int),
    f(13, "publishNotReadyAddresses", Kind::Bool),
    f(17, "ipFamilyPolicy", Kind::Str),
    list(18, "clusterIPs", Kind::Str),
    list(19, "ipFamilies", Kind::Str),
    f(20, "allocateLoadBalancerNodePorts", Kind::Bool),
    f(21, "loadBalancerClass", Kind::Str),
    f(22, "internalTrafficPolicy", Kind::Str),
];

const LOAD_BALANCER_INGRESS: &[Field] =
    &[f(1, "ip", Kind::Str), f(2, "hostname", Kind::Str), f(4, "ipMode", Kind::Str)];

const SERVICE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(SERVICE_SPEC)),
    f(
        3,
        "status",
        Kind::Msg(&[f(
            1,
            "loadBalancer",
            Kind::Msg(&[list(1, "ingress", Kind::Msg(LOAD_BALANCER_INGRESS))]),
        )]),
    ),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(2, "namespace", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "fieldPath", Kind::Str),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    list(2, "secrets", Kind::Msg(OBJECT_REFERENCE)),
    list(3, "imagePullSecrets", Kind::Msg(&[f(1, "name", Kind::Str)])),
    f(4, "automountServiceAccountToken", Kind::Bool),
];

const POLICY_RULE: &[Field] = &[
    list(1, "verbs", Kind::Str),
    list(2, "apiGroups", Kind::Str),
    list(3, "resources", Kind::Str),
    list(4, "resourceNames", Kind::Str),
    list(5, "nonResourceURLs", Kind::Str),
];

const ROLE: &[Field] = &[f(1, "metadata", Kind::Msg(OBJECT_META)), list(2, "rules", Kind::Msg(POLICY_RULE))];

const BINDING: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    list(
        2,
        "subjects",
        Kind::Msg(&[
            f(1, "kind", Kind::Str),
            f(2, "apiGroup", Kind::Str),
            f(3, "name", Kind::Str),
            f(4, "namespace", Kind::Str),
        ]),
    ),
    f(
        3,
        "roleRef",
        Kind::Msg(&[f(1, "apiGroup", Kind::Str), f(2, "kind", Kind::Str), f(3, "name", Kind::Str)]),
    ),
];

const TOKEN_REQUEST: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            list(1, "audiences", Kind::Str),
            f(
                3,
                "boundObjectRef",
                Kind::Msg(&[
                    f(1, "kind", Kind::Str),
                    f(2, "apiVersion", Kind::Str),
                    f(3, "name", Kind::Str),
                    f(4, "uid", Kind::Str),
                ]),
            ),
            f(4, "expirationSeconds", Kind::Int),
        ]),
    ),
    f(3, "status", Kind::Msg(&[f(1, "token", Kind::Str), f(2, "expirationTimestamp", Kind::Time)])),
];

const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            f(
                1,
                "resourceAttributes",
                Kind::Msg(&[
                    f(1, "namespace", Kind::Str),
                    f(2, "verb", Kind::Str),
                    f(3, "group", Kind::Str),
                    f(4, "version", Kind::Str),
                    f(5, "resource", Kind::Str),
                    f(6, "subresource", Kind::Str),
                    f(7, "name", Kind::Str),
                ]),
            ),
            f(2, "nonResourceAttributes", Kind::Msg(&[f(1, "path", Kind::Str), f(2, "verb", Kind::Str)])),
        ]),
    ),
    f(
        3,
        "status",
        Kind::Msg(&[
            f(1, "allowed", Kind::Bool),
            f(2, "reason", Kind::Str),
            f(3, "evaluationError", Kind::Str),
            f(4, "denied", Kind::Bool),
        ]),
    ),
];

const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[f(1, "namespace", Kind::Str)])),
    f(
        3,
        "status",
        Kind::Msg(&[
            list(
                1,
                "resourceRules",
                Kind::Msg(&[
                    list(1, "verbs", Kind::Str),
                    list(2, "apiGroups", Kind::Str),
                    list(3, "resources", Kind::Str),
                    list(4, "resourceNames", Kind::Str),
                ]),
            ),
            list(
                2,
                "nonResourceRules",
                Kind::Msg(&[list(1, "verbs", Kind::Str), list(2, "nonResourceURLs", Kind::Str)]),
            ),
            f(3, "incomplete", Kind::Bool),
            f(4, "evaluationError", Kind::Str),
        ]),
    ),
];

const SELF_SUBJECT_REVIEW: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "status",
        Kind::Msg(&[f(
            1,
            "userInfo",
            Kind::Msg(&[f(1, "username", Kind::Str), f(2, "uid", Kind::Str), list(3, "groups", Kind::Str)]),
        )]),
    ),
];

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The kind has no protobuf schema here; the client should send JSON.
    #[error(
        "protobuf bodies are accepted for the kinds kubectl's typed commands create (Namespace, ConfigMap, Secret, Service, ServiceAccount, RBAC roles and bindings, TokenRequest, SelfSubjectAccessReview, SelfSubjectReview), not {0:?}; send application/json"
    )]
    UnsupportedKind(String),
    /// The bytes are not a valid encoding.
    #[error("invalid protobuf body: {0}")]
    Malformed(&'static str),
    /// A field this decoder does not know; refusing beats dropping it.
    #[error("protobuf field {field} of {message} is not supported; send application/json")]
    UnknownField {
        /// The JSON name of the message (its parent field).
        message: String,
        /// The field number.
        field: u64,
    },
}

/// Decodes a protobuf request body into a JSON object with apiVersion and kind.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::Malformed("missing k8s magic prefix"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut reader = Reader(rest);
    while let Some((num, value)) = reader.field()? {
        match (num, value) {
            (1, Wire::Len(type_meta)) => {
                let mut tm = Reader(type_meta);
                while let Some((n, v)) = tm.field()? {
                    match (n, v) {
                        (1, Wire::Len(s)) => api_version = utf8(s)?,
                        (2, Wire::Len(s)) => kind = utf8(s)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Service") => SERVICE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => BINDING,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        _ => return Err(ProtobufError::UnsupportedKind(format!("{api_version}/{kind}"))),
    };
    let mut object = message(raw, schema, &kind)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtobufError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtobufError::Malformed("length overflow"))?;
                if len > self.0.len() {
                    return Err(ProtobufError::Malformed("truncated field"));
                }
                let (bytes, rest) = self.0.split_at(len);
                self.0 = rest;
                Wire::Len(bytes)
            }
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("string is not UTF-8"))
}

fn message(bytes: &[u8], schema: &[Field], name: &str) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut reader = Reader(bytes);
    while let Some((num, wire)) = reader.field()? {
        let field = schema
            .iter()
            .find(|f| f.num == num)
            .ok_or_else(|| ProtobufError::UnknownField { message: name.to_owned(), field: num })?;
        let value = match (field.kind, wire) {
            (Kind::Str, Wire::Len(b)) => json!(utf8(b)?),
            (Kind::Int, Wire::Varint(v)) => json!(v as i64),
            (Kind::Bool, Wire::Varint(v)) => json!(v != 0),
            (Kind::Msg(sub), Wire::Len(b)) => Value::Object(message(b, sub, field.name)?),
            (Kind::Time, Wire::Len(b)) => {
                let mut seconds = 0i64;
                let mut reader = Reader(b);
                while let Some((n, w)) = reader.field()? {
                    if let (1, Wire::Varint(v)) = (n, w) {
                        seconds = v as i64;
                    }
                }
                if seconds == 0 { Value::Null } else { json!(crate::meta::format_time(seconds)) }
            }
            (Kind::IntOrString, Wire::Len(b)) => {
                let (mut kind, mut int, mut text) = (0, 0i64, String::new());
                let mut reader = Reader(b);
                while let Some((n, w)) = reader.field()? {
                    match (n, w) {
                        (1, Wire::Varint(v)) => kind = v,
                        (2, Wire::Varint(v)) => int = i64::from(v as i32),
                        (3, Wire::Len(s)) => text = utf8(s)?,
                        _ => {}
                    }
                }
                if kind == 1 {
                    json!(text)
                } else if int == 0 {
                    Value::Null
                } else {
                    json!(int)
                }
            }
            (Kind::StrMap | Kind::BytesMap, Wire::Len(b)) => {
                let (mut key, mut value) = (String::new(), Value::Null);
                let mut reader = Reader(b);
                while let Some((n, w)) = reader.field()? {
                    match (n, w) {
                        (1, Wire::Len(s)) => key = utf8(s)?,
                        (2, Wire::Len(s)) if matches!(field.kind, Kind::StrMap) => value = json!(utf8(s)?),
                        (2, Wire::Len(s)) => {
                            value = json!(base64::engine::general_purpose::STANDARD.encode(s))
                        }
                        _ => {}
                    }
                }
                if value.is_null() {
                    value = json!("");
                }
                let map = out.entry(field.name).or_insert_with(|| json!({}));
                if let Some(map) = map.as_object_mut() {
                    map.insert(key, value);
                }
                continue;
            }
            _ => return Err(ProtobufError::Malformed("field has the wrong wire type")),
        };
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Number(n) => n.as_i64() == Some(0),
            Value::Bool(b) => !b,
            _ => false,
        };
        if field.repeated {
            let list = out.entry(field.name).or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(value);
            }
        } else if !empty {
            out.insert(field.name.to_owned(), value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(num: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn int_field(num: u64, v: u64, out: &mut Vec<u8>) {
        varint(num << 3, out);
        varint(v, out);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = Vec::new();
        bytes_field(1, api_version.as_bytes(), &mut type_meta);
        bytes_field(2, kind.as_bytes(), &mut type_meta);
        let mut out = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut out);
        bytes_field(2, raw, &mut out);
        out
    }

    #[test]
    fn decodes_a_config_map_like_kubectl_sends_it() {
        let mut meta = Vec::new();
        bytes_field(1, b"settings", &mut meta);
        bytes_field(2, b"", &mut meta);
        let mut time = Vec::new();
        int_field(1, 0, &mut time);
        bytes_field(8, &time, &mut meta);
        let mut entry = Vec::new();
        bytes_field(1, b"color", &mut entry);
        bytes_field(2, b"blue", &mut entry);
        let mut raw = Vec::new();
        bytes_field(1, &meta, &mut raw);
        bytes_field(2, &entry, &mut raw);
        let object = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings"}, "data": {"color": "blue"}})
        );
    }

    #[test]
    fn decodes_service_ports_with_int_or_string() {
        let mut target = Vec::new();
        int_field(1, 0, &mut target);
        int_field(2, 8080, &mut target);
        let mut port = Vec::new();
        bytes_field(1, b"http", &mut port);
        int_field(3, 80, &mut port);
        bytes_field(4, &target, &mut port);
        let mut spec = Vec::new();
        bytes_field(1, &port, &mut spec);
        bytes_field(4, b"ClusterIP", &mut spec);
        let mut raw = Vec::new();
        bytes_field(2, &spec, &mut raw);
        let object = decode(&envelope("v1", "Service", &raw)).unwrap();
        assert_eq!(object["spec"]["ports"], json!([{"name": "http", "port": 80, "targetPort": 8080}]));
        assert_eq!(object["spec"]["type"], "ClusterIP");
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(matches!(
            decode(&envelope("apps/v1", "Deployment", &[])),
            Err(ProtobufError::UnsupportedKind(_))
        ));
        let mut raw = Vec::new();
        int_field(99, 1, &mut raw);
        assert!(matches!(
            decode(&envelope("v1", "ConfigMap", &raw)),
            Err(ProtobufError::UnknownField { field: 99, .. })
        ));
        assert!(matches!(decode(b"nope"), Err(ProtobufError::Malformed(_))));
        assert!(matches!(decode(&[b'k', b'8', b's', 0, 0x0a, 0x05]), Err(ProtobufError::Malformed(_))));
    }
}
