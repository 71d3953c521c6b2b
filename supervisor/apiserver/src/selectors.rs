//! A request's label selector (the `wasmvisor-selector` crate, which the
//! host's cached reads share) and field selector, parsed once per request.
//!
//! In: the `labelSelector` / `fieldSelector` query strings. Out: a [`Selector`] that
//! matches objects, or a message for a 400 BadRequest.

use serde_json::Value;
use wasmvisor_selector::LabelSelector;

/// A field requirement: the real server's field selectors know `=`, `==` and `!=`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    /// The field label, then (after [`Selector::resolve_fields`]) the path it reads.
    key: String,
    value: String,
    equals: bool,
}

/// A parsed label selector plus field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: LabelSelector,
    fields: Vec<FieldRequirement>,
}

/// The fields every kind's field selector may name.
pub const METADATA_FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

impl Selector {
    /// Parses both selectors; the error text is what the client sees in a 400.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let labels = labels.map(LabelSelector::parse).transpose().map_err(|e| e.reason().to_owned())?;
        let fields = fields.map(parse_fields).transpose()?.unwrap_or_default();
        Ok(Selector { labels: labels.unwrap_or_default(), fields })
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
        self.fields.iter().find_map(|r| (r.equals && r.key == "metadata.name").then_some(r.value.as_str()))
    }

    /// Whether `object` matches (an empty selector looks at nothing: lists and watches
    /// without one ask for every object).
    pub fn matches(&self, object: &Value) -> bool {
        if self.is_empty() {
            return true;
        }
        self.labels.matches_object(object)
            && self.fields.iter().all(|r| {
                let value = r.key.split('.').try_fold(object, |v, part| v.get(part));
                let text = match value {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                (text == r.value) == r.equals
            })
    }
}

/// Splits on commas (field values hold no parentheses).
fn parse_fields(text: &str) -> Result<Vec<FieldRequirement>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (key, value, equals) = if let Some((k, v)) = part.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k, v, true)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("invalid selector: '{part}'"));
            }
            Ok(FieldRequirement { key: key.to_owned(), value: value.trim().to_owned(), equals })
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
