//! CustomResourceDefinitions: checking a CRD, turning it into served resources, and the
//! per-object rules of its kinds (pruning, defaulting, structural schema validation).
//!
//! In: CRD objects (apiextensions.k8s.io/v1) and custom objects. Out: [`Resource`]s for the
//! registry; custom objects pruned of unknown fields (reported so `fieldValidation=Strict`
//! can refuse them), defaulted, and checked against the version's `openAPIV3Schema` with
//! field paths in every [`Cause`].
//!
//! The CRD's status is server-managed: `NamesAccepted` and `Established` are set to `True`
//! when the CRD is stored (there is no naming conflict detection across CRDs), and
//! `storedVersions` accumulates every storage version the CRD has had.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::resource::{Column, CustomVersion, Resource, Strategy};
use crate::status::Cause;
use crate::validation::{NameRule, check_name, is_dns1123_label};

/// Fills in CRD defaults and computes its server-managed status.
pub fn default_crd(crd: &mut Value) {
    let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str).unwrap_or("").to_owned();
    if let Some(names) = crd.pointer_mut("/spec/names").and_then(Value::as_object_mut) {
        names.entry("singular").or_insert_with(|| json!(kind.to_ascii_lowercase()));
        names.entry("listKind").or_insert_with(|| json!(format!("{kind}List")));
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion").or_insert_with(|| json!({"strategy": "None"}));
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let storage = storage_version(crd).map(str::to_owned);
    let mut stored: Vec<Value> =
        crd.pointer("/status/storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(storage) = storage
        && !stored.iter().any(|v| v.as_str() == Some(&storage))
    {
        stored.push(json!(storage));
    }
    let now = crate::meta::now();
    let since = |kind: &str| -> Value {
        crd.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == kind && c["status"] == "True"))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now))
    };
    let conditions = json!([
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
    ]);
    crd["status"] = json!({"conditions": conditions, "acceptedNames": names, "storedVersions": stored});
}

fn storage_version(crd: &Value) -> Option<&str> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))?
        .get("name")?
        .as_str()
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Validates a CRD as apiextensions-apiserver does for the fields this server relies on.
pub fn validate_crd(crd: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    let name = text(crd, "/metadata/name");
    if group.is_empty() {
        causes.push(Cause::required("spec.group"));
    } else if !group.contains('.') || check_name(group, NameRule::Subdomain).is_some() {
        causes.push(Cause::invalid("spec.group", &json!(group), "should be a domain with at least one dot"));
    }
    for field in ["plural", "singular", "kind", "listKind"] {
        let value = text(crd, &format!("/spec/names/{field}"));
        if value.is_empty() {
            if field == "plural" || field == "kind" {
                causes.push(Cause::required(format!("spec.names.{field}")));
            }
        } else if (field == "plural" || field == "singular") && !is_dns1123_label(value) {
            causes.push(Cause::invalid(
                format!("spec.names.{field}"),
                &json!(value),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            ));
        }
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    const SCOPES: [&str; 2] = ["Namespaced", "Cluster"];
    let scope = crd.pointer("/spec/scope").cloned().unwrap_or(Value::Null);
    if !scope.as_str().is_some_and(|s| SCOPES.contains(&s)) {
        causes.push(Cause::not_supported("spec.scope", &scope, &SCOPES));
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::required("spec.versions"));
    }
    let storage = versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
    if !versions.is_empty() && storage != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            &json!(storage),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        let vname = text(version, "/name");
        if !is_dns1123_label(vname) {
            causes.push(Cause::invalid(
                format!("spec.versions[{i}].name"),
                &json!(vname),
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-'",
            ));
        }
        match version.pointer("/schema/openAPIV3Schema") {
            None => causes.push(Cause::required(format!("spec.versions[{i}].schema.openAPIV3Schema"))),
            Some(schema) if schema.get("type").and_then(Value::as_str) != Some("object") => {
                causes.push(Cause::invalid(
                    format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                    schema.get("type").unwrap_or(&Value::Null),
                    "must be object at the root",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(old) = old {
        for (pointer, field) in [
            ("/spec/group", "spec.group"),
            ("/spec/scope", "spec.scope"),
            ("/spec/names/plural", "spec.names.plural"),
        ] {
            if old.pointer(pointer) != crd.pointer(pointer) {
                causes.push(Cause::invalid(
                    field,
                    crd.pointer(pointer).unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
    }
}

/// The resources a (valid, stored) CRD serves: one per served version.
pub fn resources_for(crd: &Value) -> Vec<Resource> {
    let Some(storage) = storage_version(crd) else { return Vec::new() };
    let names = |field: &str| -> Vec<String> {
        crd.pointer(&format!("/spec/names/{field}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .map(|v| Resource {
            group: text(crd, "/spec/group").to_owned(),
            version: text(v, "/name").to_owned(),
            storage_version: storage.to_owned(),
            kind: text(crd, "/spec/names/kind").to_owned(),
            plural: text(crd, "/spec/names/plural").to_owned(),
            singular: text(crd, "/spec/names/singular").to_owned(),
            namespaced: text(crd, "/spec/scope") != "Cluster",
            short_names: names("shortNames"),
            categories: names("categories"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            strategy: Strategy::Custom(Arc::new(CustomVersion {
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                columns: columns(v),
            })),
        })
        .collect()
}

fn columns(version: &Value) -> Vec<Column> {
    let Some(list) = version.get("additionalPrinterColumns").and_then(Value::as_array) else {
        return vec![Column {
            name: "Age".into(),
            kind: "date".into(),
            json_path: ".metadata.creationTimestamp".into(),
            description: String::new(),
            priority: 0,
        }];
    };
    list.iter()
        .map(|c| Column {
            name: text(c, "/name").to_owned(),
            kind: text(c, "/type").to_owned(),
            json_path: text(c, "/jsonPath").to_owned(),
            description: text(c, "/description").to_owned(),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        })
        .collect()
}

/// Prunes fields the schema does not know and applies defaults. Returns the pruned paths.
pub fn prune_and_default(schema: &Value, object: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    walk(schema, object, "", true, &mut unknown);
    unknown
}

fn preserves(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
}

fn walk(schema: &Value, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    let embedded =
        root || schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true);
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(properties) = properties {
                for (key, sub) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = sub.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = join(path, &key);
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let sub = properties.and_then(|p| p.get(&key)).or(additional);
                match sub {
                    Some(sub) => {
                        let nullable = sub.get("nullable").and_then(Value::as_bool) == Some(true);
                        if map.get(&key).is_some_and(Value::is_null) && !nullable {
                            map.remove(&key);
                            if let Some(default) = sub.get("default") {
                                map.insert(key.clone(), default.clone());
                            }
                            continue;
                        }
                        if let Some(v) = map.get_mut(&key) {
                            walk(sub, v, &child, false, unknown);
                        }
                    }
                    None if preserves(schema) => {}
                    None => {
                        map.remove(&key);
                        unknown.push(child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Validates `object` against a structural schema; causes carry field paths.
pub fn validate_against(schema: &Value, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    check(schema, object, "", &mut causes);
    causes
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn check(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let field = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) && schema.get("type").is_some() {
            causes.push(Cause::invalid(
                field,
                value,
                format!("{field} in body must be of type {}", text(schema, "/type")),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            causes.push(Cause::type_invalid(field, value, "integer or string"));
            return;
        }
    } else if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !type_matches(expected, value)
    {
        causes.push(Cause::type_invalid(field, value, expected));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> =
            allowed.iter().map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        causes.push(Cause::not_supported(field, value, &refs));
    }
    match value {
        Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(0.0), value, field, causes),
        Value::String(s) => check_string(schema, s, value, field, causes),
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                causes.push(Cause::invalid(
                    field,
                    value,
                    format!("{field} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                causes.push(Cause {
                    reason: "FieldValueTooMany",
                    field: field.to_owned(),
                    message: format!("Too many: {len}: must have at most {max} items"),
                });
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), causes);
                }
            }
        }
        Value::Object(map) => check_object(schema, map, path, causes),
        _ => {}
    }
}

fn check_number(schema: &Value, n: f64, value: &Value, field: &str, causes: &mut Vec<Cause>) {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if n < min || (exclusive && n == min) {
            let op = if exclusive { "greater than" } else { "greater than or equal to" };
            causes.push(Cause::invalid(
                field,
                value,
                format!("{field} in body should be {op} {}", schema["minimum"]),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if n > max || (exclusive && n == max) {
            let op = if exclusive { "less than" } else { "less than or equal to" };
            causes.push(Cause::invalid(
                field,
                value,
                format!("{field} in body should be {op} {}", schema["maximum"]),
            ));
        }
    }
}

fn check_string(schema: &Value, s: &str, value: &Value, field: &str, causes: &mut Vec<Cause>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        causes.push(Cause::invalid(
            field,
            value,
            format!("{field} in body should be at least {min} chars long"),
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            field: field.to_owned(),
            message: format!("Too long: may not be more than {max} bytes"),
        });
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => {
                causes.push(Cause::invalid(field, value, format!("{field} in body should match '{pattern}'")))
            }
            Err(_) => causes.push(Cause::invalid(
                field,
                value,
                format!("the schema pattern '{pattern}' does not compile"),
            )),
        }
    }
}

fn check_object(schema: &Value, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        if let Some(key) = required.as_str()
            && !map.contains_key(key)
        {
            causes.push(Cause::required(join(path, key)));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, value) in map {
        // The root's metadata is checked by the generic metadata rules.
        if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(sub) = properties.and_then(|p| p.get(key)).or(additional) {
            check(sub, value, &join(path, key), causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }})
    }

    #[test]
    fn prunes_unknown_fields_and_defaults() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 2, "bogus": 1, "free": {"any": {"thing": 1}}, "items": [{"x": 1, "y": 2}], "labels": {"a": "b"}},
            "extra": true});
        let mut unknown = prune_and_default(&schema(), &mut obj);
        unknown.sort();
        assert_eq!(unknown, ["extra", "spec.bogus", "spec.items[0].y"]);
        assert_eq!(obj["spec"]["color"], "red");
        assert_eq!(obj["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(obj["metadata"]["name"], "a");
        assert_eq!(obj["spec"]["labels"]["a"], "b");
    }

    #[test]
    fn reports_each_invalid_field_with_its_path() {
        let obj = json!({"spec": {"size": "big", "color": "green", "name": "ABCDEFG", "port": 1.5, "labels": {"a": 1}, "items": [{"x": "y"}]}});
        let causes = validate_against(&schema(), &obj);
        let mut fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "spec.color",
                "spec.items[0].x",
                "spec.labels.a",
                "spec.name",
                "spec.name",
                "spec.port",
                "spec.size"
            ]
        );
        let missing = validate_against(&schema(), &json!({"spec": {}}));
        assert_eq!(missing[0].field, "spec.size");
        assert_eq!(missing[0].reason, "FieldValueRequired");
        let small = validate_against(&schema(), &json!({"spec": {"size": 0}}));
        assert!(small[0].message.contains("should be greater than or equal to 1"), "{:?}", small);
    }

    #[test]
    fn crd_checks_and_status() {
        let mut crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"status": {}}, "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}]}});
        let mut causes = Vec::new();
        validate_crd(&crd, None, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        default_crd(&mut crd);
        assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
        let resources = resources_for(&crd);
        assert_eq!(resources.len(), 1);
        assert!(resources[0].status_subresource);
        let bad = json!({"metadata": {"name": "wrong"}, "spec": {"group": "example.com", "scope": "Galaxy", "names": {"plural": "widgets", "kind": "Widget"}, "versions": []}});
        let mut causes = Vec::new();
        validate_crd(&bad, None, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "spec.scope", "spec.versions"]);
    }
}
