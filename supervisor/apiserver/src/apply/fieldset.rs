//! Field paths and field sets, and their `fieldsV1` encoding in `metadata.managedFields`.
//!
//! A [`Path`] names one field of an object the way structured-merge-diff does: a struct
//! field (`f:name`), an item of a keyed list by its keys (`k:{"port":80,"protocol":"TCP"}`),
//! an item of a set by its value (`v:"x"`) or an item of an atomic list by index (`i:0`).
//! A [`FieldSet`] is a set of such paths; a manager owns every path in its set. In
//! `fieldsV1`, a path that is owned and also has owned children carries a `".": {}` entry.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of a keyed list, by its key fields (sorted by name, values as JSON text).
    Key(Vec<(String, String)>),
    /// An item of a set, by its value (JSON text).
    Value(String),
    /// An item of a list by position (only for lists decoded from `fieldsV1`).
    Index(usize),
}

impl PathElement {
    /// The keyed-list element for `keys` with their JSON values.
    pub fn key<'a>(keys: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let mut pairs: Vec<(String, String)> =
            keys.into_iter().map(|(k, v)| (k.to_owned(), v.to_string())).collect();
        pairs.sort();
        PathElement::Key(pairs)
    }

    /// The `fieldsV1` key of this element.
    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(pairs) => {
                let body: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
                format!("k:{{{}}}", body.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key; `None` if it is not one.
    fn decode(text: &str) -> Option<PathElement> {
        let (prefix, rest) = text.split_once(':')?;
        match prefix {
            "f" => Some(PathElement::Field(rest.to_owned())),
            "v" => serde_json::from_str::<Value>(rest).ok().map(|v| PathElement::Value(v.to_string())),
            "i" => rest.parse().ok().map(PathElement::Index),
            "k" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(map) => Some(PathElement::key(map.iter().map(|(k, v)| (k.as_str(), v)))),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(pairs) => {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", body.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

/// Formats a path as the real server prints it in conflicts: `.spec.ports[port=80,protocol="TCP"].name`.
pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Builds a path of struct fields: `field_path(&["metadata", "labels"])`.
pub fn field_path(fields: &[&str]) -> Path {
    fields.iter().map(|f| PathElement::Field((*f).to_owned())).collect()
}

/// A set of owned paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Adds a path.
    pub fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    /// Whether `path` itself is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.0.contains(path)
    }

    /// Whether the set holds `path` or anything below it.
    pub fn has_at_or_below(&self, path: &[PathElement]) -> bool {
        self.0.range(path.to_vec()..).next().is_some_and(|p| p.starts_with(path))
    }

    /// Whether the set holds `path` or one of its ancestors.
    pub fn covers(&self, path: &[PathElement]) -> bool {
        (0..=path.len()).any(|n| self.0.contains(&path[..n]))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many paths the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The paths, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Path> {
        self.0.iter()
    }

    /// Adds every path of `other`.
    pub fn extend(&mut self, other: &FieldSet) {
        self.0.extend(other.0.iter().cloned());
    }

    /// Keeps the paths for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        self.0.retain(|p| keep(p));
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    /// The paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Encodes the set as `fieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                let entry = node.entry(element.encode()).or_insert_with(|| Value::Object(Map::new()));
                node = match entry {
                    Value::Object(map) => map,
                    _ => unreachable!("fieldsV1 nodes are objects"),
                };
            }
        }
        // An owned path that also has owned children is marked with ".".
        for path in &self.0 {
            let mut node = &mut root;
            for element in path {
                node = match node.get_mut(&element.encode()) {
                    Some(Value::Object(map)) => map,
                    _ => unreachable!("built above"),
                };
            }
            if !node.is_empty() && !node.contains_key(".") {
                node.insert(".".into(), Value::Object(Map::new()));
            }
        }
        Value::Object(root)
    }

    /// Decodes `fieldsV1`; entries that are not path elements are skipped.
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        fn walk(node: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
            for (key, child) in node {
                if key == "." {
                    out.insert(path.clone());
                    continue;
                }
                let Some(element) = PathElement::decode(key) else { continue };
                path.push(element);
                match child.as_object() {
                    Some(map) if !map.is_empty() => walk(map, path, out),
                    _ => out.insert(path.clone()),
                }
                path.pop();
            }
        }
        let mut out = FieldSet::new();
        if let Some(map) = value.as_object() {
            walk(map, &mut Vec::new(), &mut out);
        }
        out
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> FieldSet {
        FieldSet(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_dot_markers() {
        let port = PathElement::key([("port", &json!(80)), ("protocol", &json!("TCP"))]);
        let mut set = FieldSet::new();
        set.insert(field_path(&["data", "a"]));
        set.insert(vec![PathElement::Field("spec".into()), PathElement::Field("ports".into()), port.clone()]);
        let mut name = field_path(&["spec", "ports"]);
        name.extend([port, PathElement::Field("name".into())]);
        set.insert(name);
        set.insert(vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value("\"x\"".into()),
        ]);
        let encoded = set.to_fields_v1();
        assert_eq!(
            encoded,
            json!({"f:data": {"f:a": {}}, "f:metadata": {"f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}}}}})
        );
        assert_eq!(FieldSet::from_fields_v1(&encoded), set);
    }

    #[test]
    fn paths_display_like_the_real_server() {
        let mut path = field_path(&["spec", "ports"]);
        path.push(PathElement::key([("protocol", &json!("TCP")), ("port", &json!(80))]));
        path.push(PathElement::Field("targetPort".into()));
        assert_eq!(display(&path), ".spec.ports[port=80,protocol=\"TCP\"].targetPort");
        assert_eq!(display(&[PathElement::Value("\"f\"".into())]), "[=\"f\"]");
    }

    #[test]
    fn prefix_queries() {
        let set: FieldSet = [field_path(&["data", "a"])].into_iter().collect();
        assert!(set.has_at_or_below(&field_path(&["data"])));
        assert!(!set.has_at_or_below(&field_path(&["spec"])));
        assert!(set.covers(&field_path(&["data", "a", "b"])));
        assert!(!set.covers(&field_path(&["data"])));
    }
}
