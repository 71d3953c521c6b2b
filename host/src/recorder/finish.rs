//! A [`Capture`] into a [`Record`]: JSON parsed, the "before" of each write
//! found, everything redacted. Runs on the writer thread.

use serde_json::{Value, json};

use super::Capture;
use super::record::{CallResult, HostCall, LogLine, ObjectId, Outcome, PluginId, Record};
use super::redact::Redactor;
use super::tape::{Raw, RawCall, RawResult};
use crate::runtime::dispatch::{Export, Failure, Outcome as CallOutcome};

/// Values bigger than this (a list of thousands of objects) are kept as a
/// summary: the record stays small and the store holds many of them.
const MAX_VALUE_BYTES: usize = 32 << 10;

/// Builds the stored record of `capture`.
pub(crate) fn finish(capture: Capture) -> Record {
    let Capture { started, manifest, digest, export, target, object, origin, triggers, tape, result } =
        capture;
    let mut reconciled = parse(&object);
    let meta = |field: &str| reconciled.pointer(&format!("/metadata/{field}")).cloned();
    let id = ObjectId {
        cluster: target.cluster.clone(),
        api_version: target.api_version.clone(),
        kind: target.kind.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        uid: meta("uid").and_then(|v| v.as_str().map(str::to_owned)),
        resource_version: meta("resourceVersion").and_then(|v| v.as_str().map(str::to_owned)),
        generation: meta("generation").and_then(|v| v.as_i64()),
    };
    let host_us = micros(tape.host_time());
    let mut calls: Vec<HostCall> = Vec::with_capacity(tape.calls.len());
    for raw in &tape.calls {
        let call = host_call(raw);
        calls.push(call);
    }
    attach_befores(&mut calls, &id, &reconciled);

    // Redaction: strip every document, then scrub what was stripped from
    // every string of the record.
    let mut redactor = Redactor::default();
    redactor.strip(&mut reconciled, target.kind == "Secret");
    for call in &mut calls {
        let secret = call_kind(call) == Some("Secret");
        redactor.strip(&mut call.args, false);
        if let CallResult::Ok { value } = &mut call.result {
            redactor.strip(value, secret);
        }
        if let Some(before) = &mut call.before {
            redactor.strip(before, secret);
        }
    }
    for call in &mut calls {
        redactor.scrub(&mut call.args);
        match &mut call.result {
            CallResult::Ok { value } => redactor.scrub(value),
            CallResult::Error { message, .. } | CallResult::Limit { message } => redactor.scrub_text(message),
            CallResult::Denied { what } => redactor.scrub_text(what),
        }
        if let Some(before) = &mut call.before {
            redactor.scrub(before);
        }
    }
    let mut logs: Vec<LogLine> = tape.logs;
    for line in &mut logs {
        redactor.scrub_text(&mut line.message);
        redactor.scrub_text(&mut line.fields);
    }
    let mut outcome = outcome(&result);
    match &mut outcome {
        Outcome::Error { message, .. } | Outcome::Limit { message } | Outcome::Instantiate { message } => {
            redactor.scrub_text(message)
        }
        Outcome::Trap { message, backtrace } => {
            redactor.scrub_text(message);
            if let Some(bt) = backtrace {
                redactor.scrub_text(bt);
            }
        }
        Outcome::Done | Outcome::RequeueAfter { .. } => {}
    }
    let total = match &result {
        Ok(report) => report.elapsed,
        Err(_) => started.elapsed().unwrap_or_default(),
    };
    Record {
        id: 0,
        started_ms: started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
        plugin: PluginId { name: manifest.name.clone(), version: manifest.version.clone(), digest },
        export: match export {
            Export::Reconcile => "reconcile",
            Export::Finalize => "finalize",
        }
        .to_owned(),
        object: id,
        origin,
        input: (!is_summary(&reconciled)).then_some(reconciled),
        triggers: triggers.iter().cloned().collect(),
        more_triggers: triggers.more(),
        calls,
        logs,
        wasi: tape.wasi.take(),
        outcome,
        total_us: micros(total),
        host_us,
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// JSON text as a value; text that is not JSON stays a string. Oversized
/// values become a summary.
fn parse(text: &str) -> Value {
    if text.len() > MAX_VALUE_BYTES {
        return json!({ "omitted": format!("{} bytes", text.len()) });
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Whether `value` is what [`parse`] keeps of an oversized document.
pub(crate) fn is_summary(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.contains_key("omitted") && o.len() <= 2)
}

fn value(raw: &Raw) -> Value {
    match raw {
        Raw::Unit => Value::Null,
        Raw::Json(text) => parse(text),
        Raw::JsonList(items) => {
            let total: usize = items.iter().map(String::len).sum();
            if total > MAX_VALUE_BYTES {
                // Identities only: enough for `why` and `audit`.
                let names: Vec<Value> = items
                    .iter()
                    .map(|i| {
                        let v: Value = serde_json::from_str(i).unwrap_or(Value::Null);
                        json!({
                            "kind": v.get("kind"),
                            "metadata": {
                                "namespace": v.pointer("/metadata/namespace"),
                                "name": v.pointer("/metadata/name"),
                            }
                        })
                    })
                    .collect();
                return json!({ "omitted": format!("{total} bytes"), "items": names });
            }
            Value::Array(items.iter().map(|i| parse(i)).collect())
        }
        Raw::Value(v) => v.clone(),
        Raw::Http { status, body } => json!({ "status": status, "body": parse(body) }),
    }
}

/// A call's arguments as a record keeps them, before redaction.
pub(crate) fn args(args: &[(&'static str, Raw)]) -> Value {
    Value::Object(args.iter().map(|(k, v)| ((*k).to_owned(), value(v))).collect())
}

fn host_call(raw: &RawCall) -> HostCall {
    let args = args(&raw.args);
    let result = match &raw.result {
        RawResult::Ok(v) => CallResult::Ok { value: value(v) },
        RawResult::Error { kind, message } => {
            CallResult::Error { kind: kind.as_str().to_owned(), message: message.clone() }
        }
        RawResult::Denied(what) => CallResult::Denied { what: what.clone() },
        RawResult::Limit(message) => CallResult::Limit { message: message.clone() },
    };
    HostCall {
        interface: raw.interface.to_owned(),
        function: raw.function.to_owned(),
        args,
        result,
        us: micros(raw.elapsed),
        before: None,
    }
}

/// The kind a kube call is about: its target, kinds, or applied object.
pub(crate) fn call_kind(call: &HostCall) -> Option<&str> {
    if call.interface != "kube" {
        return None;
    }
    ["/target/kind", "/kinds/kind", "/object/kind"].iter().find_map(|p| call.args.pointer(p)?.as_str())
}

/// An object's identity within one record: cluster, kind, namespace, name.
pub(crate) type Key = (String, String, Option<String>, String);

/// The [`Key`] of what a kube call addresses.
pub(crate) fn call_target(call: &HostCall) -> Option<Key> {
    if call.interface != "kube" {
        return None;
    }
    let args = &call.args;
    let (cluster, doc) = match call.function.as_str() {
        "apply" | "apply-status" => (args.get("cluster")?.as_str()?, args.get("object")?),
        "get" | "delete" => (args.pointer("/target/cluster")?.as_str()?, args.get("target")?),
        _ => return None,
    };
    let (kind, namespace, name) = if doc.get("metadata").is_some() {
        (doc.get("kind")?, doc.pointer("/metadata/namespace"), doc.pointer("/metadata/name")?)
    } else {
        (doc.get("kind")?, doc.get("namespace"), doc.get("name")?)
    };
    Some((
        cluster.to_owned(),
        kind.as_str()?.to_owned(),
        namespace.and_then(Value::as_str).map(str::to_owned),
        name.as_str()?.to_owned(),
    ))
}

fn identity_of(cluster: &str, doc: &Value) -> Option<Key> {
    Some((
        cluster.to_owned(),
        doc.get("kind")?.as_str()?.to_owned(),
        doc.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned),
        doc.pointer("/metadata/name")?.as_str()?.to_owned(),
    ))
}

/// Gives each kube write the object as this reconcile last saw it: the
/// result of an earlier read or write of it in this call, else the
/// reconciled object itself when the write is to it.
fn attach_befores(calls: &mut [HostCall], id: &ObjectId, reconciled: &Value) {
    let reconciled_key = (id.cluster.clone(), id.kind.clone(), id.namespace.clone(), id.name.clone());
    let mut seen: Vec<(Key, Value)> = vec![(reconciled_key, reconciled.clone())];
    for call in calls.iter_mut() {
        let target = call_target(call);
        let is_write = matches!(call.function.as_str(), "apply" | "apply-status" | "delete");
        if is_write && let Some(key) = &target {
            call.before = seen.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        }
        let cluster = call
            .args
            .get("cluster")
            .or_else(|| call.args.pointer("/target/cluster"))
            .or_else(|| call.args.pointer("/kinds/cluster"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let CallResult::Ok { value } = &call.result {
            match value {
                Value::Array(items) => {
                    for item in items {
                        if let Some(key) = identity_of(&cluster, item) {
                            seen.push((key, item.clone()));
                        }
                    }
                }
                Value::Object(_) => {
                    if let Some(key) = identity_of(&cluster, value) {
                        seen.push((key, value.clone()));
                    }
                }
                _ => {}
            }
        }
        if call.function == "delete"
            && let Some(key) = target
        {
            seen.push((key, Value::Null));
        }
    }
}

fn outcome(
    result: &Result<crate::runtime::dispatch::Report, crate::runtime::dispatch::ReconcileError>,
) -> Outcome {
    match result {
        Ok(report) => match report.outcome {
            CallOutcome::Done => Outcome::Done,
            CallOutcome::RequeueAfter(d) => {
                Outcome::RequeueAfter { ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX) }
            }
        },
        Err(error) => match &error.failure {
            Failure::Returned { kind, message } => {
                Outcome::Error { kind: kind.as_str().to_owned(), message: message.clone() }
            }
            Failure::Deadline { .. } | Failure::Limit(_) => {
                Outcome::Limit { message: error.failure.to_string() }
            }
            Failure::Panic { .. } | Failure::Exit { .. } | Failure::Trap { .. } => {
                Outcome::Trap { message: error.failure.to_string(), backtrace: error.backtrace.clone() }
            }
            Failure::Instantiate { message } => Outcome::Instantiate { message: message.clone() },
        },
    }
}
