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

const GUEST_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  ports:
  - name: http
    port: 80
    targetPort: 8080
";

/// A LoadBalancer Service in the guest gets an EXTERNAL-IP from the
/// Supervisor (cloud-provider → VirtualMachineService → NSX), the VIP
/// answers from a worker node on the Service's node port, and deleting the
/// Service removes the Supervisor's VirtualMachineService. Returns the VIP.
pub(crate) fn guest_load_balancer_round_trip(
    supervisor: &Supervisor,
    kubeconfig: &Path,
    namespace: &str,
) -> String {
    let applied = kubectl(kubeconfig, &["apply", "-f", "-"], GUEST_SERVICE);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let vip = eventually("the guest Service's EXTERNAL-IP", CONVERGE, |last| {
        let out = kubectl(
            kubeconfig,
            &["get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"],
            "",
        );
        *last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let ip = text(&out.stdout);
        (!ip.is_empty()).then_some(ip)
    });
    let answer = eventually(&format!("an answer on {vip}:80"), CONVERGE, |last| {
        let mut stream =
            std::net::TcpStream::connect((vip.as_str(), 80)).map_err(|e| *last = e.to_string()).ok()?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(3))).ok()?;
        let mut line = String::new();
        std::io::Read::read_to_string(&mut stream, &mut line).ok();
        *last = line.clone();
        line.contains("service default/web").then_some(line)
    });
    assert!(answer.contains("-worker-"), "a worker node answers: {answer}");
    let deleted = kubectl(kubeconfig, &["delete", "svc", "web"], "");
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    eventually("the Supervisor's VirtualMachineService for it to go", CONVERGE, |last| {
        let names = supervisor.names("virtualmachineservices", namespace);
        *last = names.join(" ");
        (names.len() == 1).then_some(())
    });
    vip
}
