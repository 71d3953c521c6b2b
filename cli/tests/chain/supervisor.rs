//! One `wasmvisor up` for the chain tests: the process, its data directory
//! and kubeconfig, the simulators behind it, and the TKC verbs the tests
//! use (apply, wait for a phase, scale, delete), all through kubectl.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Process, STARTUP, apply, command, eventually, kubectl, path, text, up_with};
use crate::world::World;

/// Bound on a TKC coming up (or going) on a busy 2-core machine; the aim
/// with the default timings is well under it (README quotes the measure).
pub(crate) const CONVERGE: Duration = Duration::from_secs(120);

/// `wasmvisor up` and what it runs.
pub(crate) struct Supervisor {
    pub(crate) process: Process,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) world: World,
    pub(crate) dir: tempfile::TempDir,
    /// This run's ingress range (VIPs), its own so that parallel runs never
    /// bind each other's VIPs.
    pub(crate) ingress: String,
    flags: Vec<String>,
    /// `wasmvisor apiserver` in its own process, when `up` uses it.
    apiserver: Option<ExternalApi>,
}

/// `wasmvisor apiserver` as a process of its own, on a fixed address so a
/// restart comes back where the host looks for it.
pub(crate) struct ExternalApi {
    process: Process,
    dir: tempfile::TempDir,
    listen: String,
}

impl ExternalApi {
    fn start(dir: tempfile::TempDir, listen: String) -> Self {
        let args = ["apiserver", "--data-dir", path(dir.path()), "--listen", &listen];
        let mut process = Process::spawn("wasmvisor apiserver", command(&args));
        process.wait_for_line_within("API server listening on ", STARTUP);
        Self { process, dir, listen }
    }
}

impl Supervisor {
    /// Starts `wasmvisor up` on a new data directory, with network ranges of
    /// its own: `127.{160,170,180}+slot.0.0`.
    pub(crate) fn start(slot: u8) -> Self {
        Self::start_with(slot, &[])
    }

    /// As [`Supervisor::start`], with more flags for `up` (kept for restarts).
    pub(crate) fn start_with(slot: u8, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ingress = format!("127.{}.0.0/24", 170 + slot);
        let mut flags = vec![
            "--namespace-network".to_owned(),
            format!("127.{}.0.0/16", 160 + slot),
            "--ingress-cidr".to_owned(),
            ingress.clone(),
            "--egress-cidr".to_owned(),
            format!("127.{}.0.0/24", 180 + slot),
            // The host as it should run in a Supervisor: under the generated ServiceAccount.
            "--least-privilege".to_owned(),
        ];
        flags.extend(extra.iter().map(|f| (*f).to_owned()));
        let (process, kubeconfig) =
            up_with(dir.path(), &flags.iter().map(String::as_str).collect::<Vec<_>>());
        let world = World::connect(dir.path());
        Self { process, kubeconfig, world, dir, ingress, flags, apiserver: None }
    }

    /// As [`Supervisor::start`], with the API server in a process of its
    /// own (`up --apiserver-kubeconfig`), so it can die while the host lives.
    pub(crate) fn start_with_separate_apiserver(slot: u8) -> Self {
        // A free port now, kept across restarts.
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let api = ExternalApi::start(tempfile::tempdir().unwrap(), listen);
        let kubeconfig = api.dir.path().join("kubeconfig");
        let mut supervisor = Self::start_with(slot, &["--apiserver-kubeconfig", path(&kubeconfig)]);
        supervisor.apiserver = Some(api);
        supervisor
    }

    /// Kills the separate API server with SIGKILL and starts it again on
    /// the same store and address; the host keeps running.
    pub(crate) fn kill_and_restart_apiserver(&mut self) {
        let api = self.apiserver.take().expect("started with a separate API server");
        let ExternalApi { mut process, dir, listen } = api;
        process.kill();
        self.apiserver = Some(ExternalApi::start(dir, listen));
    }

    /// Kills `up` with SIGKILL and starts it again on the same directory.
    pub(crate) fn kill_and_restart(&mut self) {
        self.process.kill();
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let (process, kubeconfig) = up_with(self.dir.path(), &flags);
        self.process = process;
        self.kubeconfig = kubeconfig;
        self.world = World::connect(self.dir.path());
    }

    /// `kubectl apply -f -` of `yaml`.
    pub(crate) fn apply(&self, yaml: &str) {
        apply(&self.kubeconfig, yaml);
    }

    /// `kubectl ARGS`, which must succeed; its stdout.
    pub(crate) fn kubectl(&self, args: &[&str]) -> String {
        let out = kubectl(&self.kubeconfig, args, "");
        assert!(
            out.status.success(),
            "kubectl {}: {}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `kubectl get ARGS -o json`, parsed; `None` when it does not exist.
    pub(crate) fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = kubectl(&self.kubeconfig, &all, "");
        out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// The names `kubectl get KINDS -n NAMESPACE -o name` prints.
    pub(crate) fn names(&self, kinds: &str, namespace: &str) -> Vec<String> {
        self.kubectl(&["get", kinds, "-n", namespace, "-o", "name"]).lines().map(str::to_owned).collect()
    }

    /// The TKC `namespace/name`.
    pub(crate) fn tkc(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(&["tkc", name, "-n", namespace])
    }

    /// Waits until the TKC's phase is `phase` and `Ready` says `ready`.
    pub(crate) fn wait_phase(&self, namespace: &str, name: &str, phase: &str) -> Value {
        eventually(&format!("TKC {namespace}/{name} to be {phase}"), CONVERGE, |last| {
            let tkc = self.tkc(namespace, name)?;
            *last = serde_json::to_string_pretty(&tkc["status"]).unwrap();
            (tkc["status"]["phase"] == phase && ready(&tkc) == (phase == "running")).then_some(tkc)
        })
    }

    /// Waits until the TKC runs, noting on the way what its `Ready`
    /// condition said it waited for; each observation before it runs must
    /// say `False` with a reason and a message (never a blank or no
    /// condition once the TKC has a status). Returns the distinct reasons.
    pub(crate) fn wait_running_saying_why(&self, namespace: &str, name: &str) -> Vec<String> {
        let mut reasons: Vec<String> = Vec::new();
        eventually(&format!("TKC {namespace}/{name} to run, saying why not meanwhile"), CONVERGE, |last| {
            let tkc = self.tkc(namespace, name)?;
            *last = serde_json::to_string_pretty(&tkc["status"]).unwrap();
            if tkc["status"]["phase"] == "running" && ready(&tkc) {
                return Some(());
            }
            if let Some(ready) = condition(&tkc, "Ready") {
                let (reason, message) = (ready["reason"].as_str(), ready["message"].as_str());
                assert_eq!(ready["status"], "False", "not running yet Ready is {ready}");
                assert!(
                    reason.is_some_and(|r| !r.is_empty()) && message.is_some_and(|m| !m.is_empty()),
                    "Ready=False without saying why: {ready}"
                );
                let reason = reason.unwrap_or_default().to_owned();
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            None
        });
        reasons
    }

    /// Sets the replicas of the TKC's first node pool.
    pub(crate) fn scale(&self, namespace: &str, name: &str, replicas: u32) {
        let patch = format!(
            r#"[{{"op":"replace","path":"/spec/topology/nodePools/0/replicas","value":{replicas}}}]"#
        );
        self.kubectl(&["patch", "tkc", name, "-n", namespace, "--type=json", "-p", &patch]);
    }

    /// The host's `/metrics` text.
    fn metrics(&self) -> String {
        let admin: Value =
            serde_json::from_str(&std::fs::read_to_string(self.dir.path().join("admin.json")).unwrap())
                .unwrap();
        http_get(admin["url"].as_str().expect("admin.json names the URL"), "/metrics")
    }

    /// Reconciles per plugin so far, from the host's `/metrics`.
    pub(crate) fn reconciles(&self) -> Vec<(String, u64)> {
        counters(&self.metrics(), "wasmvisor_reconcile_time_seconds_count{", &["plugin"])
    }

    /// Host calls per plugin so far, every capability and outcome.
    pub(crate) fn host_calls(&self) -> Vec<(String, u64)> {
        counters(&self.metrics(), "wasmvisor_host_calls_total{", &["plugin"])
    }

    /// What failed so far: host calls by plugin, capability and outcome
    /// (`denied`, or the WIT kind of the error the plugin got), and failed
    /// reconciles by plugin and result (`error`, `trap`).
    pub(crate) fn failures(&self) -> Vec<(String, u64)> {
        let metrics = self.metrics();
        let calls = counters(&metrics, "wasmvisor_host_calls_total{", &["plugin", "capability", "outcome"]);
        let reconciles = counters(&metrics, "wasmvisor_reconcile_total{", &["plugin", "result"]);
        let failed_calls = calls.into_iter().filter(|(key, _)| !key.ends_with("/ok"));
        let failed_reconciles =
            reconciles.into_iter().filter(|(key, _)| key.ends_with("/error") || key.ends_with("/trap"));
        failed_calls.chain(failed_reconciles).filter(|(_, count)| *count > 0).collect()
    }

    /// NSX and vCenter requests the host tried again so far, by endpoint and
    /// reason (a status, or `connect`, `connection`, `timeout`); plugins see
    /// none of these unless the retries ran out.
    pub(crate) fn endpoint_retries(&self) -> Vec<(String, u64)> {
        counters(&self.metrics(), "wasmvisor_endpoint_retries_total{", &["endpoint", "reason"])
    }
}

/// Whether the TKC's `Ready` condition is `True`.
pub(crate) fn ready(tkc: &Value) -> bool {
    condition(tkc, "Ready").is_some_and(|c| c["status"] == "True")
}

/// The TKC's condition of `type_`.
pub(crate) fn condition<'a>(tkc: &'a Value, type_: &str) -> Option<&'a Value> {
    tkc["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// A TKC like `examples/tkc.yaml`, in `namespace`, named `name`, with `workers`.
pub(crate) fn tkc_yaml(namespace: &str, name: &str, workers: u32) -> String {
    include_str!("../../../examples/tkc.yaml")
        .replace("tkgs-ns", namespace)
        .replace("tkgs-cluster-1", name)
        .replace("replicas: 2", &format!("replicas: {workers}"))
}

/// The samples of the series starting with `prefix`, summed by the values
/// of `labels` (joined with `/`), sorted.
fn counters(metrics: &str, prefix: &str, labels: &[&str]) -> Vec<(String, u64)> {
    let mut sums = std::collections::BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with(prefix)) {
        let value = |label: &str| line.split(&format!("{label}=\"")).nth(1)?.split('"').next();
        let Some(key) = labels.iter().map(|l| value(l)).collect::<Option<Vec<_>>>() else { continue };
        let count = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        *sums.entry(key.join("/")).or_insert(0) += count as u64;
    }
    sums.into_iter().collect()
}

/// `GET path` on a plain-HTTP loopback `url`; the body.
fn http_get(url: &str, path: &str) -> String {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}
