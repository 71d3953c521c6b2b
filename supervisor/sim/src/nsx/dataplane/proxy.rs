//! One virtual server address: accept TCP connections and splice each to a pool member.
//!
//! In: a bound listener and the live [`Route`] for its address. Out: proxied
//! connections. Invariants: members are tried round robin from a per-listener counter,
//! a member that refuses (or does not answer within [`CONNECT_TIMEOUT`]) is skipped for
//! the next one, then the backups; when none accepts, the client connection is closed.
//! When the route's sender is dropped the listener closes and every connection it
//! accepted is closed before [`serve`] returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::desired::Route;

/// How long one member may take to accept before the next is tried. Refusals on this
/// machine are immediate; this bounds members on addresses that drop packets.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `listener` with the latest `route` until the route's sender is dropped.
pub(super) async fn serve(listener: TcpListener, mut route: watch::Receiver<Arc<Route>>) {
    let mut connections = JoinSet::new();
    let mut next = 0usize;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let route = Arc::clone(&route.borrow());
                    connections.spawn(forward(client, route, next));
                    next = next.wrapping_add(1);
                }
                Err(error) => {
                    tracing::debug!(%error, "accept failed on a virtual server");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            changed = route.changed() => if changed.is_err() { break },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Connects `client` to a member (starting at member `start`) and copies both ways
/// until either side closes.
async fn forward(mut client: TcpStream, route: Arc<Route>, start: usize) {
    let Some((mut upstream, member)) = connect(&route, start).await else {
        tracing::debug!(virtual_server = %route.virtual_server, "no member accepted; closing the client");
        return;
    };
    drop(route);
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::trace!(%member, %error, "proxied connection ended with an error");
    }
}

async fn connect(route: &Route, start: usize) -> Option<(TcpStream, SocketAddr)> {
    let n = route.members.len();
    let order = (0..n).map(|i| route.members[(start + i) % n]).chain(route.backups.iter().copied());
    for member in order {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(member)).await {
            Ok(Ok(stream)) => return Some((stream, member)),
            Ok(Err(error)) => {
                tracing::debug!(virtual_server = %route.virtual_server, %member, %error, "member skipped");
            }
            Err(_) => {
                tracing::debug!(virtual_server = %route.virtual_server, %member, "member skipped: timeout")
            }
        }
    }
    None
}
