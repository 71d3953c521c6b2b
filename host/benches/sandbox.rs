//! A busy guest must not starve the host: a well-behaved plugin's reconcile
//! latency and the admin endpoint's latency, with 0 and with N guests that
//! loop without host calls (the chaos plugin's `loop` mode, each re-issued
//! as soon as its 500 ms deadline ends it, after one trip through the
//! scheduler as the engine's queue makes, so N loops run at all times).
//!
//! The host side is what `wasmvisor run` has: a multi-thread tokio runtime
//! with one worker per core, the runtime with the default engine settings,
//! the admin endpoint on loopback. The well-behaved plugin is the `bench`
//! plugin reconciling a 2 KB ConfigMap (parse, annotate, one kube apply to
//! an in-memory backend); the admin request is `GET /healthz` on a fresh
//! connection.
//!
//! Run: `cargo bench -p wasmvisor-host --bench sandbox` (`-- --samples N`,
//! default 200; `-- --loops 0,8` picks the looping guest counts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wasmvisor_host::admin::{self, AdminConfig, AdminState};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::{BENCH, CHAOS};

/// The value following `flag` on the command line, if any.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

fn request(namespace: &str, name: &str, data: Value) -> Request {
    let object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    });
    Request { target: ObjectRef::of("default", &object).unwrap(), object: object.to_string() }
}

/// One `GET /healthz` on a fresh connection, timed to the last byte.
async fn healthz(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "the admin endpoint answered {response:?}");
    started.elapsed()
}

/// p50, p99 and max of `samples`, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("{:>8.2} {:>8.2} {:>8.2}", at(0.5), at(0.99), at(1.0))
}

async fn scenario(runtime: &Arc<Runtime>, admin: SocketAddr, loops: usize, samples: usize) -> String {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loopers = Vec::new();
    for i in 0..loops {
        let (runtime, stop) = (runtime.clone(), stop.clone());
        loopers.push(tokio::spawn(async move {
            let spin = request("chaos", &format!("spin-{i}"), json!({"mode": "loop"}));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let result = runtime.call("chaos", Export::Reconcile, &spin).await;
                assert!(result.is_err(), "a loop ends at its deadline");
                // Back to the scheduler between reconciles, as the engine's
                // queue does.
                tokio::task::yield_now().await;
            }
        }));
    }
    // Let the loops get going.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Driven from a task on the workers, where the engine and the admin
    // endpoint run.
    let measure = runtime.clone();
    let (reconciles, admin_latencies) = tokio::spawn(async move {
        let payload = "x".repeat(2000);
        let mut reconciles = Vec::with_capacity(samples);
        let mut admin_latencies = Vec::with_capacity(samples);
        for i in 0..samples {
            let request =
                request("default", &format!("cm-{i}"), json!({"mode": "apply", "payload": payload}));
            // A task per reconcile, as the engine spawns one per attempt:
            // the time includes waiting for a worker.
            let (runtime, started) = (measure.clone(), Instant::now());
            tokio::spawn(async move { runtime.call("bench", Export::Reconcile, &request).await })
                .await
                .unwrap()
                .expect("the bench plugin reconciles");
            reconciles.push(started.elapsed());
            admin_latencies.push(healthz(admin).await);
        }
        (reconciles, admin_latencies)
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for looper in loopers {
        looper.await.unwrap();
    }
    format!("| {loops:>13} | {} | {} |", summary(reconciles), summary(admin_latencies))
}

fn main() {
    let samples: usize = arg("--samples").map_or(200, |n| n.parse().expect("--samples takes a number"));
    let loops: Vec<usize> = arg("--loops").map_or_else(
        || vec![0, 8],
        |list| list.split(',').map(|n| n.parse().expect("--loops takes numbers")).collect(),
    );
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    tokio.block_on(async {
        let cache_dir = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let config = RuntimeConfig {
            engine: EngineSettings::default(),
            output: OutputLimits::default(),
            cache_dir,
            grants: Grants::declared([BENCH, CHAOS].map(|p| Manifest::from_component(p.bytes).unwrap())),
        };
        let backends = Backends { kube: Arc::new(MemoryKube::new()), nsx: None, vcenter: None };
        let runtime = Arc::new(Runtime::new(config, backends).unwrap());
        for plugin in [BENCH, CHAOS] {
            let loaded = runtime.load(plugin.bytes).unwrap();
            runtime.install(loaded, plugin.file).unwrap();
        }
        let (_ready, ready) = tokio::sync::watch::channel(true);
        let state = AdminState {
            runtime: runtime.clone(),
            plugin_dir: None,
            registry: Arc::new(Registry::default()),
            ready,
        };
        let admin = admin::serve(AdminConfig::new(dir.path().join("admin")), state).await.unwrap();
        println!(
            "{} cores, {} tokio workers, guest CPUs {}, {samples} samples per row (ms)",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            tokio::runtime::Handle::current().metrics().num_workers(),
            EngineSettings::default().guest_cpus,
        );
        println!("| looping guests | reconcile p50      p99      max | admin p50      p99      max |");
        println!("| ---: | ---: | ---: |");
        for n in loops {
            println!("{}", scenario(&runtime, admin.addr(), n, samples).await);
        }
        admin.shutdown().await;
    });
}
