//! KubeadmControlPlane → control-plane Machines, one at a time as Cluster
//! API's does (the next joins only once every existing one runs), after the
//! cluster has its endpoint; scale down removes the newest first.

use std::collections::BTreeMap;

use wasmvisor_chain_api::capi::{Cluster, KubeadmControlPlane, KubeadmControlPlaneStatus, condition};
use wasmvisor_chain_api::capv::VSphereMachineTemplate;
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, set_condition, status};
use wasmvisor_sdk::{Action, Context, Error};

use crate::machines::{self, Template};

fn report(
    ctx: &Context,
    kcp: &KubeadmControlPlane,
    change: impl FnOnce(&mut KubeadmControlPlaneStatus),
) -> Result<(), Error> {
    status::set(ctx, kcp, change)
}

/// Keeps `spec.replicas` control-plane Machines.
pub fn reconcile(ctx: &Context, kcp: KubeadmControlPlane) -> Result<Action, Error> {
    let namespace = kcp.metadata.namespace.clone().unwrap_or_default();
    let uid = kcp.metadata.uid.clone().unwrap_or_default();
    let cluster_name = kcp.metadata.labels.get(labels::CAPI_CLUSTER_NAME).cloned().ok_or_else(|| {
        Error::Invalid(format!(
            "KubeadmControlPlane {namespace}/{}: label {} is missing; it names the Cluster",
            kcp.metadata.name,
            labels::CAPI_CLUSTER_NAME
        ))
    })?;
    let kube = ctx.kube();
    let cluster: Option<Cluster> = kube.get_opt(&Cluster::named(ctx.cluster(), &namespace, &cluster_name))?;
    let endpoint =
        cluster.as_ref().and_then(|c| c.spec.control_plane_endpoint.clone()).filter(|e| !e.is_zero());
    if endpoint.is_none() {
        report(ctx, &kcp, |s| {
            set_condition(
                &mut s.conditions,
                Condition::false_(
                    condition::AVAILABLE,
                    "WaitingForControlPlaneEndpoint",
                    Severity::Info,
                    "the Cluster has no control-plane endpoint yet",
                ),
            );
        })?;
        // The Cluster's change re-queues the control plane (a `related` entry).
        return Ok(Action::done());
    }
    let template_name = &kcp.spec.machine_template.infrastructure_ref.name.clone().unwrap_or_default();
    let template: VSphereMachineTemplate =
        kube.get(&VSphereMachineTemplate::named(ctx.cluster(), &namespace, template_name))?;
    let owner = kcp.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;
    let mut machine_labels = BTreeMap::new();
    machine_labels.insert(labels::CAPI_CLUSTER_NAME.to_owned(), cluster_name.clone());
    machine_labels.insert(labels::CAPI_CONTROL_PLANE.to_owned(), String::new());
    let recipe = Template {
        cluster: &cluster_name,
        version: Some(kcp.spec.version.clone()),
        labels: machine_labels,
        infrastructure: template.spec.template.spec.clone(),
        bootstrap: kcp.spec.kubeadm_config_spec.clone(),
    };

    let existing = machines::owned(ctx, &namespace, &cluster_name, &uid)?;
    let alive: Vec<_> = existing.iter().filter(|m| !m.is_being_deleted()).cloned().collect();
    for machine in &alive {
        machines::ensure_parts(ctx, machine, &recipe)?;
    }
    let wanted = usize::try_from(kcp.spec.replicas.unwrap_or(1)).unwrap_or(0);
    if alive.len() < wanted && alive.iter().all(machines::running) {
        let name = machines::next_name(&kcp.metadata.name, &uid, &existing);
        machines::create(ctx, &namespace, &name, &owner, &recipe)?;
        wasmvisor_sdk::log::info("control-plane machine created", &[("machine", &name)]);
    }
    for surplus in machines::surplus(&alive, wanted) {
        kube.delete(&surplus.object_ref(ctx.cluster()))?;
    }

    let ready = alive.iter().filter(|m| machines::running(m)).count();
    let count = |n: usize| Some(i32::try_from(n).unwrap_or(i32::MAX));
    report(ctx, &kcp, |s| {
        s.replicas = count(alive.len());
        s.ready_replicas = count(ready);
        s.updated_replicas = count(alive.len());
        s.unavailable_replicas = count(alive.len() - ready);
        s.initialized = Some(s.initialized == Some(true) || ready > 0);
        s.ready = Some(ready > 0);
        set_condition(
            &mut s.conditions,
            if ready > 0 {
                Condition::true_(condition::AVAILABLE)
            } else {
                Condition::false_(
                    condition::AVAILABLE,
                    "WaitingForMachines",
                    Severity::Info,
                    "no control-plane machine runs yet",
                )
            },
        );
        set_condition(
            &mut s.conditions,
            if ready == wanted && alive.len() == wanted {
                Condition::true_(condition::MACHINES_READY)
            } else {
                let message = format!("{ready} of {wanted} control-plane machines run");
                Condition::false_(condition::MACHINES_READY, "ScalingControlPlane", Severity::Info, &message)
            },
        );
    })?;
    Ok(Action::done())
}
