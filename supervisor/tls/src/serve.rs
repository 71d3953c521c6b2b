//! The HTTPS accept loop shared by the API server and the simulators.
//!
//! In: a bound listener, a rustls server config, an axum `Router` and a shutdown future.
//! Out: when the shutdown future completes, the listener is closed, open connections get
//! [`SHUTDOWN_GRACE`] to finish their in-flight requests, and the rest are dropped.
//!
//! Every request carries a [`ConnectionKill`] for its connection in its extensions, so a
//! handler can drop the connection without an answer (the simulators' "dropped
//! connection" fault); nothing else can close a connection early.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::Service as _;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long open connections may take to finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP stream that acknowledges what it receives at once (`TCP_QUICKACK`, set again
/// after every read because Linux drops back to delayed ACKs by itself).
///
/// Why: clients such as kube-rs leave Nagle's algorithm on and send a request's headers
/// and body in separate writes; the body then waits until the headers are acknowledged,
/// and a server that delays that ACK (Linux does, up to 40 ms, on request/response
/// connections) stalls every such request by that much.
struct QuickAck(tokio::net::TcpStream);

impl QuickAck {
    fn rearm(&self) {
        // Best effort: without it the connection is only slower.
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            self.rearm();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// How large a write an HTTP/2 connection gathers before it goes to TLS.
const H2_WRITE_BUFFER: usize = 64 * 1024;

/// A connection's TLS stream as HTTP writes to it: as it is for HTTP/1.1, behind a write
/// buffer that offers no vectored writes for HTTP/2.
///
/// Why: h2 writes every DATA frame over 256 bytes on its own when the stream offers
/// vectored writes, so one watch event to 100 streams of one connection became 100 TLS
/// records and 100 `writev`s. Without vectored writes h2 copies frames up to 1 KiB into its
/// own 16 KiB buffer and writes that once; larger frames still come as a 9-byte header and
/// then the payload, which the buffer here joins (into records of up to 16 KiB) instead of
/// sending the header as a record of its own. Everything is written out on flush, which
/// h2 asks for whenever it has nothing more to send. HTTP/1.1 writes one chunk per watch
/// event with one vectored write already, and gains nothing from a copy.
enum HttpIo<T> {
    Http1(T),
    Http2(tokio::io::BufWriter<T>),
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> HttpIo<T> {
    fn new(io: T, h2: bool) -> HttpIo<T> {
        if h2 {
            HttpIo::Http2(tokio::io::BufWriter::with_capacity(H2_WRITE_BUFFER, io))
        } else {
            HttpIo::Http1(io)
        }
    }
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncRead for HttpIo<T> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpIo::Http1(io) => std::pin::Pin::new(io).poll_read(cx, buf),
            HttpIo::Http2(io) => std::pin::Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for HttpIo<T> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            HttpIo::Http1(io) => std::pin::Pin::new(io).poll_write(cx, buf),
            HttpIo::Http2(io) => std::pin::Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            HttpIo::Http1(io) => std::pin::Pin::new(io).poll_write_vectored(cx, bufs),
            HttpIo::Http2(io) => std::pin::Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            HttpIo::Http1(io) => io.is_write_vectored(),
            HttpIo::Http2(_) => false,
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpIo::Http1(io) => std::pin::Pin::new(io).poll_flush(cx),
            HttpIo::Http2(io) => std::pin::Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpIo::Http1(io) => std::pin::Pin::new(io).poll_shutdown(cx),
            HttpIo::Http2(io) => std::pin::Pin::new(io).poll_shutdown(cx),
        }
    }
}

/// Closes one connection without an answer when fired.
///
/// [`serve()`] puts one into the extensions of every request, shared by all requests of the
/// same connection; a handler takes it with `request.extensions().get::<ConnectionKill>()`.
/// Firing it ends the connection at once (in-flight requests on it get no response), as
/// a server crashing or a network cutting out would; other connections are untouched.
#[derive(Clone, Debug, Default)]
pub struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Asks the connection's task to drop the connection.
    pub fn fire(&self) {
        self.0.notify_one();
    }
}

/// Serves `app` over TLS (HTTP/1.1 and HTTP/2, with upgrades) until `shutdown` completes.
///
/// Each connection runs in its own task; a failed handshake or a broken connection is
/// logged at debug level and never stops the loop. An error accepting a socket (for
/// instance too many open files) is logged and retried after a short pause.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small writes (a watch event, a short response) go out at once. With Nagle's
        // algorithm on, a write waits while an earlier one is unacknowledged, and the
        // client delays its ACK (up to 40 ms on Linux) when it has nothing to send: a lone
        // watcher, whose connection only ever receives, waited that long for its events.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "setting TCP_NODELAY failed");
        }
        let stream = QuickAck(stream);
        stream.rearm();
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let kill = ConnectionKill::default();
            let service = {
                let kill = kill.clone();
                let app = TowerToHyperService::new(app);
                hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(kill.clone());
                    app.call(request)
                })
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(HttpIo::new(stream, h2));
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::select! {
                result = watcher.watch(connection) => if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                },
                () = kill.0.notified() => tracing::debug!(%peer, "connection dropped by its handler"),
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::debug!("connections still open after the shutdown grace period; dropping them");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalCa, client_config_trusting};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio_rustls::client::TlsStream;

    #[tokio::test]
    async fn http2_writes_are_gathered_until_flush_and_not_vectored() {
        use tokio::io::AsyncWrite;
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut io = HttpIo::new(near, true);
        assert!(!io.is_write_vectored(), "h2 would send each DATA frame as its own write");
        io.write_all(b"header").await.unwrap();
        io.write_all(b"payload").await.unwrap();
        let mut got = [0; 13];
        // One poll, without waiting: the buffer has sent nothing, so nothing can be read.
        let polled = std::pin::pin!(far.read(&mut got))
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert!(polled.is_pending(), "nothing leaves before the flush");
        io.flush().await.unwrap();
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"headerpayload");
        far.write_all(b"pong").await.unwrap();
        let mut pong = [0; 4];
        io.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"pong");
        assert!(HttpIo::new(tokio::io::duplex(64).0, false).is_write_vectored());
    }

    /// `app` served with a certificate from `ca` on an ephemeral port, until the sender fires.
    async fn start(
        ca: &LocalCa,
        app: axum::Router,
    ) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, ca.server_config(&["127.0.0.1"]).unwrap(), app, async {
            let _ = stop_rx.await;
        }));
        (addr, stop_tx, server)
    }

    /// A TLS connection to `addr` from a client that trusts only `ca_pem`.
    async fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<TlsStream<TcpStream>> {
        let connector = tokio_rustls::TlsConnector::from(client_config_trusting(ca_pem).unwrap());
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await
    }

    #[tokio::test]
    async fn serves_a_router_over_tls_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        LocalCa::load_or_create(dir.path()).unwrap();
        // A reloaded CA (as after a restart) must issue certificates the old CA PEM verifies.
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
        let (addr, stop_tx, server) = start(&ca, app).await;

        let mut tls = connect(addr, ca.ca_pem()).await.unwrap();
        tls.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("hi"), "{response}");

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_handler_can_drop_its_connection_without_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let drop_it = |request: axum::extract::Request| async move {
            request.extensions().get::<ConnectionKill>().expect("serve puts a kill switch in").fire();
            std::future::pending::<&'static str>().await
        };
        let app = axum::Router::new().route("/drop", axum::routing::get(drop_it));
        let (addr, stop_tx, server) = start(&ca, app).await;

        let mut tls = connect(addr, ca.ca_pem()).await.unwrap();
        tls.write_all(b"GET /drop HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response)).await;
        assert!(read.is_ok(), "the connection was not closed");
        assert!(response.is_empty(), "{}", String::from_utf8_lossy(&response));
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_that_does_not_trust_the_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let stranger = LocalCa::load_or_create(other.path()).unwrap();
        let (addr, stop_tx, server) = start(&ca, axum::Router::new()).await;
        assert!(connect(addr, stranger.ca_pem()).await.is_err());
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
