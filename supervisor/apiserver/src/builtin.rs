//! The built-in kinds and their strategies: defaulting and validation as the real server does
//! for the fields the chain uses.
//!
//! In: an object being created or updated (and the old one on update). Out: the object with
//! defaults filled in ([`BuiltinKind::default_fields`]) and field [`Cause`]s
//! ([`BuiltinKind::validate`]). Generic metadata rules live in [`crate::validation`]; the
//! CustomResourceDefinition kind delegates to [`crate::crd`], Deployment to
//! [`crate::deployment`], Service addresses are
//! allocated by [`crate::service_addresses`].
//!
//! The [`BuiltinKind`] tag and the [`Resource`] description live in [`crate::resource`], so
//! that [`crate::registry`] can serve what this table builds without depending back on it.

use base64::Engine;
use serde_json::{Value, json};

use crate::meta::object_field;
use crate::resource::{BuiltinKind, Resource, Strategy};
use crate::status::Cause;
use crate::validation::{NameRule, is_dns1123_label};

struct Def {
    kind: BuiltinKind,
    group: &'static str,
    name: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
}

const DEFS: &[Def] = &[
    Def {
        kind: BuiltinKind::Namespace,
        group: "",
        name: "Namespace",
        plural: "namespaces",
        namespaced: false,
        short: &["ns"],
        categories: &[],
        status: true,
    },
    Def {
        kind: BuiltinKind::Service,
        group: "",
        name: "Service",
        plural: "services",
        namespaced: true,
        short: &["svc"],
        categories: &["all"],
        status: true,
    },
    Def {
        kind: BuiltinKind::Node,
        group: "",
        name: "Node",
        plural: "nodes",
        namespaced: false,
        short: &["no"],
        categories: &[],
        status: true,
    },
    Def {
        kind: BuiltinKind::Secret,
        group: "",
        name: "Secret",
        plural: "secrets",
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::ConfigMap,
        group: "",
        name: "ConfigMap",
        plural: "configmaps",
        namespaced: true,
        short: &["cm"],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::Deployment,
        group: "apps",
        name: "Deployment",
        plural: "deployments",
        namespaced: true,
        short: &["deploy"],
        categories: &["all"],
        status: true,
    },
    Def {
        kind: BuiltinKind::CoreEvent,
        group: "",
        name: "Event",
        plural: "events",
        namespaced: true,
        short: &["ev"],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::Endpoints,
        group: "",
        name: "Endpoints",
        plural: "endpoints",
        namespaced: true,
        short: &["ep"],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::Event,
        group: "events.k8s.io",
        name: "Event",
        plural: "events",
        namespaced: true,
        short: &["ev"],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::EndpointSlice,
        group: "discovery.k8s.io",
        name: "EndpointSlice",
        plural: "endpointslices",
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::Lease,
        group: "coordination.k8s.io",
        name: "Lease",
        plural: "leases",
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::CustomResourceDefinition,
        group: "apiextensions.k8s.io",
        name: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        namespaced: false,
        short: &["crd", "crds"],
        categories: &["api-extensions"],
        status: true,
    },
    Def {
        kind: BuiltinKind::ServiceAccount,
        group: "",
        name: "ServiceAccount",
        plural: "serviceaccounts",
        namespaced: true,
        short: &["sa"],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::Role,
        group: "rbac.authorization.k8s.io",
        name: "Role",
        plural: "roles",
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::ClusterRole,
        group: "rbac.authorization.k8s.io",
        name: "ClusterRole",
        plural: "clusterroles",
        namespaced: false,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::RoleBinding,
        group: "rbac.authorization.k8s.io",
        name: "RoleBinding",
        plural: "rolebindings",
        namespaced: true,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::ClusterRoleBinding,
        group: "rbac.authorization.k8s.io",
        name: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        namespaced: false,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::SelfSubjectAccessReview,
        group: "authorization.k8s.io",
        name: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        namespaced: false,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::SelfSubjectRulesReview,
        group: "authorization.k8s.io",
        name: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        namespaced: false,
        short: &[],
        categories: &[],
        status: false,
    },
    Def {
        kind: BuiltinKind::SelfSubjectReview,
        group: "authentication.k8s.io",
        name: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        namespaced: false,
        short: &[],
        categories: &[],
        status: false,
    },
];

/// Every built-in resource, at v1.
pub fn resources() -> Vec<Resource> {
    DEFS.iter()
        .map(|d| Resource {
            group: d.group.to_owned(),
            version: "v1".to_owned(),
            storage_version: "v1".to_owned(),
            kind: d.name.to_owned(),
            plural: d.plural.to_owned(),
            singular: d.name.to_ascii_lowercase(),
            namespaced: d.namespaced,
            short_names: d.short.iter().map(|s| (*s).to_owned()).collect(),
            categories: d.categories.iter().map(|s| (*s).to_owned()).collect(),
            status_subresource: d.status,
            strategy: Strategy::Builtin(d.kind),
        })
        .collect()
}

/// events.k8s.io/v1 field ↔ core/v1 field. Both APIs serve the same stored objects, kept
/// in the core/v1 shape as the real server does.
const EVENT_FIELDS: [(&str, &str); 9] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingInstance", "reportingInstance"),
    ("related", "related"),
];

fn rename_fields(object: &mut Value, from_events_api: bool) {
    let Some(map) = object.as_object_mut() else { return };
    for (events_name, core_name) in EVENT_FIELDS {
        let (from, to) = if from_events_api { (events_name, core_name) } else { (core_name, events_name) };
        if let Some(value) = map.remove(from) {
            map.insert(to.to_owned(), value);
        }
    }
}

impl BuiltinKind {
    /// Field selector labels beyond `metadata.name`/`metadata.namespace`, each with the path
    /// it reads in the stored object.
    pub fn field_labels(self) -> &'static [(&'static str, &'static str)] {
        match self {
            BuiltinKind::CoreEvent => &[
                ("involvedObject.kind", "involvedObject.kind"),
                ("involvedObject.namespace", "involvedObject.namespace"),
                ("involvedObject.name", "involvedObject.name"),
                ("involvedObject.uid", "involvedObject.uid"),
                ("involvedObject.apiVersion", "involvedObject.apiVersion"),
                ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
                ("involvedObject.fieldPath", "involvedObject.fieldPath"),
                ("reason", "reason"),
                ("reportingComponent", "reportingComponent"),
                ("source", "source.component"),
                ("type", "type"),
            ],
            BuiltinKind::Event => &[
                ("regarding.kind", "involvedObject.kind"),
                ("regarding.namespace", "involvedObject.namespace"),
                ("regarding.name", "involvedObject.name"),
                ("regarding.uid", "involvedObject.uid"),
                ("regarding.apiVersion", "involvedObject.apiVersion"),
                ("regarding.resourceVersion", "involvedObject.resourceVersion"),
                ("regarding.fieldPath", "involvedObject.fieldPath"),
                ("reason", "reason"),
                ("reportingController", "reportingComponent"),
                ("type", "type"),
            ],
            BuiltinKind::Secret => &[("type", "type")],
            BuiltinKind::Namespace => &[("status.phase", "status.phase")],
            BuiltinKind::Node => &[("spec.unschedulable", "spec.unschedulable")],
            _ => &[],
        }
    }

    /// Converts an object of this kind to its stored shape (before a write).
    pub fn to_storage(self, object: &mut Value) {
        if self == BuiltinKind::Event {
            rename_fields(object, true);
            if let Some(map) = object.as_object_mut() {
                map.insert("apiVersion".into(), json!("v1"));
            }
        }
    }

    /// Whether [`BuiltinKind::from_storage`] changes anything.
    pub fn converts_from_storage(self) -> bool {
        self == BuiltinKind::Event
    }

    /// Converts a stored object to this kind's shape (on every read).
    pub fn from_storage(self, object: &mut Value) {
        if self.converts_from_storage() {
            rename_fields(object, false);
        }
    }

    /// The top-level fields besides apiVersion, kind and metadata.
    pub fn top_level_fields(self) -> &'static [&'static str] {
        match self {
            BuiltinKind::Namespace
            | BuiltinKind::Service
            | BuiltinKind::Node
            | BuiltinKind::Deployment
            | BuiltinKind::CustomResourceDefinition => &["spec", "status"],
            BuiltinKind::Secret => &["data", "stringData", "type", "immutable"],
            BuiltinKind::ConfigMap => &["data", "binaryData", "immutable"],
            BuiltinKind::CoreEvent => &[
                "involvedObject",
                "reason",
                "message",
                "source",
                "firstTimestamp",
                "lastTimestamp",
                "count",
                "type",
                "eventTime",
                "series",
                "action",
                "related",
                "reportingComponent",
                "reportingInstance",
            ],
            BuiltinKind::Event => &[
                "eventTime",
                "series",
                "reportingController",
                "reportingInstance",
                "action",
                "reason",
                "regarding",
                "related",
                "note",
                "type",
                "deprecatedSource",
                "deprecatedFirstTimestamp",
                "deprecatedLastTimestamp",
                "deprecatedCount",
            ],
            BuiltinKind::Endpoints => &["subsets"],
            BuiltinKind::EndpointSlice => &["addressType", "endpoints", "ports"],
            BuiltinKind::Lease => &["spec"],
            BuiltinKind::ServiceAccount => &["secrets", "imagePullSecrets", "automountServiceAccountToken"],
            BuiltinKind::Role => &["rules"],
            BuiltinKind::ClusterRole => &["rules", "aggregationRule"],
            BuiltinKind::RoleBinding | BuiltinKind::ClusterRoleBinding => &["subjects", "roleRef"],
            BuiltinKind::SelfSubjectAccessReview | BuiltinKind::SelfSubjectRulesReview => &["spec", "status"],
            BuiltinKind::SelfSubjectReview => &["status"],
        }
    }

    /// The rule `metadata.name` must follow.
    pub fn name_rule(self) -> NameRule {
        match self {
            BuiltinKind::Namespace => NameRule::Label,
            BuiltinKind::Service => NameRule::Rfc1035Label,
            _ => NameRule::Subdomain,
        }
    }

    /// Fills in the fields the real server defaults. `old` is the stored object on update.
    pub fn default_fields(self, object: &mut Value, old: Option<&Value>) {
        match self {
            BuiltinKind::Namespace => {
                if object.pointer("/status/phase").is_none()
                    && let Some(status) = object_field(object, "status")
                {
                    status.insert("phase".into(), json!("Active"));
                }
                // Every namespace carries its name as a label, so selectors can match it.
                let name = object.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
                if name.is_string()
                    && let Some(meta) = object.get_mut("metadata")
                    && let Some(labels) = object_field(meta, "labels")
                {
                    labels.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
            BuiltinKind::Service => default_service(object, old),
            BuiltinKind::Secret => default_secret(object),
            BuiltinKind::Deployment => crate::deployment::default_deployment(object),
            BuiltinKind::CustomResourceDefinition => crate::crd::default_crd(object),
            _ => {}
        }
    }

    /// Kind-specific validation; `old` is the stored object on update.
    pub fn validate(self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = Vec::new();
        match self {
            BuiltinKind::Service => validate_service(object, old, &mut causes),
            BuiltinKind::Secret => validate_secret(object, old, &mut causes),
            BuiltinKind::ConfigMap => validate_config_map(object, &mut causes),
            BuiltinKind::Deployment => crate::deployment::validate_deployment(object, &mut causes),
            BuiltinKind::CoreEvent => {
                if object.get("involvedObject").is_none_or(Value::is_null) {
                    causes.push(Cause::required("involvedObject"));
                }
            }
            BuiltinKind::Event => validate_event(object, &mut causes),
            BuiltinKind::Endpoints => validate_endpoints(object, &mut causes),
            BuiltinKind::EndpointSlice => validate_endpoint_slice(object, &mut causes),
            BuiltinKind::Lease => {
                if let Some(d) = object.pointer("/spec/leaseDurationSeconds")
                    && d.as_i64().is_none_or(|d| d <= 0)
                {
                    causes.push(Cause::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
                }
            }
            BuiltinKind::CustomResourceDefinition => crate::crd::validate_crd(object, old, &mut causes),
            BuiltinKind::Role | BuiltinKind::ClusterRole => crate::rbac::validate_rules(object, &mut causes),
            BuiltinKind::RoleBinding | BuiltinKind::ClusterRoleBinding => {
                crate::rbac::validate_binding(self == BuiltinKind::RoleBinding, object, old, &mut causes);
            }
            BuiltinKind::Namespace
            | BuiltinKind::Node
            | BuiltinKind::ServiceAccount
            | BuiltinKind::SelfSubjectAccessReview
            | BuiltinKind::SelfSubjectRulesReview
            | BuiltinKind::SelfSubjectReview => {}
        }
        causes
    }
}

fn default_service(object: &mut Value, old: Option<&Value>) {
    let Some(spec) = object_field(object, "spec") else { return };
    let kind = spec.entry("type").or_insert(json!("ClusterIP")).as_str().unwrap_or("").to_owned();
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if kind != "ExternalName" {
        spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        let ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
        let previous = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .filter(|p| p.as_str().is_some_and(|p| !p.is_empty()));
        match previous {
            // An update without clusterIP keeps the allocated one.
            Some(previous) if ip.is_empty() => {
                spec.insert("clusterIP".into(), previous.clone());
                spec.insert("clusterIPs".into(), json!([previous]));
            }
            _ if !ip.is_empty() && !spec.contains_key("clusterIPs") => {
                let ip = json!(ip);
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            // Left empty: the allocator fills it in when the write commits.
            _ => {}
        }
    }
    let old_ports =
        old.and_then(|o| o.pointer("/spec/ports")).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert(json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(number);
            }
            // An update that omits a port's nodePort keeps the one it had.
            if !port.contains_key("nodePort")
                && let Some(kept) = old_ports
                    .iter()
                    .find(|o| o.get("port") == port.get("port") && o.get("protocol") == port.get("protocol"))
                    .and_then(|o| o.get("nodePort"))
            {
                port.insert("nodePort".into(), kept.clone());
            }
        }
    }
    if kind == "LoadBalancer" || kind == "NodePort" {
        spec.entry("externalTrafficPolicy").or_insert(json!("Cluster"));
    }
    if let Some(status) = object_field(object, "status") {
        status.entry("loadBalancer").or_insert(json!({}));
    }
}

fn validate_port(field: &str, value: Option<&Value>, causes: &mut Vec<Cause>) {
    match value {
        None => causes.push(Cause::required(field)),
        Some(v) if v.as_i64().is_some_and(|p| (1..=65535).contains(&p)) => {}
        Some(v) => causes.push(Cause::invalid(field, v, "must be between 1 and 65535, inclusive")),
    }
}

fn is_iana_svc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn validate_service(object: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = object.get("spec").cloned().unwrap_or_default();
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP");
    const TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !TYPES.contains(&kind) {
        causes.push(Cause::not_supported("spec.type", &json!(kind), &TYPES));
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports = spec.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
    if kind == "ExternalName" {
        if spec.get("externalName").and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(Cause::required("spec.externalName"));
        }
    } else if ports.is_empty() && !headless {
        causes.push(Cause::required("spec.ports"));
    }
    let mut names = Vec::new();
    let mut seen = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        match port.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => {
                if !is_dns1123_label(name) {
                    causes.push(Cause::invalid(format!("{at}.name"), &json!(name), "must be a DNS label"));
                }
                if names.contains(&name) {
                    causes.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
                }
                names.push(name);
            }
            _ if ports.len() > 1 => causes.push(Cause::required(format!("{at}.name"))),
            _ => {}
        }
        validate_port(&format!("{at}.port"), port.get("port"), causes);
        const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
        let protocol = port.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            causes.push(Cause::not_supported(format!("{at}.protocol"), &json!(protocol), &PROTOCOLS));
        }
        let key = (port.get("port").and_then(Value::as_i64), protocol);
        if seen.contains(&key) {
            causes.push(Cause::duplicate(at.clone(), port));
        }
        seen.push(key);
        match port.get("targetPort") {
            None => {}
            Some(Value::String(s)) if is_iana_svc_name(s) => {}
            Some(v @ Value::Number(_)) => validate_port(&format!("{at}.targetPort"), Some(v), causes),
            Some(v) => causes.push(Cause::invalid(
                format!("{at}.targetPort"),
                v,
                "must contain at least one letter (a-z) and only a-z, 0-9 and '-', at most 15 characters",
            )),
        }
        if let Some(node_port) = port.get("nodePort") {
            if kind != "NodePort" && kind != "LoadBalancer" {
                causes.push(Cause::forbidden(
                    format!("{at}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !node_port.as_i64().is_some_and(|p| (30000..=32767).contains(&p)) {
                causes.push(Cause::invalid(
                    format!("{at}.nodePort"),
                    node_port,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
    }
    if let Some(old_ip) = old.and_then(|o| o.pointer("/spec/clusterIP"))
        && let Some(new_ip) = spec.get("clusterIP")
        && old_ip != new_ip
        && kind != "ExternalName"
    {
        causes.push(Cause::invalid("spec.clusterIP", new_ip, "field is immutable"));
    }
}

fn is_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_keys(object: &Value, fields: &[&str], base64_fields: &[&str], causes: &mut Vec<Cause>) {
    let mut seen: Vec<&str> = Vec::new();
    for field in fields.iter().chain(base64_fields) {
        let Some(map) = object.get(*field).filter(|v| !v.is_null()) else { continue };
        let Some(map) = map.as_object() else {
            causes.push(Cause::type_invalid(*field, map, "object"));
            continue;
        };
        for (key, value) in map {
            if !is_config_key(key) {
                causes.push(Cause::invalid(
                    field.to_string(),
                    &json!(key),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                ));
            }
            if seen.contains(&key.as_str()) {
                causes.push(Cause::invalid(
                    field.to_string(),
                    &json!(key),
                    "duplicate of key present in another data field",
                ));
            }
            seen.push(key);
            let Some(text) = value.as_str() else {
                causes.push(Cause::type_invalid(format!("{field}[{key}]"), value, "string"));
                continue;
            };
            if base64_fields.contains(field)
                && base64::engine::general_purpose::STANDARD.decode(text).is_err()
            {
                causes.push(Cause::invalid(
                    format!("{field}[{key}]"),
                    &json!("<redacted>"),
                    "illegal base64 data",
                ));
            }
        }
    }
}

fn validate_config_map(object: &Value, causes: &mut Vec<Cause>) {
    check_keys(object, &["data"], &["binaryData"], causes);
}

fn default_secret(object: &mut Value) {
    if object.get("type").is_none_or(Value::is_null)
        && let Some(map) = object.as_object_mut()
    {
        map.insert("type".into(), json!("Opaque"));
    }
    // stringData is write-only: it is merged into data (base64) and never stored.
    if let Some(Value::Object(string_data)) = object.as_object_mut().and_then(|o| o.remove("stringData"))
        && let Some(data) = object_field(object, "data")
    {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            data.insert(key, json!(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

fn validate_secret(object: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    check_keys(object, &[], &["data"], causes);
    if let (Some(old_type), Some(new_type)) = (old.and_then(|o| o.get("type")), object.get("type"))
        && old_type != new_type
    {
        causes.push(Cause::invalid("type", new_type, "field is immutable"));
    }
}

fn validate_event(object: &Value, causes: &mut Vec<Cause>) {
    for field in ["eventTime", "reportingController", "reportingInstance", "action", "reason"] {
        if object.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(Cause::required(field));
        }
    }
    if let Some(kind) = object.get("type") {
        const TYPES: [&str; 2] = ["Normal", "Warning"];
        if !kind.as_str().is_some_and(|k| TYPES.contains(&k)) {
            causes.push(Cause::not_supported("type", kind, &TYPES));
        }
    }
}

fn validate_endpoints(object: &Value, causes: &mut Vec<Cause>) {
    let subsets = object.get("subsets").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, subset) in subsets.iter().enumerate() {
        for (j, address) in
            subset.get("addresses").and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            let ip = address.get("ip").and_then(Value::as_str).unwrap_or("");
            if ip.parse::<std::net::IpAddr>().is_err() {
                causes.push(Cause::invalid(
                    format!("subsets[{i}].addresses[{j}].ip"),
                    &json!(ip),
                    "must be a valid IP address",
                ));
            }
        }
        for (j, port) in subset.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
            validate_port(&format!("subsets[{i}].ports[{j}].port"), port.get("port"), causes);
        }
    }
}

fn validate_endpoint_slice(object: &Value, causes: &mut Vec<Cause>) {
    const TYPES: [&str; 3] = ["IPv4", "IPv6", "FQDN"];
    match object.get("addressType") {
        None => causes.push(Cause::required("addressType")),
        Some(t) if t.as_str().is_some_and(|t| TYPES.contains(&t)) => {}
        Some(t) => causes.push(Cause::not_supported("addressType", t, &TYPES)),
    }
    for (i, endpoint) in object.get("endpoints").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let addresses = endpoint.get("addresses").and_then(Value::as_array);
        if addresses.is_none_or(Vec::is_empty) {
            causes.push(Cause::required(format!("endpoints[{i}].addresses")));
        }
    }
    for (i, port) in object.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(p) = port.get("port") {
            validate_port(&format!("ports[{i}].port"), Some(p), causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_addresses::allocate_service;

    fn fields(causes: &[Cause]) -> Vec<&str> {
        causes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn namespaces_are_active_and_labelled_with_their_name() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        BuiltinKind::Namespace.default_fields(&mut ns, None);
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
    }

    #[test]
    fn service_defaults_follow_the_real_server() {
        let mut svc =
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
        BuiltinKind::Service.default_fields(&mut svc, None);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(svc["status"], json!({"loadBalancer": {}}));
        assert!(allocate_service(&mut svc, &[]).is_empty());
        assert!(svc["spec"]["clusterIP"].as_str().unwrap().starts_with("10.96."));
        assert!(BuiltinKind::Service.validate(&svc, None).is_empty());
    }

    #[test]
    fn service_ports_are_checked() {
        let svc = json!({"spec": {"type": "Bogus", "ports": [{"port": 0}, {"name": "b", "port": 80, "protocol": "HTTP", "targetPort": "Not Valid"}]}});
        let causes = BuiltinKind::Service.validate(&svc, None);
        assert_eq!(
            fields(&causes),
            [
                "spec.type",
                "spec.ports[0].name",
                "spec.ports[0].port",
                "spec.ports[1].protocol",
                "spec.ports[1].targetPort"
            ]
        );
    }

    #[test]
    fn updates_keep_allocated_addresses() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        BuiltinKind::Service.default_fields(&mut new, Some(&old));
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    }

    #[test]
    fn cluster_ip_is_immutable() {
        let old = json!({"spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 1}]}});
        let new = json!({"spec": {"clusterIP": "10.96.0.6", "ports": [{"port": 1}]}});
        assert_eq!(fields(&BuiltinKind::Service.validate(&new, Some(&old))), ["spec.clusterIP"]);
    }

    #[test]
    fn secret_string_data_becomes_data() {
        let mut secret = json!({"stringData": {"password": "hunter2"}});
        BuiltinKind::Secret.default_fields(&mut secret, None);
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
        assert!(secret.get("stringData").is_none());
        let bad = json!({"data": {"k": "***"}});
        assert_eq!(fields(&BuiltinKind::Secret.validate(&bad, None)), ["data[k]"]);
    }

    #[test]
    fn events_api_events_are_stored_as_core_events() {
        let mut event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi",
            "regarding": {"name": "a"}, "reportingController": "c", "reason": "R"});
        BuiltinKind::Event.to_storage(&mut event);
        assert_eq!(
            event,
            json!({"apiVersion": "v1", "kind": "Event", "message": "hi",
            "involvedObject": {"name": "a"}, "reportingComponent": "c", "reason": "R"})
        );
        BuiltinKind::Event.from_storage(&mut event);
        assert_eq!(event["note"], "hi");
        assert_eq!(event["regarding"]["name"], "a");
    }

    #[test]
    fn config_map_keys_are_checked() {
        let cm = json!({"data": {"ok": "1", "bad key": "2"}, "binaryData": {"ok": "MQ=="}});
        assert_eq!(fields(&BuiltinKind::ConfigMap.validate(&cm, None)), ["data", "binaryData"]);
    }
}
