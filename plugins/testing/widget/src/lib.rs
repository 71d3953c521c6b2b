//! Test plugin for the controller engine. A Widget's spec says how its
//! reconcile behaves, so the engine's tests and benchmark can drive every
//! path from the API server alone:
//!
//! | `spec` field | effect |
//! | --- | --- |
//! | `mode: ok` (default) | status `{observedGeneration, phase: Ready}` through the status subresource |
//! | `mode: fail` | returns `unavailable` |
//! | `mode: invalid` | returns `invalid` (a terminal error) |
//! | `mode: panic` | panics (a trap with a guest backtrace) |
//! | `mode: requeue` | status as for `ok`, then asks to be called again after `requeueMs` |
//! | `spinMs: N` | busy-waits N ms first, so overlapping calls would show |
//! | `trace: true` | writes ConfigMap `<name>-<start ns>` with the call's start and end (wall clock, ns) |
//! | `finalizeMode: fail` | `finalize` returns `unavailable`; otherwise it writes ConfigMap `<name>-finalized` |
//!
//! Never shipped.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use wasmvisor_sdk::{Action, Context, Error, ObjectMeta, Reconciler};

/// The Widget fields this plugin reads.
#[derive(Deserialize)]
struct Widget {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    requeue_ms: Option<u64>,
    #[serde(default)]
    spin_ms: Option<u64>,
    #[serde(default)]
    trace: bool,
    #[serde(default)]
    finalize_mode: Option<String>,
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn config_map(ctx: &Context, widget: &Widget, name: &str, data: serde_json::Value) -> Result<(), Error> {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": widget.metadata.namespace,
                     "labels": {"test.wasmvisor.dev/widget": widget.metadata.name}},
        "data": data,
    });
    ctx.kube().apply::<serde_json::Value>(ctx.cluster(), &cm).map(drop)
}

fn ready(ctx: &Context, widget: &Widget) -> Result<(), Error> {
    let status = json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": widget.metadata.name, "namespace": widget.metadata.namespace},
        "status": {"observedGeneration": widget.metadata.generation, "phase": "Ready"},
    });
    ctx.kube().apply_status::<serde_json::Value>(ctx.cluster(), &status).map(drop)
}

struct WidgetPlugin;

impl Reconciler for WidgetPlugin {
    type Object = Widget;

    fn reconcile(ctx: &Context, widget: Widget) -> Result<Action, Error> {
        let start = now_ns();
        if let Some(ms) = widget.spec.spin_ms {
            let until = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < until {}
        }
        let action = match widget.spec.mode.as_deref().unwrap_or("ok") {
            "fail" => return Err(Error::Unavailable("widget asked to fail".into())),
            "invalid" => return Err(Error::Invalid("widget asked to be invalid".into())),
            "panic" => panic!("widget asked to panic"),
            "requeue" => {
                ready(ctx, &widget)?;
                Action::requeue(Duration::from_millis(widget.spec.requeue_ms.unwrap_or(1000)))
            }
            _ => {
                ready(ctx, &widget)?;
                Action::done()
            }
        };
        if widget.spec.trace {
            let name = format!("{}-{start}", widget.metadata.name);
            let data = json!({"start": start.to_string(), "end": now_ns().to_string()});
            config_map(ctx, &widget, &name, data)?;
        }
        Ok(action)
    }

    fn finalize(ctx: &Context, widget: Widget) -> Result<Action, Error> {
        if widget.spec.finalize_mode.as_deref() == Some("fail") {
            return Err(Error::Unavailable("widget asked finalize to fail".into()));
        }
        let name = format!("{}-finalized", widget.metadata.name);
        config_map(ctx, &widget, &name, json!({"finalized": "true"}))?;
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(WidgetPlugin);
