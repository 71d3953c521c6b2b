//! Kubernetes label selectors (`app=web,tier!=db`, `env in (a,b)`, `!legacy`).
//!
//! Parsed once into requirements so matching never re-reads the text. The
//! in-memory kube backend matches with it; real API servers get the text.

use std::collections::BTreeMap;
use std::fmt;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector: every requirement must hold (logical AND).
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl LabelSelector {
    /// Parses Kubernetes selector syntax.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |reason: &str| SelectorError { text: text.to_owned(), reason: reason.to_owned() };
        let mut requirements = Vec::new();
        for clause in split_clauses(text) {
            let clause = clause.trim();
            if clause.is_empty() {
                continue;
            }
            let requirement = if let Some(key) = clause.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_owned())
            } else if let Some((key, values)) = split_set(clause, " notin ") {
                Requirement::NotIn(key, values.ok_or_else(|| fail("values after 'notin' need parentheses"))?)
            } else if let Some((key, values)) = split_set(clause, " in ") {
                Requirement::In(key, values.ok_or_else(|| fail("values after 'in' need parentheses"))?)
            } else if let Some((key, value)) = clause.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = clause.split_once("==").or_else(|| clause.split_once('=')) {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else {
                Requirement::Exists(clause.to_owned())
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::DoesNotExist(k) => k,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(fail(&format!("bad key in {clause:?}")));
            }
            requirements.push(requirement);
        }
        Ok(Self { text: text.to_owned(), requirements })
    }

    /// Whether an object's labels (`None`: it has none) satisfy every requirement.
    pub fn matches_labels(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.matches(labels.unwrap_or(&NONE))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits on commas outside parentheses.
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
    clauses
}

/// `key in (a, b)` → `(key, Some([a, b]))`; `None` values when the
/// parentheses are missing.
fn split_set(clause: &str, op: &str) -> Option<(String, Option<Vec<String>>)> {
    let (key, rest) = clause.split_once(op)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect());
    Some((key.trim().to_owned(), values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_object_without_labels_matches_only_absence_requirements() {
        assert!(LabelSelector::parse("!legacy").unwrap().matches_labels(None));
        assert!(!LabelSelector::parse("app=web").unwrap().matches_labels(None));
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        assert!(LabelSelector::parse("app=web").unwrap().matches_labels(Some(&labels)));
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
    }

    #[test]
    fn bad_selectors_name_the_problem() {
        assert!(LabelSelector::parse("env in prod").unwrap_err().to_string().contains("parentheses"));
        assert!(LabelSelector::parse("a b=c").unwrap_err().to_string().contains("bad key"));
        assert!(LabelSelector::parse("").unwrap().matches(&labels(&[])));
    }
}
