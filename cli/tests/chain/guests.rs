//! The guest side of a running cluster, seen as its user sees it: the
//! `<cluster>-kubeconfig` Secret Cluster API publishes, and `kubectl get
//! nodes` through it listing one Ready Node per VM.
//!
//! The Secret's server is the control-plane VIP, and kubectl uses it as it
//! is: the connection goes through the NSX simulator's virtual server on
//! the VIP to the control-plane VM, where the guest API server listens.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::checks::service_leftovers;
use crate::supervisor::{CONVERGE, Supervisor};
use crate::support::{eventually, kubectl, text};

/// (name, Ready status, InternalIP, providerID) of a Node, or of the VM it should be.
pub(crate) type NodeRow = (String, String, String, String);

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

pub(crate) const GUEST_SERVICE: &str = include_str!("../../../examples/guest-service.yaml");

/// The guest LoadBalancer Service `default/web` as the guest and the
/// Supervisor see it.
pub(crate) struct Exposed {
    /// Its EXTERNAL-IP.
    pub(crate) vip: String,
    /// The node port its traffic reaches the workers on.
    pub(crate) node_port: u16,
    /// The Supervisor VirtualMachineService the cloud provider made for it.
    pub(crate) vm_service: String,
}

/// Applies a LoadBalancer Service in the guest and waits for its
/// EXTERNAL-IP from the Supervisor (cloud-provider → VirtualMachineService
/// → NSX); the VIP must answer from a worker node on the Service's node
/// port.
pub(crate) fn expose(supervisor: &Supervisor, kubeconfig: &Path, namespace: &str) -> Exposed {
    let before = supervisor.names("virtualmachineservices", namespace);
    let applied = kubectl(kubeconfig, &["apply", "-f", "-"], GUEST_SERVICE);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let (vip, node_port) = eventually("the guest Service's EXTERNAL-IP", CONVERGE, |last| {
        let out = kubectl(
            kubeconfig,
            &[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip} {.spec.ports[0].nodePort}",
            ],
            "",
        );
        *last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let printed = text(&out.stdout);
        let (ip, port) = printed.trim().split_once(' ')?;
        Some((ip.to_owned(), port.parse::<u16>().ok()?))
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
    let vm_service = supervisor
        .names("virtualmachineservices", namespace)
        .into_iter()
        .find(|n| !before.contains(n))
        .expect("a VirtualMachineService for the guest Service");
    Exposed {
        vip,
        node_port,
        vm_service: vm_service.trim_start_matches("virtualmachineservice.vmoperator.vmware.com/").to_owned(),
    }
}

/// Deletes the guest Service `default/web`; waits until the Supervisor's
/// VirtualMachineService and Service for it are gone, and with them its
/// virtual server, pool and VIP in NSX.
pub(crate) fn withdraw(supervisor: &Supervisor, kubeconfig: &Path, namespace: &str, exposed: &Exposed) {
    let deleted = kubectl(kubeconfig, &["delete", "svc", "web"], "");
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    eventually("the guest Service's Supervisor objects and NSX load balancer to go", CONVERGE, |last| {
        let mut left: Vec<String> = supervisor
            .names("virtualmachineservices,services", namespace)
            .into_iter()
            .filter(|n| n.ends_with(&format!("/{}", exposed.vm_service)))
            .collect();
        left.extend(service_leftovers(&supervisor.world, namespace, &exposed.vm_service));
        *last = left.join("\n");
        left.is_empty().then_some(())
    });
}
