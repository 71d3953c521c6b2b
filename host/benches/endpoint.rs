//! What the host adds to an NSX call: a plugin's `GET` through the host
//! (fresh instance, capability check, host call, the same client) beside the
//! same request made directly by the host client, in one run against the
//! NSX simulator over HTTPS on loopback; ratios and calls/s.
//!
//! Run: `cargo bench -p wasmvisor-host --bench endpoint`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::capability::endpoint::{EndpointConfig, EndpointMetrics, connect_nsx};
use wasmvisor_host::capability::endpoint::{HttpEndpoint, HttpRequest};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Method;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::PROBE;
use wasmvisor_sim::{NsxSim, SimConfig};

const SEGMENT: &str = "/policy/api/v1/infra/segments/bench";
const COMMAND: &str = "cargo bench -p wasmvisor-host --bench endpoint";

/// Mean time per GET of one batch of `runs` runs of `run`, each making
/// `gets` GETs.
async fn batch<F, Fut>(runs: u32, gets: u32, run: &mut F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..runs {
        run().await;
    }
    start.elapsed() / (runs * gets)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn per_second(d: Duration) -> String {
    format!("{:.0}", 1.0 / d.as_secs_f64())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = NsxSim::start(SimConfig::new(dir.path(), "127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("NSX simulator starts");
    let config = EndpointConfig {
        ca_file: Some(dir.path().join("ca/ca.crt")),
        ..EndpointConfig::new(sim.base_url.clone(), sim.credentials_file.clone())
    };
    let nsx: Arc<dyn HttpEndpoint> =
        connect_nsx(&config, None, &EndpointMetrics::default()).await.expect("NSX client");
    let get = || HttpRequest { method: Method::Get, path: SEGMENT.into(), body: None };
    let body = json!({"display_name": "bench", "tags": [{"scope": "wasmvisor/plugin", "tag": "probe"}]});
    nsx.send(HttpRequest { method: Method::Patch, path: SEGMENT.into(), body: Some(body.to_string()) })
        .await
        .expect("segment created");

    let cache = tempfile::tempdir().expect("cache dir");
    let kube = Arc::new(MemoryKube::new());
    let runtime = Runtime::new(
        RuntimeConfig {
            engine: EngineSettings::default(),
            output: OutputLimits::default(),
            cache_dir: cap_std::fs::Dir::open_ambient_dir(cache.path(), cap_std::ambient_authority())
                .expect("cache dir opens"),
            // Exactly what the probe's manifest declares, as `up` grants it.
            grants: Grants { trust_manifests: true, ..Grants::default() },
        },
        Backends { kube: kube.clone(), nsx: Some(nsx.clone()), vcenter: None },
    )
    .expect("runtime");
    let plugin = runtime.load(PROBE.bytes).expect("probe loads");
    runtime.install(plugin, PROBE.file).expect("probe installs");
    let request = |repeat: u32| {
        let calls = json!([{"endpoint": "nsx", "method": "GET", "path": SEGMENT}]).to_string();
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("bench-{repeat}"), "namespace": "probe"},
            "data": {"calls": calls, "repeat": repeat.to_string(), "report": "false", "log": "false"},
        });
        let stored = kube.insert("default", object).expect("stored");
        Request { target: ObjectRef::of("default", &stored).expect("ref"), object: stored.to_string() }
    };
    let one = request(1);
    let hundred = request(100);

    let batches = 15;
    let mut direct_run = || async {
        nsx.send(get()).await.expect("direct GET");
    };
    let mut one_run = || async {
        runtime.call("probe", Export::Reconcile, &one).await.expect("reconcile with one GET");
    };
    let mut hundred_run = || async {
        runtime.call("probe", Export::Reconcile, &hundred).await.expect("reconcile with 100 GETs");
    };
    // Warm up (pooled connections, instance slots), then interleave the three
    // paths batch by batch so load from elsewhere on the machine hits all alike.
    batch(20, 1, &mut direct_run).await;
    batch(20, 1, &mut one_run).await;
    batch(1, 100, &mut hundred_run).await;
    let (mut d, mut o, mut h) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..batches {
        d.push(batch(200, 1, &mut direct_run).await);
        o.push(batch(200, 1, &mut one_run).await);
        h.push(batch(2, 100, &mut hundred_run).await);
    }
    let (direct, plugin_one, plugin_hundred) = (median(d), median(o), median(h));

    println!(
        "\nNSX GET {SEGMENT} against the simulator over HTTPS on loopback (median of {batches} interleaved batches)\n"
    );
    println!("| path | per GET | GETs/s | vs direct |");
    println!("| --- | --- | --- | --- |");
    println!("| host client, direct | {} | {} | 1.00× |", us(direct), per_second(direct));
    for (name, t) in [
        ("plugin, 1 GET per reconcile (fresh instance each)", plugin_one),
        ("plugin, 100 GETs in one reconcile", plugin_hundred),
    ] {
        let ratio = t.as_secs_f64() / direct.as_secs_f64();
        println!("| {name} | {} | {} | {ratio:.2}× |", us(t), per_second(t));
    }
    println!(
        "\nhost overhead per call: {} (plugin, 100 GETs) and {} per reconcile with one GET",
        us(plugin_hundred.saturating_sub(direct)),
        us(plugin_one.saturating_sub(direct))
    );
    println!("\ncommand: {COMMAND}");
    sim.shutdown().await;
}
