//! A committed object as the cache holds it: parsed, for the server's own logic, and as the
//! JSON text SQLite stores, from which list responses and watch events are written without
//! serialising the object again.
//!
//! The text is made once, when the write is decided (it is what the commit writes), so
//! holding it costs no CPU, only its bytes.

use std::ops::Deref;

use serde_json::Value;

/// A stored object and its JSON text (with its `metadata.resourceVersion`).
#[derive(Debug)]
pub struct Stored {
    object: Value,
    json: String,
}

impl Stored {
    /// `object` with its JSON text.
    pub fn new(object: Value) -> Stored {
        let json = object.to_string();
        Stored { object, json }
    }

    /// `object` whose JSON text is `json` (read back from SQLite).
    pub(super) fn with_json(object: Value, json: String) -> Stored {
        Stored { object, json }
    }

    /// The object's JSON text, exactly as stored.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Whether the stored text is already the object as served with `api_version` and
    /// `kind` (its fields are; only those two may differ between versions).
    pub fn served_as(&self, api_version: &str, kind: &str) -> bool {
        self.object.get("apiVersion").and_then(Value::as_str) == Some(api_version)
            && self.object.get("kind").and_then(Value::as_str) == Some(kind)
    }
}

impl Deref for Stored {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.object
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_is_the_object() {
        let stored = Stored::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}));
        assert_eq!(serde_json::from_str::<Value>(stored.json()).unwrap(), *stored);
        assert!(stored.served_as("v1", "ConfigMap"));
        assert!(!stored.served_as("v2", "ConfigMap"));
    }
}
