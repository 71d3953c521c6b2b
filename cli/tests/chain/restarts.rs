//! `wasmvisor up` killed with SIGKILL at three points of a cluster's life
//! (after its VirtualNetwork exists, while its VMs are being created, while
//! it is being deleted) and started again: the chain ends where it would
//! have, with no twin in NSX or vCenter.

use crate::checks::{footprint, wait_gone};
use crate::supervisor::{CONVERGE, Supervisor, tkc_yaml};
use crate::support::eventually;

const NS: &str = "restarts";
const NAME: &str = "cluster-r";

#[test]
fn a_host_killed_at_three_points_converges_to_the_same_state_without_twins() {
    let mut supervisor = Supervisor::start(1);
    supervisor.apply(&tkc_yaml(NS, NAME, 2));

    eventually("the VirtualNetwork to exist", CONVERGE, |_| {
        supervisor.get(&["virtualnetwork", &format!("{NAME}-vnet"), "-n", NS]).map(|_| ())
    });
    supervisor.kill_and_restart();

    eventually("a first VM in vCenter", CONVERGE, |last| {
        let vms = supervisor.world.vms(&format!("{NAME}-"));
        *last = format!("{vms:?}");
        (!vms.is_empty()).then_some(())
    });
    supervisor.kill_and_restart();

    let waited = supervisor.wait_running_saying_why(NS, NAME);
    println!("Ready said meanwhile: {waited:?}");
    let whole = eventually("one of everything", CONVERGE, |last| {
        footprint(&supervisor, NS, NAME, 3).map_err(|e| *last = e).ok()
    });
    assert_eq!(whole.ports, 3, "no twin port: {whole:?}");

    supervisor.kubectl(&["delete", "tkc", NAME, "-n", NS, "--wait=false"]);
    eventually("a first VM to go", CONVERGE, |last| {
        let vms = supervisor.world.vms(&format!("{NAME}-"));
        *last = format!("{vms:?}");
        (vms.len() < 3).then_some(())
    });
    supervisor.kill_and_restart();
    wait_gone(&supervisor, &[(NS, NAME)]);
}
