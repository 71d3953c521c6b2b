//! The names Kubernetes allows in labels and object names, as its
//! validation (`IsQualifiedName`, `IsValidLabelValue`, `IsDNS1123Subdomain`)
//! checks them.

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Whether `s` is an RFC 1123 label: at most 63 lowercase alphanumerics and
/// `-`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(is_label_char)
        && s.starts_with(is_alnum)
        && s.ends_with(is_alnum)
}

/// Whether `s` is an RFC 1123 subdomain as Kubernetes checks it: at most 253
/// characters of dot-separated parts, each lowercase alphanumerics and `-`
/// starting and ending alphanumeric. Unlike a label, a part may be longer
/// than 63 characters (`IsDNS1123Subdomain` checks the whole name's length
/// and the pattern only).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty() && p.chars().all(is_label_char) && p.starts_with(is_alnum) && p.ends_with(is_alnum)
    };
    !s.is_empty() && s.len() <= 253 && s.split('.').all(part)
}

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Whether `key` is a qualified name (`[prefix/]name`), as label and annotation keys are.
pub fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(key),
    }
}

/// Whether `value` is a valid label value (empty, or a qualified name part).
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_name_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_and_label_values() {
        for ok in ["app", "app.kubernetes.io/name", "a_b-c.d", "x/y"] {
            assert!(is_qualified_name(ok), "{ok}");
        }
        for bad in ["", "bad key", "-a", "a-", "Upper.Case/x", "a/b/c", &"a".repeat(64)] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
        assert!(is_label_value(""));
        assert!(!is_label_value("a b"));
        assert!(is_dns1123_label("web-1") && !is_dns1123_label("Web"));
        assert!(is_dns1123_subdomain("a.b-c.d") && !is_dns1123_subdomain("a..b"));
    }
}
