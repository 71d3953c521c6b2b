//! The load generator of the throughput and list phases: raw HTTPS requests with hyper over
//! one HTTP/2 connection (requests multiplexed on it, as client-go does), bodies serialised
//! once up front, responses read whole and checked by status only. kube-rs spends more
//! CPU per write (typed encoding and decoding, an HTTP/1.1 connection per request in
//! flight) than the server does, on the same two cores; this client measures the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::rustls::pki_types::ServerName;

/// One HTTP/2 connection to the server, authenticated as the admin; cheap to clone (a clone
/// opens another stream on the same connection).
#[derive(Clone)]
pub(crate) struct Raw {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    authorization: Arc<str>,
}

impl Raw {
    /// Connects to `addr` trusting the CA in `data_dir/pki/ca.crt`, with the admin token of
    /// `data_dir/admin.token`.
    pub(crate) async fn connect(addr: SocketAddr, data_dir: &Path) -> anyhow::Result<Raw> {
        let ca = std::fs::read_to_string(data_dir.join("pki/ca.crt"))?;
        let token = std::fs::read_to_string(data_dir.join("admin.token"))?;
        let mut tls = (*wasmvisor_tls::client_config_trusting(&ca)?).clone();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(addr.ip().to_string())?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Raw {
            sender,
            authority: addr.to_string(),
            authorization: format!("Bearer {}", token.trim()).into(),
        })
    }

    /// Opens a watch at `path` (with its query) and yields its events, one JSON line each,
    /// as they arrive.
    pub(crate) async fn watch(
        &self,
        path: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Bytes>>> {
        let request = Request::builder()
            .uri(format!("https://{}{path}", self.authority))
            .header(header::AUTHORIZATION, &*self.authorization)
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))?;
        let mut sender = self.sender.clone();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        anyhow::ensure!(response.status() == StatusCode::OK, "watch {path}: {}", response.status());
        let lines = futures::stream::try_unfold(
            (response.into_body(), BytesMut::new()),
            |(mut body, mut pending)| async move {
                loop {
                    if let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line = pending.split_to(end + 1).freeze();
                        return Ok(Some((line, (body, pending))));
                    }
                    match body.frame().await.transpose()? {
                        Some(frame) => pending.extend_from_slice(&frame.into_data().unwrap_or_default()),
                        None => return Ok(None),
                    }
                }
            },
        );
        Ok(lines.boxed())
    }

    /// Sends one request and reads the whole response; fails unless the status is `expect`.
    /// Returns the body's length.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
        expect: StatusCode,
    ) -> anyhow::Result<usize> {
        let request = Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.authority))
            .header(header::AUTHORIZATION, &*self.authorization)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json")
            .body(Full::new(body))?;
        let mut sender = self.sender.clone();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status == expect, "{path}: {status}: {}", String::from_utf8_lossy(&body));
        Ok(body.len())
    }
}
