//! The admin endpoint over a real socket: probes, metrics, plugins, the token
//! and `admin.json`.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wasmvisor_host::admin::client::ClientError;
use wasmvisor_host::admin::{self, ADMIN_FILE, AdminConfig, AdminEndpoint, AdminState, PluginState};
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::reload::PluginDir;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Grants, Runtime, RuntimeConfig};
use wasmvisor_plugins::testing::CHAOS;

fn runtime(cache: &std::path::Path) -> Arc<Runtime> {
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(cache, cap_std::ambient_authority()).unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings { pooling: false, ..EngineSettings::default() },
        output: OutputLimits::default(),
        cache_dir,
        grants: Grants::declared([Manifest::from_component(CHAOS.bytes).unwrap()]),
    };
    let backends = Backends { kube: Arc::new(MemoryKube::new()), nsx: None, vcenter: None };
    Arc::new(Runtime::new(config, backends).unwrap())
}

/// One HTTP/1.1 GET; returns status and body.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nhost: admin\r\n{auth}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn serves_probes_metrics_and_plugins_behind_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, plugins, data) =
        (dir.path().join("cache"), dir.path().join("plugins"), dir.path().join("data"));
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join(CHAOS.file), CHAOS.bytes).unwrap();
    std::fs::write(plugins.join("broken.wasm"), b"not a component").unwrap();
    let runtime = runtime(&cache);
    let plugin_dir = Arc::new(PluginDir::open(&plugins).unwrap());
    plugin_dir.sync(&runtime).await.unwrap();
    let mut registry = Registry::default();
    runtime.register_metrics(&mut registry);
    let (ready, ready_rx) = tokio::sync::watch::channel(false);

    let state = AdminState {
        runtime: runtime.clone(),
        plugin_dir: Some(plugin_dir.clone()),
        registry: Arc::new(registry),
        ready: ready_rx,
    };
    let handle = admin::serve(AdminConfig::new(&data), state).await.unwrap();
    let addr = handle.addr();
    assert!(addr.ip().is_loopback());
    let endpoint = AdminEndpoint::read(&data).unwrap();
    assert_eq!(&endpoint, handle.endpoint());
    assert_eq!(endpoint.url, format!("http://{addr}"));

    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    assert_eq!(get(addr, "/readyz", None).await.0, 503);
    ready.send_replace(true);
    assert_eq!(get(addr, "/readyz", None).await.0, 200);
    let (status, metrics) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("wasmvisor_plugin_info{plugin=\"chaos\",version=\"1.0.0\""), "{metrics}");

    assert_eq!(get(addr, "/plugins", None).await.0, 401);
    assert_eq!(get(addr, "/plugins", Some("wrong")).await.0, 401);
    assert_eq!(get(addr, "/plugins", Some(&endpoint.token)).await.0, 200);
    let wrong = AdminEndpoint { token: "wrong".into(), ..endpoint.clone() };
    assert!(matches!(wrong.plugins().await, Err(ClientError::Unauthorized { .. })));

    let rows = endpoint.plugins().await.unwrap();
    let [broken, chaos] = rows.as_slice() else { panic!("two rows: {rows:?}") };
    assert_eq!((broken.name.as_str(), broken.state), ("broken.wasm", PluginState::Refused));
    assert!(broken.last_error.is_some());
    assert_eq!((chaos.name.as_str(), chaos.state), ("chaos", PluginState::Serving));
    assert_eq!(chaos.version.as_deref(), Some("1.0.0"));
    assert!(chaos.digest.as_deref().unwrap().starts_with("sha256:"));
    assert_eq!(chaos.last_error, None);

    // A refused update leaves the old version serving, marked stale.
    std::fs::write(plugins.join(CHAOS.file), b"garbage").unwrap();
    plugin_dir.sync(&runtime).await.unwrap();
    let rows = endpoint.plugins().await.unwrap();
    let chaos = rows.iter().find(|r| r.name == "chaos").unwrap();
    assert_eq!(chaos.state, PluginState::Stale);
    assert!(chaos.last_error.is_some());

    handle.shutdown().await;
    assert!(!data.join(ADMIN_FILE).exists());
    assert!(matches!(AdminEndpoint::read(&data), Err(ClientError::NotRunning { .. })));
    // A file left behind by a crashed host names a port nobody answers on.
    assert!(matches!(endpoint.plugins().await, Err(ClientError::Unreachable { .. })));
}

#[tokio::test]
async fn metrics_can_require_the_token_too() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let (_ready, ready_rx) = tokio::sync::watch::channel(true);
    let state = AdminState {
        runtime: runtime(&cache),
        plugin_dir: None,
        registry: Arc::new(Registry::default()),
        ready: ready_rx,
    };
    let config = AdminConfig {
        token: Some("t0ken".into()),
        protect_metrics: true,
        ..AdminConfig::new(dir.path().join("data"))
    };
    let handle = admin::serve(config, state).await.unwrap();
    assert_eq!(get(handle.addr(), "/metrics", None).await.0, 401);
    assert_eq!(get(handle.addr(), "/metrics", Some("t0ken")).await.0, 200);
    assert_eq!(get(handle.addr(), "/healthz", None).await.0, 200);
    assert!(handle.endpoint().plugins().await.unwrap().is_empty());
    handle.shutdown().await;
}
