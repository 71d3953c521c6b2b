//! What a reconcile attempt leaves on the object besides the plugin's own
//! writes: on failure a Warning Event and a condition naming the plugin, its
//! version and the error (with the guest backtrace of a trap); on success the
//! condition is cleared.
//!
//! In: the attempt's result and the object. Out: writes to the API server
//! and the queue [`Completion`]. This is the one place that turns an outcome
//! into a queue operation, as controller-runtime's `reconcileHandler` does.
//! Writing effects is best effort: a kind without a status subresource gets
//! the Event only, and a failed write is logged, never retried in a loop —
//! the next attempt writes again.
//!
//! The condition type is `<plugin>.wasmvisor.dev/Reconciled`, so plugins
//! reconciling one object never overwrite each other's; it is written with a
//! JSON patch guarded by the object's resourceVersion, so it never clobbers
//! a concurrent status write.

use std::collections::HashMap;
use std::time::Duration;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};

use crate::capability::kube::KubeError;
use crate::capability::kube::backend::classify;
use crate::cluster::Clusters;
use crate::object::ObjectRef;
use crate::runtime::dispatch::{Export, Failure, Outcome, ReconcileError};

use super::queue::Completion;

/// Condition messages are capped at 32 KiB by the API server.
const MAX_CONDITION_MESSAGE: usize = 32 << 10;
/// Event notes are capped at 1 KiB by events.k8s.io.
const MAX_EVENT_NOTE: usize = 1 << 10;
/// Attempts at the guarded condition patch before giving up for this round.
const CONDITION_ATTEMPTS: usize = 3;

/// The condition type a plugin's failures are reported under.
pub fn condition_type(plugin: &str) -> String {
    format!("{plugin}.wasmvisor.dev/Reconciled")
}

/// The CamelCase reason of a failure, for the condition and the Event.
pub fn reason(failure: &Failure) -> &'static str {
    match failure {
        Failure::Returned { kind, .. } => kind.reason(),
        Failure::Deadline { .. } => "DeadlineExceeded",
        Failure::Limit(_) => "LimitExceeded",
        Failure::Panic { .. } => "Panic",
        Failure::Exit { .. } => "Exited",
        Failure::Trap { .. } => "Trap",
        Failure::Instantiate { .. } => "InstantiateFailed",
    }
}

/// The human message of a failure: plugin, version, error, backtrace.
pub fn message(error: &ReconcileError) -> String {
    let mut text = format!("{} {}", error.plugin, error.failure);
    if let Some(backtrace) = &error.backtrace {
        text.push_str("\nguest backtrace:\n");
        text.push_str(backtrace);
    }
    text
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Writes the effects of attempts of one plugin.
pub struct Effects {
    plugin: String,
    /// `wasmvisor_terminal_reconcile_errors_total{plugin}`.
    terminal_errors: Counter,
    /// Event recorders by cluster name.
    recorders: HashMap<String, Recorder>,
    /// The shortest requeue-after honoured.
    requeue_floor: Duration,
}

/// What the queue does after a successful call: nothing, or run again
/// after the plugin's delay, never sooner than `floor`.
fn next_of(outcome: Outcome, floor: Duration) -> Completion {
    match outcome {
        Outcome::Done => Completion::Success,
        Outcome::RequeueAfter(after) => Completion::RequeueAfter(after.max(floor)),
    }
}

impl Effects {
    /// Effects of `plugin`, publishing Events through the client of each
    /// cluster it watches and counting terminal failures on `terminal_errors`.
    pub fn new<'a>(
        plugin: &str,
        clusters: &Clusters,
        watched: impl IntoIterator<Item = &'a str>,
        terminal_errors: Counter,
        requeue_floor: Duration,
    ) -> Self {
        let mut recorders = HashMap::new();
        for cluster in watched {
            if let Some(client) = clusters.client(cluster) {
                let reporter = Reporter { controller: "wasmvisor".into(), instance: Some(plugin.to_owned()) };
                recorders.insert(cluster.to_owned(), Recorder::new(client, reporter));
            }
        }
        Self { plugin: plugin.to_owned(), terminal_errors, recorders, requeue_floor }
    }

    /// Records `result` for `object` and says what the queue does next: a
    /// success or requeue-after as the plugin asked, a terminal failure
    /// ([`Failure::is_terminal`]) waits for the next change, any other
    /// failure backs off.
    pub async fn complete(
        &self,
        clusters: &Clusters,
        target: &ObjectRef,
        object: &DynamicObject,
        export: Export,
        result: &Result<Outcome, ReconcileError>,
    ) -> Completion {
        match result {
            Ok(outcome) => {
                if has_condition(object, &condition_type(&self.plugin)) {
                    self.write_condition(clusters, target, None).await;
                }
                next_of(*outcome, self.requeue_floor)
            }
            Err(error) => {
                let reason = reason(&error.failure);
                let message = message(error);
                self.publish(&target.cluster, object, export, reason, &message).await;
                let condition = json!({
                    "type": condition_type(&self.plugin),
                    "status": "False",
                    "reason": reason,
                    "message": cut(&message, MAX_CONDITION_MESSAGE),
                    "observedGeneration": object.metadata.generation,
                });
                self.write_condition(clusters, target, Some(condition)).await;
                if error.failure.is_terminal() {
                    self.terminal_errors.inc();
                    Completion::Terminal
                } else {
                    Completion::Failed
                }
            }
        }
    }

    async fn publish(
        &self,
        cluster: &str,
        object: &DynamicObject,
        export: Export,
        reason: &str,
        message: &str,
    ) {
        let Some(recorder) = self.recorders.get(cluster) else { return };
        let event = Event {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: Some(cut(message, MAX_EVENT_NOTE)),
            action: match export {
                Export::Reconcile => "Reconcile".into(),
                Export::Finalize => "Finalize".into(),
            },
            secondary: None,
        };
        let reference =
            kube::Resource::object_ref(object, &kube::discovery::ApiResource::from_gvk(&gvk_of(object)));
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::warn!(plugin = self.plugin, %error, "cannot record the failure as an Event");
        }
    }

    /// Sets (`Some`) or removes (`None`) this plugin's condition.
    async fn write_condition(&self, clusters: &Clusters, target: &ObjectRef, condition: Option<Value>) {
        let kind = condition_type(&self.plugin);
        for _ in 0..CONDITION_ATTEMPTS {
            match try_write_condition(clusters, target, &kind, condition.as_ref()).await {
                Ok(()) => return,
                // The object changed between read and patch: read again.
                Err(KubeError::Conflict(_) | KubeError::Invalid(_)) => continue,
                // Gone, or a kind without a status subresource: the Event is all there is.
                Err(KubeError::NotFound(_)) => return,
                Err(error) => {
                    tracing::warn!(plugin = self.plugin, object = %target, %error, "cannot write the condition");
                    return;
                }
            }
        }
        tracing::warn!(plugin = self.plugin, object = %target, "the condition lost the race with other writers; the next attempt writes it");
    }
}

fn gvk_of(object: &DynamicObject) -> kube::core::GroupVersionKind {
    let types = object.types.clone().unwrap_or_default();
    let (group, version) = types.api_version.split_once('/').unwrap_or(("", &types.api_version));
    kube::core::GroupVersionKind::gvk(group, version, &types.kind)
}

fn conditions_of(object: &Value) -> Vec<Value> {
    object.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn has_condition(object: &DynamicObject, kind: &str) -> bool {
    // `data` holds everything but apiVersion, kind and metadata, so the
    // same pointer as on the full object applies; read it without copying.
    object
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == kind))
}

/// The conditions after setting or removing ours; `None` when nothing changes.
fn next_conditions(
    current: &[Value],
    kind: &str,
    condition: Option<&Value>,
    now: &str,
) -> Option<Vec<Value>> {
    let existing = current.iter().position(|c| c["type"] == kind);
    let mut next = current.to_vec();
    match (existing, condition) {
        (None, None) => return None,
        (Some(i), None) => {
            next.remove(i);
        }
        (Some(i), Some(new)) => {
            let old = &current[i];
            let same = ["status", "reason", "message", "observedGeneration"].iter().all(|f| old[f] == new[f]);
            if same {
                return None;
            }
            let mut new = new.clone();
            new["lastTransitionTime"] =
                if old["status"] == new["status"] { old["lastTransitionTime"].clone() } else { json!(now) };
            next[i] = new;
        }
        (None, Some(new)) => {
            let mut new = new.clone();
            new["lastTransitionTime"] = json!(now);
            next.push(new);
        }
    }
    Some(next)
}

async fn try_write_condition(
    clusters: &Clusters,
    target: &ObjectRef,
    kind: &str,
    condition: Option<&Value>,
) -> Result<(), KubeError> {
    let api =
        clusters.api(&target.cluster, &target.api_version, &target.kind, target.namespace.as_deref()).await?;
    let fresh = serde_json::to_value(api.get(&target.name).await.map_err(classify)?)
        .map_err(|e| KubeError::Internal(e.to_string()))?;
    let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let Some(next) = next_conditions(&conditions_of(&fresh), kind, condition, &now) else {
        return Ok(());
    };
    let status_ops = if fresh.get("status").is_some_and(Value::is_object) {
        json!({"op": "add", "path": "/status/conditions", "value": next})
    } else {
        json!({"op": "add", "path": "/status", "value": {"conditions": next}})
    };
    let ops = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": fresh["metadata"]["resourceVersion"]},
        status_ops,
    ]);
    let ops: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| KubeError::Internal(format!("condition patch: {e}")))?;
    api.patch_status(&target.name, &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .map(drop)
        .map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(reason: &str) -> Value {
        json!({"type": "p.wasmvisor.dev/Reconciled", "status": "False", "reason": reason,
               "message": "m", "observedGeneration": 2})
    }

    #[test]
    fn a_failure_adds_our_condition_beside_the_plugins_own() {
        let theirs = json!({"type": "Ready", "status": "True"});
        let next = next_conditions(
            std::slice::from_ref(&theirs),
            "p.wasmvisor.dev/Reconciled",
            Some(&ours("Trap")),
            "T1",
        )
        .unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(next[0], theirs);
        assert_eq!(next[1]["reason"], "Trap");
        assert_eq!(next[1]["lastTransitionTime"], "T1");
    }

    #[test]
    fn the_same_failure_again_writes_nothing_and_a_new_one_keeps_the_transition_time() {
        let mut stored = ours("Trap");
        stored["lastTransitionTime"] = json!("T1");
        let kind = "p.wasmvisor.dev/Reconciled";
        assert_eq!(next_conditions(&[stored.clone()], kind, Some(&ours("Trap")), "T2"), None);
        let changed = next_conditions(&[stored], kind, Some(&ours("Panic")), "T2").unwrap();
        assert_eq!(changed[0]["reason"], "Panic");
        assert_eq!(changed[0]["lastTransitionTime"], "T1", "status stayed False");
    }

    #[test]
    fn success_removes_only_our_condition() {
        let theirs = json!({"type": "Ready", "status": "True"});
        let kind = "p.wasmvisor.dev/Reconciled";
        let next = next_conditions(&[theirs.clone(), ours("Trap")], kind, None, "T").unwrap();
        assert_eq!(next, vec![theirs.clone()]);
        assert_eq!(next_conditions(&[theirs], kind, None, "T"), None, "nothing to clear");
    }

    #[test]
    fn requeue_after_is_never_sooner_than_the_floor() {
        let floor = Duration::from_millis(250);
        let after = |d| next_of(Outcome::RequeueAfter(d), floor);
        assert_eq!(after(Duration::ZERO), Completion::RequeueAfter(floor));
        assert_eq!(after(Duration::from_millis(10)), Completion::RequeueAfter(floor));
        assert_eq!(after(Duration::from_secs(3)), Completion::RequeueAfter(Duration::from_secs(3)));
        assert_eq!(next_of(Outcome::Done, floor), Completion::Success);
    }

    #[test]
    fn reasons_and_messages_name_the_failure() {
        let error = ReconcileError {
            plugin: "p@1.0.0".into(),
            object: "default/v1/ConfigMap/ns/a".into(),
            failure: Failure::Panic { message: "boom".into() },
            backtrace: Some("0: p::reconcile".into()),
        };
        assert_eq!(reason(&error.failure), "Panic");
        let text = message(&error);
        assert!(text.starts_with("p@1.0.0 panicked: boom"), "{text}");
        assert!(text.contains("guest backtrace:\n0: p::reconcile"), "{text}");
        assert_eq!(cut("abcdef", 5), "ab...");
    }
}
