//! Label selectors (equality and set-based) and field selectors, parsed once per request.
//!
//! In: the `labelSelector` / `fieldSelector` query strings. Out: a [`Selector`] that
//! matches objects, or a message for a 400 BadRequest.

use serde_json::Value;

use crate::validation::{is_label_value, is_qualified_name};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Eq(v), Some(actual)) => v == actual,
            (Op::Eq(_), None) => false,
            (Op::NotEq(v), actual) => actual != Some(v.as_str()),
            (Op::In(vs), Some(actual)) => vs.iter().any(|v| v == actual),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), actual) => actual.is_none_or(|a| !vs.iter().any(|v| v == a)),
            (Op::Exists, actual) => actual.is_some(),
            (Op::NotExists, actual) => actual.is_none(),
        }
    }
}

/// A parsed label selector plus field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

/// The fields every kind's field selector may name.
pub const METADATA_FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

impl Selector {
    /// Parses both selectors; the error text is what the client sees in a 400.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let labels = labels.map(parse_labels).transpose()?.unwrap_or_default();
        let fields = fields.map(parse_fields).transpose()?.unwrap_or_default();
        Ok(Selector { labels, fields })
    }

    /// Checks the field selector against the kind's field labels and maps each label to the
    /// path it reads in the stored object (`extra` pairs label → stored path; the metadata
    /// labels are always allowed). The error is the real server's 400 message.
    pub fn resolve_fields(mut self, extra: &[(&str, &str)]) -> Result<Selector, String> {
        for requirement in &mut self.fields {
            if METADATA_FIELDS.contains(&requirement.key.as_str()) {
                continue;
            }
            match extra.iter().find(|(label, _)| *label == requirement.key) {
                Some((_, path)) => requirement.key = (*path).to_owned(),
                None => return Err(format!("field label not supported: {}", requirement.key)),
            }
        }
        Ok(self)
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// The name an `metadata.name=x` field selector pins, if any (lets watches filter early).
    pub fn pinned_name(&self) -> Option<&str> {
        self.fields.iter().find_map(|r| match &r.op {
            Op::Eq(v) if r.key == "metadata.name" => Some(v.as_str()),
            _ => None,
        })
    }

    /// Whether `object` matches.
    pub fn matches(&self, object: &Value) -> bool {
        let meta = object.get("metadata");
        let labels = meta.and_then(|m| m.get("labels"));
        let label_ok =
            self.labels.iter().all(|r| r.matches(labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str)));
        label_ok
            && self.fields.iter().all(|r| {
                let value = r.key.split('.').try_fold(object, |v, part| v.get(part));
                let text = match value {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                r.matches(Some(&text))
            })
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

fn check_key(key: &str) -> Result<String, String> {
    if is_qualified_name(key) {
        Ok(key.to_owned())
    } else {
        Err(format!("unable to parse requirement: invalid label key \"{key}\""))
    }
}

fn check_value(value: &str) -> Result<String, String> {
    if is_label_value(value) {
        Ok(value.to_owned())
    } else {
        Err(format!("unable to parse requirement: invalid label value: \"{value}\""))
    }
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(|| {
        format!("unable to parse requirement: expected a parenthesised set, found {rest:?}")
    })?;
    inner.split(',').map(|v| check_value(v.trim())).collect()
}

fn parse_labels(text: &str) -> Result<Vec<Requirement>, String> {
    split_top_level(text)
        .into_iter()
        .map(|part| {
            if let Some(key) = part.strip_prefix('!') {
                return Ok(Requirement { key: check_key(key.trim())?, op: Op::NotExists });
            }
            for (sep, make) in [("!=", 1), ("==", 0), ("=", 0)] {
                if let Some((key, value)) = part.split_once(sep) {
                    let value = check_value(value.trim())?;
                    let op = if make == 1 { Op::NotEq(value) } else { Op::Eq(value) };
                    return Ok(Requirement { key: check_key(key.trim())?, op });
                }
            }
            let mut words = part.splitn(2, char::is_whitespace);
            let key = words.next().unwrap_or("");
            let rest = words.next().unwrap_or("").trim();
            if let Some(set) = rest.strip_prefix("notin") {
                return Ok(Requirement { key: check_key(key)?, op: Op::NotIn(parse_set(set)?) });
            }
            if let Some(set) = rest.strip_prefix("in") {
                return Ok(Requirement { key: check_key(key)?, op: Op::In(parse_set(set)?) });
            }
            if rest.is_empty() {
                return Ok(Requirement { key: check_key(key)?, op: Op::Exists });
            }
            Err(format!("unable to parse requirement: {part:?}"))
        })
        .collect()
}

fn parse_fields(text: &str) -> Result<Vec<Requirement>, String> {
    split_top_level(text)
        .into_iter()
        .map(|part| {
            let (key, op) = if let Some((k, v)) = part.split_once("!=") {
                (k, Op::NotEq(v.trim().to_owned()))
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k, Op::Eq(v.trim().to_owned()))
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("invalid selector: '{part}'"));
            }
            Ok(Requirement { key: key.to_owned(), op })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_selectors() {
        let s = Selector::parse(Some("app=web,tier!=db"), None).unwrap();
        assert!(s.matches(&obj(json!({"app": "web"}))));
        assert!(!s.matches(&obj(json!({"app": "web", "tier": "db"}))));
        assert!(!s.matches(&obj(json!({}))));
    }

    #[test]
    fn set_selectors() {
        let s = Selector::parse(Some("env in (prod, staging),team notin (x),owner,!legacy"), None).unwrap();
        assert!(s.matches(&obj(json!({"env": "prod", "owner": "me"}))));
        assert!(!s.matches(&obj(json!({"env": "dev", "owner": "me"}))));
        assert!(!s.matches(&obj(json!({"env": "prod", "owner": "me", "legacy": "1"}))));
        assert!(!s.matches(&obj(json!({"env": "prod", "owner": "me", "team": "x"}))));
    }

    #[test]
    fn field_selectors() {
        let s = Selector::parse(None, Some("metadata.name=a,metadata.namespace!=other")).unwrap();
        assert!(s.matches(&obj(json!({}))));
        assert_eq!(s.pinned_name(), Some("a"));
        let unknown = Selector::parse(None, Some("spec.x=1")).unwrap().resolve_fields(&[]);
        assert_eq!(unknown.unwrap_err(), "field label not supported: spec.x");
        let event =
            json!({"metadata": {"name": "e"}, "involvedObject": {"name": "pod-1"}, "type": "Warning"});
        let mapped = Selector::parse(None, Some("regarding.name=pod-1,type=Warning"))
            .unwrap()
            .resolve_fields(&[("regarding.name", "involvedObject.name"), ("type", "type")])
            .unwrap();
        assert!(mapped.matches(&event));
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(Selector::parse(Some("a in b"), None).is_err());
        assert!(Selector::parse(Some("bad key=1"), None).is_err());
        assert!(Selector::parse(Some("a=b c"), None).is_err());
    }
}
