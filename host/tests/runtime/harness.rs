//! A runtime over an in-memory kube backend, with the chaos plugin granted.

use std::sync::Arc;

use serde_json::{Value, json};
use wasmvisor_host::capability::endpoint::{EndpointError, HttpEndpoint, HttpRequest, HttpResponse};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{
    Backends, CallError, Export, Grant, Grants, ObjectRef, Report, Request, Runtime, RuntimeConfig,
};
use wasmvisor_plugins::NAMESPACE_CONFIG;
use wasmvisor_plugins::testing::CHAOS;

/// The chaos and namespace-config plugins, each granted the capabilities
/// its manifest declares, under the default limit ceilings (tests load
/// variants of chaos that declare other limits).
pub(crate) fn grants() -> Grants {
    let mut grants =
        Grants::declared([CHAOS, NAMESPACE_CONFIG].map(|p| Manifest::from_component(p.bytes).unwrap()));
    for grant in grants.plugins.values_mut() {
        grant.limits = Grant::default_ceiling();
    }
    grants
}

/// An NSX endpoint that answers every request with a fixed segment and
/// records what it was asked.
#[derive(Default)]
pub(crate) struct RecordingNsx {
    pub(crate) requests: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl HttpEndpoint for RecordingNsx {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError> {
        self.requests.lock().unwrap().push(format!("{} {}", request.method, request.path));
        Ok(HttpResponse { status: 200, body: json!({"id": "s1", "resource_type": "Segment"}).to_string() })
    }
}

pub(crate) struct Host {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) kube: Arc<MemoryKube>,
    pub(crate) nsx: Arc<RecordingNsx>,
    pub(crate) cache: tempfile::TempDir,
}

impl Host {
    pub(crate) fn new() -> Self {
        Self::with(EngineSettings::default(), OutputLimits::default(), tempfile::tempdir().unwrap())
    }

    pub(crate) fn with(engine: EngineSettings, output: OutputLimits, cache: tempfile::TempDir) -> Self {
        let kube = Arc::new(MemoryKube::new());
        let nsx = Arc::new(RecordingNsx::default());
        let cache_dir =
            cap_std::fs::Dir::open_ambient_dir(cache.path(), cap_std::ambient_authority()).unwrap();
        let config = RuntimeConfig { engine, output, cache_dir, grants: grants() };
        let backends = Backends { kube: kube.clone(), nsx: Some(nsx.clone()), vcenter: None };
        let runtime = Arc::new(Runtime::new(config, backends).unwrap());
        Self { runtime, kube, nsx, cache }
    }

    /// Loads and installs the chaos plugin.
    pub(crate) fn with_chaos(self) -> Self {
        let plugin = self.runtime.load(CHAOS.bytes).unwrap();
        self.runtime.install(plugin, CHAOS.file).unwrap();
        self
    }

    /// Reconciles a ConfigMap `name` in namespace `chaos` with `data`.
    pub(crate) async fn chaos(&self, name: &str, data: Value) -> Result<Report, CallError> {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "chaos"},
            "data": data,
        });
        let stored = self.kube.insert("default", object).unwrap();
        let request =
            Request { target: ObjectRef::of("default", &stored).unwrap(), object: stored.to_string() };
        self.runtime.call("chaos", Export::Reconcile, &request).await
    }

    /// A stored object in namespace `chaos`.
    pub(crate) fn config_map(&self, name: &str) -> Option<Value> {
        self.kube.object(&ObjectRef {
            cluster: "default".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("chaos".into()),
            name: name.into(),
        })
    }

    /// Proof the host still serves: a well-behaved reconcile succeeds.
    pub(crate) async fn assert_still_serving(&self) {
        self.assert_still_serving_as("chaos@1.0.0").await;
    }

    /// Proof the host still serves, with `plugin` (`name@version`).
    pub(crate) async fn assert_still_serving_as(&self, plugin: &str) {
        let name = format!("healthy-{}", self.kube.len());
        let report = self.chaos(&name, json!({"mode": "ok"})).await.expect("the next reconcile succeeds");
        assert_eq!(report.plugin, plugin);
        assert_eq!(self.config_map(&format!("{name}-out")).unwrap()["data"]["seen"], name);
    }
}

/// The failure of a call that must fail.
pub(crate) fn failure(result: Result<Report, CallError>) -> wasmvisor_host::ReconcileError {
    match result {
        Err(CallError::Failed(e)) => e,
        other => panic!("expected a failed reconcile, got {other:?}"),
    }
}

pub(crate) use crate::eventually::eventually;
