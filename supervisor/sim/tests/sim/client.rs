//! A minimal HTTPS client for the tests: trusts only the simulator's CA, opens one
//! HTTP/1.1 connection per request (so a dropped connection shows as an error of exactly
//! that request) and decodes JSON bodies.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use wasmvisor_sim::{Running, SESSION_HEADER};

/// How the client authenticates.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    None,
    Basic(String, String),
    Session(String),
}

/// One answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The JSON body, or `Null` when empty or not JSON.
    pub(crate) json: Value,
    pub(crate) text: String,
}

impl Reply {
    /// Panics with the body unless the status is `want`.
    #[track_caller]
    pub(crate) fn expect(self, want: u16) -> Reply {
        assert_eq!(self.status, want, "unexpected status; body: {}", self.text);
        self
    }
}

#[derive(Clone)]
pub(crate) struct Client {
    addr: SocketAddr,
    tls: TlsConnector,
    pub(crate) auth: Auth,
}

impl Client {
    /// A client for `running` with no credentials.
    pub(crate) fn new(running: &Running) -> Result<Client> {
        let config: Arc<tokio_rustls::rustls::ClientConfig> =
            wasmvisor_tls::client_config_trusting(&running.ca_pem)?;
        Ok(Client { addr: running.addr, tls: TlsConnector::from(config), auth: Auth::None })
    }

    /// The same client with other credentials.
    pub(crate) fn with(&self, auth: Auth) -> Client {
        Client { auth, ..self.clone() }
    }

    /// Sends one request; an error means no HTTP answer came (e.g. a dropped connection).
    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        let payload = match body {
            Some(json) => Some(("application/json", Bytes::from(serde_json::to_vec(json)?))),
            None => None,
        };
        self.send_raw(method, path, &[], payload).await
    }

    /// Sends one request with extra headers and an optional `(content type, body)`.
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Reply> {
        let tcp = TcpStream::connect(self.addr).await.context("connecting")?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = self.tls.connect(name, tcp).await.context("TLS handshake")?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(path).header("host", self.addr.to_string());
        match &self.auth {
            Auth::None => {}
            Auth::Basic(user, pass) => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                request = request.header(AUTHORIZATION, format!("Basic {token}"));
            }
            Auth::Session(id) => request = request.header(SESSION_HEADER, id),
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                request = request.header(CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let response = sender.send_request(request.body(Full::new(payload))?).await.context("sending")?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.context("reading body")?.to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, headers, json, text })
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn post(&self, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.send(Method::POST, path, body).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Reply> {
        self.send(Method::DELETE, path, None).await
    }
}
