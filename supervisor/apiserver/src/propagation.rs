//! Deletion propagation policies (`propagationPolicy` of DeleteOptions) and the finalizers
//! they hold an object with.
//!
//! Read by the delete verbs, applied to the object by [`crate::pipeline`] (which adds the
//! finalizer), acted on by [`crate::gc`] (which removes it once the dependents are dealt
//! with). Invariant: a policy and its finalizer name are defined once, here, so the writer
//! and the collector cannot disagree on them.

use serde_json::Value;

use crate::status::ApiError;

/// The finalizer that holds an owner until its blocking dependents are gone.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that holds an owner until its dependents no longer refer to it.
pub const ORPHAN: &str = "orphan";

/// What happens to the dependents of a deleted object (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Delete the object now; the collector deletes dependents afterwards.
    #[default]
    Background,
    /// Delete dependents first; the object waits for the blocking ones.
    Foreground,
    /// Keep dependents, removing their reference to the object.
    Orphan,
}

impl Propagation {
    /// Reads `propagationPolicy` (or the legacy `orphanDependents`) from DeleteOptions, or
    /// the query parameter; 400 for an unknown policy.
    pub fn from_options(options: &Value, query: Option<&str>) -> Result<Propagation, ApiError> {
        let policy = options.get("propagationPolicy").and_then(Value::as_str).or(query);
        match policy {
            Some("Background") => Ok(Propagation::Background),
            Some("Foreground") => Ok(Propagation::Foreground),
            Some("Orphan") => Ok(Propagation::Orphan),
            Some(other) => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
            None if options.get("orphanDependents").and_then(Value::as_bool) == Some(true) => {
                Ok(Propagation::Orphan)
            }
            None => Ok(Propagation::Background),
        }
    }

    /// The finalizer the object is held with while the collector works.
    pub fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some(FOREGROUND),
            Propagation::Orphan => Some(ORPHAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn propagation_policies_parse() {
        assert_eq!(Propagation::from_options(&json!({}), None).unwrap(), Propagation::Background);
        assert_eq!(
            Propagation::from_options(&json!({"propagationPolicy": "Foreground"}), None).unwrap(),
            Propagation::Foreground
        );
        assert_eq!(Propagation::from_options(&json!({}), Some("Orphan")).unwrap(), Propagation::Orphan);
        assert_eq!(
            Propagation::from_options(&json!({"orphanDependents": true}), None).unwrap(),
            Propagation::Orphan
        );
        assert_eq!(
            Propagation::from_options(&json!({"propagationPolicy": "Later"}), None).unwrap_err().code,
            400
        );
    }
}
