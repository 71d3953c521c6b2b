//! What a server-side apply changed: each field the plugin set, against
//! the object as the reconcile last saw it.
//!
//! An apply body names only the fields the plugin owns, so walking its
//! leaves and looking each up in the object before is the whole change
//! (fields it stopped setting are not shown: SSA removes them only if no
//! other manager owns them, which the host cannot tell from here).

use serde_json::Value;

/// Lines kept per write; the rest are counted.
pub const MAX_LINES: usize = 12;

/// Identity fields the apply must carry and that never change.
const IDENTITY: &[&str] = &["/apiVersion", "/kind", "/metadata/name", "/metadata/namespace"];

/// `path: old → new` for each changed leaf, `+ path: new` for each new one;
/// empty when the write changed nothing.
pub fn apply_diff(before: Option<&Value>, applied: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let mut more = 0;
    walk(applied, &mut String::new(), &mut |path, new| {
        if IDENTITY.contains(&path) {
            return;
        }
        let old = before.and_then(|b| b.pointer(path));
        let line = match old {
            Some(old) if old == new => return,
            Some(old) => format!("{}: {} → {}", dotted(path), short(old), short(new)),
            None => format!("+ {}: {}", dotted(path), short(new)),
        };
        if lines.len() < MAX_LINES {
            lines.push(line);
        } else {
            more += 1;
        }
    });
    if more > 0 {
        lines.push(format!("… {more} more"));
    }
    lines
}

/// Calls `f` with the JSON pointer of every leaf (scalars, empty objects,
/// arrays as a whole).
fn walk(value: &Value, path: &mut String, f: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(child, path, f);
                path.truncate(len);
            }
        }
        _ => f(path, value),
    }
}

fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// A value cut to one short line.
fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 60 {
        let mut end = 57;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shows_changed_and_new_fields_only() {
        let before = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}});
        let applied =
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "3", "z": "4"}});
        assert_eq!(apply_diff(Some(&before), &applied), ["data.y: \"2\" → \"3\"", "+ data.z: \"4\""]);
    }

    #[test]
    fn a_write_that_changes_nothing_has_no_lines_and_a_new_object_has_all() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"k/v": "1"}}});
        assert!(apply_diff(Some(&obj), &obj).is_empty());
        assert_eq!(apply_diff(None, &obj), ["+ metadata.labels.k/v: \"1\""]);
    }

    #[test]
    fn long_diffs_are_cut_and_counted() {
        let applied = json!({"data": (0..20).map(|i| (format!("k{i:02}"), json!(i))).collect::<serde_json::Map<_, _>>()});
        let lines = apply_diff(None, &applied);
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert_eq!(lines.last().unwrap(), "… 8 more");
    }
}
