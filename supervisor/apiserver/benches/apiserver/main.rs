//! Throughput and latency of the embedded API server, measured over HTTPS against the
//! `apiserver-test-server` binary in a child process (so RSS is the server's).
//!
//! Writes and the raw list go through [`raw::Raw`] (hyper, one multiplexed HTTP/2
//! connection, pre-serialised bodies, responses read whole and checked by status);
//! watchers and the decoded list through kube-rs, as an operator would watch and list.
//!
//! Run: `cargo bench -p wasmvisor-apiserver --bench apiserver` (release build). Prints a table.
//! `BENCH_OBJECTS` (default 10000) sets how many objects the list benchmark stores;
//! `BENCH_SERVER=PATH` runs another build of `apiserver-test-server` (an older commit's, to
//! compare servers under the same client and the same machine load); `BENCH_ONLY=watch` runs
//! only the watch phases (for profiling the fan-out, or quicker repeated runs of it).
//!
//! Beside wall-clock figures it prints the CPU time the server process and the bench
//! process (the client) spent per operation, from `/proc`: on a shared 2-core machine
//! throughput moves with the load, CPU per operation much less.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use raw::Raw;

mod raw;

const CONCURRENCY: usize = 16;

/// Events per watch phase. Every event reaches every watcher, so at 100 watchers the
/// latencies come in clusters of 100 and their p99 is, in effect, the p99 of the events:
/// over 100 events that is the second slowest, which one slow fsync decides; over 300 it
/// rests on three.
const WATCHED_WRITES: usize = 300;

fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm.data = Some([("k".to_owned(), "v".repeat(64))].into());
    cm
}

const CONFIG_MAPS: &str = "/api/v1/namespaces/default/configmaps";
const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// The bodies of `count` ConfigMap creates named `{prefix}{i}`, serialised up front.
fn create_bodies(prefix: &str, count: usize) -> anyhow::Result<Arc<Vec<Bytes>>> {
    let bodies = (0..count).map(|i| {
        let mut cm = serde_json::to_value(config_map(&format!("{prefix}{i}")))?;
        cm["apiVersion"] = json!("v1");
        cm["kind"] = json!("ConfigMap");
        Ok(Bytes::from(serde_json::to_vec(&cm)?))
    });
    Ok(Arc::new(bodies.collect::<anyhow::Result<_>>()?))
}

/// Creates `count` ConfigMaps named `{prefix}{i}` with `CONCURRENCY` in flight; per second.
async fn create_all(raw: &Raw, prefix: &str, count: usize) -> anyhow::Result<f64> {
    let bodies = create_bodies(prefix, count)?;
    let raw = raw.clone();
    throughput(count, move |i| {
        let (raw, body) = (raw.clone(), bodies[i].clone());
        async move {
            raw.send(Method::POST, CONFIG_MAPS, JSON, body, StatusCode::CREATED).await?;
            Ok(())
        }
    })
    .await
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

/// CPU time process `pid` has run so far: the sum of its threads' run time as the
/// scheduler accounts it (`/proc/PID/task/*/schedstat`, in nanoseconds). The tick-sampled
/// utime and stime of `/proc/PID/stat` come in 10 ms steps and, on a machine other builds
/// keep busy, charge whole ticks to whoever happens to run. A thread that ends during a
/// phase takes its time with it (the server's threads live as long as it does).
fn cpu_time(pid: u32) -> Duration {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Duration::ZERO };
    let nanos = threads
        .filter_map(|thread| std::fs::read_to_string(thread.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
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

/// Who watches: kube-rs (an HTTP/1.1 connection per watch, typed decoding), or streams
/// multiplexed on one HTTP/2 connection (as client-go's informers share one), each event
/// line searched for its token without decoding.
#[derive(Clone, Copy, PartialEq)]
enum Watchers {
    KubeRs,
    Http2,
}

/// The `bench/seq` annotation of a watch event line, found without decoding the line.
fn token_in(line: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"bench/seq\":\"";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = line[at..].iter().position(|b| *b == b'"')?;
    Some(String::from_utf8_lossy(&line[at..at + len]).into_owned())
}

/// The `bench/seq` tokens of the events of a watch of the labelled ConfigMaps from `rv`.
async fn watch_tokens(
    kind: Watchers,
    api: &Api<ConfigMap>,
    watch_raw: &Raw,
    rv: &str,
) -> anyhow::Result<futures::stream::BoxStream<'static, anyhow::Result<Option<String>>>> {
    Ok(match kind {
        Watchers::KubeRs => {
            let params = WatchParams::default().labels("bench=watch").timeout(120);
            let events = api.watch(&params, rv).await?;
            events
                .map(|event| match event? {
                    WatchEvent::Modified(cm) | WatchEvent::Added(cm) => {
                        Ok(cm.annotations().get("bench/seq").cloned())
                    }
                    _ => Ok(None),
                })
                .boxed()
        }
        Watchers::Http2 => {
            let path = format!(
                "{CONFIG_MAPS}?watch=true&labelSelector=bench%3Dwatch&timeoutSeconds=120&resourceVersion={rv}"
            );
            watch_raw.watch(&path).await?.map(|line| Ok(token_in(&line?))).boxed()
        }
    })
}

async fn watch_latency(
    api: &Api<ConfigMap>,
    raw: &Raw,
    watch_raw: &Raw,
    kind: Watchers,
    watchers: usize,
    writes: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let rv = api.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    for _ in 0..watchers {
        let (sent, latencies, ready) = (sent.clone(), latencies.clone(), ready_tx.clone());
        let mut stream = watch_tokens(kind, api, watch_raw, &rv).await?;
        tasks.push(tokio::spawn(async move {
            ready.send(()).await.ok();
            let mut seen = 0;
            while seen < writes {
                let Some(token) = stream.try_next().await? else { break };
                let now = Instant::now();
                if let Some(start) = token.and_then(|token| sent.lock().expect("lock").get(&token).copied()) {
                    latencies.lock().expect("lock").push(now - start);
                    seen += 1;
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
        let token = format!("{watchers}-{seq}-{}", kind == Watchers::Http2);
        sent.lock().expect("lock").insert(token.clone(), Instant::now());
        let patch = json!({"metadata": {"annotations": {"bench/seq": token}}}).to_string();
        let path = format!("{CONFIG_MAPS}/watched");
        raw.send(Method::PATCH, &path, MERGE_PATCH, patch.into(), StatusCode::OK).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task).await???;
    }
    let mut all = latencies.lock().expect("lock").clone();
    all.sort();
    Ok((percentile(&all, 0.5), percentile(&all, 0.99)))
}

/// Runs the watch phases (1, 10 and 100 kube-rs watchers, 100 streams on one HTTP/2
/// connection) and returns one table row each.
async fn watch_phases(
    api: &Api<ConfigMap>,
    raw: &Raw,
    addr: &str,
    data: &Path,
    pid: u32,
) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    let watch_raw = Raw::connect(addr.parse()?, data).await?;
    for (kind, watchers) in
        [(Watchers::KubeRs, 1), (Watchers::KubeRs, 10), (Watchers::KubeRs, 100), (Watchers::Http2, 100)]
    {
        let writes = WATCHED_WRITES;
        let phase = watch_latency(api, raw, &watch_raw, kind, watchers, writes);
        let (latency, cpu) = CpuPerOp::measure(pid, watchers * writes, phase).await;
        let (p50, p99) = latency?;
        let how = match kind {
            Watchers::KubeRs => "kube-rs",
            Watchers::Http2 => "one HTTP/2 connection",
        };
        rows.push(format!(
            "| watch delivery, {watchers} watcher(s) ({how}), p50 / p99 (CPU per event delivered, the PATCHes included) | {} / {} | {} |",
            ms(p50),
            ms(p99),
            cpu.cells()
        ));
    }
    Ok(rows)
}

/// The header of the table every run prints.
fn print_header() {
    println!("| measurement | value | server CPU per op | bench (client) CPU per op |");
    println!("| --- | --- | --- | --- |");
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
    let addr =
        first.strip_prefix("listening ").ok_or_else(|| anyhow::anyhow!("server did not start: {first}"))?;
    let api: Api<ConfigMap> = Api::namespaced(client(&data.join("kubeconfig")).await?, "default");
    let raw = Raw::connect(addr.parse()?, &data).await?;
    let idle_rss = rss_kib(pid);

    let watch_only = std::env::var("BENCH_ONLY").is_ok_and(|only| only == "watch");
    if watch_only {
        print_header();
        for row in watch_phases(&api, &raw, addr, &data, pid).await? {
            println!("{row}");
        }
        return Ok(());
    }

    let creates = 2_000;
    let (creates_per_s, create_cpu) = CpuPerOp::measure(pid, creates, create_all(&raw, "c-", creates)).await;
    let creates_per_s = creates_per_s?;
    let patches: Arc<Vec<Bytes>> = Arc::new(
        (0..creates).map(|i| json!({"data": {"k": format!("updated-{i}")}}).to_string().into()).collect(),
    );
    let update_raw = raw.clone();
    let (updates_per_s, update_cpu) = CpuPerOp::measure(
        pid,
        creates,
        throughput(creates, move |i| {
            let (raw, patch) = (update_raw.clone(), patches[i].clone());
            async move {
                let path = format!("{CONFIG_MAPS}/c-{i}");
                raw.send(Method::PATCH, &path, MERGE_PATCH, patch, StatusCode::OK).await?;
                Ok(())
            }
        }),
    )
    .await;
    let updates_per_s = updates_per_s?;

    let watch_rows = watch_phases(&api, &raw, addr, &data, pid).await?;

    create_all(&raw, "l-", objects.saturating_sub(creates)).await?;
    let mut raw_list_times = Vec::new();
    let (raw_listing, raw_list_cpu) = CpuPerOp::measure(pid, 5, async {
        for _ in 0..5 {
            let start = Instant::now();
            raw.send(Method::GET, CONFIG_MAPS, JSON, Bytes::new(), StatusCode::OK).await?;
            raw_list_times.push(start.elapsed());
        }
        anyhow::Ok(())
    })
    .await;
    raw_listing?;
    raw_list_times.sort();
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

    print_header();
    println!(
        "| creates/s ({creates} ConfigMaps, {CONCURRENCY} in flight, raw) | {creates_per_s:.0} | {} |",
        create_cpu.cells()
    );
    println!(
        "| updates/s (merge patch, {CONCURRENCY} in flight, raw) | {updates_per_s:.0} | {} |",
        update_cpu.cells()
    );
    for row in watch_rows {
        println!("{row}");
    }
    println!(
        "| list of {listed} objects, whole body (raw), p50 of 5 | {} | {} |",
        ms(raw_list_times[2]),
        raw_list_cpu.cells()
    );
    println!(
        "| list of {listed} objects, decoded by kube-rs, p50 of 5 | {} | {} |",
        ms(list_times[2]),
        list_cpu.cells()
    );
    println!("| list first page (limit 500) at {listed} objects, p50 of 5 | {} | | |", ms(paged[2]));
    println!("| server RSS idle / after the run | {} MiB / {} MiB | | |", idle_rss / 1024, loaded_rss / 1024);
    Ok(())
}
