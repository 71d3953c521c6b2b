//! The Supervisor chain end to end: `wasmvisor up` as a process, the real
//! kubectl as the client, and vCenter and NSX read through their own REST
//! APIs. A TanzuKubernetesCluster becomes VMs on its own segment behind a
//! load balancer and a guest cluster whose Nodes are those VMs, scales, and
//! leaves nothing behind; restarts at any point converge without twins.
//!
//! One `up` serves the first test's scenarios in sequence (a `up` costs a
//! start and a compile of every plugin); the restart test needs its own.

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod guests;
mod restarts;
mod supervisor;
mod world;

use std::time::Instant;

use checks::{api_leftovers, footprint, leftovers};
use guests::{guest_kubeconfig, guest_load_balancer_round_trip, wait_nodes_are_the_vms};
use supervisor::{CONVERGE, Supervisor, condition, tkc_yaml};
use support::eventually;

const EXAMPLE: &str = include_str!("../../../examples/tkc.yaml");
const NS: &str = "tkgs-ns";
const NAME: &str = "tkgs-cluster-1";

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
    let served = Instant::now();
    let guest_vip = guest_load_balancer_round_trip(&supervisor, &guest, NS);
    assert_ne!(guest_vip, first.vip, "the guest Service has a VIP of its own");
    println!(
        "guest LoadBalancer Service → answer on its EXTERNAL-IP and gone again: {:.1} s",
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

    // Scale the node pool 2 → 4 → 1: VMs and ports follow, the control-plane pool stays.
    for (workers, vms) in [(4, 5), (1, 2)] {
        supervisor.scale(NS, NAME, workers);
        let scaled = eventually(&format!("{workers} workers"), CONVERGE, |last| {
            let tkc = supervisor.tkc(NS, NAME)?;
            let found = footprint(&supervisor, NS, NAME, vms).map_err(|e| *last = e).ok()?;
            (found.ports == vms && tkc["status"]["phase"] == "running").then_some(found)
        });
        assert_eq!(
            scaled.control_plane_members, first.control_plane_members,
            "the control plane's pool does not change"
        );
        assert_eq!(scaled.vip, first.vip);
        wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, vms);
    }

    // Delete both: nothing of them stays in either simulator or the API server.
    let deleted = Instant::now();
    supervisor.kubectl(&["delete", "tkc", NAME, "-n", NS, "--wait=false"]);
    supervisor.kubectl(&["delete", "tkc", "cluster-b", "-n", "team-b", "--wait=false"]);
    for (namespace, name) in [(NS, NAME), ("team-b", "cluster-b")] {
        eventually(&format!("nothing of {namespace}/{name} to remain"), CONVERGE, |last| {
            let mut left = leftovers(&supervisor.world, namespace, name);
            left.extend(api_leftovers(&supervisor, namespace));
            *last = left.join("\n");
            left.is_empty().then_some(())
        });
    }
    println!("delete → nothing left: {:.1} s", deleted.elapsed().as_secs_f64());
}
