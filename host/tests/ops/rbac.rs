//! The generated RBAC is accepted by a real API server through the real kubectl.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use wasmvisor_host::Grants;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::rbac::{RbacOptions, generate};
use wasmvisor_plugins::testing::CHAOS;

use crate::support::TestServer;

const CONFIG: &str = r#"
[[plugins.chaos.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["get", "list", "apply", "apply-status", "delete"]
namespaces = ["chaos"]

[[plugins.tkc.capabilities.kube]]
api-version = "cluster.x-k8s.io/v1beta1"
kind = "Cluster"
verbs = ["get", "apply"]
"#;

/// `$WASMVISOR_KUBECTL`, else `/usr/bin/kubectl` (as the API server's own tests).
fn kubectl() -> std::ffi::OsString {
    std::env::var_os("WASMVISOR_KUBECTL").unwrap_or_else(|| "/usr/bin/kubectl".into())
}

#[tokio::test]
async fn kubectl_server_dry_run_accepts_the_generated_yaml() {
    let server = TestServer::start().await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(server.client().await);
    let chaos = serde_json::from_value(serde_json::json!({"metadata": {"name": "chaos"}})).unwrap();
    namespaces.create(&Default::default(), &chaos).await.unwrap();
    let manifest = Manifest::from_component(CHAOS.bytes).unwrap();
    let options = RbacOptions {
        namespace: "default".into(),
        leader_election: Some("wasmvisor".into()),
        ..RbacOptions::default()
    };
    let yaml = generate(&Grants::parse(CONFIG).unwrap(), &[manifest], &options).to_yaml().unwrap();
    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = tokio::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(server.running.kubeconfig_path())
        .args(["apply", "--dry-run=server", "-f", "-"])
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).await.unwrap();
    let output =
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{yaml}\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "serviceaccount/wasmvisor created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/wasmvisor created (server dry run)",
        "clusterrolebinding.rbac.authorization.k8s.io/wasmvisor created (server dry run)",
        "role.rbac.authorization.k8s.io/wasmvisor created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/wasmvisor created (server dry run)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
