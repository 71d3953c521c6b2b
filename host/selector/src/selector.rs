//! A label selector, parsed once into requirements so matching never
//! re-reads the text; the parse errors are the API server's 400 messages.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::syntax::{is_label_value, is_qualified_name};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::Equals(v), actual) => actual == Some(v.as_str()),
            (Op::NotEquals(v), actual) => actual != Some(v.as_str()),
            (Op::In(vs), Some(actual)) => vs.iter().any(|v| v == actual),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), actual) => actual.is_none_or(|a| !vs.iter().any(|v| v == a)),
            (Op::Exists, actual) => actual.is_some(),
            (Op::DoesNotExist, actual) => actual.is_none(),
        }
    }
}

/// A parsed selector: every requirement must hold (logical AND); the empty
/// selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    text: String,
    requirements: Vec<Requirement>,
}

/// Why a selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {text:?}: {reason}")]
pub struct SelectorError {
    text: String,
    reason: String,
}

impl SelectorError {
    /// What is wrong, as the API server words it in a 400.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl LabelSelector {
    /// Parses Kubernetes selector syntax; keys must be qualified names and
    /// values label values, as the API server requires.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let requirements = split_clauses(text)
            .into_iter()
            .map(requirement)
            .collect::<Result<_, _>>()
            .map_err(|reason| SelectorError { text: text.to_owned(), reason })?;
        Ok(Self { text: text.to_owned(), requirements })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's labels (`None`: it has none) satisfy every requirement.
    pub fn matches_labels(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_labels(Some(labels))
    }

    /// Whether an object as JSON satisfies every requirement (its
    /// `metadata.labels`; a missing map is no labels).
    pub fn matches_object(&self, object: &Value) -> bool {
        // Not `Value::pointer`, which allocates each segment: watches match every change.
        let labels = object.get("metadata").and_then(|metadata| metadata.get("labels"));
        self.requirements
            .iter()
            .all(|r| r.matches(labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str)))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits on commas outside parentheses; blank clauses are dropped.
fn split_clauses(text: &str) -> Vec<&str> {
    let mut clauses = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                clauses.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    clauses.push(&text[start..]);
    clauses.into_iter().map(str::trim).filter(|c| !c.is_empty()).collect()
}

fn key(key: &str) -> Result<String, String> {
    if is_qualified_name(key) {
        Ok(key.to_owned())
    } else {
        Err(format!("unable to parse requirement: invalid label key \"{key}\""))
    }
}

fn value(value: &str) -> Result<String, String> {
    if is_label_value(value) {
        Ok(value.to_owned())
    } else {
        Err(format!("unable to parse requirement: invalid label value: \"{value}\""))
    }
}

fn set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(|| {
        format!("unable to parse requirement: expected a parenthesised set, found {rest:?}")
    })?;
    inner.split(',').map(|v| value(v.trim())).collect()
}

fn requirement(clause: &str) -> Result<Requirement, String> {
    if let Some(k) = clause.strip_prefix('!') {
        return Ok(Requirement { key: key(k.trim())?, op: Op::DoesNotExist });
    }
    if let Some((k, v)) = clause.split_once("!=") {
        return Ok(Requirement { key: key(k.trim())?, op: Op::NotEquals(value(v.trim())?) });
    }
    if let Some((k, v)) = clause.split_once("==").or_else(|| clause.split_once('=')) {
        return Ok(Requirement { key: key(k.trim())?, op: Op::Equals(value(v.trim())?) });
    }
    let mut words = clause.splitn(2, char::is_whitespace);
    let k = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    if let Some(values) = rest.strip_prefix("notin") {
        return Ok(Requirement { key: key(k)?, op: Op::NotIn(set(values)?) });
    }
    if let Some(values) = rest.strip_prefix("in") {
        return Ok(Requirement { key: key(k)?, op: Op::In(set(values)?) });
    }
    if rest.is_empty() {
        return Ok(Requirement { key: key(k)?, op: Op::Exists });
    }
    Err(format!("unable to parse requirement: {clause:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn equality_and_sets() {
        let s = LabelSelector::parse("app=web, tier!=db,env in (prod, staging),!legacy,team").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod"), ("team", "a"), ("legacy", "")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        let notin = LabelSelector::parse("env notin (prod)").unwrap();
        assert!(notin.matches(&labels(&[])));
        assert!(!notin.matches(&labels(&[("env", "prod")])));
        assert!(LabelSelector::parse("app==web").unwrap().matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn an_object_without_labels_matches_only_absence_requirements() {
        assert!(LabelSelector::parse("!legacy").unwrap().matches_labels(None));
        assert!(!LabelSelector::parse("app=web").unwrap().matches_labels(None));
        assert!(LabelSelector::parse("tier!=db").unwrap().matches_object(&json!({"metadata": {}})));
        assert!(!LabelSelector::parse("app").unwrap().matches_object(&json!({"metadata": {}})));
    }

    #[test]
    fn maps_and_json_objects_agree() {
        let s = LabelSelector::parse("env in (prod),!legacy,owner").unwrap();
        for pairs in
            [&[("env", "prod"), ("owner", "me")][..], &[("env", "dev"), ("owner", "me")], &[("owner", "")]]
        {
            let map = labels(pairs);
            let object = json!({"metadata": {"labels": map}});
            assert_eq!(s.matches(&map), s.matches_object(&object), "{pairs:?}");
        }
    }

    #[test]
    fn bad_selectors_name_the_problem_as_the_api_server_does() {
        let reason = |text: &str| LabelSelector::parse(text).unwrap_err().reason().to_owned();
        assert_eq!(
            reason("a in b"),
            "unable to parse requirement: expected a parenthesised set, found \" b\""
        );
        assert_eq!(reason("bad key=1"), "unable to parse requirement: invalid label key \"bad key\"");
        assert_eq!(reason("a=b c"), "unable to parse requirement: invalid label value: \"b c\"");
        assert!(
            LabelSelector::parse("env in prod").unwrap_err().to_string().contains("invalid label selector")
        );
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }
}
