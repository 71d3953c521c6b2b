//! Keeps Secret data and credentials out of recordings.
//!
//! Two passes over everything a record holds. The first replaces the
//! values of a Secret's `data` and `stringData` and of credential-named
//! fields (`password`, `token`, …) with a marker, and remembers each value
//! it removed (and, for base64 `data`, its decoded text). The second
//! replaces every remembered value wherever else it appears — a log line
//! that prints it, an error message that quotes it, a ConfigMap the plugin
//! copied it into — so a secret read in one place is not kept in clear in
//! another.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Field names whose values are credentials, compared lowercased.
const CREDENTIAL_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "bearertoken",
    "apikey",
    "api_key",
    "authorization",
    "secret",
    "client_secret",
    "clientsecret",
    "privatekey",
    "private_key",
    "client-key-data",
    "client-certificate-data",
];

/// Whether `key` names a credential field, whatever its case (without
/// allocating: this runs for every key of every recorded document).
fn is_credential(key: &str) -> bool {
    CREDENTIAL_FIELDS.iter().any(|field| field.eq_ignore_ascii_case(key))
}

/// Values shorter than this are not scrubbed elsewhere: replacing every
/// `a` or `1` would garble the record and protect nothing.
const MIN_SCRUB: usize = 4;

/// What replaces a scrubbed value.
pub const REDACTED: &str = "<redacted>";

/// Whether `text` is what redaction left: [`REDACTED`] or `<redacted N bytes>`.
pub fn is_marker(text: &str) -> bool {
    text == REDACTED
        || text
            .strip_prefix("<redacted ")
            .and_then(|rest| rest.strip_suffix(" bytes>"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Collects secret values from the documents of one record and removes them
/// everywhere.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    seen: Vec<String>,
}

impl Redactor {
    /// First pass over one document: Secret data and credential fields
    /// replaced, their values remembered. `secret` says the document is a
    /// Secret (or a list of them) even if it does not carry its kind.
    pub(crate) fn strip(&mut self, value: &mut Value, secret: bool) {
        match value {
            Value::Object(map) => {
                let is_secret = secret || map.get("kind").and_then(Value::as_str) == Some("Secret");
                if is_secret {
                    for field in ["data", "stringData"] {
                        if let Some(Value::Object(data)) = map.get_mut(field) {
                            self.strip_data(data, field == "data");
                        }
                    }
                }
                for (key, field) in map.iter_mut() {
                    if is_credential(key) && !field.is_object() {
                        self.remember_all(field);
                        *field = Value::String(REDACTED.to_owned());
                    } else if !(is_secret && (key == "data" || key == "stringData")) {
                        self.strip(field, false);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.strip(item, secret)),
            _ => {}
        }
    }

    fn strip_data(&mut self, data: &mut Map<String, Value>, base64: bool) {
        for value in data.values_mut() {
            let Value::String(text) = value else { continue };
            let len = if base64 {
                match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                    Ok(decoded) => {
                        if let Ok(clear) = String::from_utf8(decoded.clone()) {
                            self.remember(&clear);
                        }
                        decoded.len()
                    }
                    Err(_) => text.len(),
                }
            } else {
                text.len()
            };
            self.remember(text);
            *value = Value::String(format!("<redacted {len} bytes>"));
        }
    }

    fn remember_all(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.remember(s),
            Value::Array(items) => items.iter().for_each(|i| self.remember_all(i)),
            _ => {}
        }
    }

    fn remember(&mut self, text: &str) {
        // A marker is no secret: a replayed read hands a candidate the
        // redacted document, and its markers must not scrub the candidate's.
        if is_marker(text) {
            return;
        }
        if text.len() >= MIN_SCRUB && !self.seen.iter().any(|s| s == text) {
            // Also each line of a multi-line value (a kubeconfig, a PEM):
            // a plugin may log or copy one line of it.
            for line in text.lines().map(str::trim).filter(|l| l.len() >= MIN_SCRUB && *l != text) {
                self.seen.push(line.to_owned());
            }
            self.seen.push(text.to_owned());
        }
    }

    /// Second pass: every remembered value replaced in every string of `value`.
    pub(crate) fn scrub(&self, value: &mut Value) {
        if self.seen.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.scrub_text(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.scrub(i)),
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub(v)),
            _ => {}
        }
    }

    /// Every remembered value replaced in `text`, longest first (so a value
    /// that contains another is removed whole).
    pub(crate) fn scrub_text(&self, text: &mut String) {
        if self.seen.is_empty() {
            return;
        }
        let mut seen: Vec<&String> = self.seen.iter().collect();
        seen.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in seen {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), REDACTED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_data_and_string_data_go_and_their_values_are_scrubbed_elsewhere() {
        let mut r = Redactor::default();
        // "hunter22" in base64.
        let mut secret =
            json!({"kind": "Secret", "data": {"pw": "aHVudGVyMjI="}, "stringData": {"k": "s3cr3t-v"}});
        r.strip(&mut secret, false);
        assert_eq!(secret["data"]["pw"], "<redacted 8 bytes>");
        assert_eq!(secret["stringData"]["k"], "<redacted 8 bytes>");
        let mut log = "copied hunter22 and s3cr3t-v and aHVudGVyMjI=".to_owned();
        r.scrub_text(&mut log);
        assert_eq!(log, "copied <redacted> and <redacted> and <redacted>");
    }

    #[test]
    fn a_list_of_secrets_without_kinds_is_stripped_when_the_call_says_secret() {
        let mut r = Redactor::default();
        let mut list = json!([{"metadata": {"name": "a"}, "data": {"x": "c2VjcmV0dmFsdWU="}}]);
        r.strip(&mut list, true);
        assert_eq!(list[0]["data"]["x"], "<redacted 11 bytes>");
        assert_eq!(list[0]["metadata"]["name"], "a");
    }

    #[test]
    fn credential_fields_go_anywhere_but_references_to_secrets_stay() {
        let mut r = Redactor::default();
        let mut body =
            json!({"spec": {"password": "p4ssw0rd!", "secretName": "db", "auth": {"Token": "abcd1234"}}});
        r.strip(&mut body, false);
        assert_eq!(
            body,
            json!({"spec": {"password": REDACTED, "secretName": "db", "auth": {"Token": REDACTED}}})
        );
        let mut other = json!({"note": "p4ssw0rd! used"});
        r.scrub(&mut other);
        assert_eq!(other["note"], "<redacted> used");
    }

    #[test]
    fn a_redacted_secret_read_again_scrubs_nothing() {
        let mut r = Redactor::default();
        let mut read =
            json!({"kind": "Secret", "data": {"value": "<redacted 12 bytes>", "format": REDACTED}});
        r.strip(&mut read, false);
        assert_eq!(read["data"]["value"], "<redacted 19 bytes>");
        let mut written = json!({"data": {"copied": "<redacted 12 bytes>"}});
        r.scrub(&mut written);
        assert_eq!(written["data"]["copied"], "<redacted 12 bytes>", "a marker is no secret");
        assert!(is_marker("<redacted 505 bytes>") && is_marker(REDACTED));
        assert!(!is_marker("<redacted many bytes>") && !is_marker("redacted"));
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_scrubbed() {
        let mut r = Redactor::default();
        let mut secret =
            json!({"kind": "Secret", "stringData": {"value": "server: https://x\ntoken: eyJhbGciOi"}});
        r.strip(&mut secret, false);
        let mut log = "line token: eyJhbGciOi".to_owned();
        r.scrub_text(&mut log);
        assert_eq!(log, "line <redacted>");
    }
}
