//! Table responses (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) for `kubectl get`.
//!
//! In: a resource, its objects and the request's `includeObject`. Out: a `meta.k8s.io/v1`
//! Table whose columns are `Name` plus the kind's printer columns: a CRD's
//! `additionalPrinterColumns`, evaluated with a JSONPath subset (`date` columns print as
//! ages), or for a built-in kind the columns kube-apiserver's printers give it, computed
//! the same way (a Service's `80:30080/TCP` ports and `<none>` external IP, a ConfigMap's
//! `DATA` count, a binding's `ROLE`), because kubectl prints exactly what the server sends.

use serde_json::{Value, json};

use crate::resource::{BuiltinKind, Column, Resource, Strategy};

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    /// The full object.
    Object,
}

impl Include {
    /// Parses the `includeObject` query parameter.
    pub fn parse(text: Option<&str>) -> Include {
        match text {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// How the cells of a column are computed.
#[derive(Debug, Clone)]
enum Source {
    /// A JSONPath; `date` columns print as ages.
    Path(String),
    /// A built-in printer: object → cell.
    Printer(fn(&Value) -> Value),
}

/// One printer column: its definition and its source.
#[derive(Debug, Clone)]
struct Printed {
    name: String,
    kind: String,
    description: String,
    priority: i64,
    source: Source,
}

impl Printed {
    fn from_crd(column: &Column) -> Printed {
        Printed {
            name: column.name.clone(),
            kind: column.kind.clone(),
            description: column.description.clone(),
            priority: column.priority,
            source: Source::Path(column.json_path.clone()),
        }
    }
}

fn path(name: &str, kind: &str, json_path: &str) -> Printed {
    Printed {
        name: name.to_owned(),
        kind: kind.to_owned(),
        description: String::new(),
        priority: 0,
        source: Source::Path(json_path.to_owned()),
    }
}

fn printer(name: &str, kind: &str, priority: i64, cell: fn(&Value) -> Value) -> Printed {
    Printed {
        name: name.to_owned(),
        kind: kind.to_owned(),
        description: String::new(),
        priority,
        source: Source::Printer(cell),
    }
}

fn age() -> Printed {
    path("Age", "date", ".metadata.creationTimestamp")
}

/// The printer columns of `resource`, without the leading Name column.
fn columns(resource: &Resource) -> Vec<Printed> {
    match &resource.strategy {
        Strategy::Custom(version) => version.columns.iter().map(Printed::from_crd).collect(),
        Strategy::Builtin(kind) => builtin_columns(*kind),
    }
}

fn builtin_columns(kind: BuiltinKind) -> Vec<Printed> {
    match kind {
        BuiltinKind::Namespace => vec![path("Status", "string", ".status.phase"), age()],
        BuiltinKind::Service => vec![
            path("Type", "string", ".spec.type"),
            printer("Cluster-IP", "string", 0, |o| or_none(text_at(o, "/spec/clusterIP"))),
            printer("External-IP", "string", 0, service_external_ip),
            printer("Port(s)", "string", 0, service_ports),
            age(),
            printer("Selector", "string", 1, |o| or_none(labels(o.pointer("/spec/selector")))),
        ],
        BuiltinKind::Node => vec![
            printer("Status", "string", 0, node_status),
            printer("Roles", "string", 0, node_roles),
            age(),
            path("Version", "string", ".status.nodeInfo.kubeletVersion"),
            printer("Internal-IP", "string", 1, |o| or_none(node_address(o, "InternalIP"))),
            printer("External-IP", "string", 1, |o| or_none(node_address(o, "ExternalIP"))),
            Printed { priority: 1, ..path("OS-Image", "string", ".status.nodeInfo.osImage") },
            Printed { priority: 1, ..path("Kernel-Version", "string", ".status.nodeInfo.kernelVersion") },
            Printed {
                priority: 1,
                ..path("Container-Runtime", "string", ".status.nodeInfo.containerRuntimeVersion")
            },
        ],
        BuiltinKind::ConfigMap => vec![
            printer("Data", "integer", 0, |o| json!(entries(o, "data") + entries(o, "binaryData"))),
            age(),
        ],
        BuiltinKind::Secret => vec![
            path("Type", "string", ".type"),
            printer("Data", "integer", 0, |o| json!(entries(o, "data"))),
            age(),
        ],
        BuiltinKind::Endpoints => vec![printer("Endpoints", "string", 0, endpoints), age()],
        BuiltinKind::CoreEvent => vec![
            path("Last Seen", "date", ".lastTimestamp"),
            path("Type", "string", ".type"),
            path("Reason", "string", ".reason"),
            printer("Object", "string", 0, |o| involved(o.get("involvedObject"))),
            path("Message", "string", ".message"),
        ],
        BuiltinKind::Event => vec![
            path("Type", "string", ".type"),
            path("Reason", "string", ".reason"),
            printer("Object", "string", 0, |o| involved(o.get("regarding"))),
            path("Note", "string", ".note"),
            age(),
        ],
        BuiltinKind::Lease => vec![path("Holder", "string", ".spec.holderIdentity"), age()],
        BuiltinKind::Deployment => vec![
            printer("Ready", "string", 0, |o| {
                let count = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
                json!(format!("{}/{}", count("/status/readyReplicas"), count("/spec/replicas")))
            }),
            printer("Up-to-date", "integer", 0, |o| {
                json!(o.pointer("/status/updatedReplicas").and_then(Value::as_i64).unwrap_or(0))
            }),
            printer("Available", "integer", 0, |o| {
                json!(o.pointer("/status/availableReplicas").and_then(Value::as_i64).unwrap_or(0))
            }),
            age(),
        ],
        // A timestamp, not an age, as kube-apiserver prints it.
        BuiltinKind::CustomResourceDefinition | BuiltinKind::Role | BuiltinKind::ClusterRole => {
            vec![printer("Created At", "date", 0, |o| json!(text_at(o, "/metadata/creationTimestamp")))]
        }
        BuiltinKind::RoleBinding | BuiltinKind::ClusterRoleBinding => vec![
            printer("Role", "string", 0, |o| {
                json!(format!("{}/{}", text_at(o, "/roleRef/kind"), text_at(o, "/roleRef/name")))
            }),
            age(),
            printer("Users", "string", 1, |o| subjects(o, "User")),
            printer("Groups", "string", 1, |o| subjects(o, "Group")),
            printer("ServiceAccounts", "string", 1, |o| subjects(o, "ServiceAccount")),
        ],
        _ => vec![age()],
    }
}

fn text_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The text, or `<none>` when empty (kubectl's placeholder).
fn or_none(text: impl Into<String>) -> Value {
    let text = text.into();
    json!(if text.is_empty() { "<none>".to_owned() } else { text })
}

fn entries(object: &Value, field: &str) -> usize {
    object.get(field).and_then(Value::as_object).map_or(0, serde_json::Map::len)
}

/// `k=v,k2=v2`, sorted by key (Go's `labels.FormatLabels`).
fn labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// A Service's EXTERNAL-IP: external IPs, plus load balancer ingress for a LoadBalancer
/// (`<pending>` until it has one), the external name for an ExternalName Service.
fn service_external_ip(service: &Value) -> Value {
    let external: Vec<&str> = strings(service.pointer("/spec/externalIPs")).collect();
    match text_at(service, "/spec/type") {
        "LoadBalancer" => {
            let ingress = service.pointer("/status/loadBalancer/ingress").and_then(Value::as_array);
            let mut ips: Vec<&str> = ingress
                .into_iter()
                .flatten()
                .filter_map(|i| i.get("ip").or_else(|| i.get("hostname")).and_then(Value::as_str))
                .collect();
            ips.extend(external);
            json!(if ips.is_empty() { "<pending>".to_owned() } else { ips.join(",") })
        }
        "ExternalName" => json!(text_at(service, "/spec/externalName")),
        _ => or_none(external.join(",")),
    }
}

/// A Service's PORT(S): `port[:nodePort]/protocol`, comma-separated.
fn service_ports(service: &Value) -> Value {
    let ports: Vec<String> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n != 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    or_none(ports.join(","))
}

/// A Node's STATUS: `Ready`, `NotReady` or `Unknown` from its Ready condition, then
/// `,SchedulingDisabled` when cordoned (kube-apiserver's node printer).
fn node_status(node: &Value) -> Value {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| text_at(c, "/type") == "Ready");
    let mut status = match ready.map(|c| text_at(c, "/status")) {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    json!(status)
}

/// A Node's ROLES: the `node-role.kubernetes.io/<role>` labels and the legacy
/// `kubernetes.io/role` label, sorted, or `<none>`.
fn node_roles(node: &Value) -> Value {
    let mut roles: Vec<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| match key.strip_prefix("node-role.kubernetes.io/") {
            Some(role) => Some(role),
            None if key == "kubernetes.io/role" => value.as_str(),
            None => None,
        })
        .filter(|role| !role.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    or_none(roles.join(","))
}

/// A Node's first address of `kind` (`InternalIP`, `ExternalIP`).
fn node_address(node: &Value, kind: &str) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| text_at(a, "/type") == kind)
        .map(|a| text_at(a, "/address").to_owned())
        .unwrap_or_default()
}

/// Endpoints' ENDPOINTS: the first three `ip:port` pairs, then `+ N more...`.
fn endpoints(object: &Value) -> Value {
    let mut all = Vec::new();
    for subset in object.get("subsets").and_then(Value::as_array).into_iter().flatten() {
        let addresses: Vec<&str> = subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("ip").and_then(Value::as_str))
            .collect();
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("port").and_then(Value::as_i64))
            .collect();
        for ip in &addresses {
            if ports.is_empty() {
                all.push((*ip).to_owned());
            }
            all.extend(ports.iter().map(|port| format!("{ip}:{port}")));
        }
    }
    let shown = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    match all.len() {
        0 => json!("<none>"),
        n if n > 3 => json!(format!("{shown} + {} more...", n - 3)),
        _ => json!(shown),
    }
}

/// An Event's OBJECT: `kind/name`, the kind in lower case.
fn involved(reference: Option<&Value>) -> Value {
    let reference = reference.unwrap_or(&Value::Null);
    json!(format!("{}/{}", text_at(reference, "/kind").to_lowercase(), text_at(reference, "/name")))
}

/// A binding's subjects of `kind`, comma-separated (ServiceAccounts as `namespace/name`).
fn subjects(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| text_at(s, "/kind") == kind)
        .map(|s| match kind {
            "ServiceAccount" => format!("{}/{}", text_at(s, "/namespace"), text_at(s, "/name")),
            _ => text_at(s, "/name").to_owned(),
        })
        .collect();
    json!(names.join(", "))
}

/// The Table for `objects`; `list_meta` becomes the Table's `metadata`.
pub fn table(resource: &Resource, objects: &[Value], include: Include, list_meta: Value) -> Value {
    let columns = columns(resource);
    let mut definitions = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0})];
    definitions.extend(columns.iter().map(|c| {
        json!({"name": c.name, "type": if c.kind == "date" { "string" } else { c.kind.as_str() },
            "format": "", "description": c.description, "priority": c.priority})
    }));
    let now = crate::meta::unix_now();
    let rows: Vec<Value> = objects.iter().map(|o| row(&columns, o, include, now)).collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
        "columnDefinitions": definitions, "rows": rows})
}

fn row(columns: &[Printed], object: &Value, include: Include, now: i64) -> Value {
    let mut cells = vec![object.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
    cells.extend(columns.iter().map(|c| cell(c, object, now)));
    let mut row = json!({"cells": cells});
    match include {
        Include::None => {}
        Include::Metadata => {
            let mut meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.remove("managedFields");
            }
            row["object"] =
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta});
        }
        Include::Object => row["object"] = object.clone(),
    }
    row
}

fn cell(column: &Printed, object: &Value, now: i64) -> Value {
    let json_path = match &column.source {
        Source::Printer(print) => return print(object),
        Source::Path(json_path) => json_path,
    };
    let values = evaluate(json_path, object);
    let value = match values.as_slice() {
        [] => return Value::Null,
        [one] => (*one).clone(),
        many => Value::String(many.iter().map(|v| plain(v)).collect::<Vec<_>>().join(",")),
    };
    if column.kind == "date"
        && let Some(secs) = value.as_str().and_then(crate::meta::parse_time)
    {
        return Value::String(crate::meta::human_duration(now - secs));
    }
    value
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { path: Vec<String>, equals: Value },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path);
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_owned()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
                let (lhs, rhs) = filter.split_once("==")?;
                let lhs = lhs.trim().strip_prefix("@.")?;
                let rhs = rhs.trim();
                let equals = serde_json::from_str(rhs).ok().or_else(|| {
                    rhs.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).map(|s| json!(s))
                })?;
                steps.push(Step::Filter { path: lhs.split('.').map(str::to_owned).collect(), equals });
            } else if let Some(name) = inner.strip_prefix('\'').and_then(|n| n.strip_suffix('\'')) {
                // `['cluster\.x-k8s\.io/cluster-name']`: label keys escape their dots, as in
                // Cluster API's printer columns.
                steps.push(Step::Field(name.replace("\\.", ".")));
            } else {
                steps.push(Step::Index(inner.parse().ok()?));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Evaluates a JSONPath subset (`.a.b`, `['a']`, `[0]`, `[*]`, `[?(@.type=="Ready")]`).
pub fn evaluate<'a>(path: &str, object: &'a Value) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else { return Vec::new() };
    let mut current = vec![object];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => next.extend(value.get(name)),
                Step::Index(i) => next.extend(value.get(i)),
                Step::All => next.extend(value.as_array().into_iter().flatten()),
                Step::Filter { path, equals } => {
                    next.extend(value.as_array().into_iter().flatten().filter(|item| {
                        path.iter().try_fold(*item, |v, f| v.get(f)).is_some_and(|v| v == equals)
                    }))
                }
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset() {
        let obj = json!({"spec": {"size": 3, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        assert_eq!(evaluate(".spec.size", &obj), [&json!(3)]);
        assert_eq!(evaluate("{.spec.ports[1].port}", &obj), [&json!(443)]);
        assert_eq!(evaluate(".spec.ports[*].port", &obj).len(), 2);
        assert_eq!(evaluate(".status.conditions[?(@.type==\"Ready\")].status", &obj), [&json!("True")]);
        assert_eq!(evaluate(".status.conditions[?(@.type=='Synced')].status", &obj), [&json!("False")]);
        assert!(evaluate(".spec.missing", &obj).is_empty());
        let labelled = json!({"metadata": {"labels": {"cluster.x-k8s.io/cluster-name": "tkc1"}}});
        assert_eq!(
            evaluate(".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']", &labelled),
            [&json!("tkc1")]
        );
    }

    #[test]
    fn accept_headers() {
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn date_columns_print_ages() {
        let c = age();
        let obj = json!({"metadata": {"creationTimestamp": crate::meta::format_time(1000)}});
        assert_eq!(cell(&c, &obj, 1045), json!("45s"));
    }

    /// (header, cell) of each column of `kind` but Age.
    fn cells(kind: BuiltinKind, object: &Value) -> Vec<(String, Value)> {
        builtin_columns(kind)
            .iter()
            .filter(|c| c.name != "Age")
            .map(|c| (c.name.clone(), cell(c, object, 0)))
            .collect()
    }

    fn expect(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
    }

    #[test]
    fn services_print_as_kube_apiserver_prints_them() {
        let cluster_ip = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.7", "selector": {"b": "2", "a": "1"},
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(
            cells(BuiltinKind::Service, &cluster_ip),
            expect(&[
                ("Type", json!("ClusterIP")),
                ("Cluster-IP", json!("10.96.0.7")),
                ("External-IP", json!("<none>")),
                ("Port(s)", json!("80/TCP,53/UDP")),
                ("Selector", json!("a=1,b=2")),
            ])
        );
        let pending = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]}});
        let cells_of =
            |o: &Value| cells(BuiltinKind::Service, o).into_iter().map(|c| c.1).collect::<Vec<_>>();
        assert_eq!(cells_of(&pending)[1..4], [json!("<none>"), json!("<pending>"), json!("443:30443/TCP")]);
        let mut ready = pending.clone();
        ready["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}});
        assert_eq!(cells_of(&ready)[2], json!("192.0.2.1"));
        assert_eq!(cells_of(&json!({"spec": {}}))[3..], [json!("<none>"), json!("<none>")]);
    }

    #[test]
    fn nodes_print_status_roles_and_version_as_kubectl_shows_them() {
        let node = json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": "",
                "kubernetes.io/hostname": "cp-1"}},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "127.160.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.23.8+vmware.3", "osImage": "VMware Photon OS/Linux"}}});
        let cells = cells(BuiltinKind::Node, &node);
        assert_eq!(
            cells[..5],
            expect(&[
                ("Status", json!("Ready")),
                ("Roles", json!("control-plane")),
                ("Version", json!("v1.23.8+vmware.3")),
                ("Internal-IP", json!("127.160.0.2")),
                ("External-IP", json!("<none>")),
            ])
        );
        let worker = json!({"spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(cells_of_node(&worker), [json!("NotReady,SchedulingDisabled"), json!("<none>")]);
        assert_eq!(cells_of_node(&json!({})), [json!("Unknown"), json!("<none>")]);
    }

    fn cells_of_node(node: &Value) -> Vec<Value> {
        cells(BuiltinKind::Node, node).into_iter().take(2).map(|c| c.1).collect()
    }

    #[test]
    fn counts_endpoints_events_and_bindings() {
        let cm = json!({"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells(BuiltinKind::ConfigMap, &cm), expect(&[("Data", json!(3))]));
        assert_eq!(cells(BuiltinKind::Secret, &json!({"type": "Opaque"}))[1], ("Data".to_owned(), json!(0)));
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            cells(BuiltinKind::Endpoints, &ep),
            expect(&[("Endpoints", json!("10.0.0.1:80,10.0.0.1:443,10.0.0.2:80 + 1 more..."))])
        );
        assert_eq!(cells(BuiltinKind::Endpoints, &json!({})), expect(&[("Endpoints", json!("<none>"))]));
        let role = json!({"metadata": {"creationTimestamp": "2026-01-02T03:04:05Z"}});
        assert_eq!(cells(BuiltinKind::Role, &role), expect(&[("Created At", json!("2026-01-02T03:04:05Z"))]));
        let event = json!({"involvedObject": {"kind": "ConfigMap", "name": "x"}});
        assert_eq!(cells(BuiltinKind::CoreEvent, &event)[3], ("Object".to_owned(), json!("configmap/x")));
        let binding = json!({"roleRef": {"kind": "Role", "name": "reader"}, "subjects": [
            {"kind": "ServiceAccount", "name": "bot", "namespace": "team"}, {"kind": "User", "name": "alice"}]});
        assert_eq!(
            cells(BuiltinKind::RoleBinding, &binding),
            expect(&[
                ("Role", json!("Role/reader")),
                ("Users", json!("alice")),
                ("Groups", json!("")),
                ("ServiceAccounts", json!("team/bot")),
            ])
        );
    }
}
