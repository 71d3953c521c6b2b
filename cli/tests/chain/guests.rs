//! The guest side of a running cluster, seen as its user sees it: the
//! `<cluster>-kubeconfig` Secret Cluster API publishes, and `kubectl get
//! nodes` through it listing one Ready Node per VM.
//!
//! The Secret's server is the control-plane VIP, and kubectl uses it as it
//! is: the connection goes through the NSX simulator's virtual server on
//! the VIP to the control-plane VM, where the guest API server listens.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::supervisor::{CONVERGE, Supervisor};
use crate::support::{eventually, kubectl, text};

/// (name, Ready status, InternalIP, providerID) of a Node, or of the VM it should be.
type NodeRow = (String, String, String, String);

/// Writes the cluster's kubeconfig Secret into the test's data directory;
/// checks the Secret's shape and that its server is `https://<vip>:6443`.
pub(crate) fn guest_kubeconfig(supervisor: &Supervisor, namespace: &str, name: &str, vip: &str) -> PathBuf {
    let secret = eventually(&format!("Secret {name}-kubeconfig"), CONVERGE, |last| {
        let secret = supervisor.get(&["secret", &format!("{name}-kubeconfig"), "-n", namespace]);
        *last = format!("{secret:?}");
        secret
    });
    assert_eq!(secret["type"], "cluster.x-k8s.io/secret");
    assert_eq!(secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"], name);
    assert_eq!(secret["metadata"]["ownerReferences"][0]["kind"], "Cluster");
    let decoded = supervisor.kubectl(&[
        "get",
        "secret",
        &format!("{name}-kubeconfig"),
        "-n",
        namespace,
        "-o",
        "go-template={{.data.value | base64decode}}",
    ]);
    let kubeconfig: Value = serde_yaml::from_str(&decoded).expect("the Secret holds a kubeconfig");
    assert_eq!(kubeconfig["clusters"][0]["cluster"]["server"], format!("https://{vip}:6443"));
    let path = supervisor.dir.path().join(format!("{namespace}-{name}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// Waits until the guest lists exactly one Ready Node per VM of the cluster,
/// with the VM's IP and `vsphere://<biosUUID>`; returns them.
pub(crate) fn wait_nodes_are_the_vms(
    supervisor: &Supervisor,
    kubeconfig: &Path,
    namespace: &str,
    name: &str,
    count: usize,
) -> Vec<NodeRow> {
    eventually(&format!("{count} Ready nodes in {namespace}/{name}"), CONVERGE, |last| {
        let vms = supervisor.get(&[
            "vm",
            "-n",
            namespace,
            "-l",
            &format!("capv.vmware.com/cluster.name={name}"),
        ])?;
        let mut want: Vec<NodeRow> = items(&vms)
            .map(|vm| {
                (
                    str_at(vm, "/metadata/name"),
                    "True".to_owned(),
                    str_at(vm, "/status/vmIp"),
                    format!("vsphere://{}", str_at(vm, "/status/biosUUID")),
                )
            })
            .collect();
        want.sort();
        let out = kubectl(kubeconfig, &["get", "nodes", "-o", "json"], "");
        if !out.status.success() {
            *last = format!("kubectl get nodes: {}", text(&out.stderr));
            return None;
        }
        let nodes: Value = serde_json::from_slice(&out.stdout).ok()?;
        let mut found: Vec<NodeRow> = items(&nodes)
            .map(|node| {
                let of = |list: &str, type_: &str, field: &str| {
                    node["status"][list]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c["type"] == type_)
                        .map(|c| c[field].as_str().unwrap_or_default().to_owned())
                        .unwrap_or_default()
                };
                (
                    str_at(node, "/metadata/name"),
                    of("conditions", "Ready", "status"),
                    of("addresses", "InternalIP", "address"),
                    str_at(node, "/spec/providerID"),
                )
            })
            .collect();
        found.sort();
        *last = format!("nodes {found:?}, VMs {want:?}");
        (want.len() == count && found == want).then_some(found)
    })
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list["items"].as_array().into_iter().flatten()
}

fn str_at(object: &Value, pointer: &str) -> String {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}
