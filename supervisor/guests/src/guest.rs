//! One guest cluster's "OS": its API server, its kubeconfig Secret, its Nodes and its node
//! agent, kept in step with the cluster's [`GuestPlan`] by one task.
//!
//! In: a plan (replaced whenever the VMs change) and, at the end, how to stop ([`Ending`]).
//! Out: an embedded API server on `<control-plane VM IP>:6443` with a certificate for the
//! VIP too, Secret `<cluster>-kubeconfig` in the Supervisor, one Node per planned node, and
//! the node agent on their IPs. Invariants: every failure (address in use, Supervisor not
//! answering) is logged once per attempt and retried with a capped backoff, never returned;
//! the store is removed only on [`Ending::Remove`], after the server has released it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use wasmvisor_apiserver::{ApiServer, Running};

use crate::agent::{AgentNode, NodeAgent};
use crate::kubeconfig::{API_SERVER_PORT, render, secret, secret_name};
use crate::node::{MANAGER, node, node_status};
use crate::topology::{ClusterKey, GuestPlan, NodePlan};

/// The first wait after a failure; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What happens to the guest's store when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Keep it: `up` is stopping, or the control plane moves, or is down for a while.
    Keep,
    /// Remove it: the cluster is gone.
    Remove,
}

/// Why one step of a guest failed; every variant is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuestError {
    /// The guest API server did not start (its address is in use, most often).
    #[error("starting the guest API server on {addr}")]
    Start {
        /// The address it should listen on.
        addr: SocketAddr,
        /// What went wrong.
        #[source]
        source: wasmvisor_apiserver::StartError,
    },
    /// No client could be built from the guest's own kubeconfig.
    #[error("connecting to the guest API server")]
    Connect(#[source] kube::Error),
    /// The guest's kubeconfig could not be read.
    #[error("reading the guest's kubeconfig")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The Supervisor refused or did not answer the Secret's apply.
    #[error("publishing Secret {name}")]
    Secret {
        /// The Secret's name.
        name: String,
        /// What went wrong.
        #[source]
        source: kube::Error,
    },
    /// The guest API server refused or did not answer a Node write.
    #[error("{op} Node {name}")]
    Node {
        /// `listing`, `applying`, `applying the status of` or `deleting`.
        op: &'static str,
        /// The Node (empty when listing).
        name: String,
        /// What went wrong.
        #[source]
        source: kube::Error,
    },
}

/// A running guest's task, seen from [`crate::supervise`].
#[derive(Debug)]
pub struct GuestHandle {
    plan: watch::Sender<GuestPlan>,
    stop: oneshot::Sender<Ending>,
    task: JoinHandle<()>,
}

impl GuestHandle {
    /// Starts the guest of `plan` with its store in `store`, publishing its Secret through
    /// `supervisor`.
    pub fn spawn(plan: GuestPlan, store: PathBuf, supervisor: Client) -> GuestHandle {
        let (plan_tx, plan_rx) = watch::channel(plan);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(plan_rx, stop_rx, store, supervisor));
        GuestHandle { plan: plan_tx, stop, task }
    }

    /// The plan the guest follows.
    pub fn plan(&self) -> GuestPlan {
        self.plan.borrow().clone()
    }

    /// Follows `plan` from now on (its nodes; the address and endpoint are fixed at spawn).
    pub fn update(&self, plan: GuestPlan) {
        self.plan.send_if_modified(|current| {
            let changed = *current != plan;
            *current = plan;
            changed
        });
    }

    /// Stops the guest and waits until its server has let go of its address and store.
    pub async fn stop(self, ending: Ending) {
        let _ = self.stop.send(ending);
        let _ = self.task.await;
    }
}

/// Doubling backoff, reset on success.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }

    fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }
}

async fn run(
    mut plan: watch::Receiver<GuestPlan>,
    mut stop: oneshot::Receiver<Ending>,
    store: PathBuf,
    supervisor: Client,
) {
    let key = plan.borrow().key.clone();
    let mut backoff = Backoff(FIRST_BACKOFF);
    let (server, guest) = loop {
        let current = plan.borrow().clone();
        match start(&current, &store).await {
            Ok(started) => break started,
            Err(error) => {
                let error = anyhow::Error::from(error);
                tracing::warn!(cluster = %key, error = format!("{error:#}"), "guest API server not started; retrying");
            }
        }
        tokio::select! {
            ending = &mut stop => return finish(&key, None, &store, ending.unwrap_or(Ending::Keep)).await,
            () = tokio::time::sleep(backoff.next()) => {}
        }
    };
    backoff.reset();
    tracing::info!(cluster = %key, addr = %server.addr(), "guest API server running");
    let agent = NodeAgent::start(key.clone(), guest.clone());
    let mut secret_published = false;
    let mut nodes = Nodes::default();
    let ending = loop {
        let current = plan.borrow_and_update().clone();
        agent.set_nodes(current.nodes.iter().map(|n| AgentNode { name: n.name.clone(), ip: n.ip }).collect());
        let mut failed = None;
        if !secret_published {
            match publish_secret(&supervisor, &current, &server).await {
                Ok(()) => secret_published = true,
                Err(error) => failed = Some(error),
            }
        }
        if let Err(error) = nodes.sync(&key, &guest, &current.nodes).await {
            failed = failed.or(Some(error));
        }
        let retry = failed.is_some();
        match failed {
            Some(error) => {
                let error = anyhow::Error::from(error);
                tracing::warn!(cluster = %key, error = format!("{error:#}"), "guest not in step; retrying")
            }
            None => backoff.reset(),
        }
        let wait = backoff.next();
        tokio::select! {
            ending = &mut stop => break ending.unwrap_or(Ending::Keep),
            changed = plan.changed() => if changed.is_err() { break Ending::Keep },
            () = tokio::time::sleep(wait), if retry => {}
        }
    };
    agent.stop().await;
    finish(&key, Some(server), &store, ending).await;
}

/// Starts the API server on the control-plane VM's address and connects to it.
async fn start(plan: &GuestPlan, store: &std::path::Path) -> Result<(Running, Client), GuestError> {
    let addr = SocketAddr::new(plan.control_plane_ip, API_SERVER_PORT);
    let config =
        wasmvisor_apiserver::Config::new(store).listen(addr).subject_alt_names([plan.endpoint.clone()]);
    let server = ApiServer::start(config).await.map_err(|source| GuestError::Start { addr, source })?;
    match connect(&server).await {
        Ok(client) => Ok((server, client)),
        Err(error) => {
            if let Err(error) = server.shutdown().await {
                tracing::warn!(%addr, %error, "stopping a guest API server that could not be reached");
            }
            Err(error)
        }
    }
}

async fn connect(server: &Running) -> Result<Client, GuestError> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(server.kubeconfig_path()).map_err(GuestError::Kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(GuestError::Kubeconfig)?;
    Client::try_from(config).map_err(GuestError::Connect)
}

async fn publish_secret(supervisor: &Client, plan: &GuestPlan, server: &Running) -> Result<(), GuestError> {
    let kubeconfig = render(plan, server.ca_pem(), server.token());
    let name = secret_name(&plan.key.name);
    let api: Api<Secret> = Api::namespaced(supervisor.clone(), &plan.key.namespace);
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(secret(plan, &kubeconfig)))
        .await
        .map_err(|source| GuestError::Secret { name: name.clone(), source })?;
    tracing::info!(cluster = %plan.key, secret = %name, "kubeconfig published");
    Ok(())
}

/// The Nodes written so far, so that an unchanged node is not rewritten (its condition
/// times stay put) and a node whose VM went is deleted.
#[derive(Default)]
struct Nodes {
    /// Whether the guest's Nodes were listed once (to delete the ones whose VMs went while
    /// the guest was not running).
    listed: bool,
    applied: BTreeMap<String, NodePlan>,
}

impl Nodes {
    async fn sync(
        &mut self,
        key: &ClusterKey,
        guest: &Client,
        desired: &[NodePlan],
    ) -> Result<(), GuestError> {
        let api: Api<Node> = Api::all(guest.clone());
        if !self.listed {
            let existing = api
                .list_metadata(&ListParams::default())
                .await
                .map_err(|source| GuestError::Node { op: "listing", name: String::new(), source })?;
            for name in existing.items.into_iter().filter_map(|n| n.metadata.name) {
                if !desired.iter().any(|d| d.name == name) {
                    delete(&api, &name).await?;
                    tracing::info!(cluster = %key, node = %name, "node left");
                }
            }
            self.listed = true;
        }
        for plan in desired {
            if self.applied.get(&plan.name) == Some(plan) {
                continue;
            }
            let params = PatchParams::apply(MANAGER).force();
            let name = &plan.name;
            let node_error = |op| move |source| GuestError::Node { op, name: name.clone(), source };
            api.patch(name, &params, &Patch::Apply(node(plan))).await.map_err(node_error("applying"))?;
            let status = node_status(plan, &wasmvisor_apiserver::meta::now());
            api.patch_status(name, &params, &Patch::Apply(status))
                .await
                .map_err(node_error("applying the status of"))?;
            tracing::info!(cluster = %key, node = %name, ip = %plan.ip, "node joined");
            self.applied.insert(name.clone(), plan.clone());
        }
        let gone: Vec<String> =
            self.applied.keys().filter(|name| !desired.iter().any(|d| &d.name == *name)).cloned().collect();
        for name in gone {
            delete(&api, &name).await?;
            tracing::info!(cluster = %key, node = %name, "node left");
            self.applied.remove(&name);
        }
        Ok(())
    }
}

async fn delete(api: &Api<Node>, name: &str) -> Result<(), GuestError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(GuestError::Node { op: "deleting", name: name.to_owned(), source }),
    }
}

async fn finish(key: &ClusterKey, server: Option<Running>, store: &std::path::Path, ending: Ending) {
    if let Some(server) = server
        && let Err(error) = server.shutdown().await
    {
        tracing::warn!(cluster = %key, %error, "stopping the guest API server");
    }
    tracing::info!(cluster = %key, "guest API server stopped");
    if ending == Ending::Remove {
        match std::fs::remove_dir_all(store) {
            Ok(()) => tracing::info!(cluster = %key, store = %store.display(), "guest store removed"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(cluster = %key, store = %store.display(), %error, "removing the guest store")
            }
        }
    }
}
