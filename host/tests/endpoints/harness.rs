//! Simulators on 127.0.0.1:0 with a temp data dir, host clients built from
//! an `EndpointConfig`, and a runtime with the `probe` plugin and its `rival`.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use wasmvisor_host::capability::endpoint::{EndpointConfig, connect_nsx, connect_vcenter};
use wasmvisor_host::capability::endpoint::{HttpEndpoint, HttpRequest, HttpResponse};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Method;
use wasmvisor_host::manifest::section;
use wasmvisor_host::metrics::CapabilityLabels;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{
    Backends, CallError, Export, Grants, ObjectRef, Report, Request, Runtime, RuntimeConfig,
};
use wasmvisor_plugins::testing::PROBE;
use wasmvisor_sim::{Clock, NsxSim, Running, SimConfig, VcenterSim, VcenterTiming};

/// The probe's grant: exactly what its manifest asks for. The rival plugin
/// (the probe under another name) gets the same.
pub(crate) const PROBE_GRANT: &str = r#"
[[plugins.probe.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["apply"]
namespaces = ["probe"]

[[plugins.probe.capabilities.nsx]]
methods = ["GET"]
path = "/policy/api/v1/**"
[[plugins.probe.capabilities.nsx]]
methods = ["PATCH", "PUT", "DELETE"]
path = "/policy/api/v1/infra/segments/*"
[[plugins.probe.capabilities.nsx]]
methods = ["PATCH", "DELETE"]
path = "/policy/api/v1/infra/tier-1s/*"
[[plugins.probe.capabilities.nsx]]
methods = ["PATCH", "DELETE"]
path = "/policy/api/v1/infra/lb-pools/*"
foreign = true

[[plugins.probe.capabilities.vcenter]]
methods = ["GET"]
path = "/api/**"
[[plugins.probe.capabilities.vcenter]]
methods = ["POST"]
path = "/api/vcenter/vm"
[[plugins.probe.capabilities.vcenter]]
methods = ["POST", "DELETE"]
path = "/api/vcenter/vm/**"
[[plugins.probe.capabilities.vcenter]]
methods = ["POST"]
path = "/api/vcenter/vm/*/power"
[[plugins.probe.capabilities.vcenter]]
methods = ["POST", "DELETE"]
path = "/api/session"
[[plugins.probe.capabilities.vcenter]]
methods = ["POST"]
path = "/api/cis/tagging/**"

[plugins.probe.limits]
memory = "32MiB"
timeout = "20s"
host-calls = 300

"#;

/// Every log line of this test process (host, plugins, simulators).
pub(crate) fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("wasmvisor=trace,wasmvisor_host=trace,wasmvisor_sim=debug,info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buffer
    })
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Both simulators on one temp data dir (one world), and the configs a host
/// would have for them.
pub(crate) struct Sims {
    pub(crate) nsx: Running,
    pub(crate) vcenter: Running,
    pub(crate) nsx_config: EndpointConfig,
    pub(crate) vcenter_config: EndpointConfig,
    pub(crate) vcenter_clock: Clock,
    pub(crate) dir: tempfile::TempDir,
}

impl Sims {
    pub(crate) async fn start() -> Self {
        log_buffer();
        let dir = tempfile::tempdir().unwrap();
        let listen = "127.0.0.1:0".parse().unwrap();
        let nsx = NsxSim::start(SimConfig::new(dir.path(), listen)).await.unwrap();
        let vcenter_clock = Clock::manual(1_700_000_000_000);
        let vc_config = SimConfig { clock: vcenter_clock.clone(), ..SimConfig::new(dir.path(), listen) };
        let vcenter = VcenterSim::start(vc_config, VcenterTiming::default()).await.unwrap();
        let ca_file = dir.path().join("ca/ca.crt");
        let config = |sim: &Running| EndpointConfig {
            ca_file: Some(ca_file.clone()),
            timeout: Duration::from_secs(5),
            ..EndpointConfig::new(sim.base_url.clone(), sim.credentials_file.clone())
        };
        let (nsx_config, vcenter_config) = (config(&nsx), config(&vcenter));
        Self { nsx, vcenter, nsx_config, vcenter_config, vcenter_clock, dir }
    }

    /// Sets the next faults of `sim` (the `*_next` counters are deterministic).
    pub(crate) fn faults(sim: &Running, settings: Value) {
        sim.faults.set(serde_json::from_value(settings).unwrap()).unwrap();
    }
}

/// A runtime over an in-memory kube, with the real clients for both sims.
pub(crate) struct Host {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) kube: Arc<MemoryKube>,
    pub(crate) nsx: Arc<dyn HttpEndpoint>,
    pub(crate) vcenter: Arc<dyn HttpEndpoint>,
}

impl Host {
    pub(crate) async fn new(sims: &Sims) -> Self {
        let nsx = connect_nsx(&sims.nsx_config, None, &Default::default()).await.unwrap();
        let vcenter = connect_vcenter(&sims.vcenter_config, None, &Default::default()).await.unwrap();
        Self::with(nsx, vcenter)
    }

    pub(crate) fn with(nsx: Arc<dyn HttpEndpoint>, vcenter: Arc<dyn HttpEndpoint>) -> Self {
        let grants = format!("{PROBE_GRANT}\n{}", PROBE_GRANT.replace("plugins.probe", "plugins.rival"));
        let grants =
            Grants::parse(&grants.replace("namespaces = [\"probe\"]", "namespaces = [\"probe\", \"rival\"]"))
                .unwrap();
        Self::build(nsx, vcenter, grants, &[(PROBE.bytes.to_vec(), PROBE.file), (rival(), "rival.wasm")])
    }

    /// A runtime under `grants` with `components` (bytes, file name) installed.
    pub(crate) fn build(
        nsx: Arc<dyn HttpEndpoint>,
        vcenter: Arc<dyn HttpEndpoint>,
        grants: Grants,
        components: &[(Vec<u8>, &str)],
    ) -> Self {
        let cache = tempfile::tempdir().unwrap();
        let kube = Arc::new(MemoryKube::new());
        let cache_dir =
            cap_std::fs::Dir::open_ambient_dir(cache.path(), cap_std::ambient_authority()).unwrap();
        let config = RuntimeConfig {
            engine: EngineSettings::default(),
            output: OutputLimits::default(),
            cache_dir,
            grants,
        };
        let backends =
            Backends { kube: kube.clone(), nsx: Some(nsx.clone()), vcenter: Some(vcenter.clone()) };
        let runtime = Arc::new(Runtime::new(config, backends).unwrap());
        for (bytes, file) in components {
            let loaded = runtime.load(bytes).unwrap();
            runtime.install(loaded, file).unwrap();
        }
        Self { runtime, kube, nsx, vcenter }
    }

    /// Has the rival plugin send `calls`; returns what it saw.
    pub(crate) async fn rival(&self, name: &str, calls: Value) -> Vec<Value> {
        self.reconcile("rival", name, json!({"calls": calls.to_string()})).await.unwrap();
        let out = self.config_map("rival", &format!("{name}-out")).expect("the rival wrote its report");
        serde_json::from_str(out["data"]["outcomes"].as_str().unwrap()).unwrap()
    }

    /// Has the probe plugin send `calls` and returns what it saw, one
    /// outcome per call: `{"status", "body"}` or `{"error", "message"}`.
    pub(crate) async fn probe(&self, name: &str, calls: Value) -> Vec<Value> {
        let report = self.probe_with(name, json!({"calls": calls.to_string()})).await.unwrap();
        assert_eq!(report.plugin, "probe@1.0.0");
        let out = self.config_map("probe", &format!("{name}-out")).expect("the probe wrote its report");
        serde_json::from_str(out["data"]["outcomes"].as_str().unwrap()).unwrap()
    }

    /// Reconciles a ConfigMap `name` in namespace `probe` with `data`.
    pub(crate) async fn probe_with(&self, name: &str, data: Value) -> Result<Report, CallError> {
        self.reconcile("probe", name, data).await
    }

    pub(crate) async fn reconcile(&self, plugin: &str, name: &str, data: Value) -> Result<Report, CallError> {
        self.reconcile_in("default", plugin, name, data).await
    }

    /// Reconciles a ConfigMap `name` in namespace `plugin` of `cluster` with `data`.
    pub(crate) async fn reconcile_in(
        &self,
        cluster: &str,
        plugin: &str,
        name: &str,
        data: Value,
    ) -> Result<Report, CallError> {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": plugin},
            "data": data,
        });
        let stored = self.kube.insert(cluster, object).unwrap();
        let request =
            Request { target: ObjectRef::of(cluster, &stored).unwrap(), object: stored.to_string() };
        self.runtime.call(plugin, Export::Reconcile, &request).await
    }

    pub(crate) fn config_map(&self, namespace: &str, name: &str) -> Option<Value> {
        self.config_map_in("default", namespace, name)
    }

    /// ConfigMap `namespace/name` of `cluster`, as the in-memory kube holds it.
    pub(crate) fn config_map_in(&self, cluster: &str, namespace: &str, name: &str) -> Option<Value> {
        self.kube.object(&ObjectRef {
            cluster: cluster.into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        })
    }

    pub(crate) fn denied(&self, plugin: &str, capability: &'static str) -> u64 {
        let labels = CapabilityLabels { plugin: plugin.into(), capability };
        self.runtime.metrics().denied.get_or_create(&labels).get()
    }
}

/// A second real plugin: the probe component with its manifest renamed to
/// `rival` (reports in namespace `rival`), so objects can belong to another
/// plugin.
fn rival() -> Vec<u8> {
    let manifest = section::extract(PROBE.bytes).unwrap();
    let renamed = manifest
        .replace("name = \"probe\"", "name = \"rival\"")
        .replace("namespaces = [\"probe\"]", "namespaces = [\"rival\"]");
    assert_ne!(renamed, manifest);
    section::embed(PROBE.bytes, &renamed).unwrap()
}

/// One call for the probe plugin.
pub(crate) fn call(endpoint: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    match body {
        Some(b) => json!({"endpoint": endpoint, "method": method, "path": path, "body": b.to_string()}),
        None => json!({"endpoint": endpoint, "method": method, "path": path}),
    }
}

/// A request straight through a host client (no plugin, no checks).
pub(crate) async fn direct(
    endpoint: &dyn HttpEndpoint,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<HttpResponse, wasmvisor_host::capability::endpoint::EndpointError> {
    endpoint.send(HttpRequest { method, path: path.into(), body: body.map(|b| b.to_string()) }).await
}

/// Asserts the probe's outcome is the typed error `kind` with `message`.
pub(crate) fn assert_error(outcome: &Value, kind: &str, message: &str) {
    assert_eq!(outcome["error"], kind, "{outcome}");
    assert_eq!(outcome["message"].as_str().unwrap(), format!("{}: {message}", human(kind)), "{outcome}");
}

fn human(kind: &str) -> &str {
    match kind {
        "not-found" => "not found",
        other => other,
    }
}
