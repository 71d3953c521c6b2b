//! The harness: a Supervisor API server with the chain's CRDs, VirtualMachines written as
//! capw and vm-service would, kubectl, raw TCP, and polling with a deadline that fails
//! naming what it waited for and the last state it saw.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wasmvisor_apiserver::{ApiServer, Config, Running};

/// Generous: the machine is shared with other builds.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns `Ok`; fails naming `what` and the last error after `deadline`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
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
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A Supervisor API server with the chain's CRDs installed, in its own temporary directory.
pub(crate) struct Supervisor {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) server: Running,
    pub(crate) client: Client,
}

impl Supervisor {
    pub(crate) async fn start() -> anyhow::Result<Supervisor> {
        let dir = tempfile::tempdir()?;
        let server =
            ApiServer::start(Config::new(dir.path().join("supervisor")).listen("127.0.0.1:0".parse()?))
                .await?;
        let client = client_from(server.kubeconfig_path()).await?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for (file, text) in wasmvisor_crds::CRDS {
            let crd: Value = serde_yaml::from_str(text).with_context(|| format!("parsing crds/{file}"))?;
            let name = crd["metadata"]["name"].as_str().context("a CRD name")?.to_owned();
            crds.patch(&name, &PatchParams::apply("guests-test").force(), &Patch::Apply(&crd)).await?;
        }
        let supervisor = Supervisor { dir, server, client };
        eventually("the chain's kinds to be served", DEADLINE, || async {
            supervisor.api(&VM, "default").list(&Default::default()).await?;
            supervisor.api(&CLUSTER, "default").list(&Default::default()).await?;
            Ok(())
        })
        .await?;
        Ok(supervisor)
    }

    pub(crate) fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &kind.resource())
    }

    /// Creates `object` (a JSON object of `kind`), then writes its `status` through the
    /// status subresource, as the chain's controllers do.
    pub(crate) async fn create(&self, kind: &Kind, namespace: &str, object: Value) -> anyhow::Result<()> {
        let api = self.api(kind, namespace);
        let status = object.get("status").cloned();
        let object: DynamicObject = serde_json::from_value(object)?;
        let name = object.metadata.name.clone().context("a name")?;
        api.create(&PostParams::default(), &object).await.with_context(|| format!("creating {name}"))?;
        if let Some(status) = status {
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
                .await?;
        }
        Ok(())
    }
}

/// A chain kind the test writes.
pub(crate) struct Kind {
    api_version: &'static str,
    kind: &'static str,
    plural: &'static str,
}

impl Kind {
    fn resource(&self) -> ApiResource {
        let (group, version) = self.api_version.split_once('/').unwrap_or(("", self.api_version));
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

pub(crate) const VM: Kind =
    Kind { api_version: "vmoperator.vmware.com/v1alpha1", kind: "VirtualMachine", plural: "virtualmachines" };
pub(crate) const CLUSTER: Kind =
    Kind { api_version: "cluster.x-k8s.io/v1beta1", kind: "Cluster", plural: "clusters" };

pub(crate) async fn client_from(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// `kubectl --kubeconfig KUBECONFIG ARGS`: stdout, or an error with stderr.
pub(crate) async fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .context("running kubectl")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "kubectl {}: {}{}",
        args.join(" "),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// `GET /` over plain TCP to `addr`: the response body.
pub(crate) async fn http_get(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut text))
        .await
        .context("read timed out")??;
    let (head, body) = text.split_once("\r\n\r\n").context("an HTTP response")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    Ok(body.to_owned())
}

/// Whether a TCP connection to `addr` is refused (nothing listens).
pub(crate) async fn refused(addr: SocketAddr) -> bool {
    matches!(tokio::net::TcpStream::connect(addr).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// A path inside `dir` for a file the test writes.
pub(crate) fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
