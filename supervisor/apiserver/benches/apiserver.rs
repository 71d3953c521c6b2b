//! Throughput and latency of the embedded API server, measured over HTTPS with kube-rs
//! against the `apiserver-test-server` binary in a child process (so RSS is the server's).
//!
//! Run: `cargo bench -p wasmvisor-apiserver --bench apiserver` (release build). Prints a table.
//! `BENCH_OBJECTS` (default 10000) sets how many objects the list benchmark stores;
//! `BENCH_SERVER=PATH` runs another build of `apiserver-test-server` (an older commit's, to
//! compare servers under the same client and the same machine load).
//!
//! Beside wall-clock figures it prints the CPU time the server process and the bench
//! process (the kube-rs client) spent per operation, from `/proc`: on a shared 2-core
//! machine throughput moves with the load, CPU per operation much less.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

const CONCURRENCY: usize = 16;

fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm.data = Some([("k".to_owned(), "v".repeat(64))].into());
    cm
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Runs `count` operations `op(i)` with `CONCURRENCY` in flight; returns operations per second.
async fn throughput<F, Fut>(count: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let start = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| op.clone()(i))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// CPU time (user + system, all threads) process `pid` has used so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
    Duration::from_millis(ticks * 10)
}

/// CPU used by the server (`pid`) and by this process while `phase` runs, per operation.
struct CpuPerOp {
    server: Duration,
    client: Duration,
}

impl CpuPerOp {
    async fn measure<T>(pid: u32, operations: usize, phase: impl Future<Output = T>) -> (T, CpuPerOp) {
        let (server, client) = (cpu_time(pid), cpu_time(std::process::id()));
        let out = phase.await;
        let per = |d: Duration| d / u32::try_from(operations.max(1)).unwrap_or(u32::MAX);
        let cost = CpuPerOp {
            server: per(cpu_time(pid) - server),
            client: per(cpu_time(std::process::id()) - client),
        };
        (out, cost)
    }

    fn cells(&self) -> String {
        format!("{} | {}", us(self.server), us(self.client))
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn watch_latency(
    api: &Api<ConfigMap>,
    watchers: usize,
    writes: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let rv = api.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    for _ in 0..watchers {
        let (api, sent, latencies, rv, ready) =
            (api.clone(), sent.clone(), latencies.clone(), rv.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let params = WatchParams::default().labels("bench=watch").timeout(120);
            let mut stream = api.watch(&params, &rv).await?.boxed();
            ready.send(()).await.ok();
            let mut seen = 0;
            while seen < writes {
                match stream.try_next().await? {
                    Some(WatchEvent::Modified(cm)) | Some(WatchEvent::Added(cm)) => {
                        let now = Instant::now();
                        let token = cm.annotations().get("bench/seq").cloned().unwrap_or_default();
                        if let Some(start) = sent.lock().expect("lock").get(&token) {
                            latencies.lock().expect("lock").push(now - *start);
                            seen += 1;
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            anyhow::Ok(())
        }));
    }
    for _ in 0..watchers {
        ready_rx.recv().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut cm = config_map("watched");
    cm.metadata.labels = Some([("bench".to_owned(), "watch".to_owned())].into());
    let _ = api.create(&PostParams::default(), &cm).await;
    for seq in 0..writes {
        let token = format!("{watchers}-{seq}");
        sent.lock().expect("lock").insert(token.clone(), Instant::now());
        let patch = json!({"metadata": {"annotations": {"bench/seq": token}}});
        api.patch("watched", &PatchParams::default(), &Patch::Merge(patch)).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task).await???;
    }
    let mut all = latencies.lock().expect("lock").clone();
    all.sort();
    Ok((percentile(&all, 0.5), percentile(&all, 0.99)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let objects: usize = std::env::var("BENCH_OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server = std::env::var_os("BENCH_SERVER")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_apiserver-test-server").into());
    let mut child = tokio::process::Command::new(server)
        .arg(&data)
        .arg("127.0.0.1:0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let first = tokio::io::BufReader::new(stdout).lines().next_line().await?.unwrap_or_default();
    anyhow::ensure!(first.starts_with("listening"), "server did not start: {first}");
    let api: Api<ConfigMap> = Api::namespaced(client(&data.join("kubeconfig")).await?, "default");
    let idle_rss = rss_kib(pid);

    let creates = 2_000;
    let create_api = api.clone();
    let (creates_per_s, create_cpu) = CpuPerOp::measure(
        pid,
        creates,
        throughput(creates, move |i| {
            let api = create_api.clone();
            async move {
                api.create(&PostParams::default(), &config_map(&format!("c-{i}"))).await?;
                Ok(())
            }
        }),
    )
    .await;
    let creates_per_s = creates_per_s?;
    let update_api = api.clone();
    let (updates_per_s, update_cpu) = CpuPerOp::measure(
        pid,
        creates,
        throughput(creates, move |i| {
            let api = update_api.clone();
            async move {
                let patch = json!({"data": {"k": format!("updated-{i}")}});
                api.patch(&format!("c-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await?;
                Ok(())
            }
        }),
    )
    .await;
    let updates_per_s = updates_per_s?;

    let mut watch_rows = Vec::new();
    for watchers in [1, 10, 100] {
        let (p50, p99) = watch_latency(&api, watchers, 100).await?;
        watch_rows.push((watchers, p50, p99));
    }

    let fill_api = api.clone();
    let remaining = objects.saturating_sub(creates);
    throughput(remaining, move |i| {
        let api = fill_api.clone();
        async move {
            api.create(&PostParams::default(), &config_map(&format!("l-{i}"))).await?;
            Ok(())
        }
    })
    .await?;
    let mut list_times = Vec::new();
    let mut listed = 0;
    let (listing, list_cpu) = CpuPerOp::measure(pid, 5, async {
        for _ in 0..5 {
            let start = Instant::now();
            listed = api.list(&ListParams::default()).await?.items.len();
            list_times.push(start.elapsed());
        }
        anyhow::Ok(())
    })
    .await;
    listing?;
    list_times.sort();
    let mut paged = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        api.list(&ListParams::default().limit(500)).await?;
        paged.push(start.elapsed());
    }
    paged.sort();
    let loaded_rss = rss_kib(pid);

    println!("| measurement | value | server CPU per op | bench (client) CPU per op |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| creates/s ({creates} ConfigMaps, {CONCURRENCY} in flight) | {creates_per_s:.0} | {} |",
        create_cpu.cells()
    );
    println!(
        "| updates/s (merge patch, {CONCURRENCY} in flight) | {updates_per_s:.0} | {} |",
        update_cpu.cells()
    );
    for (watchers, p50, p99) in watch_rows {
        println!("| watch delivery, {watchers} watcher(s), p50 / p99 | {} / {} | | |", ms(p50), ms(p99));
    }
    println!("| list of {listed} objects, p50 of 5 | {} | {} |", ms(list_times[2]), list_cpu.cells());
    println!("| list first page (limit 500) at {listed} objects, p50 of 5 | {} | | |", ms(paged[2]));
    println!("| server RSS idle / after the run | {} MiB / {} MiB | | |", idle_rss / 1024, loaded_rss / 1024);
    Ok(())
}
