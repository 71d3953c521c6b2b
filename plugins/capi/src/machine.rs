//! Machine: its bootstrap data (see [`crate::bootstrap`]) once the cluster
//! can take it, then the infrastructure's readiness, provider ID and
//! addresses copied up, then its Node in the workload cluster (found by
//! provider ID, as Cluster API's node reference does); phases `Pending` →
//! `Provisioning` → `Provisioned` → `Running`. Deleting a Machine deletes
//! its VSphereMachine and waits until capw has removed the VM.

use std::time::Duration;

use wasmvisor_chain_api::capi::{Cluster, KubeadmConfig, Machine, MachinePhase, MachineStatus, condition};
use wasmvisor_chain_api::capv::VSphereMachine;
use wasmvisor_chain_api::core::{Node, ObjectReference, node_is_ready};
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, names, new_object, set_condition, status};
use wasmvisor_sdk::{Action, Context, Error};

use crate::bootstrap::{self, Role};

/// How often a machine whose infrastructure is still being deleted is looked at again.
const DELETE_POLL: Duration = Duration::from_secs(1);

/// How often a provisioned machine whose Node has not joined is looked at
/// again (the Node is in the workload cluster: no watch brings it here).
const NODE_POLL: Duration = Duration::from_secs(1);

/// The Node of `machine` in its workload cluster, by provider ID:
/// `Ok(Err(why))` while it has not joined or the cluster does not answer.
fn find_node(ctx: &Context, machine: &Machine, provider_id: &str) -> Result<Result<Node, String>, Error> {
    let namespace = machine.metadata.namespace.as_deref().unwrap_or_default();
    let guest = names::guest_cluster(namespace, &machine.spec.cluster_name);
    let nodes: Vec<Node> = match ctx.kube().list(&Node::kind_ref(&guest, None), None) {
        Ok(nodes) => nodes,
        Err(Error::Unavailable(why)) => {
            return Ok(Err(format!("the workload cluster does not answer: {why}")));
        }
        Err(other) => return Err(other),
    };
    Ok(nodes
        .into_iter()
        .find(|n| n.spec.provider_id.as_deref() == Some(provider_id))
        .ok_or_else(|| format!("no Node with providerID {provider_id} has joined yet")))
}

fn report(ctx: &Context, machine: &Machine, change: impl FnOnce(&mut MachineStatus)) -> Result<(), Error> {
    status::set(ctx, machine, change)
}

/// The bootstrap secret, made once the cluster can take this machine;
/// `Err(why)` names what it waits for.
fn bootstrap_data(
    ctx: &Context,
    machine: &Machine,
    cluster: &Cluster,
) -> Result<Result<String, String>, Error> {
    if let Some(name) = &machine.spec.bootstrap.data_secret_name {
        return Ok(Ok(name.clone()));
    }
    let Some(endpoint) = cluster.spec.control_plane_endpoint.clone().filter(|e| !e.is_zero()) else {
        return Ok(Err("WaitingForControlPlaneEndpoint".into()));
    };
    let control_plane = machine.metadata.labels.contains_key(labels::CAPI_CONTROL_PLANE);
    let initialized = cluster.status.as_ref().is_some_and(|s| {
        s.control_plane_ready == Some(true)
            || wasmvisor_chain_api::conditions::is_true(&s.conditions, condition::CONTROL_PLANE_INITIALIZED)
    });
    if !control_plane && !initialized {
        return Ok(Err("WaitingForControlPlaneAvailable".into()));
    }
    let namespace = machine.metadata.namespace.as_deref().unwrap_or_default();
    let config_name =
        machine.spec.bootstrap.config_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
    let Some(config) =
        ctx.kube().get_opt::<KubeadmConfig>(&KubeadmConfig::named(ctx.cluster(), namespace, &config_name))?
    else {
        return Ok(Err("WaitingForBootstrapConfig".into()));
    };
    let role = if control_plane && !initialized { Role::Init } else { Role::Join { control_plane } };
    let version = machine.spec.version.clone().unwrap_or_default();
    let text = bootstrap::cloud_config(
        &config,
        &machine.metadata.name,
        &cluster.metadata.name,
        &endpoint,
        role,
        &version,
    );
    Ok(Ok(bootstrap::publish(ctx, &config, &cluster.metadata.name, &text)?))
}

/// Bootstraps the machine and follows its infrastructure.
pub fn reconcile(ctx: &Context, machine: Machine) -> Result<Action, Error> {
    let namespace = machine.metadata.namespace.clone().unwrap_or_default();
    let kube = ctx.kube();
    let Some(cluster) =
        kube.get_opt::<Cluster>(&Cluster::named(ctx.cluster(), &namespace, &machine.spec.cluster_name))?
    else {
        return Err(Error::NotFound(format!(
            "Cluster {namespace}/{} of Machine {} not found",
            machine.spec.cluster_name, machine.metadata.name
        )));
    };
    let secret = bootstrap_data(ctx, &machine, &cluster)?;
    let infra_name = machine.spec.infrastructure_ref.name.clone().unwrap_or_default();
    let infrastructure: Option<VSphereMachine> =
        kube.get_opt(&VSphereMachine::named(ctx.cluster(), &namespace, &infra_name))?;
    let infra_status = infrastructure.as_ref().and_then(|i| i.status.clone()).unwrap_or_default();
    let infra_ready = infra_status.ready == Some(true);
    let provider_id =
        infrastructure.as_ref().and_then(|i| i.spec.provider_id.clone()).filter(|_| infra_ready);

    let mut spec = machine.spec.clone();
    spec.bootstrap.data_secret_name = secret.as_ref().ok().cloned();
    if provider_id.is_some() {
        spec.provider_id = provider_id.clone();
    }
    if spec != machine.spec {
        let mut update: Machine = new_object(&namespace, &machine.metadata.name, spec);
        update.metadata.labels = machine.metadata.labels.clone();
        update.metadata.owner_references = machine.metadata.owner_references.clone();
        kube.apply(ctx.cluster(), &update)?;
    }
    let node = match provider_id.as_deref() {
        Some(id) if secret.is_ok() => find_node(ctx, &machine, id)?,
        _ => Err("the machine is not provisioned yet".to_owned()),
    };
    report(ctx, &machine, |s| {
        s.bootstrap_ready = Some(secret.is_ok());
        s.infrastructure_ready = Some(infra_ready);
        s.addresses = infra_status.addresses.clone();
        s.node_ref = node.as_ref().ok().map(|n| ObjectReference {
            api_version: Some(Node::API_VERSION.into()),
            kind: Some(Node::KIND.into()),
            name: Some(n.metadata.name.clone()),
            uid: n.metadata.uid.clone(),
            ..ObjectReference::default()
        });
        s.phase = Some(match (&secret, infra_ready && provider_id.is_some(), &node) {
            (Err(_), _, _) => MachinePhase::Pending,
            (Ok(_), false, _) => MachinePhase::Provisioning,
            (Ok(_), true, Err(_)) => MachinePhase::Provisioned,
            (Ok(_), true, Ok(_)) => MachinePhase::Running,
        });
        set_condition(
            &mut s.conditions,
            match &node {
                Ok(n) if node_is_ready(n) => Condition::true_(condition::NODE_HEALTHY),
                Ok(n) => Condition::false_(
                    condition::NODE_HEALTHY,
                    "NodeConditionsFailed",
                    Severity::Warning,
                    &format!("Node {} is not Ready", n.metadata.name),
                ),
                Err(why) => {
                    Condition::false_(condition::NODE_HEALTHY, "NodeProvisioning", Severity::Info, why)
                }
            },
        );
        set_condition(
            &mut s.conditions,
            match &secret {
                Ok(_) => Condition::true_(condition::BOOTSTRAP_READY),
                Err(why) => Condition::false_(
                    condition::BOOTSTRAP_READY,
                    why,
                    Severity::Info,
                    "bootstrap data not generated yet",
                ),
            },
        );
        let infra = if infra_ready {
            Condition::true_(condition::INFRASTRUCTURE_READY)
        } else {
            Condition::false_(
                condition::INFRASTRUCTURE_READY,
                "WaitingForInfrastructure",
                Severity::Info,
                &format!("VSphereMachine {namespace}/{infra_name} is not ready"),
            )
        };
        set_condition(&mut s.conditions, infra);
        let ready = if secret.is_ok() && infra_ready {
            Condition::true_(condition::READY)
        } else {
            Condition::false_(
                condition::READY,
                "Provisioning",
                Severity::Info,
                "bootstrap or infrastructure not ready",
            )
        };
        set_condition(&mut s.conditions, ready);
    })?;
    Ok(if node.is_err() && provider_id.is_some() { Action::requeue(NODE_POLL) } else { Action::done() })
}

/// Deletes the machine's infrastructure and waits until it is gone.
pub fn finalize(ctx: &Context, machine: Machine) -> Result<Action, Error> {
    let namespace = machine.metadata.namespace.clone().unwrap_or_default();
    let infra_name = machine.spec.infrastructure_ref.name.clone().unwrap_or_default();
    let target = VSphereMachine::named(ctx.cluster(), &namespace, &infra_name);
    if ctx.kube().get_opt::<VSphereMachine>(&target)?.is_none() {
        return Ok(Action::done());
    }
    ctx.kube().delete(&target)?;
    report(ctx, &machine, |s| s.phase = Some(MachinePhase::Deleting))?;
    Ok(Action::requeue(DELETE_POLL))
}
