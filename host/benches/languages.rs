//! What a plugin costs by guest language, in one run on one machine: the
//! Rust example beside the Python (componentize-py) and JavaScript
//! (componentize-qjs, QuickJS) examples, each doing its real reconcile
//! against the in-memory kube backend on a fresh instance per call.
//!
//! Columns: component size; cold compile and cached load (a restart on the
//! same compile cache); per-reconcile cost (median); resident memory per
//! instance (VmRSS growth with many reconciles in flight at once, each held
//! inside a host call, divided by their number).
//!
//! Run: `cargo bench -p wasmvisor-host --bench languages` (needs the
//! toolchains from `bash .ci/toolchains`; builds the Python and JS
//! components first).

#[path = "common/memory.rs"]
mod memory;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../tests/languages/guests.rs"]
mod guests;
#[path = "languages/reuse.rs"]
mod reuse;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use wasmvisor_host::capability::kube::{KubeBackend, KubeError, MemoryKube, ReadSource};
use wasmvisor_host::manifest::ResourceScope;
use wasmvisor_host::object::KindScope;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::NAMESPACE_CONFIG;
use wasmvisor_selector::LabelSelector;

/// The in-memory store, with a gate that can hold every host call until
/// released (to keep many instances alive at once).
struct GatedKube {
    inner: MemoryKube,
    gated: std::sync::atomic::AtomicBool,
    arrived: AtomicUsize,
    gate: Semaphore,
}

impl GatedKube {
    async fn pass(&self) {
        if self.gated.load(Ordering::SeqCst) {
            self.arrived.fetch_add(1, Ordering::SeqCst);
            self.gate.acquire().await.expect("the gate is never closed").forget();
        }
    }
}

#[async_trait]
impl KubeBackend for GatedKube {
    async fn scope(&self, cluster: &str, api_version: &str, kind: &str) -> Result<ResourceScope, KubeError> {
        self.inner.scope(cluster, api_version, kind).await
    }
    async fn get(&self, target: &ObjectRef, source: ReadSource) -> Result<Value, KubeError> {
        self.pass().await;
        self.inner.get(target, source).await
    }
    async fn list(
        &self,
        kinds: &KindScope,
        selector: Option<&LabelSelector>,
        source: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        self.pass().await;
        self.inner.list(kinds, selector, source).await
    }
    async fn apply(
        &self,
        target: &ObjectRef,
        object: &Value,
        manager: &str,
        status: bool,
        force: bool,
    ) -> Result<Value, KubeError> {
        self.pass().await;
        self.inner.apply(target, object, manager, status, force).await
    }
    async fn delete(&self, target: &ObjectRef) -> Result<(), KubeError> {
        self.pass().await;
        self.inner.delete(target).await
    }
}

/// One language's example plugin and the object its reconcile works on.
struct Case {
    language: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    build: Option<Duration>,
    /// Stores what the reconcile needs; returns the object to reconcile.
    seed: fn(&MemoryKube) -> Value,
}

fn seed_rust(kube: &MemoryKube) -> Value {
    kube.insert(
        "default",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a",
            "labels": {"wasmvisor.dev/config": "enabled"},
            "annotations": {"config.wasmvisor.dev/region": "eu-west"}}}),
    )
    .unwrap()
}

fn seed_python(kube: &MemoryKube) -> Value {
    let web = kube
        .insert(
            "default",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team-a",
                "labels": {"propagate.wasmvisor.dev/enabled": "true", "team.wasmvisor.dev/owner": "payments"}}}),
        )
        .unwrap();
    kube.insert(
        "default",
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "namespace": "team-a",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                 "uid": web["metadata"]["uid"], "controller": true}]}}),
    )
    .unwrap();
    web
}

fn seed_js(kube: &MemoryKube) -> Value {
    kube.insert(
        "default",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "trust-bundle", "namespace": "wasmvisor-system"},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}),
    )
    .unwrap();
    kube.insert(
        "default",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a",
            "labels": {"trust.wasmvisor.dev/inject": "true"}}}),
    )
    .unwrap()
}

fn runtime(cache: &std::path::Path, kube: Arc<GatedKube>) -> Arc<Runtime> {
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(cache, cap_std::ambient_authority()).unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings::default(),
        output: OutputLimits::default(),
        cache_dir,
        // Exactly what each example's manifest declares, as `up` grants it.
        grants: Grants { trust_manifests: true, ..Grants::default() },
    };
    Arc::new(Runtime::new(config, Backends { kube, nsx: None, vcenter: None }).unwrap())
}

fn gated_kube() -> Arc<GatedKube> {
    Arc::new(GatedKube {
        inner: MemoryKube::new(),
        gated: false.into(),
        arrived: AtomicUsize::new(0),
        gate: Semaphore::new(0),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

struct Row {
    language: &'static str,
    size: usize,
    build: Option<Duration>,
    cold: Duration,
    cached: Duration,
    reconcile: Duration,
    host_calls: u32,
    memory_kib: f64,
    reuse: reuse::Reuse,
}

/// Concurrent instances held for the memory measurement.
const IN_FLIGHT: usize = 16;

async fn measure(case: &Case) -> Row {
    // Cold compile, then a restart on the same cache.
    let cache = tempfile::tempdir().unwrap();
    let cold_runtime = runtime(cache.path(), gated_kube());
    let started = Instant::now();
    let cold_plugin = cold_runtime.load(&case.bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let cold = started.elapsed();
    drop((cold_plugin, cold_runtime));
    let kube = gated_kube();
    let runtime = runtime(cache.path(), kube.clone());
    let started = Instant::now();
    let plugin = runtime.load(&case.bytes).unwrap();
    let cached = started.elapsed();
    runtime.install(plugin, &format!("{}.wasm", case.name)).unwrap();

    // Per reconcile: the plugin's real reconcile, a fresh instance each call.
    let object = (case.seed)(&kube.inner);
    let request = Request { target: ObjectRef::of("default", &object).unwrap(), object: object.to_string() };
    let first = runtime.call(case.name, Export::Reconcile, &request).await.unwrap();
    let per_batch = if case.language == "Rust" { 500 } else { 50 };
    let mut samples = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..per_batch {
            runtime.call(case.name, Export::Reconcile, &request).await.unwrap();
        }
        samples.push(started.elapsed() / per_batch);
    }
    samples.sort();
    let reconcile = samples[samples.len() / 2];

    // Memory: IN_FLIGHT reconciles held inside their first host call.
    let before = memory::kib("VmRSS:");
    kube.gated.store(true, Ordering::SeqCst);
    kube.arrived.store(0, Ordering::SeqCst);
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let runtime = runtime.clone();
            let request = request.clone();
            let name = case.name;
            tokio::spawn(async move { runtime.call(name, Export::Reconcile, &request).await.map(|_| ()) })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while kube.arrived.load(Ordering::SeqCst) < IN_FLIGHT {
        assert!(Instant::now() < deadline, "{}: the reconciles never reached the gate", case.name);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let during = memory::kib("VmRSS:");
    kube.gated.store(false, Ordering::SeqCst);
    kube.gate.add_permits(IN_FLIGHT * 8);
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let memory_kib = during.saturating_sub(before) as f64 / IN_FLIGHT as f64;

    // The same reconcile, fresh instance against a reused one.
    let engine = wasmvisor_host::runtime::engine::build(&EngineSettings::default()).unwrap();
    let store = Arc::new(MemoryKube::new());
    let object = (case.seed)(&store);
    let request = Request { target: ObjectRef::of("default", &object).unwrap(), object: object.to_string() };
    let reuse = reuse::measure(&engine, &case.bytes, store, &request, per_batch)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", case.name));

    Row {
        language: case.language,
        size: case.bytes.len(),
        build: case.build,
        cold,
        cached,
        reconcile,
        host_calls: first.host_calls,
        memory_kib,
        reuse,
    }
}

fn main() {
    let python = guests::python();
    let js = guests::js();
    let cases = [
        Case {
            language: "Rust",
            name: "namespace-config",
            bytes: NAMESPACE_CONFIG.bytes.to_vec(),
            build: None,
            seed: seed_rust,
        },
        Case {
            language: "Python (componentize-py 0.25.1)",
            name: python.name,
            bytes: python.bytes.clone(),
            build: Some(python.build_time),
            seed: seed_python,
        },
        Case {
            language: "JS (componentize-qjs 0.4.5, QuickJS)",
            name: js.name,
            bytes: js.bytes.clone(),
            build: Some(js.build_time),
            seed: seed_js,
        },
    ];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rows: Vec<Row> = cases.iter().map(|case| rt.block_on(measure(case))).collect();

    println!("\nplugin cost by guest language (fresh instance per reconcile, pooling allocator)\n");
    println!(
        "| language | component | guest build | cold compile | cached load | per reconcile | host calls | memory per instance |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {:.1} MiB | {} | {} | {} | {} | {} | {:.0} KiB |",
            r.language,
            r.size as f64 / (1 << 20) as f64,
            r.build.map_or("(cargo, with the workspace)".to_owned(), ms),
            ms(r.cold),
            ms(r.cached),
            us(r.reconcile),
            r.host_calls,
            r.memory_kib,
        );
    }
    println!(
        "\nmemory per instance: VmRSS growth with {IN_FLIGHT} reconciles held in a host call at once, divided by {IN_FLIGHT}"
    );

    println!("\nwhat instance reuse would buy (bare host functions, same reconcile, median per call)\n");
    println!("| language | fresh instance + call | call on a reused instance | instance share |");
    println!("| --- | --- | --- | --- |");
    for r in &rows {
        let share = 1.0 - r.reuse.reused.as_secs_f64() / r.reuse.fresh.as_secs_f64();
        println!(
            "| {} | {} | {} | {:.0} % |",
            r.language,
            us(r.reuse.fresh),
            us(r.reuse.reused),
            share * 100.0
        );
    }
    println!("\ncommand: cargo bench -p wasmvisor-host --bench languages");
}
