//! What every attack shares: a runtime over an in-memory cluster and
//! recording NSX and vCenter endpoints, with the attacker loaded, the
//! well-behaved `bench` plugin whose reconciles prove the host still serves,
//! and the admin endpoint over the runtime, which must answer throughout.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use wasmvisor_host::admin::{self, AdminConfig, AdminHandle, AdminState};
use wasmvisor_host::capability::endpoint::{EndpointError, HttpEndpoint, HttpRequest, HttpResponse};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::section;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::plugin::LoadError;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{
    Backends, CallError, Export, Grant, Grants, ObjectRef, Report, Request, Runtime, RuntimeConfig,
};
use wasmvisor_plugins::testing::{BENCH, PROBE};

/// The name every hostile manifest claims.
pub(crate) const HOSTILE: &str = "hostile";

/// Rules allowing every method on every NSX and vCenter path, other
/// plugins' objects included: what is refused under them no rule opens.
pub(crate) const EVERYTHING: &str = r#"
[[capabilities.nsx]]
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
path = "/**"
foreign = true

[[capabilities.vcenter]]
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
path = "/**"
foreign = true
"#;

/// An endpoint that records every request it is sent: reads find nothing
/// (so every object is new to the identity checks), writes succeed.
#[derive(Default)]
pub(crate) struct Recorder {
    sent: Mutex<Vec<String>>,
}

impl Recorder {
    /// `METHOD path` of every request that reached the endpoint.
    pub(crate) fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl HttpEndpoint for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError> {
        self.sent.lock().unwrap().push(format!("{} {}", request.method, request.path));
        match request.method {
            wasmvisor_host::manifest::Method::Get => Err(EndpointError::NotFound(request.path)),
            _ => Ok(HttpResponse { status: 200, body: "{}".into() }),
        }
    }
}

pub(crate) struct Host {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) kube: Arc<MemoryKube>,
    pub(crate) nsx: Arc<Recorder>,
    pub(crate) vcenter: Arc<Recorder>,
    /// Served on first use, from inside the test's async runtime.
    admin: tokio::sync::OnceCell<(AdminHandle, tempfile::TempDir)>,
}

/// One compile cache for the whole binary: each component compiles once.
fn compile_cache() -> &'static std::path::Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

impl Host {
    /// A host that trusts manifests (every call is still checked against
    /// them), with the bench plugin and `plugins` installed.
    pub(crate) fn new(plugins: &[(&[u8], &str)]) -> Self {
        Self::with(OutputLimits::default(), plugins)
    }

    /// [`Host::new`] under the operator's output limits `output`.
    pub(crate) fn with(output: OutputLimits, plugins: &[(&[u8], &str)]) -> Self {
        Self::build(Grants { trust_manifests: true, ..Grants::default() }, output, plugins)
    }

    /// A host with `grants` (the bench plugin is always granted).
    pub(crate) fn build(mut grants: Grants, output: OutputLimits, plugins: &[(&[u8], &str)]) -> Self {
        let bench = wasmvisor_host::manifest::Manifest::from_component(BENCH.bytes).unwrap();
        grants.plugins.insert(bench.name.clone(), Grant::declared(&bench));
        let cache_dir =
            cap_std::fs::Dir::open_ambient_dir(compile_cache(), cap_std::ambient_authority()).unwrap();
        let config = RuntimeConfig { engine: EngineSettings::default(), output, cache_dir, grants };
        let kube = Arc::new(MemoryKube::new());
        let (nsx, vcenter) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let backends =
            Backends { kube: kube.clone(), nsx: Some(nsx.clone()), vcenter: Some(vcenter.clone()) };
        let runtime = Arc::new(Runtime::new(config, backends).unwrap());
        let host = Self { runtime, kube, nsx, vcenter, admin: tokio::sync::OnceCell::new() };
        host.install(BENCH.bytes, BENCH.file).unwrap();
        for (bytes, file) in plugins {
            host.install(bytes, file).unwrap();
        }
        host
    }

    /// Loads and installs one component.
    pub(crate) fn install(&self, bytes: &[u8], file: &str) -> Result<(), LoadError> {
        let plugin = self.runtime.load(bytes)?;
        self.runtime.install(plugin, file).unwrap();
        Ok(())
    }

    /// Reconciles a ConfigMap `namespace/name` holding `data` with `plugin`.
    pub(crate) async fn reconcile(
        &self,
        plugin: &str,
        namespace: &str,
        name: &str,
        data: Value,
    ) -> Result<Report, CallError> {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        });
        let stored = self.kube.insert("default", object).unwrap();
        let request =
            Request { target: ObjectRef::of("default", &stored).unwrap(), object: stored.to_string() };
        self.runtime.call(plugin, Export::Reconcile, &request).await
    }

    /// A stored object of the default cluster.
    pub(crate) fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.kube.object(&ObjectRef {
            cluster: "default".into(),
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        })
    }

    /// Proof the host still serves: the bench plugin reconciles a ConfigMap
    /// and its write lands, and the admin endpoint lists the plugins.
    pub(crate) async fn assert_responsive(&self) {
        let name = format!("healthy-{}", self.kube.len());
        self.reconcile("bench", "default", &name, json!({"mode": "apply"}))
            .await
            .expect("a well-behaved reconcile succeeds");
        let written = self.object("v1", "ConfigMap", Some("default"), &name).unwrap();
        assert_eq!(written["metadata"]["annotations"]["wasmvisor.dev/reconciled"], "true");
        let plugins = self.admin().await.endpoint().plugins().await.expect("the admin endpoint answers");
        assert!(plugins.iter().any(|p| p.name == "bench"), "{plugins:?}");
    }

    /// The admin endpoint over this host's runtime.
    async fn admin(&self) -> &AdminHandle {
        let (handle, _dir) = self.admin.get_or_init(|| serve_admin(&self.runtime)).await;
        handle
    }

    /// Has the probe (installed as [`probe_wearing`]) send `calls`; returns
    /// what it saw of each.
    pub(crate) async fn probe(&self, calls: Value) -> Vec<Value> {
        self.reconcile(HOSTILE, HOSTILE, "attempt", json!({"calls": calls.to_string()}))
            .await
            .expect("the probe reconciles");
        let out = self.object("v1", "ConfigMap", Some(HOSTILE), "attempt-out").expect("the probe reported");
        serde_json::from_str(out["data"]["outcomes"].as_str().unwrap()).unwrap()
    }
}

/// The admin endpoint over `runtime`, in a directory of its own.
pub(crate) async fn serve_admin(runtime: &Arc<Runtime>) -> (AdminHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    runtime.register_metrics(&mut registry);
    let state = AdminState {
        runtime: runtime.clone(),
        plugin_dir: None,
        registry: Arc::new(registry),
        ready: tokio::sync::watch::channel(true).1,
    };
    (admin::serve(AdminConfig::new(dir.path()), state).await.unwrap(), dir)
}

/// The probe component under a manifest named [`HOSTILE`] with `rules`
/// (TOML `[[capabilities.*]]` tables) and the right to write its report.
pub(crate) fn probe_wearing(rules: &str) -> Vec<u8> {
    probe_named(HOSTILE, rules)
}

/// [`probe_wearing`] under the name `name` (its report goes to namespace `name`).
pub(crate) fn probe_named(name: &str, rules: &str) -> Vec<u8> {
    let manifest = format!(
        "name = \"{name}\"\nversion = \"6.6.6\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\n\
         [[capabilities.kube]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\nverbs = [\"apply\"]\nnamespaces = [\"{name}\"]\n{rules}"
    );
    section::embed(PROBE.bytes, &manifest).unwrap()
}

/// A kube read for the probe: `path` is `<apiVersion>/<Kind>/<namespace>/<name>`.
pub(crate) fn kube_get(path: &str) -> Value {
    json!({"endpoint": "kube", "method": "GET", "path": path})
}

/// An NSX or vCenter request for the probe.
pub(crate) fn request(endpoint: &str, method: &str, path: &str) -> Value {
    json!({"endpoint": endpoint, "method": method, "path": path})
}

/// Asserts the probe saw a `kind` error whose message contains `text`.
pub(crate) fn assert_error(seen: &Value, kind: &str, text: &str) {
    assert_eq!(seen["error"], kind, "{seen}");
    let message = seen["message"].as_str().unwrap();
    assert!(message.contains(text), "{message:?} does not mention {text:?}");
}
