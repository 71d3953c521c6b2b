//! The controller engine end to end, in one run on one machine: N Widgets
//! created in one namespace, timed from the first create until every one
//! carries its reconciled status, once through the host with the widget
//! plugin (wasm) and once through a kube-runtime `Controller` running the
//! same reconcile as a native function, so the wasm overhead is a ratio.
//!
//! The same reconcile, natively: add the finalizer `wasmvisor.dev/widget`
//! once (the host's guarded JSON patch), then server-side apply
//! `{observedGeneration, phase: Ready}` through the status subresource with
//! field manager `widget`, 4 reconciles in flight (the host's default).
//!
//! Each (path, N) runs in a process of its own against an API server in a
//! child process with a fresh data directory, so the RSS figures are the
//! host's alone and no run sees another's objects or memory. The bench
//! executes itself for both roles (`engine apiserver DIR`, `engine run PATH
//! N`): a bench cannot name another package's binary.
//!
//! The wasm path runs twice, with the flight recorder on (`wasm`, the
//! default) and off (`wasm-unrecorded`), so its overhead is a ratio too.
//!
//! Run: `cargo bench -p wasmvisor-host --bench engine`. `ENGINE_BENCH_SIZES`
//! (default `1000,10000`) picks the object counts, e.g. `1000` to skip 10k.

#[path = "common/memory.rs"]
mod memory;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use wasmvisor_host::capability::grant::Grant;
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::host::Host;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::metrics::ReconcileLabels;
use wasmvisor_plugins::testing::WIDGET;

const NAMESPACE: &str = "bench";
/// Creates in flight at once.
const CREATES_IN_FLIGHT: usize = 16;
/// Reconciles in flight: the host's default `controller.concurrency`.
const CONCURRENCY: u16 = 4;
/// The widget plugin's name: field manager and finalizer suffix.
const PLUGIN: &str = "widget";
const FINALIZER: &str = "wasmvisor.dev/widget";
/// A run gives up when no Widget converged for this long.
const STALL: Duration = Duration::from_secs(60);
/// Progress goes to stderr this often.
const PROGRESS: Duration = Duration::from_secs(10);
/// The engine counts as idle once no reconcile ended for this long.
const QUIET: Duration = Duration::from_secs(2);
/// An engine not idle this long after convergence is reported as busy: a
/// level-based engine with nothing changing should come to rest.
const IDLE_CAP: Duration = Duration::from_secs(120);

/// What one run measured; the runner prints it as one JSON line.
#[derive(Debug, Serialize, Deserialize)]
struct Figures {
    path: String,
    objects: usize,
    /// Widgets (of `objects`) that carried their reconciled status at the end.
    converged: usize,
    /// First create until the last create was answered.
    create_s: f64,
    /// First create until every Widget converged (or the run stalled).
    total_s: f64,
    /// Successful reconciles by convergence (over `total_s`: reconciles/s).
    reconciles_converged: u64,
    /// First create until the last reconcile ended (the engine at rest);
    /// `None` when it was still reconciling [`IDLE_CAP`] after convergence.
    idle_s: Option<f64>,
    /// Successful reconciles until idle.
    reconciles: u64,
    /// Failed reconciles until idle.
    failed: u64,
    /// Runner RSS with the engine warm, before the creates.
    rss_before_kib: u64,
    /// Runner RSS once idle, every Widget cached.
    rss_after_kib: u64,
    /// Runner peak RSS.
    rss_peak_kib: u64,
    /// Widgets in the engine's watch cache, and their JSON bytes.
    cache_objects: u64,
    cache_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["apiserver", dir] => rt.block_on(serve(Path::new(dir))),
        ["run", path, objects] => {
            let figures = rt.block_on(run(path, objects.parse()?))?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        _ => drive(),
    }
}

/// The API server role: serves `dir` until stdin closes.
async fn serve(dir: &Path) -> anyhow::Result<()> {
    let config = wasmvisor_apiserver::Config::new(dir).listen("127.0.0.1:0".parse()?);
    let running = wasmvisor_apiserver::ApiServer::start(config).await?;
    println!("listening {}", running.addr());
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    })
    .await?;
    running.shutdown().await?;
    Ok(())
}

/// Runs every (N, path) in a process of its own and prints the table.
fn drive() -> anyhow::Result<()> {
    let sizes = std::env::var("ENGINE_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".into());
    let load_before = load();
    let mut rows = Vec::new();
    for objects in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        for path in ["wasm", "wasm-unrecorded", "native"] {
            let output = std::process::Command::new(std::env::current_exe()?)
                .args(["run", path, objects])
                .stderr(std::process::Stdio::inherit())
                .output()?;
            anyhow::ensure!(output.status.success(), "the {path} run with {objects} objects failed");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let last = stdout.lines().last().context("the run printed nothing")?;
            rows.push(serde_json::from_str::<Figures>(last)?);
        }
    }
    println!(
        "| objects | path | reconciled | creates done | all reconciled | vs native | reconciles/s | engine idle | reconciles until idle (per object) | failed | host RSS before → idle (peak) | watch cache |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let native = rows.iter().find(|r| r.path == "native" && r.objects == row.objects);
        let ratio = native.map_or("—".into(), |n| format!("{:.2}×", row.total_s / n.total_s));
        let rate = row.reconciles_converged as f64 / row.total_s;
        let idle = row.idle_s.map_or(format!("busy {} s after", IDLE_CAP.as_secs()), |s| format!("{s:.1} s"));
        println!(
            "| {} | {} | {}/{} | {:.1} s | {:.1} s | {ratio} | {rate:.0} | {idle} | {} ({:.2}) | {} | {} → {} ({}) MiB | {} objects, {:.1} MiB |",
            row.objects,
            row.path,
            row.converged,
            row.objects,
            row.create_s,
            row.total_s,
            row.reconciles,
            row.reconciles as f64 / row.objects as f64,
            row.failed,
            row.rss_before_kib / 1024,
            row.rss_after_kib / 1024,
            row.rss_peak_kib / 1024,
            row.cache_objects,
            row.cache_bytes as f64 / (1024.0 * 1024.0),
        );
    }
    for row in rows.iter().filter(|r| r.path == "wasm") {
        if let Some(off) = rows.iter().find(|r| r.path == "wasm-unrecorded" && r.objects == row.objects) {
            println!(
                "\nflight recorder at {} objects: all reconciled {:.1} s recorded vs {:.1} s unrecorded ({:+.1}%)",
                row.objects,
                row.total_s,
                off.total_s,
                (row.total_s / off.total_s - 1.0) * 100.0
            );
        }
    }
    println!("\nload average (1, 5, 15 min): {load_before} before, {} after", load());
    Ok(())
}

/// One run: an API server, an engine, N Widgets, until all are reconciled.
async fn run(path: &str, objects: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("apiserver");
    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .arg("apiserver")
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = server.stdout.take().context("no stdout")?;
    let first = tokio::io::BufReader::new(stdout).lines().next_line().await?.unwrap_or_default();
    anyhow::ensure!(first.starts_with("listening"), "the API server did not start: {first}");
    let kubeconfig = data.join("kubeconfig");
    let client = client(&kubeconfig).await?;
    install_widget_crd(&client).await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?)
        .await?;

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &widget_resource());
    let (converged_tx, mut converged) = tokio::sync::watch::channel(0usize);
    let counter = tokio::spawn(count_converged(widgets.clone(), converged_tx));
    let engine = match path {
        "wasm" => Engine::wasm(dir.path(), &kubeconfig, true).await?,
        "wasm-unrecorded" => Engine::wasm(dir.path(), &kubeconfig, false).await?,
        "native" => Engine::native(client.clone()),
        other => anyhow::bail!("unknown path {other:?}"),
    };

    // Warm up: connections, watches and the plugin's first instance.
    widgets.create(&PostParams::default(), &widget("warmup")?).await?;
    let label = format!("{path} {objects}");
    anyhow::ensure!(wait(&label, &engine, &mut converged, 1).await, "the warm-up Widget never converged");
    let (ok_before, failed_before) = engine.reconciles();
    let rss_before_kib = memory::kib("VmRSS:");

    let started = Instant::now();
    futures::stream::iter(0..objects)
        .map(|i| {
            let widgets = widgets.clone();
            async move { widgets.create(&PostParams::default(), &widget(&format!("w-{i:05}"))?).await }
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let create_s = started.elapsed().as_secs_f64();
    wait(&label, &engine, &mut converged, objects + 1).await;
    let total_s = started.elapsed().as_secs_f64();
    let reconciles_converged = engine.reconciles().0 - ok_before;
    let idle_s = idle(&engine).await.map(|at| at.duration_since(started).as_secs_f64());
    let (ok, failed) = engine.reconciles();
    let rss_after_kib = memory::kib("VmRSS:");
    let (cache_objects, cache_bytes) = engine.cache().await?;
    let figures = Figures {
        path: path.into(),
        objects,
        converged: (*converged.borrow()).saturating_sub(1),
        create_s,
        total_s,
        reconciles_converged,
        idle_s,
        reconciles: ok - ok_before,
        failed: failed - failed_before,
        rss_before_kib,
        rss_after_kib,
        rss_peak_kib: memory::kib("VmHWM:"),
        cache_objects,
        cache_bytes,
    };
    engine.stop().await;
    counter.abort();
    drop(server.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait()).await??;
    anyhow::ensure!(status.success(), "the API server ended with {status}");
    Ok(figures)
}

/// Waits until `target` Widgets converged; false when none converged for
/// [`STALL`]. Prints progress to stderr every [`PROGRESS`].
async fn wait(
    label: &str,
    engine: &Engine,
    converged: &mut tokio::sync::watch::Receiver<usize>,
    target: usize,
) -> bool {
    let started = Instant::now();
    let mut last = (*converged.borrow(), Instant::now());
    let mut reported = Instant::now();
    loop {
        let now = *converged.borrow_and_update();
        if now >= target {
            return true;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > STALL {
            eprintln!("[{label}] stalled: {now}/{target} converged, none for {} s", STALL.as_secs());
            return false;
        }
        if reported.elapsed() >= PROGRESS {
            reported = Instant::now();
            let (ok, failed) = engine.reconciles();
            eprintln!(
                "[{label}] {:.0} s: {now}/{target} converged, {ok} reconciles ({failed} failed), RSS {} MiB",
                started.elapsed().as_secs_f64(),
                memory::kib("VmRSS:") / 1024
            );
        }
        // A timeout only wakes the loop for the stall check and progress.
        let _ = tokio::time::timeout(PROGRESS, converged.changed()).await;
    }
}

/// When the last reconcile ended, once none ended for [`QUIET`]; `None`
/// when reconciles still ran [`IDLE_CAP`] from now.
async fn idle(engine: &Engine) -> Option<Instant> {
    let started = Instant::now();
    let (mut count, mut changed) = (engine.reconciles(), Instant::now());
    while started.elapsed() < IDLE_CAP {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = engine.reconciles();
        if now != count {
            (count, changed) = (now, Instant::now());
        } else if changed.elapsed() >= QUIET {
            return Some(changed);
        }
    }
    None
}

/// Counts the Widgets that carry their reconciled status, from a watch.
async fn count_converged(widgets: Api<DynamicObject>, converged: tokio::sync::watch::Sender<usize>) {
    let mut done = HashSet::new();
    let mut stream = watcher(widgets, watcher::Config::default()).default_backoff().applied_objects().boxed();
    while let Some(event) = stream.next().await {
        let Ok(widget) = event else { continue };
        let status = widget.data.get("status");
        let ready = status.and_then(|s| s.get("phase")).and_then(Value::as_str) == Some("Ready");
        let observed = status.and_then(|s| s.get("observedGeneration")).and_then(Value::as_i64);
        if ready && observed.is_some() && observed == widget.metadata.generation {
            done.insert(widget.metadata.name.unwrap_or_default());
            converged.send_replace(done.len());
        }
    }
}

/// The engine under test.
enum Engine {
    /// The host with the widget plugin.
    Wasm(Box<Host>),
    /// A kube-runtime `Controller` with the reconcile as a native function.
    Native { stats: Arc<Stats>, store: Store<DynamicObject>, task: tokio::task::JoinHandle<()> },
}

/// The native reconciles by outcome.
#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Engine {
    /// The host with the widget plugin; `record` turns the flight recorder on.
    async fn wasm(dir: &Path, kubeconfig: &Path, record: bool) -> anyhow::Result<Engine> {
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins)?;
        std::fs::write(plugins.join(WIDGET.file), WIDGET.bytes)?;
        let mut config = HostConfig::parse(&format!(
            "data-dir = {:?}\nplugin-dir = {:?}",
            dir.join("host").display().to_string(),
            plugins.display().to_string(),
        ))?;
        config.clusters.insert(
            "default".into(),
            ClusterConfig {
                source: ClusterSource::Kubeconfig { kubeconfig: kubeconfig.to_owned(), context: None },
            },
        );
        let manifest = Manifest::from_component(WIDGET.bytes)?;
        let grant = Grant {
            capabilities: manifest.capabilities.clone(),
            limits: manifest.limits,
            ..Grant::default()
        };
        config.plugins.insert(manifest.name, grant);
        config.recorder.enabled = record;
        Ok(Engine::Wasm(Box::new(Host::start(config).await?)))
    }

    fn native(client: kube::Client) -> Engine {
        let stats = Arc::new(Stats::default());
        let resource = widget_resource();
        let controller = Controller::new_with(
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            watcher::Config::default(),
            resource.clone(),
        )
        .with_config(controller::Config::default().concurrency(CONCURRENCY));
        let store = controller.store();
        let context = Arc::new(Native { client, resource, stats: stats.clone() });
        let task = tokio::spawn(
            controller.run(reconcile_native, native_error_policy, context).for_each(|_| async {}),
        );
        Engine::Native { stats, store, task }
    }

    /// Successful and failed reconciles so far.
    fn reconciles(&self) -> (u64, u64) {
        match self {
            Engine::Wasm(host) => {
                let count = |result| {
                    let labels = ReconcileLabels { plugin: PLUGIN.into(), result };
                    host.runtime().metrics().reconciles.get_or_create(&labels).get()
                };
                (count("success") + count("requeue"), count("error") + count("trap"))
            }
            Engine::Native { stats, .. } => {
                (stats.ok.load(Ordering::Relaxed), stats.failed.load(Ordering::Relaxed))
            }
        }
    }

    /// Widgets in the engine's watch cache and their JSON bytes.
    async fn cache(&self) -> anyhow::Result<(u64, u64)> {
        match self {
            Engine::Wasm(host) => cache_metrics(&host.admin().url).await,
            Engine::Native { store, .. } => {
                let objects = store.state();
                let bytes =
                    objects.iter().map(|o| serde_json::to_vec(&**o).map_or(0, |v| v.len() as u64)).sum();
                Ok((objects.len() as u64, bytes))
            }
        }
    }

    async fn stop(self) {
        match self {
            Engine::Wasm(host) => host.shutdown().await,
            Engine::Native { task, .. } => task.abort(),
        }
    }
}

/// What the native reconcile needs.
struct Native {
    client: kube::Client,
    resource: ApiResource,
    stats: Arc<Stats>,
}

async fn reconcile_native(widget: Arc<DynamicObject>, native: Arc<Native>) -> Result<Action, kube::Error> {
    let result = reconcile_widget(&widget, &native).await;
    let counter = if result.is_ok() { &native.stats.ok } else { &native.stats.failed };
    counter.fetch_add(1, Ordering::Relaxed);
    result
}

/// The widget plugin's reconcile of an empty spec, with the host's
/// finalizer step before it.
async fn reconcile_widget(widget: &DynamicObject, native: &Native) -> Result<Action, kube::Error> {
    let name = widget.metadata.name.as_deref().unwrap_or_default();
    let namespace = widget.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(native.client.clone(), namespace, &native.resource);
    let mut generation = widget.metadata.generation;
    let finalizers = widget.metadata.finalizers.as_deref().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        let ops = if finalizers.is_empty() {
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": widget.metadata.resource_version},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
            ])
        } else {
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
            ])
        };
        let ops: json_patch::Patch = serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
        generation =
            api.patch(name, &PatchParams::default(), &Patch::<()>::Json(ops)).await?.metadata.generation;
    }
    let status = json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "status": {"observedGeneration": generation, "phase": "Ready"},
    });
    api.patch_status(name, &PatchParams::apply(PLUGIN).force(), &Patch::Apply(&status)).await?;
    Ok(Action::await_change())
}

/// The host's default first backoff.
fn native_error_policy(_: Arc<DynamicObject>, _: &kube::Error, _: Arc<Native>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

/// `wasmvisor_cache_objects` and `wasmvisor_cache_bytes` of the Widget watch,
/// from the host's `/metrics`.
async fn cache_metrics(admin_url: &str) -> anyhow::Result<(u64, u64)> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri = format!("{}/metrics", admin_url.trim_end_matches('/')).parse()?;
    let body = client.get(uri).await?.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value = |family: &str| {
        text.lines()
            .filter(|l| l.starts_with(family) && l.contains("kind=\"Widget\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Ok((value("wasmvisor_cache_objects{"), value("wasmvisor_cache_bytes{")))
}

async fn client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    Ok(kube::Client::try_from(config)?)
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("test.wasmvisor.dev", "v1", "Widget"), "widgets")
}

/// A Widget with an empty spec: the plugin's plain "Ready" path.
fn widget(name: &str) -> Result<DynamicObject, kube::Error> {
    serde_json::from_value(json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": NAMESPACE}, "spec": {},
    }))
    .map_err(kube::Error::SerdeError)
}

async fn install_widget_crd(client: &kube::Client) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(include_str!("../tests/engine/data/widget-crd.yaml"))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let crd = crds.get("widgets.test.wasmvisor.dev").await?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions.iter().any(|c| c.type_ == "Established" && c.status == "True") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the Widget CRD was not established within 30 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A `kB` field of /proc/self/status, in KiB.
/// The first three fields of /proc/loadavg.
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(", ")
}
