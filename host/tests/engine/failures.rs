//! A failing reconcile backs off, leaves an Event and a condition naming
//! the plugin and its version; the next success clears the condition. A
//! terminal failure (`invalid`, `forbidden`) is not retried until the
//! object changes.

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use wasmvisor_plugins::testing::WIDGET;

use wasmvisor_host::controller::queue::Reason;
use wasmvisor_host::recorder::STORE_FILE;
use wasmvisor_host::recorder::store::{ObjectQuery, Reader};

use crate::support::{Env, at, create_widget, eventually, patch_spec};

const CONDITION: &str = "widget.wasmvisor.dev/Reconciled";

fn our_condition(widget: &kube::api::DynamicObject) -> Option<Value> {
    at(widget, "/status/conditions").as_array()?.iter().find(|c| c["type"] == CONDITION).cloned()
}

async fn events_for(env: &Env, name: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(env.client.clone(), "apps");
    let all = events.list(&ListParams::default()).await.unwrap().items;
    all.into_iter().filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)).collect()
}

/// The recorded attempts on Widget `apps/NAME`, oldest first: start time
/// (Unix ms) and, when a backoff timer alone ran it, the failures it counted.
fn attempts(env: &Env, name: &str) -> Vec<(u64, Option<u32>)> {
    let Ok(reader) = Reader::open(&env.dir().join("host").join(STORE_FILE)) else { return Vec::new() };
    let query = ObjectQuery {
        kind: "Widget".into(),
        name: name.into(),
        namespace: Some("apps".into()),
        cluster: None,
        last: 100,
    };
    let mut found: Vec<(u64, Option<u32>)> = reader
        .object(&query)
        .unwrap_or_default()
        .iter()
        .map(|r| match r.triggers[..] {
            [Reason::Backoff { failures }] => (r.started_ms, Some(failures)),
            _ => (r.started_ms, None),
        })
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_backs_off_records_an_event_and_a_condition_and_success_clears_it() {
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "flaky", json!({"mode": "fail"})).await;
    let widgets = env.widgets("apps");
    let condition = eventually("the failure condition", || {
        let widgets = widgets.clone();
        async move { widgets.get("flaky").await.ok().as_ref().and_then(our_condition) }
    })
    .await;
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "Unavailable");
    let message = condition["message"].as_str().unwrap();
    assert!(message.contains("widget@1.0.0") && message.contains("widget asked to fail"), "{message}");
    assert_eq!(condition["observedGeneration"], 1);
    let event = eventually("a Warning Event", || {
        let env = &env;
        async move {
            events_for(env, "flaky").await.into_iter().find(|e| e.reason.as_deref() == Some("Unavailable"))
        }
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.note.unwrap_or_default().contains("widget@1.0.0"));

    // Backoff: with a 50 ms base doubling to a 1 s cap, retry n waits at
    // least half its ceiling (full jitter), which the recorded start times
    // show (a timer never fires early, so this holds on any machine).
    let attempts = eventually("four retries by the backoff timer", || {
        let found = attempts(&env, "flaky");
        async move { (found.iter().filter(|(_, f)| f.is_some()).count() >= 4).then_some(found) }
    })
    .await;
    for pair in attempts.windows(2) {
        let ((previous, _), (started, Some(failures))) = (pair[0], pair[1]) else { continue };
        let floor = (50u64 << (failures - 1)).min(1000) / 2;
        let waited = started - previous;
        assert!(
            waited + 1 >= floor,
            "retry after {failures} failures came {waited} ms on, under {floor} ms: {attempts:?}"
        );
    }

    patch_spec(&env, "apps", "flaky", json!({"mode": "ok"})).await;
    let healed = eventually("success to clear the condition", || {
        let widgets = widgets.clone();
        async move {
            widgets
                .get("flaky")
                .await
                .ok()
                .filter(|w| at(w, "/status/phase") == "Ready" && our_condition(w).is_none())
        }
    })
    .await;
    assert_eq!(at(&healed, "/status/observedGeneration"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_names_the_guest_functions_in_its_condition() {
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "boom", json!({"mode": "panic"})).await;
    let widgets = env.widgets("apps");
    let condition = eventually("the panic condition", || {
        let widgets = widgets.clone();
        async move { widgets.get("boom").await.ok().as_ref().and_then(our_condition) }
    })
    .await;
    assert_eq!(condition["reason"], "Panic");
    let message = condition["message"].as_str().unwrap();
    assert!(message.contains("widget asked to panic"), "{message}");
    assert!(message.contains("guest backtrace:") && message.contains("widget_plugin"), "{message}");
    // The host is fine: another object of the same plugin reconciles.
    create_widget(&env, "apps", "calm", json!({})).await;
    eventually("a healthy widget next to the trapping one", || {
        let widgets = widgets.clone();
        async move { widgets.get("calm").await.ok().filter(|w| at(w, "/status/phase") == "Ready") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_error_waits_for_a_change_and_a_retryable_one_backs_off() {
    let env = Env::start(&[WIDGET]).await;
    assert_eq!(env.terminal_errors("widget"), 0, "the series exists from the start");
    create_widget(&env, "apps", "wrong", json!({"mode": "invalid"})).await;
    let widgets = env.widgets("apps");
    let condition = eventually("the invalid condition", || {
        let widgets = widgets.clone();
        async move { widgets.get("wrong").await.ok().as_ref().and_then(our_condition) }
    })
    .await;
    assert_eq!(condition["reason"], "Invalid");

    // The host's own writes (finalizer, condition) change the object once
    // or twice; after those echoes nothing is queued, scheduled or running:
    // no timer will run it again, as a backoff would.
    eventually("the plugin's queue to empty", || {
        let env = &env;
        async move { (env.pending("widget") == 0).then_some(()) }
    })
    .await;
    let settled = env.reconciles("widget", "error");
    assert!(settled >= 1);
    assert_eq!(env.terminal_errors("widget"), settled, "every failure so far was terminal");

    // A change of the object runs it again.
    patch_spec(&env, "apps", "wrong", json!({"revision": 2})).await;
    eventually("a new attempt after the change", || {
        let env = &env;
        async move { (env.terminal_errors("widget") > settled).then_some(()) }
    })
    .await;

    // A retryable failure is retried with backoff, without a change.
    patch_spec(&env, "apps", "wrong", json!({"mode": "fail"})).await;
    let terminal = eventually("the unavailable condition", || {
        let env = &env;
        let widgets = widgets.clone();
        async move {
            let widget = widgets.get("wrong").await.ok()?;
            (our_condition(&widget)?["reason"] == "Unavailable").then(|| env.terminal_errors("widget"))
        }
    })
    .await;
    let before = env.reconciles("widget", "error");
    eventually("retries without a change", || {
        let env = &env;
        async move { (env.reconciles("widget", "error") >= before + 3).then_some(()) }
    })
    .await;
    assert_eq!(env.terminal_errors("widget"), terminal, "retryable failures are not terminal");
}
