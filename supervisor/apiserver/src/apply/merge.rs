//! Walking objects by [`Shape`]: the field set of a value, merging an applied configuration
//! into a live object, the paths that differ between two objects, and removing a path.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::{ANY, Shape};

/// How a value of a shape is walked.
enum View<'a> {
    Fields(&'a Shape),
    Set,
    Keyed { keys: &'a [String], defaults: &'a std::collections::BTreeMap<String, Value>, item: &'a Shape },
    Leaf,
}

fn view<'a>(shape: &'a Shape, value: &Value) -> View<'a> {
    match (shape, value) {
        (Shape::Any | Shape::Struct { .. }, Value::Object(_)) => View::Fields(shape),
        (Shape::Set, Value::Array(_)) => View::Set,
        (Shape::Keyed { keys, defaults, item }, Value::Array(_)) => View::Keyed { keys, defaults, item },
        _ => View::Leaf,
    }
}

/// The key element of a keyed-list item (missing keys take their default, else null).
fn item_key(
    item: &Value,
    keys: &[String],
    defaults: &std::collections::BTreeMap<String, Value>,
) -> PathElement {
    let values: Vec<(&str, Value)> = keys
        .iter()
        .map(|k| {
            let v = item.get(k).or_else(|| defaults.get(k)).cloned().unwrap_or(Value::Null);
            (k.as_str(), v)
        })
        .collect();
    PathElement::key(values.iter().map(|(k, v)| (*k, v)))
}

fn child(path: &[PathElement], element: PathElement) -> Path {
    let mut p = path.to_vec();
    p.push(element);
    p
}

/// Adds the paths `value` sets, below `path`, to `out`: every scalar and atomic value, every
/// set item and every keyed-list item (and the fields inside it).
pub fn collect(value: &Value, shape: &Shape, path: &[PathElement], out: &mut FieldSet) {
    match view(shape, value) {
        View::Fields(shape) => {
            for (name, v) in value.as_object().into_iter().flatten() {
                collect(v, shape.field(name), &child(path, PathElement::Field(name.clone())), out);
            }
        }
        View::Set => {
            for item in value.as_array().into_iter().flatten() {
                out.insert(child(path, PathElement::Value(item.to_string())));
            }
        }
        View::Keyed { keys, defaults, item } => {
            for entry in value.as_array().into_iter().flatten() {
                let p = child(path, item_key(entry, keys, defaults));
                out.insert(p.clone());
                if entry.is_object() {
                    collect(entry, item, &p, out);
                }
            }
        }
        View::Leaf => out.insert(path.to_vec()),
    }
}

/// Merges an applied configuration into the live value: objects by field (null removes),
/// sets by value, keyed lists by key; everything else is replaced.
pub fn merge(live: Option<&Value>, applied: &Value, shape: &Shape) -> Value {
    match view(shape, applied) {
        View::Fields(shape) => {
            let mut out = match live {
                Some(Value::Object(map)) => map.clone(),
                _ => Map::new(),
            };
            for (name, v) in applied.as_object().into_iter().flatten() {
                if v.is_null() {
                    out.remove(name);
                } else {
                    let merged = merge(out.get(name), v, shape.field(name));
                    out.insert(name.clone(), merged);
                }
            }
            Value::Object(out)
        }
        View::Set => {
            let mut out = match live {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            for item in applied.as_array().into_iter().flatten() {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        View::Keyed { keys, defaults, item } => {
            let mut out = match live {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            for entry in applied.as_array().into_iter().flatten() {
                let key = item_key(entry, keys, defaults);
                match out.iter().position(|e| item_key(e, keys, defaults) == key) {
                    Some(i) => out[i] = merge(Some(&out[i]), entry, item),
                    None => out.push(merge(None, entry, item)),
                }
            }
            Value::Array(out)
        }
        View::Leaf => applied.clone(),
    }
}

/// The paths that differ from `old` to `new`: `changed` gets what `new` sets or changes
/// (as [`collect`] would name it), `removed` what `new` no longer has.
pub fn diff(
    old: Option<&Value>,
    new: Option<&Value>,
    shape: &Shape,
    path: &[PathElement],
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    let (old, new) = match (old, new) {
        (None, None) => return,
        (Some(_), None) => return removed.insert(path.to_vec()),
        (None, Some(new)) => return collect(new, shape, path, changed),
        (Some(old), Some(new)) if old == new => return,
        (Some(old), Some(new)) => (old, new),
    };
    match (view(shape, new), view(shape, old)) {
        (View::Fields(shape), View::Fields(_)) => {
            let (o, n) = (old.as_object().into_iter().flatten(), new.as_object().into_iter().flatten());
            let mut names: Vec<&String> = o.map(|(k, _)| k).chain(n.map(|(k, _)| k)).collect();
            names.sort();
            names.dedup();
            for name in names {
                let p = child(path, PathElement::Field(name.clone()));
                diff(old.get(name), new.get(name), shape.field(name), &p, changed, removed);
            }
        }
        (View::Set, View::Set) => {
            let (o, n) = (old.as_array().into_iter().flatten(), new.as_array().into_iter().flatten());
            for item in n.clone().filter(|i| !old.as_array().is_some_and(|a| a.contains(i))) {
                changed.insert(child(path, PathElement::Value(item.to_string())));
            }
            for item in o.filter(|i| !new.as_array().is_some_and(|a| a.contains(i))) {
                removed.insert(child(path, PathElement::Value(item.to_string())));
            }
        }
        (View::Keyed { keys, defaults, item }, View::Keyed { .. }) => {
            let index = |list: &Value| -> Vec<(PathElement, Value)> {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| (item_key(e, keys, defaults), e.clone()))
                    .collect()
            };
            let (o, n) = (index(old), index(new));
            for (key, entry) in &n {
                let before = o.iter().find(|(k, _)| k == key).map(|(_, e)| e);
                let p = child(path, key.clone());
                if before.is_none() {
                    changed.insert(p.clone());
                }
                diff(before, Some(entry), item, &p, changed, removed);
            }
            for (key, _) in o.iter().filter(|(k, _)| !n.iter().any(|(nk, _)| nk == k)) {
                removed.insert(child(path, key.clone()));
            }
        }
        (View::Leaf, View::Leaf) => changed.insert(path.to_vec()),
        _ => {
            // The value was replaced by one of another shape: what was below it is gone.
            removed.insert(path.to_vec());
            collect(new, shape, path, changed);
        }
    }
}

/// Removes the value at `path` from `value`, if it is there. The key fields of a keyed-list
/// item are only removed with the item.
pub fn remove(value: &mut Value, path: &[PathElement], shape: &Shape) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = value;
    let mut shape = shape;
    // The key fields of the keyed-list item `node` is, if it is one: they go with the item.
    let mut item_keys: &[String] = &[];
    for element in parents {
        item_keys = match (element, shape) {
            (PathElement::Key(_), Shape::Keyed { keys, .. }) => keys,
            _ => &[],
        };
        let (next, next_shape) = match locate(node, element, shape) {
            Some(found) => found,
            None => return,
        };
        node = next;
        shape = next_shape;
    }
    match (last, node) {
        (PathElement::Field(name), Value::Object(map)) if !item_keys.contains(name) => {
            map.remove(name);
        }
        (PathElement::Key(_), Value::Array(items)) => {
            if let Shape::Keyed { keys, defaults, .. } = shape {
                items.retain(|e| &item_key(e, keys, defaults) != last);
            }
        }
        (PathElement::Value(text), Value::Array(items)) => items.retain(|e| &e.to_string() != text),
        (PathElement::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
        }
        _ => {}
    }
}

fn locate<'v, 's>(
    node: &'v mut Value,
    element: &PathElement,
    shape: &'s Shape,
) -> Option<(&'v mut Value, &'s Shape)> {
    match (element, node) {
        (PathElement::Field(name), Value::Object(map)) => Some((map.get_mut(name)?, shape.field(name))),
        (PathElement::Key(_), Value::Array(items)) => match shape {
            Shape::Keyed { keys, defaults, item } => {
                let found = items.iter_mut().find(|e| &item_key(e, keys, defaults) == element)?;
                Some((found, item))
            }
            _ => None,
        },
        (PathElement::Index(i), Value::Array(items)) => Some((items.get_mut(*i)?, &ANY)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fieldset::{display, field_path};
    use super::*;
    use serde_json::json;

    fn service_shape() -> std::sync::Arc<Shape> {
        let services = crate::registry::Registry::with_builtins().get("", "v1", "services").unwrap();
        Shape::of(&services)
    }

    fn shown(set: &FieldSet) -> Vec<String> {
        set.iter().map(|p| display(p)).collect()
    }

    #[test]
    fn collect_names_leaves_and_keyed_items() {
        let svc = json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["f"]},
            "spec": {"ports": [{"port": 80, "name": "http"}], "selector": {"app": "x"}}});
        let mut set = FieldSet::new();
        collect(&svc, &service_shape(), &[], &mut set);
        assert_eq!(
            shown(&set),
            [
                ".metadata.finalizers[=\"f\"]",
                ".metadata.labels.a",
                ".spec.ports[port=80,protocol=\"TCP\"]",
                ".spec.ports[port=80,protocol=\"TCP\"].name",
                ".spec.ports[port=80,protocol=\"TCP\"].port",
                ".spec.selector.app",
            ]
        );
    }

    #[test]
    fn merge_keeps_live_items_and_merges_by_key() {
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "http", "targetPort": 8080},
            {"port": 443, "protocol": "TCP"}], "type": "ClusterIP"}});
        let applied = json!({"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 53, "protocol": "UDP"}],
            "type": null}});
        let merged = merge(Some(&live), &applied, &service_shape());
        assert_eq!(
            merged,
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "web", "targetPort": 8080},
                {"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}})
        );
    }

    #[test]
    fn diff_reports_changed_and_removed_paths() {
        let old = json!({"data": {"a": "1", "b": "2"}, "spec": {"ports": [{"port": 80, "name": "x"}]}});
        let new = json!({"data": {"a": "9", "c": "3"}, "spec": {"ports": [{"port": 81}]}});
        let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
        diff(Some(&old), Some(&new), &service_shape(), &[], &mut changed, &mut removed);
        assert_eq!(
            shown(&changed),
            [
                ".data.a",
                ".data.c",
                ".spec.ports[port=81,protocol=\"TCP\"]",
                ".spec.ports[port=81,protocol=\"TCP\"].port"
            ]
        );
        assert_eq!(shown(&removed), [".data.b", ".spec.ports[port=80,protocol=\"TCP\"]"]);
    }

    #[test]
    fn remove_follows_keys_and_values() {
        let shape = service_shape();
        let mut svc = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"ports": [{"port": 80, "name": "x"}, {"port": 81}]}});
        let mut name = field_path(&["spec", "ports"]);
        name.push(PathElement::key([("port", &json!(80)), ("protocol", &json!("TCP"))]));
        name.push(PathElement::Field("name".into()));
        remove(&mut svc, &name, &shape);
        let mut finalizer = field_path(&["metadata", "finalizers"]);
        finalizer.push(PathElement::Value("\"a\"".into()));
        remove(&mut svc, &finalizer, &shape);
        name.pop();
        name.pop();
        name.push(PathElement::key([("port", &json!(81)), ("protocol", &json!("TCP"))]));
        remove(&mut svc, &name, &shape);
        assert_eq!(svc, json!({"metadata": {"finalizers": ["b"]}, "spec": {"ports": [{"port": 80}]}}));
    }

    #[test]
    fn key_fields_go_only_with_their_item() {
        let shape = service_shape();
        let mut svc = json!({"spec": {"ports": [{"port": 80, "name": "x"}]}});
        let mut port = field_path(&["spec", "ports"]);
        port.push(PathElement::key([("port", &json!(80)), ("protocol", &json!("TCP"))]));
        port.push(PathElement::Field("port".into()));
        remove(&mut svc, &port, &shape);
        assert_eq!(svc["spec"]["ports"], json!([{"port": 80, "name": "x"}]));
        port.pop();
        remove(&mut svc, &port, &shape);
        assert_eq!(svc["spec"]["ports"], json!([]));
    }
}
