//! `wasmvisor plugin list` and `wasmvisor rbac` as a user runs them: the
//! real binary against a real admin endpoint and real files.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use wasmvisor_host::admin::{self, AdminConfig, AdminState};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::reload::PluginDir;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Grants, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::CHAOS;

const CONFIG: &str = r#"
[clusters.default]
source = "in-cluster"

[[plugins.chaos.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["get", "list", "apply", "apply-status", "delete"]
namespaces = ["chaos"]

[[plugins.chaos.capabilities.nsx]]
methods = ["GET", "PATCH"]
path = "/policy/api/v1/infra/segments/*"
"#;

async fn wasmvisor(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wasmvisor"))
        .args(args)
        .env_remove("WASMVISOR_DATA_DIR")
        .env_remove("WASMVISOR_ADMIN_TOKEN")
        .output()
        .await
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn plugin_list_shows_what_a_running_host_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, plugins, data) =
        (dir.path().join("cache"), dir.path().join("plugins"), dir.path().join("data"));
    for d in [&cache, &plugins] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(plugins.join(CHAOS.file), CHAOS.bytes).unwrap();
    std::fs::write(plugins.join("broken.wasm"), b"junk").unwrap();
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(&cache, cap_std::ambient_authority()).unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings { pooling: false, ..EngineSettings::default() },
        output: OutputLimits::default(),
        cache_dir,
        grants: Grants::parse(&CONFIG.replace("[clusters.default]\nsource = \"in-cluster\"\n", "")).unwrap(),
    };
    let backends = Backends { kube: Arc::new(MemoryKube::new()), nsx: None, vcenter: None };
    let runtime = Arc::new(Runtime::new(config, backends).unwrap());
    let plugin_dir = Arc::new(PluginDir::open(&plugins).unwrap());
    plugin_dir.sync(&runtime).await.unwrap();
    let (_ready, ready) = tokio::sync::watch::channel(true);
    let state = AdminState {
        runtime,
        plugin_dir: Some(plugin_dir),
        registry: Arc::new(prometheus_client::registry::Registry::default()),
        ready,
    };
    let handle = admin::serve(AdminConfig::new(&data), state).await.unwrap();

    let out = wasmvisor(&["plugin", "list", "--data-dir", path(&data)]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME         VERSION  DIGEST               STATE    LAST-ERROR"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("broken.wasm  -        -                    refused  "), "{stdout}");
    assert!(lines[2].starts_with("chaos        1.0.0    sha256:"), "{stdout}");
    assert!(lines[2].ends_with("serving  -"), "{stdout}");

    let endpoint = handle.endpoint().clone();
    let out = wasmvisor(&["plugin", "list", "--admin", &endpoint.url, "--token", &endpoint.token]).await;
    assert_eq!(text(&out.stdout), stdout, "{}", text(&out.stderr));
    let out = wasmvisor(&["plugin", "list", "--admin", &endpoint.url, "--token", "nope"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("refused the admin token"), "{}", text(&out.stderr));

    handle.shutdown().await;
    let out = wasmvisor(&["plugin", "list", "--admin", &endpoint.url, "--token", &endpoint.token]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no host answers at"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn plugin_list_without_a_host_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmvisor(&["plugin", "list", "--data-dir", path(dir.path())]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no host is running with data directory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = wasmvisor(&["plugin", "list"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--data-dir DIR"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn rbac_prints_least_privilege_yaml_for_a_host_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let plugin = dir.path().join(CHAOS.file);
    std::fs::write(&plugin, CHAOS.bytes).unwrap();
    let out = wasmvisor(&["rbac", "--config", path(&config), "--plugin", path(&plugin)]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    for expected in [
        "kind: ServiceAccount",
        "kind: ClusterRole\n",
        "kind: Role\n",
        "namespace: chaos",
        "- configmaps/status",
        "- events.k8s.io",
    ] {
        assert!(yaml.contains(expected), "missing {expected:?} in:\n{yaml}");
    }
    let out = wasmvisor(&["rbac", "--config", path(&dir.path().join("missing.toml"))]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.toml"), "{}", text(&out.stderr));
    let out = wasmvisor(&["rbac", "--config", path(&config), "--plugin", path(&config)]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not a plugin"), "{}", text(&out.stderr));
}
