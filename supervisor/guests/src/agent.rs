//! The node agent: what kube-proxy and a pod would make of a NodePort, on every node of one
//! guest cluster, so the data path from a VIP to a node can be tried with curl.
//!
//! In: the guest's nodes (from [`crate::guest`]) and its Services (a watch on the guest API
//! server). Out: a TCP listener on `nodeIP:nodePort` for every node and every TCP port of
//! every NodePort or LoadBalancer Service, answering each connection with one line naming
//! the node, the Service and the port ([`answer_line`]); an HTTP request gets that line as
//! a `200 text/plain` body, so `curl` prints it.
//!
//! Invariant: the listeners are recomputed from the current nodes and Services after every
//! change ([`listeners`] is pure), never patched by event type. A port that cannot be bound
//! (another process holds it) is logged and retried every [`RETRY`] until it can.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
use kube::{Api, Client};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::topology::ClusterKey;

/// How long a port that could not be bound waits before the next try.
pub const RETRY: Duration = Duration::from_secs(2);
/// How long a connection may take to send its request before it is answered anyway.
const READ_GRACE: Duration = Duration::from_millis(500);

/// A node as the agent sees it: its name and the address it listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNode {
    /// The Node's name.
    pub name: String,
    /// Its InternalIP.
    pub ip: IpAddr,
}

/// What one `nodeIP:nodePort` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The node.
    pub node: String,
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The Service port.
    pub port: i32,
    /// The node port.
    pub node_port: i32,
}

/// The line a connection to a node port reads.
pub fn answer_line(answer: &Answer) -> String {
    format!(
        "node {} service {}/{} port {}/TCP nodePort {}\n",
        answer.node, answer.namespace, answer.service, answer.port, answer.node_port
    )
}

/// Every `nodeIP:nodePort` the agent should listen on, with what it answers: each node ×
/// each TCP port with a node port of each NodePort or LoadBalancer Service.
pub fn listeners(nodes: &[AgentNode], services: &[Arc<Service>]) -> BTreeMap<SocketAddr, Answer> {
    let mut out = BTreeMap::new();
    for service in services {
        let Some(spec) = &service.spec else { continue };
        if !matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
            continue;
        }
        for port in spec.ports.iter().flatten() {
            let Some(node_port) = port.node_port.filter(|p| *p > 0 && *p <= i32::from(u16::MAX)) else {
                continue;
            };
            if port.protocol.as_deref().is_some_and(|p| p != "TCP") {
                continue;
            }
            for node in nodes {
                let addr = SocketAddr::new(node.ip, node_port as u16);
                out.insert(
                    addr,
                    Answer {
                        node: node.name.clone(),
                        namespace: service.metadata.namespace.clone().unwrap_or_default(),
                        service: service.metadata.name.clone().unwrap_or_default(),
                        port: port.port,
                        node_port,
                    },
                );
            }
        }
    }
    out
}

/// A running agent for one guest cluster. Dropping it does not stop it; call
/// [`NodeAgent::stop`].
#[derive(Debug)]
pub struct NodeAgent {
    nodes: watch::Sender<Vec<AgentNode>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NodeAgent {
    /// Starts watching the guest's Services through `guest`; listens for no node until
    /// [`NodeAgent::set_nodes`].
    pub fn start(key: ClusterKey, guest: Client) -> NodeAgent {
        let (nodes, nodes_rx) = watch::channel(Vec::new());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(key, guest, nodes_rx, stop_rx));
        NodeAgent { nodes, stop, task }
    }

    /// The nodes to answer on from now on.
    pub fn set_nodes(&self, nodes: Vec<AgentNode>) {
        self.nodes.send_if_modified(|current| {
            let changed = *current != nodes;
            *current = nodes;
            changed
        });
    }

    /// Closes every listener and ends the watch.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One open listener: the answer its connections read (updated in place when only the
/// answer changes) and its accept loop.
struct Open {
    answer: Arc<Mutex<Arc<str>>>,
    accept: AbortHandle,
}

async fn run(
    key: ClusterKey,
    guest: Client,
    mut nodes: watch::Receiver<Vec<AgentNode>>,
    mut stop: watch::Receiver<bool>,
) {
    let (services, writer) = reflector::store::<Service>();
    let api: Api<Service> = Api::all(guest);
    let mut events = reflector(writer, watcher(api, watcher::Config::default())).default_backoff().boxed();
    let mut open: BTreeMap<SocketAddr, Open> = BTreeMap::new();
    let mut retry_pending = false;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = nodes.changed() => if changed.is_err() { break },
            event = events.next() => match event {
                Some(Ok(_)) => {}
                // The watcher backs off and retries by itself; the guest API server may be
                // restarting. Nothing to do but wait for it.
                Some(Err(error)) => tracing::debug!(cluster = %key, %error, "watching guest Services"),
                None => break,
            },
            () = tokio::time::sleep(RETRY), if retry_pending => {}
        }
        let desired = listeners(&nodes.borrow(), &services.state());
        retry_pending = reconcile(&key, &mut open, desired).await;
    }
    for (_, listener) in open {
        listener.accept.abort();
    }
}

/// Opens what `desired` has and `open` lacks, closes the rest, updates changed answers.
/// Returns whether some listener could not be opened (and should be retried).
async fn reconcile(
    key: &ClusterKey,
    open: &mut BTreeMap<SocketAddr, Open>,
    desired: BTreeMap<SocketAddr, Answer>,
) -> bool {
    open.retain(|addr, listener| {
        let keep = desired.contains_key(addr);
        if !keep {
            listener.accept.abort();
            tracing::info!(cluster = %key, %addr, "node port closed");
        }
        keep
    });
    let mut failed = false;
    for (addr, answer) in desired {
        let line: Arc<str> = answer_line(&answer).into();
        if let Some(listener) = open.get(&addr) {
            let mut current = listener.answer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *current != line {
                *current = line;
            }
            continue;
        }
        match TcpListener::bind(addr).await {
            Ok(socket) => {
                tracing::info!(cluster = %key, %addr, node = %answer.node,
                    service = %format!("{}/{}", answer.namespace, answer.service), "node port open");
                let answer = Arc::new(Mutex::new(line));
                let accept = tokio::spawn(accept(socket, answer.clone())).abort_handle();
                open.insert(addr, Open { answer, accept });
            }
            Err(error) => {
                tracing::warn!(cluster = %key, %addr, %error, "cannot open node port; retrying");
                failed = true;
            }
        }
    }
    failed
}

async fn accept(listener: TcpListener, answer: Arc<Mutex<Arc<str>>>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, most likely: give connections in flight time to end.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let line = answer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        tokio::spawn(respond(stream, line));
    }
}

/// Reads what the client sends first (briefly), then answers: an HTTP response when it
/// sent an HTTP request, the bare line otherwise. Reading first keeps the close clean (no
/// reset for unread request bytes).
async fn respond(mut stream: TcpStream, line: Arc<str>) {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(READ_GRACE, async {
        while request.len() < 16 * 1024 && !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let http =
        request.split(|b| *b == b'\n').next().is_some_and(|first| first.windows(5).any(|w| w == b"HTTP/"));
    let reply = if http {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}",
            line.len()
        )
    } else {
        line.to_string()
    };
    if stream.write_all(reply.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use kube::api::ObjectMeta;

    use super::*;

    fn service(name: &str, type_: &str, ports: &[(i32, Option<i32>, &str)]) -> Arc<Service> {
        Arc::new(Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(type_.into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(port, node_port, protocol)| ServicePort {
                            port: *port,
                            node_port: *node_port,
                            protocol: Some((*protocol).into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        })
    }

    fn nodes() -> Vec<AgentNode> {
        vec![
            AgentNode { name: "w1".into(), ip: "127.160.0.3".parse().unwrap() },
            AgentNode { name: "w2".into(), ip: "127.160.0.4".parse().unwrap() },
        ]
    }

    #[test]
    fn every_node_listens_on_every_tcp_node_port() {
        let services = [
            service("web", "NodePort", &[(80, Some(30080), "TCP"), (53, Some(30053), "UDP")]),
            service("lb", "LoadBalancer", &[(443, Some(30443), "TCP")]),
            service("internal", "ClusterIP", &[(8080, None, "TCP")]),
            service("no-ports", "LoadBalancer", &[(8443, None, "TCP")]),
        ];
        let found = listeners(&nodes(), &services);
        let addrs: Vec<String> = found.keys().map(ToString::to_string).collect();
        assert_eq!(
            addrs,
            ["127.160.0.3:30080", "127.160.0.3:30443", "127.160.0.4:30080", "127.160.0.4:30443"]
        );
        let w2 = &found[&"127.160.0.4:30080".parse().unwrap()];
        assert_eq!(answer_line(w2), "node w2 service default/web port 80/TCP nodePort 30080\n");
    }

    #[test]
    fn no_nodes_no_listeners() {
        let services = [service("web", "NodePort", &[(80, Some(30080), "TCP")])];
        assert!(listeners(&[], &services).is_empty());
    }

    #[tokio::test]
    async fn a_connection_reads_the_line_and_an_http_request_gets_it_as_the_body() {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let line: Arc<str> = "node w1 service default/web port 80/TCP nodePort 30080\n".into();
        let task = tokio::spawn(accept(socket, Arc::new(Mutex::new(line.clone()))));

        let mut http = TcpStream::connect(addr).await.unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut text = String::new();
        http.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with(&*line), "{text}");

        let mut raw = TcpStream::connect(addr).await.unwrap();
        let mut text = String::new();
        raw.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, *line);
        task.abort();
    }
}
