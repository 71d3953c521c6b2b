//! Table responses (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) for `kubectl get`.
//!
//! In: a resource, its objects and the request's `includeObject`. Out: a `meta.k8s.io/v1`
//! Table whose columns are `Name` plus the kind's printer columns (a CRD's
//! `additionalPrinterColumns`, evaluated with a JSONPath subset; `date` columns print as ages).

use serde_json::{Value, json};

use crate::builtin::BuiltinKind;
use crate::registry::{Column, Resource, Strategy};

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

fn column(name: &str, kind: &str, json_path: &str, priority: i64) -> Column {
    Column {
        name: name.to_owned(),
        kind: kind.to_owned(),
        json_path: json_path.to_owned(),
        description: String::new(),
        priority,
    }
}

/// The printer columns of `resource`, without the leading Name column.
pub fn columns(resource: &Resource) -> Vec<Column> {
    let age = column("Age", "date", ".metadata.creationTimestamp", 0);
    match &resource.strategy {
        Strategy::Custom(version) => version.columns.clone(),
        Strategy::Builtin(BuiltinKind::Namespace) => {
            vec![column("Status", "string", ".status.phase", 0), age]
        }
        Strategy::Builtin(BuiltinKind::Service) => vec![
            column("Type", "string", ".spec.type", 0),
            column("Cluster-IP", "string", ".spec.clusterIP", 0),
            column("External-IP", "string", ".status.loadBalancer.ingress[*].ip", 0),
            column("Port(s)", "string", ".spec.ports[*].port", 0),
            age,
        ],
        Strategy::Builtin(BuiltinKind::Secret) => vec![column("Type", "string", ".type", 0), age],
        Strategy::Builtin(BuiltinKind::CoreEvent) => vec![
            column("Last Seen", "date", ".lastTimestamp", 0),
            column("Type", "string", ".type", 0),
            column("Reason", "string", ".reason", 0),
            column("Object", "string", ".involvedObject.name", 0),
            column("Message", "string", ".message", 0),
        ],
        Strategy::Builtin(BuiltinKind::Event) => vec![
            column("Type", "string", ".type", 0),
            column("Reason", "string", ".reason", 0),
            column("Object", "string", ".regarding.name", 0),
            column("Note", "string", ".note", 0),
            age,
        ],
        Strategy::Builtin(BuiltinKind::Lease) => {
            vec![column("Holder", "string", ".spec.holderIdentity", 0), age]
        }
        Strategy::Builtin(BuiltinKind::CustomResourceDefinition) => {
            vec![column("Created At", "date", ".metadata.creationTimestamp", 0)]
        }
        Strategy::Builtin(_) => vec![age],
    }
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

fn row(columns: &[Column], object: &Value, include: Include, now: i64) -> Value {
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

fn cell(column: &Column, object: &Value, now: i64) -> Value {
    let values = evaluate(&column.json_path, object);
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
                steps.push(Step::Field(name.to_owned()));
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
    }

    #[test]
    fn accept_headers() {
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn date_columns_print_ages() {
        let c = column("Age", "date", ".metadata.creationTimestamp", 0);
        let obj = json!({"metadata": {"creationTimestamp": crate::meta::format_time(1000)}});
        assert_eq!(cell(&c, &obj, 1045), json!("45s"));
    }
}
