//! Hot reload: in-flight calls finish on the old version, new calls get the
//! new one, a broken version is refused while the old keeps serving, and a
//! removed file's plugin gets no more work.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wasmvisor_host::manifest::section;
use wasmvisor_host::runtime::reload::{FileState, PluginDir};
use wasmvisor_host::{CallError, Runtime};
use wasmvisor_plugins::testing::CHAOS;

use crate::harness::{Host, eventually};

/// The chaos component re-labelled as `version`, with room for slow calls.
fn chaos_version(version: &str) -> Vec<u8> {
    let manifest = section::extract(CHAOS.bytes)
        .unwrap()
        .replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
        .replace("timeout = \"500ms\"", "timeout = \"20s\"")
        .replace("host-calls = 20", "host-calls = 10000");
    section::embed(CHAOS.bytes, &manifest).unwrap()
}

/// Writes a file the way a deployment should: elsewhere, then rename.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) {
    let staging = dir.join(format!(".{name}.tmp"));
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(staging, dir.join(name)).unwrap();
}

fn version(runtime: &Runtime) -> Option<String> {
    runtime.plugin("chaos").map(|p| p.manifest.version.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_atomically_and_refuses_broken_versions() {
    let host = Arc::new(Host::new());
    let plugins = tempfile::tempdir().unwrap();
    write_atomically(plugins.path(), "chaos.wasm", &chaos_version("1.0.0"));
    let dir = Arc::new(PluginDir::open(plugins.path()).unwrap());
    let _watch = dir.clone().watch(host.runtime.clone(), Duration::from_secs(60)).unwrap();
    eventually("v1 to load", || async { version(&host.runtime).filter(|v| v == "1.0.0") }).await;

    // A reconcile that stays in flight until the test releases it.
    let in_flight = {
        let host = host.clone();
        tokio::spawn(async move { host.chaos("slow", json!({"mode": "wait-for", "release": "go"})).await })
    };
    eventually("the slow reconcile to start", || async { host.config_map("slow") }).await;

    write_atomically(plugins.path(), "chaos.wasm", &chaos_version("2.0.0"));
    eventually("v2 to be installed", || async { version(&host.runtime).filter(|v| v == "2.0.0") }).await;
    assert!(!in_flight.is_finished(), "the old call is still running while v2 serves");

    let next = host.chaos("after", json!({"mode": "ok"})).await.unwrap();
    assert_eq!(next.plugin, "chaos@2.0.0", "new work goes to the new version");

    host.kube.insert("default", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "go", "namespace": "chaos"}})).unwrap();
    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(finished.plugin, "chaos@1.0.0", "the in-flight call finished on the old version");

    // A broken new version is refused; v2 keeps serving.
    write_atomically(plugins.path(), "chaos.wasm", b"\0asm broken upload");
    let state: FileState = eventually("the broken version to be refused", || async {
        dir.states().get("chaos.wasm").filter(|s| s.error.is_some()).cloned()
    })
    .await;
    let error = state.error.unwrap();
    assert!(error.contains("malformed WebAssembly"), "{error}");
    assert_eq!(state.serving.map(|s| s.plugin).as_deref(), Some("chaos@2.0.0"));
    assert_eq!(version(&host.runtime).as_deref(), Some("2.0.0"));
    assert_eq!(host.chaos("still", json!({"mode": "ok"})).await.unwrap().plugin, "chaos@2.0.0");

    // Removing the file stops the plugin getting work.
    std::fs::remove_file(plugins.path().join("chaos.wasm")).unwrap();
    eventually("the plugin to be removed", || async { host.runtime.plugin("chaos").is_none().then_some(()) })
        .await;
    assert!(matches!(host.chaos("gone", json!({"mode": "ok"})).await, Err(CallError::NoSuchPlugin(_))));
}

#[tokio::test]
async fn plugin_list_shows_name_version_and_digest() {
    let host = Host::new().with_chaos();
    let listed = host.runtime.plugins();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].version.as_str()), ("chaos", "1.0.0"));
    assert!(listed[0].digest.starts_with("sha256:") && listed[0].digest.len() == 7 + 64);
    assert_eq!(listed[0].source, "chaos.wasm");
}
