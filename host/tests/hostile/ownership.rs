//! Kube ownership inside a granted namespace: two plugins both granted
//! `apply` on the ConfigMaps of one namespace. The hostile one can neither
//! take the fields the other manages nor hold up its object's deletion with
//! a finalizer; a plugin still takes fields from a user (the controller
//! convention), and a rule with `foreign = true` opens another plugin's
//! objects. Judged by the real API server's server-side apply.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use wasmvisor_apiserver::{ApiServer, Config, Running};
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource, Clusters};
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Export, Grants, ObjectRef, Request, Runtime, RuntimeConfig};

use crate::fixture::{HOSTILE, assert_error, probe_named, serve_admin};

const SHARED: &str = "shared";
const OWNER: &str = "owner";
const ADOPTER: &str = "adopter";

/// Apply on the ConfigMaps of [`SHARED`], `foreign` or not.
fn shared_rule(foreign: bool) -> String {
    format!(
        "[[capabilities.kube]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\nverbs = [\"apply\"]\n\
         namespaces = [\"{SHARED}\"]\nforeign = {foreign}\n"
    )
}

struct Cluster {
    _dir: tempfile::TempDir,
    _api: Running,
    client: kube::Client,
    runtime: Arc<Runtime>,
}

impl Cluster {
    /// A real API server and a runtime over it with the owner, the hostile
    /// plugin and the adopter (whose rule says `foreign = true`).
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let api = ApiServer::start(
            Config::new(dir.path().join("apiserver")).listen("127.0.0.1:0".parse().unwrap()),
        )
        .await
        .unwrap();
        let source =
            ClusterSource::Kubeconfig { kubeconfig: api.kubeconfig_path().to_owned(), context: None };
        let clusters = Clusters::connect(&[("default".into(), ClusterConfig { source })]).await.unwrap();
        let client = clusters.client("default").unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for name in [SHARED, OWNER, HOSTILE, ADOPTER] {
            let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
            namespaces.create(&PostParams::default(), &namespace).await.unwrap();
        }
        let cache_dir = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let config = RuntimeConfig {
            engine: EngineSettings::default(),
            output: OutputLimits::default(),
            cache_dir,
            grants: Grants { trust_manifests: true, ..Grants::default() },
        };
        let backends = Backends { kube: Arc::new(clusters), nsx: None, vcenter: None };
        let runtime = Arc::new(Runtime::new(config, backends).unwrap());
        for (name, foreign) in [(OWNER, false), (HOSTILE, false), (ADOPTER, true)] {
            let plugin = runtime.load(&probe_named(name, &shared_rule(foreign))).unwrap();
            runtime.install(plugin, &format!("{name}.wasm")).unwrap();
        }
        Cluster { _dir: dir, _api: api, client, runtime }
    }

    /// Has `plugin` apply `object` in [`SHARED`]; what it saw.
    async fn apply_as(&self, plugin: &str, object: Value) -> Value {
        let call = json!({"endpoint": "kube", "method": "APPLY", "path": "", "body": object.to_string()});
        let input = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "attempt", "namespace": plugin},
            "data": {"calls": json!([call]).to_string()},
        });
        let request =
            Request { target: ObjectRef::of("default", &input).unwrap(), object: input.to_string() };
        self.runtime.call(plugin, Export::Reconcile, &request).await.expect("the probe reconciles");
        let reports: Api<ConfigMap> = Api::namespaced(self.client.clone(), plugin);
        let report = reports.get("attempt-out").await.unwrap();
        let outcomes = &report.data.unwrap()["outcomes"];
        serde_json::from_str::<Vec<Value>>(outcomes).unwrap().remove(0)
    }

    /// The host still serves: the owner reconciles and lands a write, and
    /// the admin endpoint lists the plugins.
    async fn assert_responsive(&self) {
        let seen = self.apply_as(OWNER, configmap("healthy", json!({"mode": "blue"}))).await;
        assert_eq!(seen["status"], 200, "{seen}");
        let (admin, _dir) = serve_admin(&self.runtime).await;
        let plugins = admin.endpoint().plugins().await.expect("the admin endpoint answers");
        assert!(plugins.iter().any(|p| p.name == OWNER), "{plugins:?}");
    }

    /// The shared ConfigMap `name` as the API server holds it.
    async fn stored(&self, name: &str) -> Value {
        let configmaps: Api<ConfigMap> = Api::namespaced(self.client.clone(), SHARED);
        serde_json::to_value(configmaps.get(name).await.unwrap()).unwrap()
    }
}

fn configmap(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": SHARED}, "data": data})
}

/// Each manager of `object` with the `data` keys it owns.
fn owners(object: &Value) -> Vec<(String, Vec<String>)> {
    let entries = object["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|entry| {
            let data = entry["fieldsV1"]["f:data"].as_object().cloned().unwrap_or_default();
            (entry["manager"].as_str().unwrap().to_owned(), data.keys().cloned().collect())
        })
        .collect()
}

#[tokio::test]
async fn a_plugin_keeps_its_fields_and_its_deletion_from_another_plugin() {
    let cluster = Cluster::start().await;
    let seen = cluster.apply_as(OWNER, configmap("app", json!({"mode": "blue"}))).await;
    assert_eq!(seen["status"], 200, "{seen}");

    // Taking the owner's field is refused, and nothing changed.
    let seen = cluster.apply_as(HOSTILE, configmap("app", json!({"mode": "red"}))).await;
    assert_error(&seen, "forbidden", "fields another plugin manages (\"owner\")");
    assert_error(&seen, "forbidden", "foreign = true");
    let stored = cluster.stored("app").await;
    assert_eq!(stored["data"], json!({"mode": "blue"}));
    assert_eq!(owners(&stored), [("owner".to_owned(), vec!["f:mode".to_owned()])]);

    // So is holding up its deletion with a finalizer.
    let mut held = configmap("app", json!({}));
    held["metadata"]["finalizers"] = json!(["hostile.example.com/hold"]);
    let seen = cluster.apply_as(HOSTILE, held).await;
    assert_error(
        &seen,
        "forbidden",
        "finalizer hostile.example.com/hold on an object another plugin manages",
    );
    assert!(cluster.stored("app").await["metadata"].get("finalizers").is_none());

    // A field of its own beside the owner's, on the same object, is fine.
    let seen = cluster.apply_as(HOSTILE, configmap("app", json!({"note": "hello"}))).await;
    assert_eq!(seen["status"], 200, "{seen}");

    // A rule with `foreign = true` reaches the owner's fields and deletion.
    let mut adopted = configmap("app", json!({"mode": "green"}));
    adopted["metadata"]["finalizers"] = json!(["adopter.example.com/cleanup"]);
    let seen = cluster.apply_as(ADOPTER, adopted).await;
    assert_eq!(seen["status"], 200, "{seen}");
    let stored = cluster.stored("app").await;
    assert_eq!(stored["data"], json!({"mode": "green", "note": "hello"}));
    assert_eq!(stored["metadata"]["finalizers"], json!(["adopter.example.com/cleanup"]));

    cluster.assert_responsive().await;
}

#[tokio::test]
async fn a_plugin_still_takes_a_users_field_and_finalizes_a_users_object() {
    let cluster = Cluster::start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), SHARED);
    let by_user = PatchParams::apply("kubectl");
    configmaps
        .patch("app", &by_user, &Patch::Apply(configmap("app", json!({"mode": "user"}))))
        .await
        .unwrap();

    let mut object = configmap("app", json!({"mode": "plugin"}));
    object["metadata"]["finalizers"] = json!(["owner.example.com/cleanup"]);
    let seen = cluster.apply_as(OWNER, object).await;
    assert_eq!(seen["status"], 200, "{seen}");
    let stored = cluster.stored("app").await;
    assert_eq!(stored["data"], json!({"mode": "plugin"}));
    assert_eq!(stored["metadata"]["finalizers"], json!(["owner.example.com/cleanup"]));
    cluster.assert_responsive().await;
}
