//! Tags (`[{scope, tag}]`) on every Policy object: validated and normalised on write.
//!
//! Limits follow the NSX-T 3.x schema: at most 30 tags, scope ≤ 128 and tag ≤ 256
//! characters; both default to `""`.

use serde_json::{Value, json};

use super::error::NsxError;

/// Most tags one object may carry.
pub(crate) const MAX_TAGS: usize = 30;
/// Most characters of a tag's scope.
pub(crate) const MAX_SCOPE_LEN: usize = 128;
/// Most characters of a tag's value.
pub(crate) const MAX_TAG_LEN: usize = 256;

/// Checks `tags` and returns them with missing `scope`/`tag` filled in as `""`.
pub(crate) fn normalize(tags: Option<&Value>) -> Result<Value, NsxError> {
    let Some(tags) = tags else { return Ok(json!([])) };
    let Value::Array(list) = tags else { return Err(NsxError::invalid("tags must be an array.")) };
    if list.len() > MAX_TAGS {
        return Err(NsxError::invalid(format!("At most {MAX_TAGS} tags are allowed, got {}.", list.len())));
    }
    let mut out = Vec::with_capacity(list.len());
    for tag in list {
        let field = |name: &str| -> Result<String, NsxError> {
            match tag.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(NsxError::invalid(format!("Tag {name} must be a string."))),
            }
        };
        if !tag.is_object() {
            return Err(NsxError::invalid("Each tag must be an object {scope, tag}."));
        }
        let (scope, value) = (field("scope")?, field("tag")?);
        if scope.chars().count() > MAX_SCOPE_LEN || value.chars().count() > MAX_TAG_LEN {
            return Err(NsxError::invalid(format!(
                "Tag scope may have at most {MAX_SCOPE_LEN} and tag at most {MAX_TAG_LEN} characters."
            )));
        }
        out.push(json!({"scope": scope, "tag": value}));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_defaults() {
        let tags = normalize(Some(&json!([{"scope": "wasmvisor/owner"}]))).unwrap();
        assert_eq!(tags, json!([{"scope": "wasmvisor/owner", "tag": ""}]));
        assert_eq!(normalize(None).unwrap(), json!([]));
    }

    #[test]
    fn refuses_too_many_or_too_long() {
        let many: Vec<Value> = (0..31).map(|i| json!({"scope": "s", "tag": i.to_string()})).collect();
        assert!(normalize(Some(&Value::Array(many))).is_err());
        assert!(normalize(Some(&json!([{"scope": "x".repeat(129)}]))).is_err());
        assert!(normalize(Some(&json!([{"tag": "x".repeat(257)}]))).is_err());
        assert!(normalize(Some(&json!({"scope": "s"}))).is_err());
        assert!(normalize(Some(&json!([{"scope": 1}]))).is_err());
    }
}
