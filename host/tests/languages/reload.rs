//! Hot reload works the same for interpreter guests: a new version is
//! swapped in, a broken one is refused while the old keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wasmvisor_host::manifest::section;
use wasmvisor_host::runtime::reload::PluginDir;
use wasmvisor_host::{CallError, Export, Report};

use crate::eventually::{eventually, within};
use crate::guests::{self, Guest};
use crate::harness::Host;

/// `guest` re-labelled as `version`.
fn relabelled(guest: &Guest, version: &str) -> Vec<u8> {
    let manifest = section::extract(&guest.bytes)
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    section::embed(&guest.bytes, &manifest).unwrap()
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) {
    let staging = dir.join(format!(".{name}.tmp"));
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(staging, dir.join(name)).unwrap();
}

async fn reloads(guest: &Guest, object: Value) {
    let host = Arc::new(Host::new());
    let name = guest.name;
    let file = format!("{name}.wasm");
    // Compile into the shared cache first, so the watcher's load is a cache hit.
    crate::harness::load_once(&host.runtime, &guest.bytes).unwrap();
    let plugins = tempfile::tempdir().unwrap();
    write_atomically(plugins.path(), &file, &guest.bytes);
    let dir = Arc::new(PluginDir::open(plugins.path()).unwrap());
    let _watch = dir.clone().watch(host.runtime.clone(), Duration::from_secs(60)).unwrap();
    let version = |host: &Host| host.runtime.plugin(name).map(|p| p.manifest.version.clone());
    eventually("v0.1.0 to load", || async { version(&host).filter(|v| v == "0.1.0") }).await;
    let serve = |host: Arc<Host>, object: Value| async move {
        let result: Result<Report, CallError> = host.call(name, Export::Reconcile, object).await;
        result.unwrap_or_else(|e| panic!("{name}: {e}")).plugin
    };
    assert_eq!(serve(host.clone(), object.clone()).await, format!("{name}@0.1.0"));

    write_atomically(plugins.path(), &file, &relabelled(guest, "0.2.0"));
    // A new version compiles first: a Python or JS component takes its time
    // in a debug build on a loaded machine.
    within("v0.2.0 to be installed", Duration::from_secs(60), || async {
        version(&host).filter(|v| v == "0.2.0")
    })
    .await;
    assert_eq!(serve(host.clone(), object.clone()).await, format!("{name}@0.2.0"));

    // A truncated upload is refused; 0.2.0 keeps serving.
    write_atomically(plugins.path(), &file, &guest.bytes[..guest.bytes.len() / 2]);
    let error = eventually("the broken version to be refused", || async {
        dir.states().get(&file).and_then(|s| s.error.clone())
    })
    .await;
    assert!(!error.is_empty());
    assert_eq!(version(&host).as_deref(), Some("0.2.0"));
    assert_eq!(serve(host.clone(), object).await, format!("{name}@0.2.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_plugin_is_hot_reloaded() {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team-a"}});
    reloads(guests::python(), deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_plugin_is_hot_reloaded() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}});
    reloads(guests::js(), ns).await;
}
