//! Cluster: the control-plane endpoint and readiness copied up from the
//! infrastructure (VSphereCluster) and the control plane
//! (KubeadmControlPlane); phases `Provisioning` → `Provisioned`.
//!
//! Deleting a Cluster removes its control plane and machine deployments,
//! waits until every Machine is gone, then removes the VSphereCluster: the
//! order in which the VMs leave before their network does.

use std::time::Duration;

use wasmvisor_chain_api::capi::{
    ApiEndpoint, Cluster, ClusterPhase, ClusterSpec, ClusterStatus, KubeadmControlPlane, Machine,
    MachineDeployment, condition,
};
use wasmvisor_chain_api::capv::VSphereCluster;
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, new_object, set_condition, status};
use wasmvisor_sdk::{Action, Context, Error};

/// How often a cluster waiting for its machines to go is looked at again.
const DELETE_POLL: Duration = Duration::from_secs(1);

fn reference_name(reference: Option<&wasmvisor_chain_api::core::ObjectReference>) -> String {
    reference.and_then(|r| r.name.clone()).unwrap_or_default()
}

/// Copies endpoint and readiness up.
pub fn reconcile(ctx: &Context, cluster: Cluster) -> Result<Action, Error> {
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let kube = ctx.kube();
    let infra_name = reference_name(cluster.spec.infrastructure_ref.as_ref());
    let infrastructure: Option<VSphereCluster> =
        kube.get_opt(&VSphereCluster::named(ctx.cluster(), &namespace, &infra_name))?;
    let plane_name = reference_name(cluster.spec.control_plane_ref.as_ref());
    let plane: Option<KubeadmControlPlane> =
        kube.get_opt(&KubeadmControlPlane::named(ctx.cluster(), &namespace, &plane_name))?;

    let endpoint: Option<ApiEndpoint> =
        infrastructure.as_ref().map(|i| i.spec.control_plane_endpoint.clone()).filter(|e| !e.is_zero());
    if let Some(endpoint) = &endpoint
        && cluster.spec.control_plane_endpoint.as_ref() != Some(endpoint)
    {
        let update: Cluster = new_object(
            &namespace,
            &cluster.metadata.name,
            ClusterSpec { control_plane_endpoint: Some(endpoint.clone()), ..ClusterSpec::default() },
        );
        kube.apply(ctx.cluster(), &update)?;
    }
    let infra_ready =
        infrastructure.as_ref().and_then(|i| i.status.as_ref()).and_then(|s| s.ready) == Some(true);
    let plane_status = plane.as_ref().and_then(|p| p.status.clone()).unwrap_or_default();
    let initialized = plane_status.initialized == Some(true);
    let plane_ready = plane_status.ready == Some(true);
    status::set(ctx, &cluster, |s: &mut ClusterStatus| {
        s.infrastructure_ready = Some(infra_ready);
        s.control_plane_ready = Some(plane_ready);
        s.observed_generation = cluster.metadata.generation;
        s.phase = Some(if infra_ready && endpoint.is_some() {
            ClusterPhase::Provisioned
        } else {
            ClusterPhase::Provisioning
        });
        let flag = |type_: &str, holds: bool, reason: &str, message: &str| {
            if holds {
                Condition::true_(type_)
            } else {
                Condition::false_(type_, reason, Severity::Info, message)
            }
        };
        set_condition(
            &mut s.conditions,
            flag(
                condition::INFRASTRUCTURE_READY,
                infra_ready,
                "WaitingForInfrastructure",
                &format!("VSphereCluster {namespace}/{infra_name} is not ready"),
            ),
        );
        set_condition(
            &mut s.conditions,
            flag(
                condition::CONTROL_PLANE_INITIALIZED,
                initialized,
                "WaitingForControlPlaneInitialized",
                "no control-plane machine runs yet",
            ),
        );
        set_condition(
            &mut s.conditions,
            flag(
                condition::CONTROL_PLANE_READY,
                plane_ready,
                "WaitingForControlPlane",
                &format!("KubeadmControlPlane {namespace}/{plane_name} is not ready"),
            ),
        );
        set_condition(
            &mut s.conditions,
            flag(
                condition::READY,
                infra_ready && plane_ready,
                "WaitingForControlPlane",
                "infrastructure or control plane not ready",
            ),
        );
    })?;
    Ok(Action::done())
}

/// Removes the cluster's machines, then its infrastructure.
pub fn finalize(ctx: &Context, cluster: Cluster) -> Result<Action, Error> {
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let kube = ctx.kube();
    let selector = format!("{}={}", labels::CAPI_CLUSTER_NAME, cluster.metadata.name);
    let deployments: Vec<MachineDeployment> =
        kube.list(&MachineDeployment::kind_ref(ctx.cluster(), Some(&namespace)), Some(&selector))?;
    for deployment in deployments.iter().filter(|d| !d.is_being_deleted()) {
        kube.delete(&deployment.object_ref(ctx.cluster()))?;
    }
    let plane_name = reference_name(cluster.spec.control_plane_ref.as_ref());
    kube.delete(&KubeadmControlPlane::named(ctx.cluster(), &namespace, &plane_name))?;
    let machines: Vec<Machine> =
        kube.list(&Machine::kind_ref(ctx.cluster(), Some(&namespace)), Some(&selector))?;
    if !machines.is_empty() {
        status::update(ctx, &cluster, |s: &mut ClusterStatus| {
            let changed = s.phase != Some(ClusterPhase::Deleting);
            s.phase = Some(ClusterPhase::Deleting);
            changed
        })?;
        return Ok(Action::requeue(DELETE_POLL));
    }
    let infra_name = reference_name(cluster.spec.infrastructure_ref.as_ref());
    let infra = VSphereCluster::named(ctx.cluster(), &namespace, &infra_name);
    if kube.get_opt::<VSphereCluster>(&infra)?.is_some() {
        kube.delete(&infra)?;
        return Ok(Action::requeue(DELETE_POLL));
    }
    Ok(Action::done())
}
