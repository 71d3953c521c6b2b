//! `replay`: candidates of the rollout plugin run offline on 100 of its
//! own recorded reconciles. A candidate that behaves the same, and the
//! recorded version itself (which read the clock), are the same on every
//! one; a changed label, a dropped write and a failure are exactly the
//! differences reported; a read the recording lacks is a divergence; a
//! candidate over its grant never runs.

use std::sync::Arc;

use serde_json::json;
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_host::recorder::record::{Record, WasiRead};
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::recorder::{Recorder, RecorderSettings, STORE_FILE};
use wasmvisor_host::replay::Replayer;
use wasmvisor_host::replay::verdict::{Judgement, Verdict};
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::{ROLLOUT, rollout_candidate as candidate};

use crate::harness::eventually;

/// The rollout plugin granted exactly what its manifest declares.
fn grants() -> Grants {
    Grants::declared([Manifest::from_component(ROLLOUT.bytes).unwrap()])
}

const RECORDED: usize = 100;

fn cache() -> (tempfile::TempDir, cap_std::fs::Dir) {
    let dir = tempfile::tempdir().unwrap();
    let cap = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
    (dir, cap)
}

/// 100 reconciles of the recorded version, one per ConfigMap; every third
/// has a `-settings` ConfigMap saying tier `bronze`.
async fn record() -> (tempfile::TempDir, Vec<Record>) {
    let data = tempfile::tempdir().unwrap();
    let kube = Arc::new(MemoryKube::new());
    let (_cache, cache_dir) = cache();
    let config = RuntimeConfig {
        engine: EngineSettings::default(),
        output: OutputLimits::default(),
        cache_dir,
        grants: grants(),
    };
    let backends = Backends { kube: kube.clone(), nsx: None, vcenter: None };
    let recorder = Recorder::start(data.path(), &RecorderSettings::default()).unwrap();
    let runtime = Runtime::new(config, backends).unwrap().record_to(recorder);
    runtime.install(runtime.load(ROLLOUT.bytes).unwrap(), ROLLOUT.file).unwrap();
    for i in 0..RECORDED {
        if i.is_multiple_of(3) {
            let settings = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i}-settings"), "namespace": "rollout"}, "data": {"tier": "bronze"}});
            kube.insert("default", settings).unwrap();
        }
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}"), "namespace": "rollout", "labels": {"test.wasmvisor.dev/rollout": "yes"}},
            "data": {"n": i.to_string()}});
        let stored = kube.insert("default", object).unwrap();
        let request =
            Request { target: ObjectRef::of("default", &stored).unwrap(), object: stored.to_string() };
        runtime.call("rollout", Export::Reconcile, &request).await.unwrap();
    }
    drop(runtime);
    let path = data.path().join(STORE_FILE);
    eventually("the recorder to store every reconcile", || async {
        Reader::open(&path).ok()?.count().ok().filter(|n| *n == RECORDED as u64)
    })
    .await;
    let records = Reader::open(&path).unwrap().since(Some("rollout"), 0).unwrap();
    (data, records)
}

async fn replay(bytes: &[u8], records: &[Record]) -> Vec<Verdict> {
    let (_cache, cache_dir) = cache();
    let replayer = Replayer::new(cache_dir, grants()).unwrap();
    let candidate = replayer.load(bytes).unwrap();
    replayer.replay(&candidate, records).await
}

fn tier(i: usize) -> &'static str {
    if i.is_multiple_of(3) { "bronze" } else { "gold" }
}

fn derived(i: usize) -> String {
    format!("kube apply v1/ConfigMap rollout/cm-{i}-derived")
}

#[tokio::test]
async fn the_recorded_version_and_a_candidate_that_behaves_the_same_are_the_same_on_100_reconciles() {
    let (_data, records) = record().await;
    assert_eq!(records.len(), RECORDED);
    assert!(
        records.iter().all(|r| r.wasi.iter().any(|w| matches!(w, WasiRead::WallClock { .. }))),
        "every recorded reconcile read the clock"
    );
    for (what, bytes) in
        [("the recorded version", ROLLOUT.bytes.to_vec()), ("1.1.0", candidate("same", "1.1.0"))]
    {
        let verdicts = replay(&bytes, &records).await;
        assert_eq!(verdicts.len(), RECORDED);
        let not_same: Vec<_> = verdicts.iter().filter(|v| v.judgement != Judgement::Same).collect();
        assert!(not_same.is_empty(), "{what}: {not_same:#?}");
    }
}

#[tokio::test]
async fn a_changed_label_a_dropped_write_and_a_failure_are_exactly_the_differences() {
    let (_data, records) = record().await;
    let label = replay(&candidate("label", "2.0.0"), &records).await;
    let dropped = replay(&candidate("drop", "2.0.0"), &records).await;
    let failing = replay(&candidate("fail", "2.0.0"), &records).await;
    for (i, ((label, dropped), failing)) in label.iter().zip(&dropped).zip(&failing).enumerate() {
        assert_eq!(label.object, format!("ConfigMap rollout/cm-{i}"));
        let changed = vec![
            format!("~ {}", derived(i)),
            format!("    metadata.labels.tier: \"{}\" → \"silver\"", tier(i)),
        ];
        assert_eq!(label.judgement, Judgement::Different { writes: changed, outcome: None }, "{i}");
        let gone = vec![format!("- {}", derived(i))];
        assert_eq!(dropped.judgement, Judgement::Different { writes: gone.clone(), outcome: None }, "{i}");
        let outcome = Some("done → error internal: the candidate fails".to_owned());
        assert_eq!(failing.judgement, Judgement::Different { writes: gone, outcome }, "{i}");
    }
}

#[tokio::test]
async fn a_read_the_recording_lacks_is_a_divergence_and_a_trap_a_difference() {
    let (_data, records) = record().await;
    let records = &records[..10];
    for (i, verdict) in replay(&candidate("read", "2.0.0"), records).await.iter().enumerate() {
        let what = format!("kube get v1/ConfigMap rollout/cm-{i}-extra: the recording holds no such call");
        assert_eq!(verdict.judgement, Judgement::Diverged { reads: vec![what] });
    }
    for verdict in replay(&candidate("trap", "2.0.0"), records).await {
        let Judgement::Different { outcome: Some(outcome), .. } = &verdict.judgement else {
            panic!("{verdict:?}");
        };
        assert!(outcome.starts_with("done → trap: ") && outcome.contains("the candidate traps"), "{outcome}");
    }
}

#[tokio::test]
async fn a_candidate_over_its_grant_is_refused_before_it_runs() {
    let greedy = section::embed(
        ROLLOUT.bytes,
        &section::extract(ROLLOUT.bytes)
            .unwrap()
            .replace("verbs = [\"get\", \"apply\"]", "verbs = [\"get\", \"apply\", \"delete\"]"),
    )
    .unwrap();
    let (_cache, cache_dir) = cache();
    let replayer = Replayer::new(cache_dir, grants()).unwrap();
    let Err(error) = replayer.load(&greedy) else { panic!("a candidate over its grant was loaded") };
    let error = error.to_string();
    assert!(error.contains("asks for more than its grant") && error.contains("delete"), "{error}");
}
