//! A plugin's request path as NSX or vCenter will read it.
//!
//! Parsed once, before any gate of [`super::host`]: the path's segments must
//! mean what they say to every server (no `.`, `/`, `\`, `;`, `%`, `?` or
//! `#` hidden in percent-encoding, no backslash, no `;` parameters, no `//`,
//! no `.` or `..` segment), and the query is decoded once into pairs, no key
//! twice. The gates judge that decoded form, and the host sends its
//! canonical re-encoding ([`RequestTarget::wire`]), so the request a server
//! reads is the one that was judged: `?%61ction=attach&action=list` is two
//! `action` keys, refused, not a harmless list.

use std::collections::BTreeSet;

/// Characters a percent-encoding in a path may not stand for: each changes
/// how some server splits or resolves the path.
const HIDDEN: &[u8] = b"./\\;%?#";

/// Why a request path was refused before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Not `/…`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// `%2e`, `%2f`, `%5c`, … in a segment.
    #[error("path segment {0:?} percent-encodes a '.', '/', '\\', ';', '%', '?' or '#'; write it plainly")]
    EncodedSeparator(String),
    /// A `%` not followed by two hex digits.
    #[error("path segment {0:?} has a '%' that is not a percent-encoding")]
    BadEncoding(String),
    /// `\`, which some servers read as `/`.
    #[error("the path contains a backslash")]
    Backslash,
    /// `;` path parameters, which some servers strip before routing.
    #[error("path segment {0:?} has ';' parameters")]
    Parameters(String),
    /// `//`.
    #[error("the path has an empty segment ('//')")]
    EmptySegment,
    /// `.` or `..`.
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    /// `#…`: never sent to a server, so never what was judged.
    #[error("the path has a fragment ('#')")]
    Fragment,
    /// The same query key twice (after decoding).
    #[error("query key {0:?} appears more than once")]
    DuplicateKey(String),
}

/// A path and its decoded query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    path: String,
    query: Vec<(String, String)>,
}

impl RequestTarget {
    /// Parses and checks `raw` (`/path?query`).
    pub fn parse(raw: &str) -> Result<Self, Unreadable> {
        if raw.contains('#') {
            return Err(Unreadable::Fragment);
        }
        let (path, query) = raw.split_once('?').map_or((raw, None), |(p, q)| (p, Some(q)));
        check_path(path)?;
        let mut seen = BTreeSet::new();
        let mut pairs = Vec::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !seen.insert(key.clone()) {
                return Err(Unreadable::DuplicateKey(key.into_owned()));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(Self { path: path.to_owned(), query: pairs })
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The decoded value of query key `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `?action=` of the request, decoded.
    pub fn action(&self) -> Option<&str> {
        self.query("action")
    }

    /// What the host sends: the path and the decoded query re-encoded one
    /// canonical way.
    pub fn wire(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.query).finish();
        format!("{}?{query}", self.path)
    }
}

fn check_path(path: &str) -> Result<(), Unreadable> {
    let Some(body) = path.strip_prefix('/') else { return Err(Unreadable::NotAbsolute) };
    if path.contains('\\') {
        return Err(Unreadable::Backslash);
    }
    if body.is_empty() {
        return Ok(());
    }
    let body = body.strip_suffix('/').unwrap_or(body);
    for segment in body.split('/') {
        match segment {
            "" => return Err(Unreadable::EmptySegment),
            "." | ".." => return Err(Unreadable::DotSegment),
            s if s.contains(';') => return Err(Unreadable::Parameters(s.to_owned())),
            s => check_encodings(s)?,
        }
    }
    Ok(())
}

fn check_encodings(segment: &str) -> Result<(), Unreadable> {
    let bytes = segment.as_bytes();
    for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'%') {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
            return Err(Unreadable::BadEncoding(segment.to_owned()));
        };
        if HIDDEN.contains(&byte) {
            return Err(Unreadable::EncodedSeparator(segment.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_before_sending() {
        let cases = [
            ("/policy/api/v1/infra/segments/%2e%2e/tier-1s/t1", "percent-encodes"),
            ("/policy/api/v1/infra/segments/%2E%2E", "percent-encodes"),
            ("/policy/api/v1/infra/segments/a%2ftier-1s", "percent-encodes"),
            ("/policy/api/v1/infra/segments/a%5Cb", "percent-encodes"),
            ("/policy/api/v1/infra/segments/a%252e", "percent-encodes"),
            ("/policy/api/v1/infra/segments/a%3bx", "percent-encodes"),
            ("/policy/api/v1/infra/segments/a%zz", "not a percent-encoding"),
            ("/policy/api/v1/infra/segments/a%2", "not a percent-encoding"),
            ("/policy/api/v1/infra/segments\\..\\tier-1s", "backslash"),
            ("/policy/api/v1/infra/segments/s1;jsessionid=x", "';' parameters"),
            ("/policy/api/v1/infra/segments/..;/tier-1s", "';' parameters"),
            ("/policy/api/v1/infra//segments/s1", "empty segment"),
            ("/policy/api/v1/infra/segments/./s1", "'.' or '..'"),
            ("/policy/api/v1/infra/segments/../tier-1s/t1", "'.' or '..'"),
            ("/api/vcenter/vm/vm-1#frag", "fragment"),
            ("api/vcenter/vm", "start with '/'"),
            (
                "/api/cis/tagging/tag-association/t?%61ction=attach&action=list-attached-objects",
                "appears more than once",
            ),
            ("/api/vcenter/vm?action=a&action=b", "appears more than once"),
        ];
        for (path, error) in cases {
            let refused = RequestTarget::parse(path).expect_err(path).to_string();
            assert!(refused.contains(error), "{path}: {refused}");
        }
    }

    #[test]
    fn query_is_decoded_once_and_sent_canonically() {
        let t = RequestTarget::parse("/api/cis/tagging/tag-association/t1?%61ction=attach").unwrap();
        assert_eq!(t.action(), Some("attach"), "judged as the server decodes it");
        assert_eq!(t.wire(), "/api/cis/tagging/tag-association/t1?action=attach");
        // Decoded once: a double encoding stays a literal '%61'.
        let t = RequestTarget::parse("/api/vcenter/vm?%2561ction=attach").unwrap();
        assert_eq!(t.action(), None);
        assert_eq!(t.query("%61ction"), Some("attach"));
        assert_eq!(t.wire(), "/api/vcenter/vm?%2561ction=attach");
    }

    #[test]
    fn ordinary_paths_pass_unchanged() {
        for path in [
            "/policy/api/v1/infra/segments/s1",
            "/policy/api/v1/infra/segments/",
            "/api/vcenter/vm/vm-42/power?action=start",
            "/api/cis/tagging/tag/urn%3Avmomi%3AInventoryServiceTag%3Ax%3AGLOBAL",
            "/",
        ] {
            let t = RequestTarget::parse(path).unwrap();
            assert_eq!(t.wire(), path);
        }
    }
}
