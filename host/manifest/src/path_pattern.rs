//! Path patterns for the HTTP-shaped capabilities (`nsx`, `vcenter`).
//!
//! A pattern is parsed once into segments; matching and coverage compare
//! segments, never raw strings, so `/infra/segments/*` cannot be fooled by
//! `/infra/segments/../tier-1s` or a query string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `/`-separated piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `*`: matches any one non-empty segment.
    One,
    /// `**`: matches any number (zero or more) of remaining segments. Only last.
    Rest,
}

/// A parsed path pattern such as `/policy/api/v1/infra/segments/*` or
/// `/api/vcenter/vm/**`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

/// Why a pattern or a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Patterns and paths are absolute.
    #[error("path {0:?} must start with '/'")]
    NotAbsolute(String),
    /// `**` swallows the rest, so nothing may follow it.
    #[error("pattern {0:?}: '**' may only be the last segment")]
    RestNotLast(String),
    /// `.` and `..` could step outside what a pattern names.
    #[error("path {0:?} contains a '.' or '..' segment")]
    DotSegment(String),
    /// Empty segments (`//`) are ambiguous.
    #[error("path {0:?} contains an empty segment ('//')")]
    EmptySegment(String),
    /// A wildcard inside a segment (`seg-*`) is not supported; use `*` for the whole segment.
    #[error("pattern {0:?}: '*' must be a whole segment")]
    PartialWildcard(String),
}

impl PathPattern {
    /// Parses a pattern. `*` is one segment, `**` (last only) any rest.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let pieces = split_absolute(text)?;
        let mut segments = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let segment = match *piece {
                "**" if i + 1 == pieces.len() => Segment::Rest,
                "**" => return Err(PathError::RestNotLast(text.to_owned())),
                "*" => Segment::One,
                p if p.contains('*') => return Err(PathError::PartialWildcard(text.to_owned())),
                p => Segment::Literal(p.to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self { segments })
    }

    /// Whether a concrete request path (query string ignored) matches.
    /// A path that cannot be parsed matches nothing (fail closed).
    pub fn matches(&self, path: &str) -> bool {
        let Ok(pieces) = request_segments(path) else {
            return false;
        };
        let mut rest = pieces.as_slice();
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => match rest.split_first() {
                    Some((_, tail)) => rest = tail,
                    None => return false,
                },
                Segment::Literal(lit) => match rest.split_first() {
                    Some((head, tail)) if head == lit => rest = tail,
                    _ => return false,
                },
            }
        }
        rest.is_empty()
    }

    /// Whether the pattern names its routes: no `**`, so each segment is
    /// spelled out (`*` stands for one id). Requests that can alter a
    /// plugin's identity need a rule that names them.
    pub fn names_routes(&self) -> bool {
        !self.segments.contains(&Segment::Rest)
    }

    /// Whether every path `other` matches is also matched by `self`: a grant
    /// pattern must cover each pattern a manifest asks for.
    pub fn covers(&self, other: &PathPattern) -> bool {
        let mut mine = self.segments.iter();
        let mut theirs = other.segments.iter();
        loop {
            match (mine.next(), theirs.next()) {
                (Some(Segment::Rest), _) => return true,
                (None, None) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                (Some(_), Some(Segment::Rest)) => return false,
                (Some(Segment::One), Some(_)) => {}
                (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a == b => {}
                (Some(Segment::Literal(_)), Some(_)) => return false,
            }
        }
    }
}

/// Splits a concrete request path into segments, dropping the query string.
pub fn request_segments(path: &str) -> Result<Vec<&str>, PathError> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    split_absolute(path)
}

fn split_absolute(text: &str) -> Result<Vec<&str>, PathError> {
    let Some(body) = text.strip_prefix('/') else {
        return Err(PathError::NotAbsolute(text.to_owned()));
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let pieces: Vec<&str> = body.split('/').collect();
    for piece in &pieces {
        match *piece {
            "" => return Err(PathError::EmptySegment(text.to_owned())),
            "." | ".." => return Err(PathError::DotSegment(text.to_owned())),
            _ => {}
        }
    }
    Ok(pieces)
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            f.write_str("/")?;
            match segment {
                Segment::Literal(lit) => f.write_str(lit)?,
                Segment::One => f.write_str("*")?,
                Segment::Rest => f.write_str("**")?,
            }
        }
        Ok(())
    }
}

impl Serialize for PathPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PathPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> PathPattern {
        PathPattern::parse(text).unwrap()
    }

    #[test]
    fn star_matches_one_segment_only() {
        let pat = p("/infra/segments/*");
        assert!(pat.matches("/infra/segments/seg-1"));
        assert!(pat.matches("/infra/segments/seg-1?cursor=abc"));
        assert!(!pat.matches("/infra/segments"));
        assert!(!pat.matches("/infra/segments/seg-1/ports/p1"));
        assert!(!pat.matches("/infra/tier-1s/t1"));
    }

    #[test]
    fn rest_matches_any_tail() {
        let pat = p("/api/vcenter/vm/**");
        assert!(pat.matches("/api/vcenter/vm"));
        assert!(pat.matches("/api/vcenter/vm/vm-1/power"));
        assert!(!pat.matches("/api/vcenter/folder"));
    }

    #[test]
    fn dot_segments_never_match() {
        let pat = p("/infra/segments/**");
        assert!(!pat.matches("/infra/segments/../tier-1s/t1"));
        assert!(!pat.matches("/infra/segments/./x"));
        assert!(!pat.matches("infra/segments/x"));
        assert!(!pat.matches("/infra//segments/x"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(PathPattern::parse("/a/**/b"), Err(PathError::RestNotLast("/a/**/b".into())));
        assert!(matches!(PathPattern::parse("a/b"), Err(PathError::NotAbsolute(_))));
        assert!(matches!(PathPattern::parse("/a/seg-*"), Err(PathError::PartialWildcard(_))));
        assert!(matches!(PathPattern::parse("/a/../b"), Err(PathError::DotSegment(_))));
    }

    #[test]
    fn coverage() {
        assert!(p("/infra/**").covers(&p("/infra/segments/*")));
        assert!(p("/infra/segments/*").covers(&p("/infra/segments/seg-1")));
        assert!(p("/infra/*/*").covers(&p("/infra/segments/*")));
        assert!(!p("/infra/segments/*").covers(&p("/infra/segments/**")));
        assert!(!p("/infra/segments/seg-1").covers(&p("/infra/segments/*")));
        assert!(!p("/infra/segments/*").covers(&p("/infra/tier-1s/*")));
        assert!(!p("/infra/segments").covers(&p("/infra/segments/*")));
        assert!(p("/**").covers(&p("/")));
    }

    #[test]
    fn display_round_trips() {
        for text in ["/", "/a/*/b", "/a/**"] {
            assert_eq!(p(text).to_string(), text);
        }
    }
}
