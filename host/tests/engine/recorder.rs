//! The flight recorder against the embedded API server with real plugins:
//! each trigger shows up as itself in `why`, host calls in order with their
//! results, a Secret read by a plugin never in clear, and `audit` proposes
//! a grant under which the plugin still runs.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::json;
use wasmvisor_host::controller::queue::Reason;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_host::recorder::record::{CallResult, Outcome, Record};
use wasmvisor_host::recorder::store::{ObjectQuery, Reader};
use wasmvisor_host::recorder::{STORE_FILE, audit, render};
use wasmvisor_plugins::Bundled;
use wasmvisor_plugins::testing::{PROBE, WIDGET};

use crate::support::{Env, RELATED_SECRETS, create_widget, ensure_namespace, eventually, patch_spec};

fn leak(bytes: Vec<u8>) -> Bundled {
    Bundled { file: "plugin.wasm", bytes: Box::leak(bytes.into_boxed_slice()) }
}

/// The widget plugin owning ConfigMaps and related to Secrets that name a
/// Widget in a label.
fn widget_with_owned_and_related() -> Bundled {
    let manifest = section::extract(WIDGET.bytes).unwrap();
    let extra = r#"
[[owns]]
api-version = "v1"
kind = "ConfigMap"
"#;
    leak(section::embed(WIDGET.bytes, &format!("{manifest}{extra}{RELATED_SECRETS}")).unwrap())
}

/// The probe plugin, watching only ConfigMaps labelled `probe=in` (not
/// the reports it writes) and allowed to read Secrets in `probe`.
fn probe_reading_secrets() -> Bundled {
    let manifest = section::extract(PROBE.bytes).unwrap().replacen(
        "kind = \"ConfigMap\"\n",
        "kind = \"ConfigMap\"\nlabel-selector = \"probe=in\"\n",
        1,
    );
    let extra = "\n[[capabilities.kube]]\napi-version = \"v1\"\nkind = \"Secret\"\nverbs = [\"get\"]\nnamespaces = [\"probe\"]\n";
    leak(section::embed(PROBE.bytes, &format!("{manifest}{extra}")).unwrap())
}

fn records(env: &Env, kind: &str, namespace: &str, name: &str) -> Vec<Record> {
    let Ok(reader) = Reader::open(&env.dir().join("host").join(STORE_FILE)) else { return Vec::new() };
    let query = ObjectQuery {
        kind: kind.into(),
        name: name.into(),
        namespace: Some(namespace.into()),
        cluster: None,
        last: 1000,
    };
    reader.object(&query).unwrap_or_default()
}

/// Waits for a record of Widget `rec/w` that `matches`.
async fn record_where(env: &Env, what: &str, matches: impl Fn(&Record) -> bool) -> Record {
    eventually(what, || {
        let found = records(env, "Widget", "rec", "w").into_iter().find(|r| matches(r));
        async move { found }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trigger_appears_as_itself_in_why_with_the_calls_in_order() {
    let env = Env::start(&[widget_with_owned_and_related()]).await;
    let widget = create_widget(&env, "rec", "w", json!({})).await;
    // Created before or after the controller listed: either trigger.
    let first = record_where(&env, "the first reconcile", |r| {
        r.triggers.iter().any(|t| matches!(t, Reason::ObjectChanged | Reason::Started))
    })
    .await;
    assert_eq!(first.plugin.name, "widget");
    assert!(first.plugin.digest.starts_with("sha256:"));
    assert_eq!(first.object.uid, widget.metadata.uid);
    assert!(first.object.resource_version.is_some());
    let calls: Vec<(&str, &str)> =
        first.calls.iter().map(|c| (c.interface.as_str(), c.function.as_str())).collect();
    assert_eq!(calls, [("kube", "apply-status")]);
    assert!(matches!(first.calls[0].result, CallResult::Ok { .. }));
    assert_eq!(first.calls[0].args["object"]["status"]["phase"], "Ready");

    // An owned object's change: a ConfigMap whose controller is the Widget.
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "rec");
    let owned: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "w-owned", "ownerReferences": [{
            "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget", "name": "w",
            "uid": widget.metadata.uid, "controller": true,
        }]},
    }))
    .unwrap();
    config_maps.create(&PostParams::default(), &owned).await.unwrap();
    record_where(&env, "a reconcile for the owned ConfigMap", |r| {
        r.triggers
            .iter()
            .any(|t| matches!(t, Reason::OwnedChanged { owned } if owned.ends_with("ConfigMap/rec/w-owned")))
    })
    .await;

    // A related object's change: a Secret naming the Widget.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "rec");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "names-w", "labels": {"test.wasmvisor.dev/for": "w"}},
        "stringData": {"k": "v"},
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    record_where(&env, "a reconcile for the related Secret", |r| {
        r.triggers.iter().any(
            |t| matches!(t, Reason::RelatedChanged { related } if related.ends_with("Secret/rec/names-w")),
        )
    })
    .await;

    // A requeue-after asked by the plugin.
    patch_spec(&env, "rec", "w", json!({"mode": "requeue", "requeueMs": 300})).await;
    record_where(&env, "a reconcile asked for by requeue-after", |r| {
        r.triggers.contains(&Reason::Requeue { after: std::time::Duration::from_millis(300) })
    })
    .await;

    // A failure, retried with backoff.
    patch_spec(&env, "rec", "w", json!({"mode": "fail"})).await;
    let retry = record_where(&env, "a retry after a failure", |r| {
        r.triggers.iter().any(|t| matches!(t, Reason::Backoff { .. }))
    })
    .await;
    assert_eq!(
        retry.outcome,
        Outcome::Error { kind: "unavailable".into(), message: "widget asked to fail".into() }
    );

    let text = render::why(&records(&env, "Widget", "rec", "w"));
    for phrase in [
        "the object changed",
        "the ConfigMap rec/w-owned it owns changed",
        "the related Secret rec/names-w changed",
        "requeue-after 300ms asked by 1.0.0",
        "retry after 1 failure (backoff)",
        "kube.apply-status Widget rec/w → ok",
        "outcome: error unavailable: widget asked to fail",
        "outcome: requeue-after 300ms",
    ] {
        assert!(text.contains(phrase), "`why` lacks {phrase:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_read_through_a_plugin_never_appears_in_clear_and_audit_proposes_a_grant_it_runs_under() {
    const CLEAR: &str = "s3cr3t-value-123";
    let env = Env::start(&[probe_reading_secrets()]).await;
    ensure_namespace(&env.client, "probe").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "probe");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "token"}, "stringData": {"token": CLEAR}}))
            .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let calls = json!([{"endpoint": "kube", "method": "GET", "path": "v1/Secret/probe/token"}]);
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "probe");
    let input: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "read", "labels": {"probe": "in"}}, "data": {"calls": calls.to_string()}}))
            .unwrap();
    config_maps.create(&PostParams::default(), &input).await.unwrap();

    let record = eventually("the probe's reconcile to be recorded", || {
        let found = records(&env, "ConfigMap", "probe", "read").into_iter().find(|r| r.calls.len() >= 2);
        async move { found }
    })
    .await;
    // The value really passed through the plugin: it copied it into its report.
    let out = config_maps.get("read-out").await.unwrap();
    let encoded = "czNjcjN0LXZhbHVlLTEyMw==";
    assert!(serde_json::to_string(&out).unwrap().contains(encoded), "the probe saw the Secret");

    let calls: Vec<String> = record.calls.iter().map(|c| format!("{}.{}", c.interface, c.function)).collect();
    assert_eq!(calls, ["kube.get", "kube.apply"]);
    assert_eq!(record.calls[0].args["target"]["kind"], "Secret");
    assert!(matches!(record.calls[0].result, CallResult::Ok { .. }), "{:?}", record.calls[0].result);
    let stored = serde_json::to_string(&record).unwrap();
    assert!(!stored.contains(CLEAR) && !stored.contains(encoded), "a recording holds the Secret: {stored}");
    let text = render::why(&records(&env, "ConfigMap", "probe", "read"));
    assert!(!text.contains(CLEAR) && !text.contains(encoded), "`why` shows the Secret:\n{text}");

    // Audit: the proposal is inside the manifest and narrower (none of the
    // probe's NSX and vCenter rules was used).
    let reader = Reader::open(&env.dir().join("host").join(STORE_FILE)).unwrap();
    let audits = audit::audit(&reader.since(Some("probe"), 0).unwrap(), &reader.manifests().unwrap(), None);
    let probe = audits.iter().find(|a| a.plugin == "probe").expect("the probe is audited");
    assert!(
        probe.declared.missing(&probe.proposal).is_empty(),
        "wider than the manifest: {:?}",
        probe.proposal
    );
    assert!(probe.proposal.nsx.is_empty() && probe.proposal.vcenter.is_empty());
    assert_eq!(probe.proposal.kube.len(), 2, "{:?}", probe.proposal.kube);
    assert!(!probe.unused_declared.is_empty());
    assert!(probe.grant_toml().contains("[plugins.probe"), "{}", probe.grant_toml());
    assert!(probe.rbac_yaml().contains("secrets"), "{}", probe.rbac_yaml());

    // The probe wearing the proposal, granted exactly it, makes the same calls.
    let narrowed = probe.narrowed_manifest();
    let toml = toml::to_string(&narrowed).unwrap();
    Manifest::parse(&toml).unwrap();
    let narrowed = leak(section::embed(PROBE.bytes, &toml).unwrap());
    drop(env);
    let env = Env::start(&[narrowed]).await;
    ensure_namespace(&env.client, "probe").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "probe");
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "probe");
    config_maps.create(&PostParams::default(), &input).await.unwrap();
    let again = eventually("the probe under the proposed grant", || {
        let found = records(&env, "ConfigMap", "probe", "read").into_iter().find(|r| r.calls.len() >= 2);
        async move { found }
    })
    .await;
    assert!(
        again.calls.iter().all(|c| matches!(c.result, CallResult::Ok { .. })),
        "a call failed under the proposal: {:?}",
        again.calls
    );
    assert_eq!(again.outcome, Outcome::Done);
}
