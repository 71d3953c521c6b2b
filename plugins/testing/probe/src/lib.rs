//! Test plugin for the NSX and vCenter host functions. The ConfigMap it is
//! handed lists requests in `data.calls` (JSON: `[{"endpoint": "nsx",
//! "method": "GET", "path": "…", "body": "…"}]`; endpoint `kube` with
//! method `GET` and path `<apiVersion>/<Kind>/<namespace>/<name>` reads an
//! object, e.g. `v1/Secret/default/token`, in the handed object's cluster
//! or the call's `cluster`; method `APPLY` applies the object in `body`
//! there); it sends each one
//! `data.repeat` times (default 1), logs every outcome (unless `data.log`
//! is `"false"`), and, unless
//! `data.report` is `"false"`, writes everything it saw (statuses, bodies,
//! error kinds and messages) to the ConfigMap `<name>-out`. So a test can
//! search all a plugin can observe for things it must never see. Never shipped.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use wasmvisor_sdk::{Action, Context, Endpoint, Error, Method, ObjectRef, Reconciler, log};

#[derive(Deserialize)]
struct Input {
    metadata: wasmvisor_sdk::ObjectMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Call {
    endpoint: String,
    method: String,
    path: String,
    #[serde(default)]
    body: Option<String>,
    /// For `kube`: the cluster (default: the handed object's).
    #[serde(default)]
    cluster: Option<String>,
}

fn method(name: &str) -> Result<Method, Error> {
    Ok(match name {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(Error::Invalid(format!("unknown method {other:?}"))),
    })
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Forbidden(_) => "forbidden",
        Error::NotFound(_) => "not-found",
        Error::Conflict(_) => "conflict",
        Error::Invalid(_) => "invalid",
        Error::Unavailable(_) => "unavailable",
        Error::Internal(_) => "internal",
    }
}

struct Probe;

/// Sends one call; the outer error is a malformed call, the inner one what the host answered.
fn send(ctx: &Context, call: &Call) -> Result<Result<serde_json::Value, Error>, Error> {
    let endpoint = match call.endpoint.as_str() {
        "nsx" => Endpoint::Nsx,
        "vcenter" => Endpoint::Vcenter,
        "kube" if call.method == "APPLY" => {
            let object: serde_json::Value = serde_json::from_str(call.body.as_deref().unwrap_or("{}"))?;
            let cluster = call.cluster.as_deref().unwrap_or(ctx.cluster());
            return Ok(ctx
                .kube()
                .apply(cluster, &object)
                .map(|o| json!({"status": 200, "body": o.to_string()})));
        }
        "kube" => {
            let parts: Vec<&str> = call.path.rsplitn(4, '/').collect();
            let [name, namespace, kind, api_version] = parts[..] else {
                return Err(Error::Invalid(format!(
                    "kube path {:?} is not <apiVersion>/<Kind>/<namespace>/<name>",
                    call.path
                )));
            };
            let cluster = call.cluster.as_deref().unwrap_or(ctx.cluster());
            let target = ObjectRef::namespaced(cluster, api_version, kind, namespace, name);
            return Ok(ctx
                .kube()
                .get::<serde_json::Value>(&target)
                .map(|o| json!({"status": 200, "body": o.to_string()})));
        }
        other => return Err(Error::Invalid(format!("unknown endpoint {other:?}"))),
    };
    let method = method(&call.method)?;
    Ok(endpoint
        .request(method, &call.path, call.body.clone())
        .map(|r| json!({"status": r.status, "body": r.body})))
}

impl Reconciler for Probe {
    type Object = serde_json::Value;

    fn reconcile(ctx: &Context, object: serde_json::Value) -> Result<Action, Error> {
        let input: Input = serde_json::from_value(object)?;
        let calls: Vec<Call> =
            serde_json::from_str(input.data.get("calls").map(String::as_str).unwrap_or("[]"))?;
        let repeat: u32 = input.data.get("repeat").and_then(|r| r.parse().ok()).unwrap_or(1);
        let quiet = input.data.get("log").map(String::as_str) == Some("false");
        let mut outcomes = Vec::new();
        for call in &calls {
            for _ in 0..repeat {
                let outcome = match send(ctx, call)? {
                    Ok(seen) => seen,
                    Err(e) => json!({"error": kind(&e), "message": e.to_string()}),
                };
                if !quiet {
                    let seen = outcome.to_string();
                    let what = format!("{} {}", call.method, call.path);
                    log::info("probe outcome", &[("call", &what), ("seen", &seen)]);
                }
                if repeat == 1 {
                    outcomes.push(outcome);
                }
            }
        }
        if input.data.get("report").map(String::as_str) != Some("false") {
            let report = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{}-out", input.metadata.name), "namespace": input.metadata.namespace},
                "data": {"outcomes": serde_json::to_string(&outcomes)?},
            });
            ctx.kube().apply::<serde_json::Value>(ctx.cluster(), &report)?;
        }
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(Probe);
