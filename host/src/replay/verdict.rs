//! A candidate's reconcile against the recorded one: the same, different
//! (which writes and what outcome), or diverged (what it read that the
//! recording does not hold).
//!
//! Writes are paired by what they address (interface, function and target:
//! kind, namespace and name, or method and path) in recorded order, so a
//! changed field shows as a change of that write rather than as one write
//! dropped and another added. Both sides are compared as the flight
//! recorder keeps them, redacted the same way; Secret data, which no
//! recording holds, only as present or absent (a candidate fed redacted
//! reads cannot rebuild its length).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::script::describe;
use crate::recorder::diff::apply_diff;
use crate::recorder::finish::call_target;
use crate::recorder::record::{CallResult, HostCall, ObjectId, Outcome, Record};
use crate::recorder::redact::{REDACTED, is_marker};

/// The judgement of one replayed reconcile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Judgement {
    /// Every write and the outcome are as recorded.
    Same,
    /// Some writes or the outcome differ.
    Different {
        /// One line per write dropped (`-`), added (`+`) or changed (`~`),
        /// each followed by its changed fields.
        writes: Vec<String>,
        /// `recorded → candidate`, when the outcome differs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
    },
    /// The candidate asked what the recording cannot answer.
    Diverged {
        /// Each such call.
        reads: Vec<String>,
    },
}

/// One replayed reconcile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The record's id in the store.
    pub record: i64,
    /// `reconcile` or `finalize`.
    pub export: String,
    /// `Kind namespace/name`, and `in CLUSTER` outside the default cluster.
    pub object: String,
    /// The recorded version, `name@version`.
    pub recorded: String,
    /// The judgement.
    #[serde(flatten)]
    pub judgement: Judgement,
}

impl Verdict {
    /// A verdict on `record` (the candidate's side decides the judgement).
    pub(crate) fn on(record: &Record, judgement: Judgement) -> Self {
        Self {
            record: record.id,
            export: record.export.clone(),
            object: object_text(&record.object),
            recorded: format!("{}@{}", record.plugin.name, record.plugin.version),
            judgement,
        }
    }

    /// `same`, `different` or `diverged`.
    pub fn word(&self) -> &'static str {
        match self.judgement {
            Judgement::Same => "same",
            Judgement::Different { .. } => "different",
            Judgement::Diverged { .. } => "diverged",
        }
    }
}

/// `Kind namespace/name`, and `in CLUSTER` outside the default cluster.
pub(crate) fn object_text(o: &ObjectId) -> String {
    let mut place = o.namespace.as_ref().map_or_else(|| o.name.clone(), |ns| format!("{ns}/{}", o.name));
    if o.cluster != "default" {
        place.push_str(&format!(" in {}", o.cluster));
    }
    format!("{} {place}", o.kind)
}

/// Judges the candidate's call `candidate` against `recorded`; `diverged`
/// is what the candidate asked that the recording could not answer.
pub(crate) fn judge(recorded: &Record, candidate: &Record, diverged: Vec<String>) -> Judgement {
    if !diverged.is_empty() {
        return Judgement::Diverged { reads: diverged };
    }
    let writes = compare_writes(&writes_of(recorded), &writes_of(candidate));
    let outcome = (recorded.outcome != candidate.outcome)
        .then(|| format!("{} → {}", outcome_text(&recorded.outcome), outcome_text(&candidate.outcome)));
    if writes.is_empty() && outcome.is_none() {
        Judgement::Same
    } else {
        Judgement::Different { writes, outcome }
    }
}

fn writes_of(record: &Record) -> Vec<&HostCall> {
    record.calls.iter().filter(|c| is_write(c)).collect()
}

fn is_write(call: &HostCall) -> bool {
    match call.interface.as_str() {
        "kube" => matches!(call.function.as_str(), "apply" | "apply-status" | "delete"),
        _ => call.args.get("method").and_then(Value::as_str) != Some("GET"),
    }
}

/// What a write addresses: two writes with the same key are one write,
/// changed or not.
fn key(call: &HostCall) -> (String, String, String) {
    let target = match call_target(call) {
        Some((cluster, kind, namespace, name)) => {
            format!("{cluster}/{kind}/{}/{name}", namespace.unwrap_or_default())
        }
        None => describe(&call.interface, &call.function, &call.args),
    };
    (call.interface.clone(), call.function.clone(), target)
}

fn compare_writes(recorded: &[&HostCall], candidate: &[&HostCall]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut paired = vec![false; candidate.len()];
    for r in recorded {
        let found = (0..candidate.len()).find(|&i| !paired[i] && key(candidate[i]) == key(r));
        let Some(i) = found else {
            lines.push(format!("- {}", describe(&r.interface, &r.function, &r.args)));
            continue;
        };
        paired[i] = true;
        let c = candidate[i];
        let what = describe(&c.interface, &c.function, &c.args);
        if comparable(&c.args) != comparable(&r.args) {
            lines.push(format!("~ {what}"));
            lines.extend(changed_fields(&r.args, &c.args).into_iter().map(|l| format!("    {l}")));
        } else if status(&r.result) != status(&c.result) {
            lines.push(format!("~ {what}: {} → {}", status(&r.result), status(&c.result)));
        }
    }
    for (c, _) in candidate.iter().zip(&paired).filter(|(_, p)| !**p) {
        lines.push(format!("+ {}", describe(&c.interface, &c.function, &c.args)));
    }
    lines
}

/// How a call ended, in a word or two: `ok`, `error not-found`, `denied`.
fn status(result: &CallResult) -> String {
    match result {
        CallResult::Ok { .. } => "ok".into(),
        CallResult::Error { kind, .. } => format!("error {kind}"),
        CallResult::Denied { .. } => "denied".into(),
        CallResult::Limit { .. } => "limit".into(),
    }
}

/// A write's arguments with every redaction marker the same.
fn comparable(args: &Value) -> Value {
    match args {
        Value::String(text) if is_marker(text) => Value::String(REDACTED.to_owned()),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), comparable(v))).collect()),
        other => other.clone(),
    }
}

/// The fields of a write's body (`object` or `body`) that differ:
/// `path: old → new`, `+ path: new`, `- path: old`.
fn changed_fields(recorded: &Value, candidate: &Value) -> Vec<String> {
    let body = |v: &Value| v.get("object").or_else(|| v.get("body")).cloned().unwrap_or(Value::Null);
    let (before, after) = (body(recorded), body(candidate));
    let mut lines = apply_diff(Some(&before), &after);
    lines.extend(
        apply_diff(Some(&after), &before)
            .into_iter()
            .filter_map(|l| l.strip_prefix("+ ").map(|rest| format!("- {rest}"))),
    );
    if lines.is_empty() {
        lines.push("(arguments other than the body differ)".to_owned());
    }
    lines
}

/// An outcome in words: `done`, `requeue-after 30000ms`, `error internal: …`.
pub(crate) fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done => "done".into(),
        Outcome::RequeueAfter { ms } => format!("requeue-after {ms}ms"),
        Outcome::Error { kind, message } => format!("error {kind}: {message}"),
        Outcome::Trap { message, .. } => format!("trap: {message}"),
        Outcome::Limit { message } => format!("limit: {message}"),
        Outcome::Instantiate { message } => format!("not instantiated: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply(name: &str, tier: &str) -> HostCall {
        HostCall {
            interface: "kube".into(),
            function: "apply".into(),
            args: json!({"cluster": "default", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns", "labels": {"tier": tier}}}, "scope": "Namespaced"}),
            result: CallResult::Ok { value: json!({}) },
            us: 0,
            before: None,
        }
    }

    fn record(calls: Vec<HostCall>, outcome: Outcome) -> Record {
        Record { id: 3, ..Record::sample(calls, outcome) }
    }

    #[test]
    fn the_same_writes_and_outcome_are_the_same() {
        let a = record(vec![apply("x", "gold")], Outcome::Done);
        assert_eq!(judge(&a, &a.clone(), Vec::new()), Judgement::Same);
    }

    #[test]
    fn a_changed_label_a_dropped_write_and_another_outcome_are_named() {
        let recorded = record(vec![apply("x", "gold"), apply("y", "gold")], Outcome::Done);
        let candidate = record(
            vec![apply("x", "silver")],
            Outcome::Error { kind: "internal".into(), message: "boom".into() },
        );
        let Judgement::Different { writes, outcome } = judge(&recorded, &candidate, Vec::new()) else {
            panic!("different");
        };
        assert_eq!(
            writes,
            [
                "~ kube apply v1/ConfigMap ns/x",
                "    metadata.labels.tier: \"gold\" → \"silver\"",
                "- kube apply v1/ConfigMap ns/y",
            ]
        );
        assert_eq!(outcome.as_deref(), Some("done → error internal: boom"));
    }

    #[test]
    fn the_same_write_refused_is_named_with_how_it_ended() {
        let recorded = record(vec![apply("x", "gold")], Outcome::Done);
        let mut refused = apply("x", "gold");
        refused.result = CallResult::Denied { what: "kube apply".into() };
        let candidate = record(vec![refused], Outcome::Done);
        let judgement = judge(&recorded, &candidate, Vec::new());
        let writes = vec!["~ kube apply v1/ConfigMap ns/x: ok → denied".to_owned()];
        assert_eq!(judgement, Judgement::Different { writes, outcome: None });
    }

    #[test]
    fn what_could_not_be_answered_is_a_divergence() {
        let a = record(Vec::new(), Outcome::Done);
        let judgement = judge(&a, &a.clone(), vec!["kube get v1/Secret ns/s: …".into()]);
        assert!(matches!(judgement, Judgement::Diverged { reads } if reads.len() == 1));
    }
}
