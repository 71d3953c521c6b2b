//! List filters as vCenter takes them: `names=a&names=b&power_states=POWERED_ON`.
//! Values of one filter are OR-ed, different filters AND-ed; an absent filter allows all.

use std::collections::HashMap;

/// Parsed query filters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    /// Parses a raw query; `names[]=` and `filter.names=` spellings count as `names`.
    pub(crate) fn parse(query: Option<&str>) -> Filters {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let key = key.trim_start_matches("filter.").trim_end_matches("[]").to_owned();
            map.entry(key).or_default().push(value.into_owned());
        }
        Filters(map)
    }

    /// Takes a vAPI `FilterSpec` decoded to JSON (`{"names": ["a"], "type": "X"}`): sets
    /// and lists give several values, a string one; unset fields allow all.
    pub(crate) fn from_spec(spec: &serde_json::Value) -> Filters {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in spec.as_object().into_iter().flatten() {
            let values = match value {
                // An empty set, like an unset one, allows all.
                serde_json::Value::Array(items) if items.is_empty() => continue,
                serde_json::Value::Array(items) => {
                    items.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect()
                }
                serde_json::Value::String(one) => vec![one.clone()],
                serde_json::Value::Bool(flag) => vec![flag.to_string()],
                _ => continue,
            };
            map.insert(key.clone(), values);
        }
        Filters(map)
    }

    /// Whether `value` passes filter `name`.
    pub(crate) fn allows(&self, name: &str, value: &str) -> bool {
        self.0.get(name).is_none_or(|values| values.iter().any(|v| v == value))
    }

    /// The single value of a non-filter parameter such as `action`.
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_within_and_across() {
        let f = Filters::parse(Some("names=a&names=b&power_states=POWERED_ON"));
        assert!(f.allows("names", "a") && f.allows("names", "b"));
        assert!(!f.allows("names", "c"));
        assert!(f.allows("folders", "anything"));
        assert!(!f.allows("power_states", "POWERED_OFF"));
        assert!(Filters::parse(Some("filter.names=x")).allows("names", "x"));
    }

    #[test]
    fn from_a_vapi_filter_spec() {
        let f = Filters::from_spec(&serde_json::json!({"names": ["a", "b"], "type": "VIRTUAL_MACHINE"}));
        assert!(f.allows("names", "b") && !f.allows("names", "c"));
        assert!(f.allows("type", "VIRTUAL_MACHINE") && !f.allows("type", "HOST"));
        assert!(f.allows("folders", "anything"));
    }
}
