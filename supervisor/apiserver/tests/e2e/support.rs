//! Shared harness: start a server in a temporary directory, build clients, poll with deadlines.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine;
use http_body_util::BodyExt;
use wasmvisor_apiserver::{ApiServer, Config, Running};

/// A server in its own temporary data directory.
pub(crate) struct TestServer {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) running: Running,
}

impl TestServer {
    pub(crate) async fn start() -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let running =
            ApiServer::start(Config::new(dir.path().join("data")).listen("127.0.0.1:0".parse()?)).await?;
        Ok(TestServer { dir, running })
    }

    pub(crate) fn kubeconfig(&self) -> &Path {
        self.running.kubeconfig_path()
    }

    pub(crate) async fn client(&self) -> anyhow::Result<kube::Client> {
        client_from(self.kubeconfig()).await
    }

    /// A client that trusts the CA but sends no token.
    pub(crate) fn anonymous_client(&self) -> anyhow::Result<kube::Client> {
        let url: http::Uri = format!("https://{}", self.running.addr()).parse()?;
        let mut config = kube::Config::new(url);
        config.root_cert = Some(vec![pem_to_der(self.running.ca_pem())?]);
        Ok(kube::Client::try_from(config)?)
    }

    pub(crate) fn kubectl(&self) -> Kubectl {
        Kubectl::new(self.kubeconfig(), self.dir.path())
    }
}

pub(crate) async fn client_from(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(body)?)
}

/// A raw HTTP response: status and parsed JSON body (Null if not JSON).
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

/// Sends a raw request through `client` (which adds the token) and reads the whole body.
pub(crate) async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<Raw> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))?;
    let response = client.send(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok(Raw { status, body })
}

/// Polls `probe` every 50 ms until it returns `Ok`, or fails after `deadline` with the
/// last `Err` it returned: the last state seen, so a timeout says what was there instead.
///
/// A probe reports "not yet" with an error naming what it saw (`ensure!(done, "saw {x:?}")`);
/// an error from a call inside it (`?`) counts the same way, since the server may still
/// be getting there.
pub(crate) async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if start.elapsed() > deadline => {
                return Err(
                    last.context(format!("timed out after {deadline:?} waiting for {what}; last state"))
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Runs the real kubectl against a server, with its own HOME and cache directory.
pub(crate) struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

/// What kubectl printed and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Fails with the output in the message unless kubectl succeeded.
    pub(crate) fn ok(self) -> anyhow::Result<String> {
        if self.success { Ok(self.stdout) } else { bail!("kubectl failed: {}\n{}", self.stderr, self.stdout) }
    }
}

/// The kubectl binary: `$WASMVISOR_KUBECTL`, else `/usr/bin/kubectl`. (On the build machine
/// that is the Cloud SDK dispatcher, which picks the kubectl matching the server's minor
/// version; set `WASMVISOR_KUBECTL=/usr/lib/google-cloud-sdk/bin/kubectl.1.32` to pin one.)
fn kubectl_binary() -> std::ffi::OsString {
    std::env::var_os("WASMVISOR_KUBECTL").unwrap_or_else(|| "/usr/bin/kubectl".into())
}

impl Kubectl {
    pub(crate) fn new(kubeconfig: &Path, dir: &Path) -> Kubectl {
        let home = dir.join("home");
        let _ = std::fs::create_dir_all(&home);
        Kubectl { kubeconfig: kubeconfig.to_owned(), home }
    }

    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(kubectl_binary());
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .args(args)
            .env("HOME", &self.home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl with `args`, feeding `stdin`, with a 60 s limit.
    pub(crate) async fn run_with_input(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        use tokio::io::AsyncWriteExt;
        let mut child = self.command(args).spawn().context("starting kubectl")?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).await?;
        }
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .with_context(|| format!("kubectl {args:?} timed out"))??;
        Ok(Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    pub(crate) async fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with_input(args, "").await
    }
}
