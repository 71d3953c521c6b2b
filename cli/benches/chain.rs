//! The Supervisor chain under load: N TanzuKubernetesClusters (1 control
//! plane + 2 workers, default 20, `CLUSTERS=N` to change) applied at once
//! across namespaces; once all are `running`, a LoadBalancer Service in
//! each guest; then all deleted. For each of two runs, simulators at their
//! default timings and with 50 ms added to every NSX and vCenter request,
//! it prints: time from the apply until all are running and until every
//! guest Service has its EXTERNAL-IP, time from the delete until nothing is
//! left in the API server and either simulator, the peak RSS of the host
//! (`wasmvisor run --config DIR/host.toml`, as it runs in a Supervisor) and
//! of the rest (`up --no-host`: API server, simulators, guest API servers),
//! and reconciles and host calls per plugin per cluster, and what failed over
//! the run (host calls by plugin, capability and error kind, reconciles by plugin
//! and result). After each run it
//! replays each chain plugin on its own recordings of the run
//! (`wasmvisor replay`) and prints how many were the same and the replay's
//! reconciles per second (compiling the component not counted).
//!
//! `cargo bench -p wasmvisor --bench chain`. It shares the chain test's
//! helpers (`tests/chain/`), so what it checks is what the test checks.

#[path = "../tests/chain/checks.rs"]
#[allow(dead_code)]
mod checks;
#[path = "../tests/chain/guests.rs"]
#[allow(dead_code)]
mod guests;
#[path = "../tests/chain/supervisor.rs"]
#[allow(dead_code)]
mod supervisor;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/chain/world.rs"]
#[allow(dead_code)]
mod world;

use std::time::{Duration, Instant};

use checks::{api_leftovers, leftovers};
use supervisor::{Supervisor, ready, tkc_yaml};
use support::{Process, STARTUP, command, eventually, kubectl, path, text};

/// How long one stage of a load may take before the bench gives up.
const STAGE: Duration = Duration::from_secs(900);

/// One run's figures.
struct Figures {
    label: &'static str,
    running: Duration,
    services: Duration,
    gone: Duration,
    /// Peak RSS of the host (`run`) and of the rest (`up --no-host`).
    peak_rss_mib: (u64, u64),
    reconciles: Vec<(String, u64)>,
    host_calls: Vec<(String, u64)>,
    /// Over the whole run, failed host calls by plugin, capability and kind and
    /// failed reconciles by plugin and result.
    failures: Vec<(String, u64)>,
    /// NSX and vCenter requests the host tried again, by endpoint and reason.
    retries: Vec<(String, u64)>,
    /// Each chain plugin replayed on its recordings of the run.
    replays: Vec<Replayed>,
}

/// `VmHWM` (the peak resident set) of process `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// The namespace and name of cluster `i`.
fn cluster(i: usize) -> (String, String) {
    (format!("load-{i}"), format!("tkc-{i}"))
}

/// Whether the guest Service `web` behind `kubeconfig` has its EXTERNAL-IP.
fn has_ip(kubeconfig: &std::path::Path) -> bool {
    let out = kubectl(
        kubeconfig,
        &["get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"],
        "",
    );
    !text(&out.stdout).is_empty()
}

fn run(label: &'static str, slot: u8, extra: &[&str], clusters: usize) -> Figures {
    let flags: Vec<&str> = ["--no-host"].iter().chain(extra).copied().collect();
    let supervisor = Supervisor::start_with(slot, &flags);
    let host_toml = supervisor.kubeconfig.with_file_name("host.toml");
    let mut host = Process::spawn("wasmvisor run", command(&["run", "--config", path(&host_toml)]));
    host.wait_for_line_within("wasmvisor host running", STARTUP);
    let all: Vec<(String, String)> = (0..clusters).map(cluster).collect();
    let yaml: Vec<String> = all.iter().map(|(ns, name)| tkc_yaml(ns, name, 2)).collect();

    let applied = Instant::now();
    supervisor.apply(&yaml.join("\n---\n"));
    eventually(&format!("{clusters} TKCs running"), STAGE, |last| {
        let list = supervisor.get(&["tkc", "-A"])?;
        let up = list["items"]
            .as_array()?
            .iter()
            .filter(|t| t["status"]["phase"] == "running" && ready(t))
            .count();
        *last = format!("{up} of {clusters} running");
        (up == clusters).then_some(())
    });
    let running = applied.elapsed();

    let guests: Vec<_> = all
        .iter()
        .map(|(ns, name)| {
            let tkc = supervisor.tkc(ns, name).expect("a running TKC");
            let vip = tkc["status"]["apiEndpoints"][0]["host"].as_str().unwrap_or_default().to_owned();
            guests::guest_kubeconfig(&supervisor, ns, name, &vip)
        })
        .collect();
    for guest in &guests {
        let out = kubectl(guest, &["apply", "-f", "-"], guests::GUEST_SERVICE);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    eventually("every guest Service's EXTERNAL-IP", STAGE, |last| {
        let waiting = guests.iter().filter(|g| !has_ip(g)).count();
        *last = format!("{waiting} of {clusters} without an IP");
        (waiting == 0).then_some(())
    });
    let services = applied.elapsed();
    let reconciles = supervisor.reconciles();
    let host_calls = supervisor.host_calls();

    let deleted = Instant::now();
    supervisor.kubectl(&["delete", "tkc", "-A", "--all", "--wait=false"]);
    eventually("nothing of any cluster to remain", STAGE, |last| {
        let left: usize = all
            .iter()
            .map(|(ns, name)| {
                leftovers(&supervisor.world, ns, name).len() + api_leftovers(&supervisor, ns).len()
            })
            .sum();
        *last = format!("{left} objects left");
        (left == 0).then_some(())
    });
    let gone = deleted.elapsed();
    Figures {
        label,
        running,
        services,
        gone,
        peak_rss_mib: (peak_rss_mib(host.id()), peak_rss_mib(supervisor.process.id())),
        reconciles,
        host_calls,
        failures: supervisor.failures(),
        retries: supervisor.endpoint_retries(),
        replays: replays(&supervisor),
    }
}

/// `wasmvisor replay` of each chain plugin, as it ran, on its recordings
/// of the run: the summary line (counts, time, reconciles/s), and the first
/// reconcile that was not the same with its differences (where to look).
fn replays(supervisor: &Supervisor) -> Vec<Replayed> {
    let dir = supervisor.dir.path();
    wasmvisor_plugins::CHAIN
        .iter()
        .map(|plugin| {
            let file = dir.join("plugins").join(plugin.file);
            let out = command(&["replay", path(&file), "--data-dir", path(dir)]).output().unwrap();
            let report = text(&out.stdout);
            let mut lines =
                report.lines().skip_while(|l| !l.ends_with(" different") && !l.ends_with(" diverged"));
            let first_difference = lines
                .next()
                .map(|verdict| {
                    let details = lines.take_while(|l| l.starts_with("         ")).take(8);
                    std::iter::once(verdict).chain(details).collect::<Vec<_>>().join("\n")
                })
                .unwrap_or_default();
            Replayed {
                plugin: plugin.file.trim_end_matches(".wasm").to_owned(),
                summary: report.lines().last().unwrap_or_default().to_owned(),
                first_difference,
            }
        })
        .collect()
}

/// One chain plugin replayed on its recordings of a run.
struct Replayed {
    plugin: String,
    /// `replay`'s last line.
    summary: String,
    /// The first reconcile not the same, with its differences; empty if none.
    first_difference: String,
}

/// `plugin count/clusters, …` for the plugins with a count.
fn per_cluster(counts: &[(String, u64)], clusters: usize) -> String {
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(plugin, n)| format!("{plugin} {:.0}", *n as f64 / clusters as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let clusters: usize = std::env::var("CLUSTERS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let latency = r#"{"latency_ms": 50}"#;
    let runs = [
        run("default timings", 5, &[], clusters),
        run("+50 ms per request", 6, &["--sim-faults", latency], clusters),
    ];
    println!("\nchain under load: {clusters} TKCs (1 control plane + 2 workers) applied at once\n");
    println!(
        "| simulators | all running | all guest Services with an IP | all deleted → nothing left | peak RSS of the host | of the rest |"
    );
    println!("|---|---|---|---|---|---|");
    for f in &runs {
        println!(
            "| {} | {:.1} s | {:.1} s | {:.1} s | {} MiB | {} MiB |",
            f.label,
            f.running.as_secs_f64(),
            f.services.as_secs_f64(),
            f.gone.as_secs_f64(),
            f.peak_rss_mib.0,
            f.peak_rss_mib.1
        );
    }
    for f in &runs {
        println!("\n{}: reconciles per cluster: {}", f.label, per_cluster(&f.reconciles, clusters));
        println!("{}: host calls per cluster: {}", f.label, per_cluster(&f.host_calls, clusters));
        let failures: Vec<String> = f.failures.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
        println!("{}: errors (whole run): {}", f.label, failures.join(", "));
        let retries: Vec<String> = f.retries.iter().map(|(why, n)| format!("{why} {n}")).collect();
        println!("{}: endpoint retries (whole run): {}", f.label, retries.join(", "));
        for r in &f.replays {
            let counts = r.summary.split(&format!("of {}: ", r.plugin)).last().unwrap_or(&r.summary);
            println!("{}: replay {}: {counts}", f.label, r.plugin);
            if !r.first_difference.is_empty() {
                println!("{}", r.first_difference);
            }
        }
    }
}
