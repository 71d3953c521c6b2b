//! Continue tokens of paged lists: the resourceVersion of the first page and where the next
//! page starts, as opaque base64.
//!
//! Used by the list verb ([`super::read`]). Invariant: a token this server did not make is a
//! 400, never a panic or a wrong page.

use base64::Engine;
use serde_json::{Value, json};

use crate::status::ApiError;

/// A continue token: the resourceVersion of the first page and where the next page starts.
pub(super) fn encode(rv: u64, namespace: &str, name: &str) -> String {
    let raw = json!({"rv": rv, "ns": namespace, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a continue token back into (resourceVersion, namespace, name); 400 if it is not one.
pub(super) fn decode(token: &str) -> Result<(u64, String, String), ApiError> {
    let invalid = || ApiError::bad_request("continue key is not valid");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let rv = value.get("rv").and_then(Value::as_u64).ok_or_else(invalid)?;
    let ns = value.get("ns").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    let name = value.get("name").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    Ok((rv, ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode(42, "default", "b");
        assert_eq!(decode(&token).unwrap(), (42, "default".to_owned(), "b".to_owned()));
        assert_eq!(decode("!!").unwrap_err().code, 400);
    }
}
