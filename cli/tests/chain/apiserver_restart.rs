//! The API server killed with SIGKILL while the host lives, in the middle of
//! a cluster's creation, and started again on the same store: the host's
//! watches relist, its failed writes retry, and the chain ends where it
//! would have, with no twin in NSX or vCenter and nothing left after delete.

use crate::checks::{delete_and_wait_gone, footprint};
use crate::supervisor::{CONVERGE, Supervisor, tkc_yaml};
use crate::support::eventually;

const NS: &str = "api-restart";
const NAME: &str = "cluster-a";

#[test]
fn the_api_server_killed_mid_creation_converges_without_twins() {
    let mut supervisor = Supervisor::start_with_separate_apiserver(3);
    supervisor.apply(&tkc_yaml(NS, NAME, 2));
    eventually("a first VM in vCenter", CONVERGE, |last| {
        let vms = supervisor.world.vms(&format!("{NAME}-"));
        *last = format!("{vms:?}");
        (!vms.is_empty()).then_some(())
    });
    supervisor.kill_and_restart_apiserver();

    let waited = supervisor.wait_running_saying_why(NS, NAME);
    println!("Ready said meanwhile: {waited:?}");
    let whole = eventually("one of everything", CONVERGE, |last| {
        footprint(&supervisor, NS, NAME, 3).map_err(|e| *last = e).ok()
    });
    assert_eq!(whole.ports, 3, "no twin port: {whole:?}");
    delete_and_wait_gone(&supervisor, &[(NS, NAME)]);
}
