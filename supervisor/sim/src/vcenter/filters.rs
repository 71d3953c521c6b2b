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
}
