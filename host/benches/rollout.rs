//! What changing a plugin safely costs, in one run on one machine:
//!
//! - `replay`: reconciles per second of `wasmvisor replay`'s engine on
//!   recorded reconciles of the rollout test plugin (the chain plugins'
//!   figures come from `cargo bench -p wasmvisor --bench chain`);
//! - the live plugin's per-reconcile cost (the caller's wall time of one
//!   reconcile, recorder on as in `up`) with no shadow, with a shadow that
//!   behaves the same, one that traps on every call and one that loops to
//!   its deadline; back to back (the machine saturated: the shadow's work
//!   competes for the same two cores) and paced at one reconcile per 2 ms
//!   (p50 and p99 of single calls); and how many live reconciles each
//!   shadow followed or skipped.
//!
//! Run: `cargo bench -p wasmvisor-host --bench rollout` (`-- --calls N`,
//! default 2000, per back-to-back batch; five batches, the median batch
//! mean is printed; paced batches are a quarter as long).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::recorder::record::Record;
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::recorder::{Recorder, RecorderSettings, STORE_FILE};
use wasmvisor_host::replay::Replayer;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::{ROLLOUT, rollout_candidate};

/// The rollout plugin granted exactly what its manifest declares.
fn grants() -> Grants {
    Grants::declared([Manifest::from_component(ROLLOUT.bytes).unwrap()])
}

const BATCHES: usize = 5;

fn calls_per_batch() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--calls").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(2000)
}

fn cache_dir(dir: &std::path::Path) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap()
}

/// A recording runtime with the rollout plugin live, and its kube.
fn live(data: &std::path::Path) -> (Runtime, Arc<MemoryKube>) {
    let kube = Arc::new(MemoryKube::new());
    let config = RuntimeConfig {
        engine: EngineSettings::default(),
        output: OutputLimits::default(),
        cache_dir: cache_dir(data),
        grants: grants(),
    };
    let backends = Backends { kube: kube.clone(), nsx: None, vcenter: None };
    let recorder = Recorder::start(data, &RecorderSettings::default()).unwrap();
    let runtime = Runtime::new(config, backends).unwrap().record_to(recorder);
    runtime.install(runtime.load(ROLLOUT.bytes).unwrap(), ROLLOUT.file).unwrap();
    (runtime, kube)
}

fn request(kube: &MemoryKube, i: usize) -> Request {
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("cm-{i}"), "namespace": "bench", "labels": {"test.wasmvisor.dev/rollout": "yes"}},
        "data": {"n": i.to_string()}});
    let stored = kube.insert("default", object).unwrap();
    Request { target: ObjectRef::of("default", &stored).unwrap(), object: stored.to_string() }
}

/// What one configuration cost the live plugin.
struct Cost {
    /// Median over batches of the mean back-to-back reconcile.
    back_to_back: Duration,
    /// p50 and p99 of single reconciles paced at one per [`PACE`].
    paced: (Duration, Duration),
}

const PACE: Duration = Duration::from_millis(2);

async fn cost(runtime: &Runtime, kube: &MemoryKube, calls: usize, first: &mut usize) -> Cost {
    let mut requests = |n: usize| -> Vec<Request> {
        let batch = (*first..*first + n).map(|i| request(kube, i)).collect();
        *first += n;
        batch
    };
    let mut means = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let batch = requests(calls);
        let started = Instant::now();
        for request in &batch {
            runtime.call("rollout", Export::Reconcile, request).await.unwrap();
        }
        means.push(started.elapsed() / u32::try_from(calls).unwrap());
    }
    means.sort();
    let mut singles = Vec::new();
    let mut tick = tokio::time::interval(PACE);
    for request in requests(calls / 4 * BATCHES) {
        tick.tick().await;
        let started = Instant::now();
        runtime.call("rollout", Export::Reconcile, &request).await.unwrap();
        singles.push(started.elapsed());
    }
    singles.sort();
    let at = |q: f64| singles[((singles.len() as f64 * q) as usize).min(singles.len() - 1)];
    Cost { back_to_back: means[BATCHES / 2], paced: (at(0.5), at(0.99)) }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

async fn recorded(data: &std::path::Path, at_least: usize) -> Vec<Record> {
    let path = data.join(STORE_FILE);
    loop {
        let records = Reader::open(&path).unwrap().since(Some("rollout"), 0).unwrap();
        if records.len() >= at_least {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let calls = calls_per_batch();
    let data = tempfile::tempdir().unwrap();
    let (live, kube) = live(data.path());

    println!(
        "live reconcile of the rollout plugin (back to back: {calls} calls × {BATCHES} batches, median of batch means; paced: one per {PACE:?})"
    );
    println!(
        "{:<26} {:>14} {:>11} {:>11} {:>9} {:>9}",
        "beside it", "back to back", "paced p50", "paced p99", "followed", "skipped"
    );
    let mut first = 0;
    let alone = cost(&live, &kube, calls, &mut first).await;
    let row = |label: &str, c: &Cost, followed: String, skipped: String| {
        let ratio = c.back_to_back.as_secs_f64() / alone.back_to_back.as_secs_f64();
        let p50 = c.paced.0.as_secs_f64() / alone.paced.0.as_secs_f64();
        println!(
            "{label:<26} {:>14} {:>11} {:>11} {followed:>9} {skipped:>9}   ×{ratio:.2} / ×{p50:.2}",
            us(c.back_to_back),
            us(c.paced.0),
            us(c.paced.1)
        );
    };
    row("no shadow", &alone, "-".into(), "-".into());
    for (label, word) in
        [("a shadow doing the same", "same"), ("a shadow trapping", "trap"), ("a shadow looping", "loop")]
    {
        live.shadows().install(live.load(&rollout_candidate(word, "2.0.0")).unwrap());
        let with = cost(&live, &kube, calls, &mut first).await;
        let report = live.shadows().report("rollout").unwrap();
        row(label, &with, (report.same + report.different).to_string(), report.skipped.to_string());
        live.shadows().remove("rollout");
    }

    let records = recorded(data.path(), calls).await;
    let records = &records[..calls];
    let cache = tempfile::tempdir().unwrap();
    let replayer = Replayer::new(cache_dir(cache.path()), grants()).unwrap();
    let candidate = replayer.load(&rollout_candidate("same", "1.1.0")).unwrap();
    let mut rates = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let started = Instant::now();
        let verdicts = replayer.replay(&candidate, records).await;
        assert!(verdicts.iter().all(|v| v.word() == "same"));
        rates.push(records.len() as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "\nreplay of {} recorded reconciles of the rollout plugin: {:.0} reconciles/s (median of {BATCHES})",
        records.len(),
        rates[BATCHES / 2]
    );
}
