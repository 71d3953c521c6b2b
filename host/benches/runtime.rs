//! The runtime core's cost, in one run on one machine:
//! per-reconcile cost of a fresh instance (pooling on and off, and with the
//! flight recorder on; its writer thread shares the machine) beside the
//! same logic as a native function and behind a loopback webhook (the
//! Metacontroller model, keep-alive on); cold compile vs cached load; RSS
//! with 1 and 20 plugins loaded.
//!
//! Run: `cargo bench -p wasmvisor-host --bench runtime`. Every path does the
//! same JSON work on the 2 KB object: parse, annotate, serialize, and the
//! host parses the answer and hands it to the kube backend (inside the
//! `kube.apply` host call for wasm, after the response for the webhook,
//! after the function returns for native).
//!
//! `-- --calls N` sets the calls per batch (default 2000); a small N makes
//! the run short enough for a profiler (`valgrind --tool=callgrind`).

#[path = "common/memory.rs"]
mod memory;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use wasmvisor_host::capability::kube::{KubeBackend, KubeError, ReadSource};
use wasmvisor_host::manifest::{ResourceScope, section};
use wasmvisor_host::object::KindScope;
use wasmvisor_host::recorder::{Recorder, RecorderSettings};
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::BENCH;
use wasmvisor_selector::LabelSelector;

/// A backend that stores nothing: apply answers with what it was given, so
/// the bench measures the runtime, not a store.
struct EchoKube;

#[async_trait]
impl KubeBackend for EchoKube {
    async fn scope(&self, _: &str, _: &str, _: &str) -> Result<ResourceScope, KubeError> {
        Ok(ResourceScope::Namespaced)
    }
    async fn get(&self, target: &ObjectRef, _: ReadSource) -> Result<Value, KubeError> {
        Err(KubeError::NotFound(target.to_string()))
    }
    async fn list(
        &self,
        _: &KindScope,
        _: Option<&LabelSelector>,
        _: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        Ok(Vec::new())
    }
    async fn apply(
        &self,
        _: &ObjectRef,
        object: &Value,
        _: &str,
        _: bool,
        _: bool,
    ) -> Result<Value, KubeError> {
        Ok(object.clone())
    }
    async fn delete(&self, _: &ObjectRef) -> Result<(), KubeError> {
        Ok(())
    }
}

fn grants(names: &[String]) -> Grants {
    let mut text = String::new();
    for name in names {
        text.push_str(&format!(
            "[[plugins.{name}.capabilities.kube]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\nverbs = [\"apply\"]\n"
        ));
    }
    Grants::parse(&text).expect("bench grants parse")
}

fn runtime(pooling: bool, cache: &std::path::Path, names: &[String]) -> Arc<Runtime> {
    Arc::new(build(pooling, cache, names))
}

fn build(pooling: bool, cache: &std::path::Path, names: &[String]) -> Runtime {
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(cache, cap_std::ambient_authority()).unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings { pooling, ..EngineSettings::default() },
        output: OutputLimits::default(),
        cache_dir,
        grants: grants(names),
    };
    let backends = Backends { kube: Arc::new(EchoKube), nsx: None, vcenter: None };
    Runtime::new(config, backends).unwrap()
}

/// A pooling runtime that records every call into a store in `cache`.
fn recorded(cache: &std::path::Path, names: &[String]) -> Arc<Runtime> {
    let recorder = Recorder::start(cache, &RecorderSettings::default()).unwrap();
    Arc::new(build(true, cache, names).record_to(recorder))
}

/// A ConfigMap of about `size` bytes of JSON.
fn object(size: usize, mode: &str) -> String {
    let mut cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "bench", "namespace": "default", "labels": {"app": "bench"}},
        "data": {"mode": mode, "payload": ""},
    });
    let base = cm.to_string().len();
    cm["data"]["payload"] = "x".repeat(size.saturating_sub(base)).into();
    cm.to_string()
}

/// What the host does with a reconciler's answer: parse it and apply it,
/// as the `kube.apply` host function does for a wasm plugin.
async fn apply_answer(kube: &EchoKube, answer: &[u8]) {
    let value: Value = serde_json::from_slice(answer).unwrap();
    let target = ObjectRef::of("default", &value).unwrap();
    std::hint::black_box(kube.apply(&target, &value, "bench", false, true).await.unwrap());
}

/// Calls per batch: `--calls N`, else 2000.
fn calls_per_batch() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .map_or(2000, |n| n.parse().expect("--calls takes a number"))
}

fn request(object: &str) -> Request {
    let value: Value = serde_json::from_str(object).unwrap();
    Request { target: ObjectRef::of("default", &value).unwrap(), object: object.to_owned() }
}

/// Median per-call time over `batches` batches of `per_batch` sequential calls.
async fn measure<F, Fut>(batches: usize, per_batch: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..per_batch {
        call().await; // warm-up
    }
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        for _ in 0..per_batch {
            call().await;
        }
        samples.push(started.elapsed() / per_batch as u32);
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_nanos() as f64 / 1000.0)
}

async fn webhook() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/reconcile",
        axum::routing::post(|body: String| async move {
            bench_plugin::transform(&body).unwrap_or_else(|e| e.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/reconcile", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let names = vec!["bench".to_string()];
    let big = object(2048, "echo");
    let trivial = object(200, "noop");
    let (batches, per_batch) = (15, calls_per_batch());
    let mut rows: Vec<(String, Duration)> = Vec::new();

    for (pooling, record) in [(true, false), (true, true), (false, false)] {
        let cache = tempfile::tempdir().unwrap();
        let runtime =
            if record { recorded(cache.path(), &names) } else { runtime(pooling, cache.path(), &names) };
        runtime.install(runtime.load(BENCH.bytes).unwrap(), BENCH.file).unwrap();
        let label = match (pooling, record) {
            (true, true) => "pooling, recorded",
            (true, false) => "pooling",
            _ => "on-demand",
        };
        for (what, body) in [("trivial", &trivial), ("2 KB in+out", &big)] {
            let req = request(body);
            let t = measure(batches, per_batch, || {
                let runtime = runtime.clone();
                let req = &req;
                async move {
                    runtime.call("bench", Export::Reconcile, req).await.unwrap();
                }
            })
            .await;
            rows.push((format!("wasm, fresh instance, {label}, {what}"), t));
        }
    }

    let native = measure(batches, per_batch * 10, || {
        let body = &big;
        async move {
            let answer = bench_plugin::transform(std::hint::black_box(body)).unwrap();
            apply_answer(&EchoKube, answer.as_bytes()).await;
        }
    })
    .await;
    rows.push(("native function, 2 KB in+out".into(), native));

    let (url, server) = webhook().await;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let hook = measure(batches, per_batch / 4, || {
        let client = client.clone();
        let url = url.clone();
        let body = big.clone();
        async move {
            let req = hyper::Request::post(url).body(Full::new(Bytes::from(body))).unwrap();
            let resp = client.request(req).await.unwrap();
            apply_answer(&EchoKube, &resp.into_body().collect().await.unwrap().to_bytes()).await;
        }
    })
    .await;
    rows.push(("loopback HTTP webhook (keep-alive), 2 KB in+out".into(), hook));
    server.abort();

    println!("\nper-reconcile cost (median of {batches} batches, sequential calls)\n");
    println!("| path | per call |");
    println!("| --- | --- |");
    for (name, t) in &rows {
        println!("| {name} | {} |", us(*t));
    }
    let find = |prefix: &str| rows.iter().find(|(n, _)| n.starts_with(prefix)).map(|(_, t)| *t).unwrap();
    let wasm_big = find("wasm, fresh instance, pooling, 2 KB");
    println!(
        "\nratios (one run): wasm/native {:.1}x, webhook/wasm {:.1}x, on-demand/pooling {:.2}x",
        wasm_big.as_secs_f64() / native.as_secs_f64(),
        hook.as_secs_f64() / wasm_big.as_secs_f64(),
        find("wasm, fresh instance, on-demand, 2 KB").as_secs_f64() / wasm_big.as_secs_f64(),
    );
    let added = |what: &str| {
        let on = find(&format!("wasm, fresh instance, pooling, recorded, {what}")).as_secs_f64();
        let off = find(&format!("wasm, fresh instance, pooling, {what}")).as_secs_f64();
        (on / off - 1.0) * 100.0
    };
    println!(
        "flight recorder (pooling, recorded vs not): trivial {:+.1}%, 2 KB in+out {:+.1}%",
        added("trivial"),
        added("2 KB")
    );

    // Cold compile vs cached load.
    let cache = tempfile::tempdir().unwrap();
    let cold_rt = runtime(true, cache.path(), &names);
    let started = Instant::now();
    let cold = cold_rt.load(BENCH.bytes).unwrap();
    let cold_t = started.elapsed();
    drop(cold_rt);
    let warm_rt = runtime(true, cache.path(), &names);
    let started = Instant::now();
    let warm = warm_rt.load(BENCH.bytes).unwrap();
    let warm_t = started.elapsed();
    println!("\nload ({} KiB component)\n", BENCH.bytes.len() / 1024);
    println!("| load | time | from |");
    println!("| --- | --- | --- |");
    println!("| cold compile | {:.1} ms | {:?} |", cold_t.as_secs_f64() * 1e3, cold.provenance);
    println!("| cached load | {:.1} ms | {:?} |", warm_t.as_secs_f64() * 1e3, warm.provenance);
    drop((cold, warm, warm_rt));

    // RSS with 1 and 20 plugins loaded (each a distinct component).
    let many: Vec<String> = (0..20).map(|i| format!("bench-{i}")).collect();
    let cache = tempfile::tempdir().unwrap();
    let rss_runtime = runtime(true, cache.path(), &many);
    let manifest = section::extract(BENCH.bytes).unwrap().to_owned();
    let before = memory::kib("VmRSS:");
    let mut after_one = 0;
    for (i, name) in many.iter().enumerate() {
        let bytes =
            section::embed(BENCH.bytes, &manifest.replace("name = \"bench\"", &format!("name = \"{name}\"")))
                .unwrap();
        let plugin = rss_runtime.load(&bytes).unwrap();
        rss_runtime.install(plugin, &format!("{name}.wasm")).unwrap();
        let req = request(&big);
        rss_runtime.call(name, Export::Reconcile, &req).await.unwrap();
        if i == 0 {
            after_one = memory::kib("VmRSS:");
        }
    }
    let after_twenty = memory::kib("VmRSS:");
    println!("\nresident memory (VmRSS, after one reconcile each)\n");
    println!("| plugins loaded | RSS | growth over runtime alone |");
    println!("| --- | --- | --- |");
    println!("| 0 | {:.1} MiB | - |", before as f64 / 1024.0);
    println!(
        "| 1 | {:.1} MiB | {:.1} MiB |",
        after_one as f64 / 1024.0,
        (after_one - before) as f64 / 1024.0
    );
    println!(
        "| 20 | {:.1} MiB | {:.1} MiB |",
        after_twenty as f64 / 1024.0,
        (after_twenty - before) as f64 / 1024.0
    );
    println!("\ncommand: cargo bench -p wasmvisor-host --bench runtime");
}
