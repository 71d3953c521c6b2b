//! The vAPI JSON-RPC value encoding, both ways, and the `invoke` envelope.
//!
//! In: `params.input` as the SDK sends it (`vmware/vapi/data/serializers/jsonrpc.py`):
//! structures as `{"STRUCTURE": {"<name>": {fields}}}`, optionals as `{"OPTIONAL": v|null}`,
//! secrets as `{"SECRET": "…"}`, maps as lists of `map-entry` structures. [`decode`] turns
//! that into the plain JSON the REST handlers take. Out: [`encode`] walks a plain JSON
//! result along a [`Ty`] (the output type of the operation, as in the SDK's bindings) and
//! writes the wrappers back; [`error`] writes a `com.vmware.vapi.std.errors.*` value.
//! Invariant: every field the bindings declare optional is wrapped in `OPTIONAL`, every
//! required one is present (else [`EncodeError`], a simulator bug), so the SDK's type
//! converter accepts each answer.

use serde_json::{Map, Value, json};

use crate::vcenter::error::VcError;

/// A vAPI type, as far as encoding needs it.
#[derive(Debug)]
pub(crate) enum Ty {
    /// A string, id, enum or date-time: written as it is.
    Str,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// A secret: `{"SECRET": "…"}`.
    Secret,
    /// No result: `null`.
    Void,
    /// `{"OPTIONAL": v}`, `{"OPTIONAL": null}` when absent.
    Opt(&'static Ty),
    /// A list (or set).
    List(&'static Ty),
    /// A map with string keys: a list of `map-entry` structures.
    Map(&'static Ty),
    /// A structure: its canonical name and fields.
    Struct(&'static str, &'static [(&'static str, Ty)]),
}

/// A result that does not fit its declared type: a bug in the simulator.
#[derive(Debug, thiserror::Error)]
#[error("the result does not fit its vAPI type at {path}: {problem}")]
pub(crate) struct EncodeError {
    path: String,
    problem: &'static str,
}

/// Encodes the plain JSON `value` as a vAPI data value of type `ty`.
pub(crate) fn encode(value: &Value, ty: &Ty) -> Result<Value, EncodeError> {
    encode_at(value, ty, "output")
}

fn encode_at(value: &Value, ty: &Ty, path: &str) -> Result<Value, EncodeError> {
    let wrong = |problem| Err(EncodeError { path: path.to_owned(), problem });
    match ty {
        Ty::Void => Ok(Value::Null),
        Ty::Opt(inner) => match value {
            Value::Null => Ok(json!({"OPTIONAL": null})),
            v => Ok(json!({"OPTIONAL": encode_at(v, inner, path)?})),
        },
        Ty::Str if value.is_string() => Ok(value.clone()),
        Ty::Int if value.is_i64() || value.is_u64() => Ok(value.clone()),
        Ty::Bool if value.is_boolean() => Ok(value.clone()),
        Ty::Secret if value.is_string() => Ok(json!({"SECRET": value})),
        Ty::Str | Ty::Int | Ty::Bool | Ty::Secret => wrong("a primitive of another kind"),
        Ty::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| encode_at(item, inner, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => wrong("not a list"),
        },
        Ty::Map(inner) => match value {
            Value::Object(entries) => entries
                .iter()
                .map(|(key, item)| {
                    let item = encode_at(item, inner, &format!("{path}.{key}"))?;
                    Ok(json!({"STRUCTURE": {"map-entry": {"key": key, "value": item}}}))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => wrong("not a map"),
        },
        Ty::Struct(name, fields) => {
            let Value::Object(given) = value else { return wrong("not a structure") };
            let mut out = Map::new();
            for (field, field_ty) in *fields {
                let field_path = format!("{path}.{field}");
                let field_value = given.get(*field).unwrap_or(&Value::Null);
                if field_value.is_null() && !matches!(field_ty, Ty::Opt(_)) {
                    return Err(EncodeError { path: field_path, problem: "a required field is missing" });
                }
                out.insert((*field).to_owned(), encode_at(field_value, field_ty, &field_path)?);
            }
            Ok(json!({"STRUCTURE": {*name: out}}))
        }
    }
}

/// Decodes a vAPI data value into plain JSON: structures become objects (unset optional
/// fields are left out), optionals their value or `null`, secrets and blobs strings,
/// `map-entry` lists objects.
pub(crate) fn decode(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (kind, inner) = map.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", value));
            match kind {
                "STRUCTURE" | "ERROR" => match inner {
                    Value::Object(named) => named.values().next().map_or(Value::Null, |fields| {
                        let fields = fields.as_object().into_iter().flatten();
                        Value::Object(
                            fields
                                .map(|(k, v)| (k.clone(), decode(v)))
                                .filter(|(_, v)| !v.is_null())
                                .collect(),
                        )
                    }),
                    _ => Value::Null,
                },
                "OPTIONAL" => decode(inner),
                "SECRET" | "BINARY" => inner.clone(),
                _ => value.clone(),
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(is_map_entry) => Value::Object(
            items
                .iter()
                .filter_map(|entry| {
                    let fields = &entry["STRUCTURE"]["map-entry"];
                    Some((fields["key"].as_str()?.to_owned(), decode(&fields["value"])))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(decode).collect()),
        other => other.clone(),
    }
}

fn is_map_entry(item: &Value) -> bool {
    item.get("STRUCTURE").and_then(|s| s.get("map-entry")).is_some()
}

/// The vAPI error name of a vCenter error (`com.vmware.vapi.std.errors.not_found`).
pub(crate) fn error_name(error: &VcError) -> String {
    format!("com.vmware.vapi.std.errors.{}", error.error_type().name().to_ascii_lowercase())
}

/// `error` as a `com.vmware.vapi.std.errors.*` value: one localizable message, no data,
/// and the `error_type` the REST side answers with.
pub(crate) fn error(error: &VcError) -> Value {
    json!({"ERROR": {error_name(error): {
        "messages": [{"STRUCTURE": {"com.vmware.vapi.std.localizable_message": {
            "id": error.message_id(),
            "default_message": error.message(),
            "args": [],
            "params": {"OPTIONAL": null},
            "localized": {"OPTIONAL": null},
        }}}],
        "data": {"OPTIONAL": null},
        "error_type": {"OPTIONAL": error.error_type().name()},
    }}})
}

/// The parts of an `invoke` request the simulator reads.
#[derive(Debug)]
pub(crate) struct Invoke {
    /// The JSON-RPC id, echoed in the answer.
    pub(crate) id: Value,
    /// `com.vmware.vcenter.VM`, …
    pub(crate) service: String,
    /// `list`, `create`, …
    pub(crate) operation: String,
    /// The decoded `operation-input` structure: one field per parameter.
    pub(crate) input: Value,
    /// `params.ctx.securityCtx`, as sent.
    pub(crate) security: Value,
}

/// A request that is not a well-formed JSON-RPC 2.0 `invoke`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    /// The body is not JSON (`-32700`).
    #[error("the body is not JSON: {0}")]
    Parse(#[source] serde_json::Error),
    /// Not a 2.0 `invoke` with `serviceId`/`operationId` (`-32600`, `-32601`).
    #[error("{0}")]
    Invalid(&'static str, i64),
}

impl EnvelopeError {
    /// The JSON-RPC error answer, with `id` (`null` for parse and request errors).
    pub(crate) fn answer(&self, id: &Value) -> Value {
        let (code, id) = match self {
            EnvelopeError::Parse(_) => (-32700, &Value::Null),
            EnvelopeError::Invalid(_, code) => (*code, id),
        };
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": self.to_string()}})
    }
}

/// Parses an `invoke` request body.
pub(crate) fn parse(body: &[u8]) -> Result<Invoke, (EnvelopeError, Value)> {
    let request: Value = serde_json::from_slice(body).map_err(|e| (EnvelopeError::Parse(e), Value::Null))?;
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let invalid = |what, code| (EnvelopeError::Invalid(what, code), Value::Null);
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("Invalid Request: jsonrpc must be \"2.0\".", -32600));
    }
    if request.get("method").and_then(Value::as_str) != Some("invoke") {
        return Err((EnvelopeError::Invalid("Method not found: only invoke is served.", -32601), id));
    }
    let params = &request["params"];
    let (Some(service), Some(operation)) = (params["serviceId"].as_str(), params["operationId"].as_str())
    else {
        return Err(invalid("Invalid Request: params needs serviceId and operationId.", -32600));
    };
    Ok(Invoke {
        service: service.to_owned(),
        operation: operation.to_owned(),
        input: decode(&params["input"]),
        security: params["ctx"]["securityCtx"].clone(),
        id,
    })
}

/// The successful answer to `id`.
pub(crate) fn output(id: &Value, output: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"output": output}})
}

/// The answer to `id` for a refused call: a method result carrying the error value.
pub(crate) fn failure(id: &Value, error_value: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"error": error_value}})
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: Ty = Ty::Struct("x.leaf", &[("a", Ty::Str), ("b", Ty::Opt(&Ty::Int))]);
    const ROOT: Ty = Ty::Struct(
        "x.root",
        &[("leaves", Ty::List(&LEAF)), ("by_key", Ty::Map(&Ty::Bool)), ("s", Ty::Secret)],
    );

    #[test]
    fn encodes_along_the_type() {
        let plain = json!({"leaves": [{"a": "x", "b": 2}, {"a": "y"}], "by_key": {"k": true}, "s": "pw"});
        assert_eq!(
            encode(&plain, &ROOT).unwrap(),
            json!({"STRUCTURE": {"x.root": {
                "leaves": [
                    {"STRUCTURE": {"x.leaf": {"a": "x", "b": {"OPTIONAL": 2}}}},
                    {"STRUCTURE": {"x.leaf": {"a": "y", "b": {"OPTIONAL": null}}}},
                ],
                "by_key": [{"STRUCTURE": {"map-entry": {"key": "k", "value": true}}}],
                "s": {"SECRET": "pw"},
            }}})
        );
    }

    #[test]
    fn a_missing_required_field_is_an_error_naming_it() {
        let err = encode(&json!({"b": 1}), &LEAF).unwrap_err();
        assert!(err.to_string().contains("output.a"), "{err}");
        assert!(encode(&json!("x"), &Ty::Int).is_err());
    }

    #[test]
    fn decodes_what_the_sdk_sends() {
        let sent = json!({"STRUCTURE": {"operation-input": {
            "filter": {"OPTIONAL": {"STRUCTURE": {"com.vmware.vcenter.VM.filter_spec": {
                "names": {"OPTIONAL": ["a"]}, "hosts": {"OPTIONAL": null}}}}},
            "password": {"SECRET": "pw"},
            "tags": [{"STRUCTURE": {"map-entry": {"key": "k", "value": "v"}}}],
        }}});
        assert_eq!(decode(&sent), json!({"filter": {"names": ["a"]}, "password": "pw", "tags": {"k": "v"}}));
    }

    #[test]
    fn round_trips_a_structure() {
        let plain = json!({"leaves": [{"a": "x", "b": 2}], "by_key": {"k": true}, "s": "pw"});
        assert_eq!(decode(&encode(&plain, &ROOT).unwrap()), plain);
    }

    #[test]
    fn parses_the_envelope() {
        let body = br#"{"jsonrpc":"2.0","method":"invoke","id":"7","params":{"serviceId":"com.vmware.cis.session","operationId":"create","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":{"schemeId":"s"}}}}"#;
        let invoke = parse(body).unwrap();
        assert_eq!(
            (invoke.service.as_str(), invoke.operation.as_str()),
            ("com.vmware.cis.session", "create")
        );
        assert_eq!(invoke.id, json!("7"));
        assert_eq!(invoke.security["schemeId"], "s");
        let (err, _) = parse(b"{").unwrap_err();
        assert_eq!(err.answer(&json!("1"))["error"]["code"], -32700);
        let (err, id) = parse(br#"{"jsonrpc":"2.0","method":"other","id":3}"#).unwrap_err();
        assert_eq!(err.answer(&id)["error"]["code"], -32601);
        assert_eq!(err.answer(&id)["id"], 3);
    }
}
