//! Continue tokens of paged lists: the resourceVersion of the first page and where the next
//! page starts, as opaque base64.
//!
//! Used by the list verb ([`super::read`]). Invariant: a token this server did not make is a
//! 400, never a panic or a wrong page. A token with resourceVersion -1 continues at the
//! newest resourceVersion: the inconsistent continuation a 410 for an expired token offers,
//! as kube-apiserver's does.

use base64::Engine;
use serde_json::{Value, json};

use crate::status::ApiError;
use crate::storage::PageStart;

/// A continue token for the page after `namespace/name` of a list at `rv`.
pub(super) fn encode(rv: u64, namespace: &str, name: &str) -> String {
    make(json!(rv), namespace, name)
}

/// A continue token for the page after `namespace/name` at the newest resourceVersion.
pub(super) fn encode_latest(namespace: &str, name: &str) -> String {
    make(json!(-1), namespace, name)
}

fn make(rv: Value, namespace: &str, name: &str) -> String {
    let raw = json!({"rv": rv, "ns": namespace, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a continue token back into where its page starts; 400 if it is not one.
pub(super) fn decode(token: &str) -> Result<PageStart, ApiError> {
    let invalid = || ApiError::bad_request("continue key is not valid");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let namespace = value.get("ns").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    let name = value.get("name").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    match value.get("rv").and_then(Value::as_i64) {
        Some(-1) => Ok(PageStart::Latest { namespace, name }),
        Some(rv) => Ok(PageStart::After { rv: u64::try_from(rv).map_err(|_| invalid())?, namespace, name }),
        None => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode(42, "default", "b");
        let after = PageStart::After { rv: 42, namespace: "default".into(), name: "b".into() };
        assert_eq!(decode(&token).unwrap(), after);
        let latest = PageStart::Latest { namespace: "default".into(), name: "b".into() };
        assert_eq!(decode(&encode_latest("default", "b")).unwrap(), latest);
        assert_eq!(decode("!!").unwrap_err().code, 400);
        assert_eq!(decode(&make(json!(-2), "a", "b")).unwrap_err().code, 400);
    }
}
