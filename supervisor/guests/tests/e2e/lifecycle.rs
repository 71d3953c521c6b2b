//! A cluster of one control plane and two workers, from VMs to a guest cluster and back:
//! the kubeconfig Secret, three Ready Nodes seen by kubectl, a NodePort answering on every
//! node, a worker leaving, a restart of the component, and the guest gone with its VMs.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context as _, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use wasmvisor_guests::{Config, Guests};

use crate::support::{CLUSTER, DEADLINE, Supervisor, VM, eventually, file, http_get, kubectl, refused};

const NS: &str = "tkgs-ns";
const CLUSTER_NAME: &str = "c1";

/// Addresses of this run: a /24 of loopback per process, so parallel runs (and a
/// `wasmvisor up` on 127.160.0.0/16) do not meet.
struct Addresses {
    control_plane: IpAddr,
    workers: [IpAddr; 2],
    vip: IpAddr,
}

impl Addresses {
    fn new() -> Addresses {
        let subnet = std::process::id() % 200 + 20;
        let ip = |third: &str, last: u32| format!("127.{third}.{subnet}.{last}").parse().unwrap();
        Addresses { control_plane: ip("163", 2), workers: [ip("163", 3), ip("163", 4)], vip: ip("171", 1) }
    }
}

fn vm(name: &str, role: &str, ip: IpAddr) -> Value {
    json!({
        "apiVersion": "vmoperator.vmware.com/v1alpha1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS, "labels": {
            "capv.vmware.com/cluster.name": CLUSTER_NAME, "capv.vmware.com/cluster.role": role}},
        "spec": {"imageName": "ob-20953521-tkgs-ova-photon-3-v1.23.8---vmware.3-tkg.1",
            "className": "best-effort-small", "powerState": "poweredOn"},
        "status": {"powerState": "poweredOn", "phase": "Created", "vmIp": ip.to_string(),
            "biosUUID": format!("uuid-{name}")},
    })
}

const NODES: [&str; 3] = ["c1-control-plane-x", "c1-workers-a", "c1-workers-b"];

/// `kubectl get nodes -o json` through `kubeconfig`: (name, Ready, InternalIP, providerID).
async fn nodes(kubeconfig: &std::path::Path) -> anyhow::Result<Vec<(String, String, String, String)>> {
    let list: Value = serde_json::from_str(&kubectl(kubeconfig, &["get", "nodes", "-o", "json"]).await?)?;
    let mut found: Vec<(String, String, String, String)> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|n| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let field = |list: &str, type_: &str, value: &str| {
                n["status"][list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == type_)
                    .map(|c| text(&c[value]))
            };
            (
                text(&n["metadata"]["name"]),
                field("conditions", "Ready", "status").unwrap_or_default(),
                field("addresses", "InternalIP", "address").unwrap_or_default(),
                text(&n["spec"]["providerID"]),
            )
        })
        .collect();
    found.sort();
    Ok(found)
}

fn expected(addresses: &Addresses, names: &[&str]) -> Vec<(String, String, String, String)> {
    let ips = [addresses.control_plane, addresses.workers[0], addresses.workers[1]];
    NODES
        .iter()
        .zip(ips)
        .filter(|(name, _)| names.contains(name))
        .map(|(name, ip)| {
            ((*name).to_owned(), "True".to_owned(), ip.to_string(), format!("vsphere://uuid-{name}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_become_a_guest_cluster_with_nodes_and_node_ports_and_go_with_them() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt().with_env_filter("wasmvisor_guests=debug").with_test_writer().try_init();
    let supervisor = Supervisor::start().await?;
    let addresses = Addresses::new();
    let store = supervisor.dir.path().join("guests");
    let guest_api = SocketAddr::new(addresses.control_plane, 6443);

    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(supervisor.client.clone());
    namespaces
        .create(&Default::default(), &serde_json::from_value(json!({"metadata": {"name": NS}}))?)
        .await?;
    let cluster = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
        "metadata": {"name": CLUSTER_NAME, "namespace": NS},
        "spec": {"controlPlaneEndpoint": {"host": addresses.vip.to_string(), "port": 6443}}});
    supervisor.create(&CLUSTER, NS, cluster).await?;
    supervisor.create(&VM, NS, vm(NODES[0], "controlplane", addresses.control_plane)).await?;
    supervisor.create(&VM, NS, vm(NODES[1], "node", addresses.workers[0])).await?;
    supervisor.create(&VM, NS, vm(NODES[2], "node", addresses.workers[1])).await?;

    let config = Config { supervisor: supervisor.client.clone(), data_dir: store.clone() };
    let guests = Guests::start(config.clone());

    // The Secret, as Cluster API publishes it, with the VIP as its server.
    let secrets: Api<Secret> = Api::namespaced(supervisor.client.clone(), NS);
    let secret = eventually("the kubeconfig Secret", DEADLINE, || async {
        Ok(secrets.get(&format!("{CLUSTER_NAME}-kubeconfig")).await?)
    })
    .await?;
    assert_eq!(secret.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
    assert_eq!(secret.metadata.labels.unwrap_or_default()["cluster.x-k8s.io/cluster-name"], CLUSTER_NAME);
    let owner = &secret.metadata.owner_references.unwrap_or_default()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Cluster", CLUSTER_NAME));
    let value = secret.data.unwrap_or_default().remove("value").context("key value")?;
    let mut kubeconfig: Value = serde_yaml::from_slice(&value.0)?;
    assert_eq!(kubeconfig["clusters"][0]["cluster"]["server"], format!("https://{}:6443", addresses.vip));
    // No NSX proxy here: go to the control-plane VM directly (its certificate names both).
    kubeconfig["clusters"][0]["cluster"]["server"] = json!(format!("https://{guest_api}"));
    let guest_kubeconfig = file(supervisor.dir.path(), "guest-kubeconfig");
    std::fs::write(&guest_kubeconfig, serde_json::to_string(&kubeconfig)?)?;

    // Three Ready Nodes with the VMs' IPs and provider IDs, printed as kubectl prints nodes.
    eventually("three Ready nodes", DEADLINE, || async {
        let found = nodes(&guest_kubeconfig).await?;
        ensure!(found == expected(&addresses, &NODES), "{found:?}");
        Ok(())
    })
    .await?;
    let table = kubectl(&guest_kubeconfig, &["get", "nodes"]).await?;
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], "{table}");
    assert_eq!(
        [lines[1][0], lines[1][1], lines[1][2], lines[1][4]],
        [NODES[0], "Ready", "control-plane", "v1.23.8+vmware.3"]
    );
    assert_eq!([lines[2][1], lines[2][2]], ["Ready", "<none>"], "{table}");

    // A NodePort Service in the guest answers on every node with that node's name.
    kubectl(&guest_kubeconfig, &["create", "service", "nodeport", "web", "--tcp=80:8080"]).await?;
    let node_port: u16 =
        kubectl(&guest_kubeconfig, &["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"])
            .await?
            .trim()
            .parse()?;
    let ips = [addresses.control_plane, addresses.workers[0], addresses.workers[1]];
    for (name, ip) in NODES.iter().zip(ips) {
        let body = eventually(&format!("{ip}:{node_port} to answer"), DEADLINE, || async {
            http_get(SocketAddr::new(ip, node_port)).await
        })
        .await?;
        assert_eq!(body, format!("node {name} service default/web port 80/TCP nodePort {node_port}\n"));
    }

    // A worker's VM goes: its Node leaves and its node port closes.
    supervisor.api(&VM, NS).delete(NODES[2], &DeleteParams::default()).await?;
    eventually("the deleted worker's node to leave", DEADLINE, || async {
        let found = nodes(&guest_kubeconfig).await?;
        ensure!(found == expected(&addresses, &NODES[..2]), "{found:?}");
        Ok(())
    })
    .await?;
    let gone = SocketAddr::new(addresses.workers[1], node_port);
    eventually("the deleted worker's node port to close", DEADLINE, || async {
        ensure!(refused(gone).await, "{gone} still answers");
        Ok(())
    })
    .await?;

    // Stopping the component stops the guest but keeps its store; starting it again comes
    // back with the same CA and token (the Secret stays valid) and the same nodes.
    guests.shutdown().await;
    assert!(refused(guest_api).await, "the guest API server stops with the component");
    assert!(store.join(NS).join(CLUSTER_NAME).join("state.db").exists(), "the store is kept");
    let guests = Guests::start(config);
    eventually("the guest to come back with two nodes", DEADLINE, || async {
        let found = nodes(&guest_kubeconfig).await?;
        ensure!(found == expected(&addresses, &NODES[..2]), "{found:?}");
        Ok(())
    })
    .await?;

    // All VMs go: the guest API server stops and its store is removed.
    for name in &NODES[..2] {
        supervisor.api(&VM, NS).delete(name, &DeleteParams::default()).await?;
    }
    eventually("the guest API server to stop", DEADLINE, || async {
        ensure!(refused(guest_api).await, "{guest_api} still accepts connections");
        Ok(())
    })
    .await?;
    eventually("the guest store to be removed", DEADLINE, || async {
        let cluster_store = store.join(NS).join(CLUSTER_NAME);
        ensure!(!cluster_store.exists(), "{} still exists", cluster_store.display());
        Ok(())
    })
    .await?;

    guests.shutdown().await;
    supervisor.server.shutdown().await?;
    Ok(())
}
