//! An API server and a host in a temporary directory, kube-rs clients, and
//! polling with deadlines.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use wasmvisor_apiserver::{ApiServer, Config, Running};
use wasmvisor_host::capability::grant::Grant;
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::controller::metrics::PluginLabel;
use wasmvisor_host::host::Host;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::metrics::ReconcileLabels;
use wasmvisor_plugins::Bundled;

pub(crate) use crate::eventually::eventually;

/// A `[[related]]` entry for the widget plugin: a Secret re-queues the
/// Widget its `test.wasmvisor.dev/for` label names.
pub(crate) const RELATED_SECRETS: &str = r#"
[[related]]
api-version = "v1"
kind = "Secret"
reconciles = { api-version = "test.wasmvisor.dev/v1", kind = "Widget" }
by = { name-field = 'metadata.labels["test.wasmvisor.dev/for"]' }
"#;

pub(crate) struct Env {
    dir: tempfile::TempDir,
    api: Running,
    pub(crate) host: Option<Host>,
    pub(crate) client: kube::Client,
}

impl Env {
    /// An API server with the Widget CRD, and a host running `plugins`
    /// under grants of exactly what their manifests declare.
    pub(crate) async fn start(plugins: &[Bundled]) -> Env {
        let mut env = Env::start_api_only().await;
        let plugin_dir = env.dir().join("plugins");
        std::fs::create_dir_all(&plugin_dir).unwrap();
        for plugin in plugins {
            std::fs::write(plugin_dir.join(plugin.file), plugin.bytes).unwrap();
        }
        let host = Host::start(host_config(env.dir(), env.kubeconfig(), plugins)).await.unwrap();
        env.host = Some(host);
        env
    }

    /// An API server with the Widget CRD and no host (tests start their own).
    pub(crate) async fn start_api_only() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let api = ApiServer::start(
            Config::new(dir.path().join("apiserver")).listen("127.0.0.1:0".parse().unwrap()),
        )
        .await
        .unwrap();
        let client = client(api.kubeconfig_path()).await;
        install_widget_crd(&client).await;
        Env { dir, api, host: None, client }
    }

    /// The test's directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The API server's admin kubeconfig.
    pub(crate) fn kubeconfig(&self) -> &std::path::Path {
        self.api.kubeconfig_path()
    }

    pub(crate) fn host(&self) -> &Host {
        self.host.as_ref().expect("the host runs")
    }

    /// Reconciles of `plugin` that ended with `result`.
    pub(crate) fn reconciles(&self, plugin: &str, result: &'static str) -> u64 {
        let labels = ReconcileLabels { plugin: plugin.to_owned(), result };
        self.host().runtime().metrics().reconciles.get_or_create(&labels).get()
    }

    /// Failures of `plugin` the engine did not retry (terminal errors).
    pub(crate) fn terminal_errors(&self, plugin: &str) -> u64 {
        let label = PluginLabel { plugin: plugin.to_owned() };
        self.host().controller_metrics().terminal_errors.get_or_create(&label).get()
    }

    /// Keys of `plugin` waiting (ready or scheduled) plus reconciles in
    /// flight: zero means nothing will run again until something changes.
    pub(crate) fn pending(&self, plugin: &str) -> i64 {
        let label = PluginLabel { plugin: plugin.to_owned() };
        let metrics = self.host().controller_metrics();
        metrics.queue_depth.get_or_create(&label).get() + metrics.active_workers.get_or_create(&label).get()
    }

    pub(crate) fn widgets(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &widget_resource())
    }
}

pub(crate) fn host_config(
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
    plugins: &[Bundled],
) -> HostConfig {
    let mut config = HostConfig::parse(&format!(
        "data-dir = {:?}\nplugin-dir = {:?}\n[controller]\nbackoff-base = \"50ms\"\nbackoff-max = \"1s\"\nshutdown-timeout = \"5s\"",
        dir.join("host").display().to_string(),
        dir.join("plugins").display().to_string(),
    ))
    .unwrap();
    config.clusters.insert(
        "default".into(),
        ClusterConfig {
            source: ClusterSource::Kubeconfig { kubeconfig: kubeconfig.to_owned(), context: None },
        },
    );
    for plugin in plugins {
        let manifest = Manifest::from_component(plugin.bytes).unwrap();
        config.plugins.insert(manifest.name.clone(), Grant::declared(&manifest));
    }
    config
}

pub(crate) async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

pub(crate) fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("test.wasmvisor.dev", "v1", "Widget"), "widgets")
}

pub(crate) async fn install_widget_crd(client: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_yaml::from_str(include_str!("data/widget-crd.yaml")).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    eventually("the Widget CRD to be established", || {
        let crds = crds.clone();
        async move {
            let crd = crds.get("widgets.test.wasmvisor.dev").await.ok()?;
            let conditions = crd.status?.conditions?;
            conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
        }
    })
    .await;
}

/// Creates Widget `name` in `namespace` with `spec`.
pub(crate) async fn create_widget(env: &Env, namespace: &str, name: &str, spec: Value) -> DynamicObject {
    ensure_namespace(&env.client, namespace).await;
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec,
    }))
    .unwrap();
    env.widgets(namespace).create(&PostParams::default(), &widget).await.unwrap()
}

/// Merges `spec` into Widget `name`'s spec.
pub(crate) async fn patch_spec(env: &Env, namespace: &str, name: &str, spec: Value) -> DynamicObject {
    let patch = json!({"spec": spec});
    env.widgets(namespace).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap()
}

pub(crate) async fn ensure_namespace(client: &kube::Client, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(name).await.unwrap().is_none() {
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces.create(&PostParams::default(), &ns).await.unwrap();
    }
}

/// The value at `pointer` in `object`'s JSON.
pub(crate) fn at(object: &DynamicObject, pointer: &str) -> Value {
    serde_json::to_value(object).unwrap().pointer(pointer).cloned().unwrap_or(Value::Null)
}
