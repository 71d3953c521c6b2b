//! The NSX load balancer data plane: every enabled virtual server is a real TCP listener
//! on `ip_address:port` forwarding to its pool's members.
//!
//! Where it sits: beside the Policy API, on the same store. In: a change notification
//! (`crate::changes`) bumped after every committed write under `/infra/lb-`. Out: the set
//! of open listeners (`proxy`), brought in line with [`desired`] after each bump and
//! once at start, so a restart on the same data dir serves the same virtual servers.
//! Invariants: level-based (each pass re-reads the store and diffs; a missed bump
//! cannot leave a stale listener once another write comes); a listener whose route
//! changes keeps its socket and takes the new members for the next connection; a
//! problem (bind failure, bad port) is logged once while it lasts and never fails the
//! API request that caused it; stopping closes every listener and connection.

mod desired;
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use self::desired::{Desired, Problem, Route};
use crate::server::Companion;
use crate::store::{Store, StoreError};

/// Collections whose writes change what the data plane serves.
const WATCHED_PREFIX: &str = "/infra/lb-";

/// Serves the virtual servers in `store` now, then follows its changes until the
/// returned [`Companion`] is stopped (or dropped).
pub(crate) async fn start(store: Store) -> Companion {
    let changes = store.changes().subscribe(WATCHED_PREFIX);
    let mut plane = Dataplane { store, listeners: BTreeMap::new(), reported: BTreeSet::new() };
    plane.reconcile().await;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(plane.run(changes, stopped));
    Companion { stop, task }
}

/// The open listeners and the problems already logged.
struct Dataplane {
    store: Store,
    listeners: BTreeMap<SocketAddr, Listener>,
    /// Problems logged and still present; each is logged again only after it went away.
    reported: BTreeSet<Problem>,
}

/// One open listener: its route (dropping the sender closes it) and its task.
struct Listener {
    route: watch::Sender<Arc<Route>>,
    task: JoinHandle<()>,
}

impl Listener {
    async fn close(self) {
        drop(self.route);
        let _ = self.task.await;
    }
}

impl Dataplane {
    async fn run(mut self, mut changes: watch::Receiver<u64>, mut stopped: oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
            changes.borrow_and_update();
            self.reconcile().await;
        }
        for (_, listener) in std::mem::take(&mut self.listeners) {
            listener.close().await;
        }
    }

    /// Brings the open listeners in line with the store.
    async fn reconcile(&mut self) {
        let desired = match self.store.transact::<_, StoreError, _>(desired::read).await {
            Ok(desired) => desired,
            Err(error) => {
                // Kept as they are; the next write brings another pass.
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "reading load balancer objects failed"
                );
                return;
            }
        };
        let Desired { listeners: wanted, mut problems } = desired;
        let gone: Vec<SocketAddr> =
            self.listeners.keys().filter(|a| !wanted.contains_key(a)).copied().collect();
        for address in gone {
            if let Some(listener) = self.listeners.remove(&address) {
                let virtual_server = listener.route.borrow().virtual_server.clone();
                listener.close().await;
                tracing::info!(%virtual_server, %address, "virtual server listener closed");
            }
        }
        for (address, route) in wanted {
            if let Some(open) = self.listeners.get(&address) {
                open.route.send_if_modified(|current| {
                    let changed = **current != route;
                    if changed {
                        *current = Arc::new(route);
                    }
                    changed
                });
                continue;
            }
            match TcpListener::bind(address).await {
                Ok(socket) => {
                    tracing::info!(virtual_server = %route.virtual_server, %address, "virtual server listening");
                    let (sender, receiver) = watch::channel(Arc::new(route));
                    let task = tokio::spawn(proxy::serve(socket, receiver));
                    self.listeners.insert(address, Listener { route: sender, task });
                }
                Err(error) => problems.push(Problem {
                    virtual_server: route.virtual_server,
                    reason: format!("cannot listen on {address}: {error}"),
                }),
            }
        }
        self.report(problems);
    }

    /// Logs the problems not logged before; forgets those that went away.
    fn report(&mut self, problems: Vec<Problem>) {
        for problem in fresh(&mut self.reported, problems) {
            tracing::warn!(
                virtual_server = %problem.virtual_server,
                reason = %problem.reason,
                "virtual server not served (the API accepted it; fix the object or free the address)"
            );
        }
    }
}

/// The problems of this pass that `reported` lacks; `reported` becomes this pass's set,
/// so a problem that goes away and comes back is reported again.
fn fresh(reported: &mut BTreeSet<Problem>, problems: Vec<Problem>) -> Vec<Problem> {
    let now: BTreeSet<Problem> = problems.into_iter().collect();
    let new = now.difference(reported).cloned().collect();
    *reported = now;
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(reason: &str) -> Problem {
        Problem { virtual_server: "/infra/lb-virtual-servers/vs".into(), reason: reason.into() }
    }

    #[test]
    fn a_lasting_problem_is_reported_once_and_again_after_it_went_away() {
        let mut reported = BTreeSet::new();
        assert_eq!(fresh(&mut reported, vec![problem("in use")]), [problem("in use")]);
        assert_eq!(fresh(&mut reported, vec![problem("in use"), problem("bad port")]), [problem("bad port")]);
        assert_eq!(fresh(&mut reported, vec![problem("in use"), problem("bad port")]), []);
        assert_eq!(fresh(&mut reported, vec![]), []);
        assert_eq!(fresh(&mut reported, vec![problem("in use")]), [problem("in use")]);
    }
}
