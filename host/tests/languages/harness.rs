//! A runtime over a kube backend (in memory, or the embedded API server)
//! with the Rust, Python and JS example plugins granted, sharing one
//! compile cache per test process.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use wasmvisor_host::capability::kube::{KubeBackend, MemoryKube};
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{
    Backends, CallError, Export, Grants, ObjectRef, Report, Request, Runtime, RuntimeConfig,
};

/// What the operator grants each example plugin: exactly what its manifest
/// asks, whatever the language.
pub(crate) const GRANTS: &str = r#"
[[plugins.namespace-config.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["get", "apply", "delete"]

[[plugins.label-propagator.capabilities.kube]]
api-version = "apps/v1"
kind = "ReplicaSet"
verbs = ["list", "apply"]

[[plugins.label-propagator.capabilities.kube]]
api-version = "apps/v1"
kind = "Deployment"
verbs = ["apply-status"]

[[plugins.trust-bundle.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["get"]
namespaces = ["wasmvisor-system"]

[[plugins.trust-bundle.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["apply", "delete"]
"#;

/// One compile cache for the whole test process: the interpreters take
/// seconds to compile, so each is compiled once.
fn shared_cache() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().expect("a temp dir for the compile cache")).path()
}

pub(crate) struct Host {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) kube: Arc<MemoryKube>,
}

/// A runtime granting `grants` over `kube`, on the shared compile cache.
pub(crate) fn runtime(kube: Arc<dyn KubeBackend>, grants: &str) -> Arc<Runtime> {
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(shared_cache(), cap_std::ambient_authority()).unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings::default(),
        output: OutputLimits::default(),
        cache_dir,
        grants: Grants::parse(grants).unwrap(),
    };
    Arc::new(Runtime::new(config, Backends { kube, nsx: None, vcenter: None }).unwrap())
}

impl Host {
    pub(crate) fn new() -> Self {
        let kube = Arc::new(MemoryKube::new());
        Self { runtime: runtime(kube.clone(), GRANTS), kube }
    }

    /// Loads and installs a component.
    pub(crate) fn install(&self, bytes: &[u8], file: &str) {
        install(&self.runtime, bytes, file);
    }

    /// Stores `object` and calls `export` of `plugin` on it.
    pub(crate) async fn call(
        &self,
        plugin: &str,
        export: Export,
        object: Value,
    ) -> Result<Report, CallError> {
        let stored = self.kube.insert("default", object).unwrap();
        let request =
            Request { target: ObjectRef::of("default", &stored).unwrap(), object: stored.to_string() };
        self.runtime.call(plugin, export, &request).await
    }

    /// A stored object.
    pub(crate) fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.kube.object(&ObjectRef {
            cluster: "default".into(),
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        })
    }
}

/// Loads and installs a component into `runtime`.
pub(crate) fn install(runtime: &Runtime, bytes: &[u8], file: &str) {
    let plugin = load_once(runtime, bytes).unwrap_or_else(|e| panic!("{file} was refused: {e}"));
    runtime.install(plugin, file).unwrap();
}

/// Loads `bytes`, one load at a time across the test process: the first
/// load of a component compiles it into the shared cache (seconds for an
/// interpreter), the tests waiting behind it deserialize it (milliseconds)
/// instead of compiling it again on the same two cores.
pub(crate) fn load_once(
    runtime: &Runtime,
    bytes: &[u8],
) -> Result<Arc<wasmvisor_host::runtime::plugin::Plugin>, wasmvisor_host::runtime::plugin::LoadError> {
    static LOADING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    runtime.load(bytes)
}

/// The failure of a call that must fail.
pub(crate) fn failure(result: Result<Report, CallError>) -> wasmvisor_host::ReconcileError {
    match result {
        Err(CallError::Failed(e)) => e,
        other => panic!("expected a failed call, got {other:?}"),
    }
}
