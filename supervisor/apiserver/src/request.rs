//! Parsing a request URL into what it asks for, as Kubernetes' RequestInfoFactory does.
//!
//! In: method, path and query. Out: a [`Target`] (discovery document or resource request)
//! and the typed [`Params`] every handler reads. A malformed parameter is a 400 here, before
//! anything else runs.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;

use crate::selectors::Selector;
use crate::status::ApiError;

/// What a path under `/api` or `/apis` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/apis/{group}`: the group document.
    Group {
        /// Group name.
        group: String,
    },
    /// `/api/v1` or `/apis/{group}/{version}`: the resource list.
    ResourceList {
        /// Group, empty for core.
        group: String,
        /// Version.
        version: String,
    },
    /// A resource, a collection or a subresource.
    Resource(ResourcePath),
}

/// The resource part of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// Group, empty for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource (`status`), if any.
    pub subresource: Option<String>,
}

/// The verb a request performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET with `watch=true`.
    Watch,
    /// POST to a collection.
    Create,
    /// PUT of one object.
    Update,
    /// PATCH of one object.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

/// Parses `/api/...` and `/apis/...` paths; `None` for anything else.
pub fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (String::new(), (*version).to_owned(), rest),
        ["apis", group] => return Some(Target::Group { group: (*group).to_owned() }),
        ["apis", group, version, rest @ ..] => ((*group).to_owned(), (*version).to_owned(), rest),
        _ => return None,
    };
    if rest.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut rest = rest.to_vec();
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_owned());
        if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
            rest.drain(..2);
        } else {
            // The namespace object itself (or its subresource).
            namespace = None;
        }
    }
    let owned = |s: &&str| (*s).to_owned();
    match rest.as_slice() {
        [] => Some(Target::ResourceList { group, version }),
        [plural, tail @ ..] if tail.len() <= 2 => Some(Target::Resource(ResourcePath {
            group,
            version,
            namespace,
            plural: (*plural).to_owned(),
            name: tail.first().map(owned),
            subresource: tail.get(1).map(owned),
        })),
        _ => None,
    }
}

/// Decides the verb from the method, whether a name is present and `watch`.
pub fn verb(method: &Method, has_name: bool, watch: bool) -> Option<Verb> {
    Some(match (method.as_str(), has_name) {
        ("GET", _) if watch => Verb::Watch,
        ("GET", true) => Verb::Get,
        ("GET", false) => Verb::List,
        ("POST", false) => Verb::Create,
        ("PUT", true) => Verb::Update,
        ("PATCH", true) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        ("DELETE", false) => Verb::DeleteCollection,
        _ => return None,
    })
}

/// `fieldValidation`: what to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in a `Warning` header (the default).
    Warn,
    /// Refuse the request (400).
    Strict,
}

/// The query parameters handlers use, parsed and checked.
#[derive(Debug, Clone)]
pub struct Params {
    /// `watch=true|1`.
    pub watch: bool,
    /// `resourceVersion`, parsed; `Some(0)` for "0".
    pub resource_version: Option<u64>,
    /// Label and field selectors.
    pub selector: Selector,
    /// `limit` (0 = none).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `includeObject` (Table responses).
    pub include_object: Option<String>,
    /// `sendInitialEvents` (streaming lists): initial state, then a marked BOOKMARK.
    pub send_initial_events: bool,
    /// `fieldManager`: who owns the fields this write sets.
    pub field_manager: Option<String>,
    /// `force` (server-side apply only): `Some(true)` takes conflicting fields.
    pub force: Option<bool>,
    /// `propagationPolicy` (deletes): Background, Foreground or Orphan.
    pub propagation_policy: Option<String>,
}

fn flag(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("true" | "1"))
}

impl Params {
    /// Parses the query string.
    pub fn parse(query: Option<&str>) -> Result<Params, ApiError> {
        let map: HashMap<String, String> = match query {
            Some(q) => serde_urlencoded_pairs(q),
            None => HashMap::new(),
        };
        let resource_version = match map.get("resourceVersion").map(String::as_str) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text:?}")))?,
            ),
        };
        let selector = Selector::parse(
            map.get("labelSelector").map(String::as_str).filter(|s| !s.is_empty()),
            map.get("fieldSelector").map(String::as_str).filter(|s| !s.is_empty()),
        )
        .map_err(ApiError::bad_request)?;
        let limit = match map.get("limit") {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {text:?}")))?
                .max(0) as usize,
        };
        let timeout = match map.get("timeoutSeconds") {
            None => None,
            Some(text) => Some(Duration::from_secs(
                text.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {text:?}")))?,
            )),
        };
        let dry_run = match map.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun value: {other:?}; supported values: \"All\""
                )));
            }
        };
        let field_validation = match map.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
                )));
            }
        };
        Ok(Params {
            watch: flag(map.get("watch")),
            resource_version,
            selector,
            limit,
            continue_token: map.get("continue").filter(|c| !c.is_empty()).cloned(),
            bookmarks: flag(map.get("allowWatchBookmarks")),
            timeout,
            dry_run,
            field_validation,
            include_object: map.get("includeObject").cloned(),
            send_initial_events: flag(map.get("sendInitialEvents")),
            field_manager: map.get("fieldManager").filter(|m| !m.is_empty()).cloned(),
            propagation_policy: map.get("propagationPolicy").filter(|m| !m.is_empty()).cloned(),
            force: match map.get("force").map(String::as_str) {
                None => None,
                Some("true" | "1") => Some(true),
                Some("false" | "0" | "") => Some(false),
                Some(other) => {
                    return Err(ApiError::bad_request(format!("invalid force: {other:?}")));
                }
            },
        })
    }
}

fn serde_urlencoded_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1]).zip(hex(bytes[i + 2])).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath {
        match parse_path(path) {
            Some(Target::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn core_and_grouped_paths() {
        let r = resource("/api/v1/namespaces/default/configmaps/a");
        assert_eq!(
            (r.group.as_str(), r.namespace.as_deref(), r.plural.as_str(), r.name.as_deref()),
            ("", Some("default"), "configmaps", Some("a"))
        );
        let r = resource("/apis/example.com/v1/namespaces/ns/widgets/w/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = resource("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
        assert_eq!((r.namespace, r.name), (None, None));
        assert_eq!(parse_path("/apis/example.com"), Some(Target::Group { group: "example.com".into() }));
        assert_eq!(
            parse_path("/api/v1"),
            Some(Target::ResourceList { group: String::new(), version: "v1".into() })
        );
        assert_eq!(parse_path("/nope"), None);
        assert_eq!(parse_path("/api/v1/a/b/c/d"), None);
    }

    #[test]
    fn namespaces_and_their_subresources() {
        let r = resource("/api/v1/namespaces/ns1");
        assert_eq!((r.plural.as_str(), r.name.as_deref(), r.namespace), ("namespaces", Some("ns1"), None));
        let r = resource("/api/v1/namespaces/ns1/status");
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("namespaces", Some("ns1"), Some("status"))
        );
        let r = resource("/api/v1/namespaces");
        assert_eq!((r.plural.as_str(), r.name), ("namespaces", None));
    }

    #[test]
    fn params_parse_and_refuse() {
        let p = Params::parse(Some(
            "watch=1&resourceVersion=12&labelSelector=app%3Dweb&timeoutSeconds=5&dryRun=All",
        ))
        .unwrap();
        assert!(p.watch && p.dry_run);
        assert_eq!(p.resource_version, Some(12));
        assert_eq!(p.timeout, Some(Duration::from_secs(5)));
        assert_eq!(Params::parse(Some("resourceVersion=abc")).unwrap_err().code, 400);
        assert_eq!(Params::parse(Some("dryRun=Some")).unwrap_err().code, 400);
        assert_eq!(Params::parse(Some("fieldSelector=%3D1")).unwrap_err().code, 400);
    }

    #[test]
    fn verbs() {
        assert_eq!(verb(&Method::GET, false, true), Some(Verb::Watch));
        assert_eq!(verb(&Method::PUT, false, false), None);
        assert_eq!(verb(&Method::DELETE, false, false), Some(Verb::DeleteCollection));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Db+c%2"), "a=b c%2");
    }
}
