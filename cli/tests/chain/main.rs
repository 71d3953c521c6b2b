//! The Supervisor chain end to end: `wasmvisor up` as a process, the real
//! kubectl as the client, and vCenter and NSX read through their own REST
//! APIs. A TanzuKubernetesCluster becomes VMs on its own segment behind a
//! load balancer and a guest cluster whose Nodes are those VMs, scales, and
//! leaves nothing behind; restarts at any point converge without twins.
//!
//! One `up` serves the first test's scenarios in sequence (a `up` costs a
//! start and a compile of every plugin); the restart tests need their own.

#[path = "../support/mod.rs"]
mod support;

mod apiserver_restart;
mod audit;
mod calico;
mod checks;
mod credentials;
mod flaky;
mod guests;
mod replay;
mod restarts;
mod supervisor;
mod world;

use std::time::Instant;

use checks::{delete_and_wait_gone, footprint, guest_service_balancer, scale_to};
use guests::{expose, guest_kubeconfig, wait_nodes_are_the_vms, withdraw};
use supervisor::{CONVERGE, Supervisor, condition, tkc_yaml};
use support::eventually;

const EXAMPLE: &str = include_str!("../../../examples/tkc.yaml");
const NS: &str = "tkgs-ns";
const NAME: &str = "tkgs-cluster-1";

/// The example's pod range, where Calico's blocks come from.
fn pods() -> ipnet::Ipv4Net {
    "192.0.2.0/16".parse::<ipnet::Ipv4Net>().unwrap().trunc()
}

/// The TKC reports its guest side: its addons provisioned, every node
/// ready, and each Machine pointing at its Node.
fn guest_side_is_reported(supervisor: &Supervisor, namespace: &str, name: &str, nodes: &[guests::NodeRow]) {
    let tkc = eventually("the TKC to report its nodes ready", CONVERGE, |last| {
        let tkc = supervisor.tkc(namespace, name)?;
        *last = serde_json::to_string_pretty(&tkc["status"]).unwrap();
        let all_ready = nodes.iter().all(|(node, ..)| tkc["status"]["nodeStatus"][node] == "ready");
        (all_ready && tkc["status"]["nodeStatus"].as_object()?.len() == nodes.len()).then_some(tkc)
    });
    assert_eq!(condition(&tkc, "AddonsReady").map(|c| c["status"].clone()), Some("True".into()));
    let addons: Vec<(String, String, String)> = tkc["status"]["addons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let provisioned =
                a["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Provisioned"));
            (
                a["type"].as_str().unwrap_or_default().to_owned(),
                a["name"].as_str().unwrap_or_default().to_owned(),
                provisioned.map(|c| c["status"].as_str().unwrap_or_default().to_owned()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        addons,
        [("CNI".into(), "calico".into(), "True".into()), ("CPI".into(), "vsphere-cpi".into(), "True".into())]
    );
    let machines = supervisor.get(&["machines", "-n", namespace]).unwrap();
    for machine in machines["items"].as_array().unwrap() {
        let node = &machine["status"]["nodeRef"];
        assert_eq!(node["kind"], "Node");
        assert_eq!(node["name"], machine["metadata"]["name"], "a Machine's Node has its name");
        assert_eq!(machine["status"]["phase"], "Running");
    }
}

/// A TKC naming what the Supervisor lacks gets `Ready=False` naming the
/// field and the fix, and nothing is made for it.
fn bad_input_is_refused_with_the_field_and_the_fix(supervisor: &Supervisor) {
    let cases = [
        (
            "bad-class",
            "vmClass: best-effort-small",
            "vmClass: best-effort-huge",
            "VirtualMachineClassNotFound",
            "spec.topology.controlPlane.vmClass \"best-effort-huge\"",
        ),
        (
            "bad-release",
            "name: v1.23.8---vmware.3-tkg.1",
            "name: v1.99.0---vmware.1-tkg.1",
            "TanzuKubernetesReleaseNotFound",
            "spec.topology.controlPlane.tkr.reference.name \"v1.99.0---vmware.1-tkg.1\"",
        ),
        (
            "bad-pods",
            "192.0.2.0/16",
            "127.160.0.0/16",
            "PodCIDROverlap",
            "spec.settings.network.pods.cidrBlocks[0] 127.160.0.0/16 overlaps the Supervisor's namespace network",
        ),
        (
            "bad-cni",
            "name: calico",
            "name: antrea",
            "CNINotSupported",
            "spec.settings.network.cni.name \"antrea\"",
        ),
    ];
    for (name, from, to, reason, names) in cases {
        let yaml = tkc_yaml("bad-input", name, 2).replacen(from, to, 1);
        supervisor.apply(&yaml);
        let ready = eventually(&format!("TKC {name} to say why it is refused"), CONVERGE, |last| {
            let tkc = supervisor.tkc("bad-input", name)?;
            *last = tkc["status"].to_string();
            condition(&tkc, "Ready").filter(|c| c["reason"] == reason).cloned()
        });
        assert_eq!(ready["status"], "False");
        let message = ready["message"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
        assert!(message.contains("; "), "the message says what to do: {message}");
    }
    assert_eq!(
        supervisor.names("clusters,kubeadmcontrolplanes,machinedeployments", "bad-input"),
        Vec::<String>::new()
    );
    supervisor.kubectl(&["delete", "tkc", "--all", "-n", "bad-input"]);
}

#[test]
fn a_tkc_becomes_vms_on_its_own_network_behind_a_load_balancer_and_leaves_nothing() {
    let supervisor = Supervisor::start(0);
    bad_input_is_refused_with_the_field_and_the_fix(&supervisor);

    let applied = Instant::now();
    supervisor.apply(EXAMPLE);
    let tkc = supervisor.wait_phase(NS, NAME, "running");
    let took = applied.elapsed();
    println!("apply → running: {:.1} s", took.as_secs_f64());
    println!("reconciles per plugin for one cluster: {:?}", supervisor.reconciles());
    println!("host calls per plugin for one cluster: {:?}", supervisor.host_calls());
    let first = eventually("the cluster's VMs, network and load balancer", CONVERGE, |last| {
        footprint(&supervisor, NS, NAME, 3).map_err(|e| *last = e).ok()
    });
    assert_eq!(tkc["status"]["apiEndpoints"][0]["host"], first.vip, "the TKC's endpoint is the VIP");
    assert_eq!(tkc["status"]["apiEndpoints"][0]["port"], 6443);
    assert_eq!(first.ports, 3, "one segment port per VM");

    // The guest cluster: its kubeconfig Secret, and one Ready Node per VM.
    let guest = guest_kubeconfig(&supervisor, NS, NAME, &first.vip);
    let joined = Instant::now();
    let nodes = wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, 3);
    println!("running → 3 Ready nodes: {:.1} s more: {nodes:?}", joined.elapsed().as_secs_f64());
    guest_side_is_reported(&supervisor, NS, NAME, &nodes);
    let blocks = eventually("one Calico block per node", CONVERGE, |last| {
        calico::blocks_per_node(&guest, pods()).map_err(|e| *last = e).ok()
    });
    println!("Calico blocks: {blocks:?}");
    let served = Instant::now();
    let exposed = expose(&supervisor, &guest, NS);
    assert_ne!(exposed.vip, first.vip, "the guest Service has a VIP of its own");
    let balancer = |workers: usize| {
        eventually(&format!("the guest Service's pool to hold the {workers} workers"), CONVERGE, |last| {
            guest_service_balancer(&supervisor, NS, NAME, 80, exposed.node_port).map_err(|e| *last = e).ok()
        })
    };
    assert_eq!(balancer(2), exposed.vip, "NSX serves the EXTERNAL-IP");
    println!(
        "guest LoadBalancer Service → EXTERNAL-IP answering from a worker: {:.1} s",
        served.elapsed().as_secs_f64()
    );

    // A second cluster in another namespace at the same time: its own subnet, VIP and tags.
    supervisor.apply(&tkc_yaml("team-b", "cluster-b", 1));
    supervisor.wait_phase("team-b", "cluster-b", "running");
    let second = eventually("the second cluster's footprint", CONVERGE, |last| {
        footprint(&supervisor, "team-b", "cluster-b", 2).map_err(|e| *last = e).ok()
    });
    assert_ne!(first.subnet, second.subnet, "each cluster has its own subnet");
    assert_ne!(first.vip, second.vip);
    assert_ne!(first.segment, second.segment);
    assert_eq!(
        supervisor.names("virtualmachineservices", "team-b"),
        ["virtualmachineservice.vmoperator.vmware.com/cluster-b-control-plane-service"],
        "the guest Service of the first cluster wrote nothing in the second's namespace"
    );

    let first_blocks = blocks;
    // Scale the node pool 2 → 4 → 1: VMs and ports follow, the control-plane pool stays.
    for (workers, vms) in [(4, 5), (1, 2)] {
        let scaled = scale_to(&supervisor, NS, NAME, workers, vms);
        assert_eq!(
            scaled.control_plane_members, first.control_plane_members,
            "the control plane's pool does not change"
        );
        assert_eq!(scaled.vip, first.vip);
        let nodes = wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, vms);
        let blocks = eventually(&format!("one Calico block per node of {vms}"), CONVERGE, |last| {
            calico::blocks_per_node(&guest, pods()).map_err(|e| *last = e).ok()
        });
        assert_eq!(blocks.len(), nodes.len(), "blocks follow the nodes");
        for (node, block) in &first_blocks {
            if let Some(kept) = blocks.get(node) {
                assert_eq!(kept, block, "{node} keeps its block while the pool scales");
            }
        }
        assert_eq!(balancer(workers as usize), exposed.vip, "the guest Service keeps its VIP");
    }
    withdraw(&supervisor, &guest, NS, &exposed);
    // The guest's side of the proxy never held a Supervisor, NSX or vCenter credential.
    credentials::nothing_received_is_a_credential(&supervisor, "cloud-provider", &[&guest]);

    // Delete both: nothing of them stays in either simulator or the API server.
    let deleted = Instant::now();
    delete_and_wait_gone(&supervisor, &[(NS, NAME), ("team-b", "cluster-b")]);
    let refused = std::net::TcpStream::connect((first.vip.as_str(), 6443)).map(|_| ()).map_err(|e| e.kind());
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused), "the guest API server's VIP is gone");
    let output = supervisor.process.output();
    let denied: Vec<&str> = output.lines().filter(|l| l.contains("forbidden: User")).collect();
    assert!(denied.is_empty(), "a 403 under the generated ServiceAccount:\n{}", denied.join("\n"));
    println!("delete → nothing left: {:.1} s", deleted.elapsed().as_secs_f64());
    // What the chain's plugins used, create to delete, is within what their manifests ask.
    audit::proposals_are_within_the_manifests(&supervisor);
    // Each plugin as it ran, replayed on its own recordings, does the same.
    replay::each_plugin_replays_its_own_recordings_the_same(&supervisor);
    replay::a_candidate_that_lost_a_capability_differs_and_a_greedy_one_is_refused(&supervisor);
}
