//! Validation shared by every kind: object names, label and annotation syntax.
//!
//! In: an object's metadata. Out: field [`Cause`]s with the messages the real server uses.

use serde_json::Value;

use crate::status::Cause;
pub use wasmvisor_selector::syntax::{
    is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
};

/// Which name rule a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: lowercase alphanumerics, `-` and `.`, at most 253 characters.
    Subdomain,
    /// RFC 1123 label: lowercase alphanumerics and `-`, at most 63 characters.
    Label,
    /// RFC 1035 label: like a 1123 label but starting with a letter (Service names).
    Rfc1035Label,
}

/// Checks a name against `rule`; returns the message of the real server if it fails.
pub fn check_name(name: &str, rule: NameRule) -> Option<String> {
    match rule {
        NameRule::Subdomain if !is_dns1123_subdomain(name) => Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_owned(),
        ),
        NameRule::Label if !is_dns1123_label(name) => Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_owned(),
        ),
        NameRule::Rfc1035Label if !(is_dns1123_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())) => Some(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_owned(),
        ),
        _ => None,
    }
}

/// Validates `metadata`: the name under `rule` (unless generated), labels and annotations.
pub fn check_metadata(object: &Value, rule: NameRule, causes: &mut Vec<Cause>) {
    let meta = object.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".to_owned(),
            message: "Required value: name or generateName is required".to_owned(),
        });
    } else if let Some(message) = check_name(name, rule) {
        causes.push(Cause::invalid("metadata.name", &Value::String(name.to_owned()), message));
    }
    if let Some(labels) = meta.and_then(|m| m.get("labels")) {
        match labels.as_object() {
            Some(labels) => {
                for (key, value) in labels {
                    if !is_qualified_name(key) {
                        causes.push(Cause::invalid("metadata.labels", &Value::String(key.clone()), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
                    }
                    match value.as_str() {
                        Some(v) if is_label_value(v) => {}
                        _ => causes.push(Cause::invalid(
                            format!("metadata.labels.{key}"),
                            value,
                            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                        )),
                    }
                }
            }
            None if labels.is_null() => {}
            None => causes.push(Cause::type_invalid("metadata.labels", labels, "object")),
        }
    }
    if let Some(annotations) = meta.and_then(|m| m.get("annotations")) {
        match annotations.as_object() {
            Some(annotations) => {
                let mut total = 0;
                for (key, value) in annotations {
                    total += key.len() + value.as_str().map_or(0, str::len);
                    if !is_qualified_name(key) {
                        causes.push(Cause::invalid(
                            "metadata.annotations",
                            &Value::String(key.clone()),
                            "name part must consist of alphanumeric characters, '-', '_' or '.'",
                        ));
                    }
                    if !value.is_string() {
                        causes.push(Cause::type_invalid(
                            format!("metadata.annotations.{key}"),
                            value,
                            "string",
                        ));
                    }
                }
                if total > 256 * 1024 {
                    causes.push(Cause {
                        reason: "FieldValueTooLong",
                        field: "metadata.annotations".to_owned(),
                        message: "Too long: must have at most 262144 bytes".to_owned(),
                    });
                }
            }
            None if annotations.is_null() => {}
            None => causes.push(Cause::type_invalid("metadata.annotations", annotations, "object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subdomains_and_labels() {
        assert!(is_dns1123_subdomain("widgets.example.com"));
        assert!(!is_dns1123_subdomain("Widgets"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        // A part longer than a label is fine; only the whole name is capped.
        let long = format!("{}-lsp", "a".repeat(70));
        assert!(is_dns1123_subdomain(&long));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(!is_dns1123_label(&long));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("a.b"));
        assert!(check_name("1abc", NameRule::Rfc1035Label).is_some());
        assert!(check_name("abc", NameRule::Rfc1035Label).is_none());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(!is_qualified_name("bad key"));
        assert!(is_label_value(""));
        assert!(!is_label_value("a b"));
    }

    #[test]
    fn metadata_causes_name_the_field() {
        let mut causes = Vec::new();
        check_metadata(
            &json!({"metadata": {"name": "Bad", "labels": {"ok": "no way"}}}),
            NameRule::Subdomain,
            &mut causes,
        );
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "metadata.labels.ok"]);
    }
}
