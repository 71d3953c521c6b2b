//! `wasmvisor up` killed with SIGKILL three times at random points of a
//! cluster's life (while it is being created, while it scales out with a
//! guest LoadBalancer Service, while it is being deleted) and started again
//! each time: the chain ends where it would have, with no twin in NSX or
//! vCenter and nothing left. The points come from a seed the test prints;
//! `CHAIN_CHAOS_SEED=N` replays one.

use std::time::Duration;

use crate::checks::{footprint, guest_service_balancer, scale_to, wait_gone};
use crate::guests::{expose, guest_kubeconfig, wait_nodes_are_the_vms, withdraw};
use crate::supervisor::{CONVERGE, Supervisor, tkc_yaml};
use crate::support::eventually;

const NS: &str = "restarts";
const NAME: &str = "cluster-r";

/// Kills and restarts `up` after a random share of `window`.
fn kill_within(supervisor: &mut Supervisor, rng: &mut fastrand::Rng, window: Duration, when: &str) {
    let after = Duration::from_millis(rng.u64(0..=u64::try_from(window.as_millis()).unwrap()));
    std::thread::sleep(after);
    println!("killing up {after:?} into {when}");
    supervisor.kill_and_restart();
}

#[test]
fn a_host_killed_three_times_at_random_points_converges_without_twins() {
    let seed = std::env::var("CHAIN_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("CHAIN_CHAOS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut supervisor = Supervisor::start(1);

    supervisor.apply(&tkc_yaml(NS, NAME, 2));
    kill_within(&mut supervisor, &mut rng, Duration::from_secs(12), "the cluster's creation");
    let waited = supervisor.wait_running_saying_why(NS, NAME);
    println!("Ready said meanwhile: {waited:?}");
    let whole = eventually("one of everything", CONVERGE, |last| {
        footprint(&supervisor, NS, NAME, 3).map_err(|e| *last = e).ok()
    });
    assert_eq!(whole.ports, 3, "no twin port: {whole:?}");

    let guest = guest_kubeconfig(&supervisor, NS, NAME, &whole.vip);
    wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, 3);
    let exposed = expose(&supervisor, &guest, NS);
    supervisor.scale(NS, NAME, 4);
    kill_within(&mut supervisor, &mut rng, Duration::from_secs(8), "scaling out to 4 workers");
    let scaled = scale_to(&supervisor, NS, NAME, 4, 5);
    assert_eq!(scaled.control_plane_members, whole.control_plane_members);
    wait_nodes_are_the_vms(&supervisor, &guest, NS, NAME, 5);
    let vip = eventually("the guest Service's pool on 4 workers", CONVERGE, |last| {
        guest_service_balancer(&supervisor, NS, NAME, 80, exposed.node_port).map_err(|e| *last = e).ok()
    });
    assert_eq!(vip, exposed.vip, "the guest Service keeps its VIP through the restart");
    withdraw(&supervisor, &guest, NS, &exposed);

    supervisor.kubectl(&["delete", "tkc", NAME, "-n", NS, "--wait=false"]);
    kill_within(&mut supervisor, &mut rng, Duration::from_secs(6), "the cluster's deletion");
    wait_gone(&supervisor, &[(NS, NAME)]);
}
