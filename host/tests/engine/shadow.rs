//! Shadow rollouts under the engine, against the embedded API server: a
//! candidate beside the live rollout plugin follows its reconciles and
//! never writes (every version of every ConfigMap the server held was
//! written by the live plugin, and only its field manager is on them); its
//! report names what it would have changed; a shadow that loops costs the
//! live plugin nothing; promote swaps with no reconcile lost and none run
//! by the old version once the new one has started.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use wasmvisor_host::recorder::STORE_FILE;
use wasmvisor_host::recorder::record::{CallResult, Record};
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::replay::verdict::Judgement;
use wasmvisor_host::shadow::report::Report;
use wasmvisor_plugins::testing::{ROLLOUT, rollout_candidate};

use crate::support::{Env, ensure_namespace, eventually};

const NS: &str = "rollout";

fn config_maps(env: &Env) -> Api<ConfigMap> {
    Api::namespaced(env.client.clone(), NS)
}

/// Source ConfigMaps `cm-i` for `i` in `range`; every third has settings
/// saying tier `bronze`.
async fn create_sources(env: &Env, range: std::ops::Range<usize>) {
    ensure_namespace(&env.client, NS).await;
    for i in range {
        let mut objects = vec![json!({"metadata": {"name": format!("cm-{i}"),
            "labels": {"test.wasmvisor.dev/rollout": "yes"}}, "data": {"n": i.to_string()}})];
        if i.is_multiple_of(3) {
            objects.insert(
                0,
                json!({"metadata": {"name": format!("cm-{i}-settings")}, "data": {"tier": "bronze"}}),
            );
        }
        for object in objects {
            let cm: ConfigMap = serde_json::from_value(object).unwrap();
            config_maps(env).create(&PostParams::default(), &cm).await.unwrap();
        }
    }
}

/// Waits until `cm-i`'s derived ConfigMap says `entries` for every `i`.
async fn derived_say(env: &Env, range: std::ops::Range<usize>, entries: &str) {
    for i in range {
        eventually(&format!("cm-{i}-derived to count {entries} entries"), || async move {
            let derived = config_maps(env).get_opt(&format!("cm-{i}-derived")).await.ok()??;
            (derived.data?.get("entries")? == entries).then_some(())
        })
        .await;
    }
}

/// Adds a key to every source, so the live plugin reconciles each again.
async fn touch_sources(env: &Env, range: std::ops::Range<usize>) {
    for i in range {
        let patch = json!({"data": {"touched": "yes"}});
        config_maps(env)
            .patch(&format!("cm-{i}"), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
}

fn place(env: &Env, file: &str, bytes: &[u8]) {
    let dir = env.dir().join("plugins");
    std::fs::write(dir.join(".placing"), bytes).unwrap();
    std::fs::rename(dir.join(".placing"), dir.join(file)).unwrap();
}

async fn shadow_placed(env: &Env) {
    eventually("the shadow to be placed", || async {
        env.host().runtime().shadows().has("rollout").then_some(())
    })
    .await;
}

/// Every version of every ConfigMap in the namespace the server holds,
/// from the start of the watch.
#[derive(Clone, Default)]
struct Versions(Arc<Mutex<Vec<ConfigMap>>>);

impl Versions {
    async fn watch(env: &Env) -> Versions {
        ensure_namespace(&env.client, NS).await;
        let versions = Versions::default();
        let seen = versions.clone();
        let mut stream = config_maps(env).watch(&WatchParams::default(), "0").await.unwrap().boxed();
        tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                if let WatchEvent::Added(cm) | WatchEvent::Modified(cm) = event {
                    seen.0.lock().unwrap().push(cm);
                }
            }
        });
        versions
    }

    fn named(&self, suffix: &str) -> Vec<ConfigMap> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|cm| cm.metadata.name.as_deref().is_some_and(|n| n.ends_with(suffix)))
            .cloned()
            .collect()
    }
}

fn records(env: &Env) -> Vec<Record> {
    let Ok(reader) = Reader::open(&env.dir().join("host").join(STORE_FILE)) else { return Vec::new() };
    reader.since(Some("rollout"), 0).unwrap_or_default()
}

/// The resourceVersion of each object the live plugin's applies got back.
fn live_versions(env: &Env) -> BTreeSet<String> {
    records(env)
        .iter()
        .flat_map(|r| &r.calls)
        .filter(|c| c.function == "apply")
        .filter_map(|c| match &c.result {
            CallResult::Ok { value } => {
                value.pointer("/metadata/resourceVersion")?.as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_never_writes_and_reports_the_label_it_would_have_changed() {
    let env = Env::start(&[ROLLOUT]).await;
    let versions = Versions::watch(&env).await;
    create_sources(&env, 0..10).await;
    derived_say(&env, 0..10, "1").await;
    place(&env, "rollout.shadow.wasm", &rollout_candidate("label", "2.0.0"));
    shadow_placed(&env).await;

    touch_sources(&env, 0..10).await;
    derived_say(&env, 0..10, "2").await;
    let shadows = env.host().runtime().shadows();
    let report = eventually("the shadow to follow every touched source", || async {
        shadows.report("rollout").filter(|r| r.different + r.skipped >= 10)
    })
    .await;
    assert_eq!(report.shadow, "rollout@2.0.0");
    assert_eq!(report.same, 0, "{report:#?}");
    assert!(report.different >= 1, "{report:#?}");
    for difference in &report.differences {
        let i: usize = difference.object.trim_start_matches("ConfigMap rollout/cm-").parse().unwrap();
        let tier = if i.is_multiple_of(3) { "bronze" } else { "gold" };
        let writes = vec![
            format!("~ kube apply v1/ConfigMap rollout/cm-{i}-derived"),
            format!("    metadata.labels.tier: \"{tier}\" → \"silver\""),
        ];
        assert_eq!(difference.judgement, Judgement::Different { writes, outcome: None });
        assert_eq!(difference.live, "rollout@1.0.0");
    }
    let on_disk = Report::load(&env.dir().join("host/shadows/rollout.json")).unwrap();
    assert_eq!(on_disk.shadow, "rollout@2.0.0");

    // Every version of every derived ConfigMap the server held is one an
    // apply of the live plugin got back, under its field manager alone.
    let seen = versions.named("-derived");
    assert!(seen.len() >= 20, "the watch saw the live writes: {}", seen.len());
    let unaccounted = eventually("the live applies to be recorded", || async {
        let live = live_versions(&env);
        let unaccounted: Vec<String> = seen
            .iter()
            .filter_map(|cm| cm.metadata.resource_version.clone())
            .filter(|rv| !live.contains(rv))
            .collect();
        unaccounted.is_empty().then_some(unaccounted)
    })
    .await;
    assert!(unaccounted.is_empty());
    for cm in &seen {
        let managers: BTreeSet<&str> =
            cm.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.as_deref()).collect();
        assert_eq!(managers, BTreeSet::from(["rollout"]), "{:?}", cm.metadata.name);
        let tier = cm.metadata.labels.as_ref().and_then(|l| l.get("tier")).map(String::as_str);
        assert_ne!(tier, Some("silver"), "the shadow's label reached the server");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_that_loops_leaves_the_live_plugin_its_results() {
    let env = Env::start(&[ROLLOUT]).await;
    create_sources(&env, 0..4).await;
    derived_say(&env, 0..4, "1").await;
    place(&env, "rollout.shadow.wasm", &rollout_candidate("loop", "2.0.0"));
    shadow_placed(&env).await;

    touch_sources(&env, 0..4).await;
    derived_say(&env, 0..4, "2").await;
    let shadows = env.host().runtime().shadows();
    let report = eventually("a looping shadow call to end at its deadline", || async {
        shadows.report("rollout").filter(|r| r.different >= 1)
    })
    .await;
    let Judgement::Different { outcome: Some(outcome), .. } = &report.differences[0].judgement else {
        panic!("{report:#?}");
    };
    assert!(outcome.starts_with("done → limit: ran past its deadline"), "{outcome}");
    assert_eq!(env.reconciles("rollout", "trap"), 0, "the live plugin never trapped");
    assert_eq!(env.reconciles("rollout", "error"), 0, "the live plugin never failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_swaps_with_no_reconcile_lost_and_none_by_the_old_version_after_the_new() {
    let env = Env::start(&[ROLLOUT]).await;
    create_sources(&env, 0..6).await;
    derived_say(&env, 0..6, "1").await;
    place(&env, "rollout.shadow.wasm", &rollout_candidate("extra", "2.0.0"));
    shadow_placed(&env).await;

    // Sources keep coming while the candidate is promoted.
    let workload = {
        let client = env.client.clone();
        tokio::spawn(async move {
            let api: Api<ConfigMap> = Api::namespaced(client, NS);
            for i in 6..20 {
                let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}"),
                    "labels": {"test.wasmvisor.dev/rollout": "yes"}}, "data": {"n": i.to_string()}}))
                .unwrap();
                api.create(&PostParams::default(), &cm).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let dir = env.dir().join("plugins");
    std::fs::rename(dir.join("rollout.shadow.wasm"), dir.join(ROLLOUT.file)).unwrap();
    workload.await.unwrap();
    eventually("2.0.0 to be live and the shadow gone", || async {
        let runtime = env.host().runtime();
        let live = runtime.plugins().iter().any(|p| p.name == "rollout" && p.version == "2.0.0");
        (live && !runtime.shadows().has("rollout")).then_some(())
    })
    .await;
    let env = &env;
    for i in 0..20 {
        eventually(&format!("2.0.0 to reconcile cm-{i}"), || async move {
            config_maps(env).get_opt(&format!("cm-{i}-shadow-only")).await.ok()?.map(drop)
        })
        .await;
    }
    // Per object: once 2.0.0 has started on it, 1.0.0 never starts on it again.
    let records = eventually("the recordings of 2.0.0 for every object", || async {
        let records = records(env);
        let objects: BTreeSet<&str> = records
            .iter()
            .filter(|r| r.plugin.version == "2.0.0" && !r.object.name.ends_with("-settings"))
            .map(|r| r.object.name.as_str())
            .collect();
        (objects.len() >= 20).then_some(records)
    })
    .await;
    let mut by_object: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for r in &records {
        by_object.entry(&r.object.name).or_default().push((r.started_ms, &r.plugin.version));
    }
    for (object, mut starts) in by_object {
        starts.sort();
        let first_new = starts.iter().find(|(_, v)| *v == "2.0.0").map(|(t, _)| *t);
        let old_after: Vec<&(u64, &str)> =
            starts.iter().filter(|(t, v)| *v == "1.0.0" && first_new.is_some_and(|n| *t > n)).collect();
        assert!(old_after.is_empty(), "{object}: 1.0.0 started after 2.0.0 had: {starts:?}");
    }
}
