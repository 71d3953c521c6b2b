//! `GET /policy/api/v1/search/query?query=…`: the subset of NSX's Lucene search that
//! controllers use to find their objects by type and tags. `GET /policy/api/v1/search`
//! is the same search under its pre-3.0 path, which real managers still serve and which
//! nsxlib uses whenever it has not read a 3.x version (its default configuration).
//!
//! Supported: terms joined by `AND`, each `field:value` with `\` escapes and an optional
//! trailing `*` for a prefix; `tags.scope` / `tags.tag` match any tag of the object (as
//! Lucene does over arrays); other fields match top-level string values; a bare value
//! matches `id` or `display_name`. Anything else is a 400 rather than a wrong answer.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::NsxState;
use super::error::NsxError;
use super::objects::render;
use super::paging::{ListParams, search_page};

/// One `field:value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: Option<String>,
    value: String,
    prefix: bool,
}

/// The search handler.
pub(crate) async fn query(State(state): State<NsxState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = ListParams::parse(raw.as_deref())?;
        let query = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| NsxError::invalid("query is required."))?;
        let terms = parse(&query)?;
        state
            .transact(move |tx| {
                let hits = tx
                    .list_under("/infra/")?
                    .into_iter()
                    .map(|(_, _, body)| render(&body))
                    .filter(|body| terms.iter().all(|t| t.matches(body)))
                    .collect();
                Ok::<_, NsxError>(search_page(hits, &params))
            })
            .await
    };
    match result.await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn parse(query: &str) -> Result<Vec<Term>, NsxError> {
    query
        .split(" AND ")
        .map(str::trim)
        .map(|term| {
            if term.is_empty() || term.contains(" OR ") || term.starts_with("NOT ") || term.contains('(') {
                return Err(NsxError::invalid(format!("Unsupported search term {term:?}.")));
            }
            let (field, raw) = match split_unescaped_colon(term) {
                Some((f, v)) => (Some(unescape(f)), v),
                None => (None, term),
            };
            let raw = raw.trim_matches('"');
            let prefix = raw.ends_with('*') && !raw.ends_with("\\*");
            let value = unescape(raw.strip_suffix('*').filter(|_| prefix).unwrap_or(raw));
            Ok(Term { field, value, prefix })
        })
        .collect()
}

fn split_unescaped_colon(term: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ':' if !escaped => return Some((&term[..i], &term[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Term {
    fn matches(&self, body: &Value) -> bool {
        let hit = |candidate: Option<&str>| {
            candidate.is_some_and(|c| if self.prefix { c.starts_with(&self.value) } else { c == self.value })
        };
        let tags = || body.get("tags").and_then(Value::as_array).into_iter().flatten();
        match self.field.as_deref() {
            Some("tags.scope") => tags().any(|t| hit(t.get("scope").and_then(Value::as_str))),
            Some("tags.tag") => tags().any(|t| hit(t.get("tag").and_then(Value::as_str))),
            Some(field) => hit(body.get(field).and_then(Value::as_str)),
            None => {
                hit(body.get("id").and_then(Value::as_str))
                    || hit(body.get("display_name").and_then(Value::as_str))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_type_and_tags() {
        let terms =
            parse(r"resource_type:Segment AND tags.scope:wasmvisor\/cluster AND tags.tag:c1").unwrap();
        let seg = json!({"resource_type": "Segment", "tags": [{"scope": "wasmvisor/cluster", "tag": "c1"}]});
        let other =
            json!({"resource_type": "Segment", "tags": [{"scope": "wasmvisor/cluster", "tag": "c2"}]});
        assert!(terms.iter().all(|t| t.matches(&seg)));
        assert!(!terms.iter().all(|t| t.matches(&other)));
    }

    #[test]
    fn prefix_and_bare_terms() {
        let terms = parse("display_name:ns1-*").unwrap();
        assert!(terms[0].prefix);
        assert!(terms[0].matches(&json!({"display_name": "ns1-vnet"})));
        assert!(parse("seg-a").unwrap()[0].matches(&json!({"id": "seg-a"})));
    }

    #[test]
    fn refuses_unsupported_syntax() {
        assert!(parse("a:b OR c:d").is_err());
        assert!(parse("(a:b)").is_err());
    }
}
