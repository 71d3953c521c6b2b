//! The chain through flaky endpoints, for the whole run: both simulators add
//! 50 ms to every request, answer 5% of them 503 and 2% 429 with a
//! Retry-After. A cluster still comes up whole, serves a guest LoadBalancer
//! Service, scales 2 → 4 → 1 and goes, to the same states as without
//! faults: one of everything in vCenter and NSX, then nothing.

use crate::checks::{delete_and_wait_gone, footprint, guest_service_balancer, scale_to};
use crate::guests::{expose, guest_kubeconfig, wait_nodes_are_the_vms, withdraw};
use crate::supervisor::{CONVERGE, Supervisor, tkc_yaml};
use crate::support::eventually;

const NS: &str = "flaky";
const NAME: &str = "cluster-f";

/// What both simulators do to every request (`up --sim-faults`).
const FAULTS: &str = r#"{"latency_ms": 50, "error_rate": 0.05, "error_status": 503, "throttle_rate": 0.02, "retry_after_secs": 1}"#;

#[test]
fn the_chain_converges_through_flaky_nsx_and_vcenter() {
    let supervisor = Supervisor::start_with(2, &["--sim-faults", FAULTS]);
    supervisor.apply(&tkc_yaml(NS, NAME, 2));
    let waited = supervisor.wait_running_saying_why(NS, NAME);
    println!("Ready said meanwhile: {waited:?}");
    let first = eventually("one of everything", CONVERGE, |last| {
        footprint(&supervisor, NS, NAME, 3).map_err(|e| *last = e).ok()
    });
    assert_eq!(first.ports, 3, "no twin port: {first:?}");

    let guest = guest_kubeconfig(&supervisor, NS, NAME, &first.vip);
    wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, 3);
    let exposed = expose(&supervisor, &guest, NS);
    for (workers, vms) in [(2, 3), (4, 5), (1, 2)] {
        let scaled = if workers == 2 { first.clone() } else { scale_to(&supervisor, NS, NAME, workers, vms) };
        assert_eq!(scaled.control_plane_members, first.control_plane_members);
        let vip = eventually(&format!("the guest Service's pool on {workers} workers"), CONVERGE, |last| {
            guest_service_balancer(&supervisor, NS, NAME, 80, exposed.node_port).map_err(|e| *last = e).ok()
        });
        assert_eq!(vip, exposed.vip);
    }
    withdraw(&supervisor, &guest, NS, &exposed);
    delete_and_wait_gone(&supervisor, &[(NS, NAME)]);
    println!("what failed under faults: {:?}", supervisor.failures());
    let retried = supervisor.endpoint_retries();
    println!("what the host retried: {retried:?}");
    for endpoint in ["nsx", "vcenter"] {
        let faults_met: u64 =
            retried.iter().filter(|(key, _)| key.starts_with(&format!("{endpoint}/"))).map(|(_, n)| n).sum();
        assert!(faults_met > 0, "the run met no fault of {endpoint}'s: {retried:?}");
    }
}
