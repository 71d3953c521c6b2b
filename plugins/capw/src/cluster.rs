//! VSphereCluster (CAPV in supervisor mode): per cluster the resource
//! policy, the VirtualNetwork `<cluster>-vnet`, the control-plane
//! VirtualMachineService, and once its VIP is known the control-plane
//! endpoint; `ResourcePolicyReady`, `ClusterNetworkReady` and
//! `LoadBalancerReady` on the way, `status.ready` at the end.
//!
//! The network and the VM service are owned plainly by the VSphereCluster,
//! as CAPV does; their status changes re-queue it through `related`
//! owner-reference entries. Deleting the cluster leaves their removal to
//! the garbage collector.

use std::collections::BTreeMap;

use wasmvisor_chain_api::capi::ApiEndpoint;
use wasmvisor_chain_api::capv::{
    CONTROL_PLANE_MODULE_GROUP, CONTROL_PLANE_PORT, CONTROL_PLANE_PORT_NAME, VSphereCluster,
    VSphereClusterSpec, VSphereClusterStatus, condition, reason,
};
use wasmvisor_chain_api::conditions::ncp_ready;
use wasmvisor_chain_api::core::{Protocol, ServiceType};
use wasmvisor_chain_api::ncp::{VirtualNetwork, VirtualNetworkSpec};
use wasmvisor_chain_api::vmop::{
    ClusterModuleSpec, FolderSpec, ResourcePoolSpec, VirtualMachineService, VirtualMachineServicePort,
    VirtualMachineServiceSpec, VirtualMachineSetResourcePolicy, VirtualMachineSetResourcePolicySpec,
};
use wasmvisor_chain_api::{
    Condition, Severity, annotations, labels, names, new_object, set_condition, status,
};
use wasmvisor_sdk::{Action, Context, Error, ObjectMeta};

/// The guest cluster a VSphereCluster belongs to.
pub fn cluster_name(meta: &ObjectMeta) -> String {
    meta.labels.get(labels::CAPI_CLUSTER_NAME).cloned().unwrap_or_else(|| meta.name.clone())
}

/// The selector of a cluster's control-plane VMs (current and legacy labels).
pub fn control_plane_selector(cluster: &str) -> BTreeMap<String, String> {
    [
        (labels::CAPV_CLUSTER_NAME, cluster),
        (labels::CAPV_CLUSTER_ROLE, labels::ROLE_CONTROL_PLANE),
        (labels::CAPW_CLUSTER_NAME, cluster),
        (labels::CAPW_CLUSTER_ROLE, labels::ROLE_CONTROL_PLANE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn report(
    ctx: &Context,
    vsc: &VSphereCluster,
    change: impl FnOnce(&mut VSphereClusterStatus),
) -> Result<(), Error> {
    status::set(ctx, vsc, change)
}

/// Drives the cluster's infrastructure to ready.
pub fn reconcile(ctx: &Context, vsc: VSphereCluster) -> Result<Action, Error> {
    let namespace = vsc.metadata.namespace.clone().unwrap_or_default();
    let cluster = cluster_name(&vsc.metadata);
    let owner = vsc.owner_reference(false).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;
    let mut cluster_labels = BTreeMap::new();
    cluster_labels.insert(labels::CAPI_CLUSTER_NAME.to_owned(), cluster.clone());
    let kube = ctx.kube();

    let policy_name = names::resource_policy(&cluster);
    let mut policy: VirtualMachineSetResourcePolicy = new_object(
        &namespace,
        &policy_name,
        VirtualMachineSetResourcePolicySpec {
            resource_pool: Some(ResourcePoolSpec { name: Some(policy_name.clone()), ..Default::default() }),
            folder: Some(FolderSpec { name: Some(policy_name.clone()) }),
            cluster_modules: vec![
                ClusterModuleSpec { group_name: CONTROL_PLANE_MODULE_GROUP.to_owned() },
                ClusterModuleSpec { group_name: names::workers_module_group(&cluster) },
            ],
        },
    );
    policy.metadata.labels = cluster_labels.clone();
    policy.metadata.owner_references = vec![owner.clone()];
    kube.apply(ctx.cluster(), &policy)?;

    let mut vnet: VirtualNetwork =
        new_object(&namespace, &names::virtual_network(&cluster), VirtualNetworkSpec::default());
    vnet.metadata.labels = cluster_labels.clone();
    vnet.metadata.owner_references = vec![owner.clone()];
    let vnet = kube.apply(ctx.cluster(), &vnet)?;
    let network_ready = vnet.status.as_ref().is_some_and(|s| ncp_ready(&s.conditions));

    let mut service: VirtualMachineService = new_object(
        &namespace,
        &names::control_plane_service(&cluster),
        VirtualMachineServiceSpec {
            type_: ServiceType::LoadBalancer,
            ports: vec![VirtualMachineServicePort {
                name: CONTROL_PLANE_PORT_NAME.to_owned(),
                protocol: Protocol::Tcp,
                port: CONTROL_PLANE_PORT,
                target_port: CONTROL_PLANE_PORT,
            }],
            selector: control_plane_selector(&cluster),
            ..Default::default()
        },
    );
    service.metadata.labels = cluster_labels;
    service
        .metadata
        .annotations
        .insert(annotations::NCP_VIRTUAL_NETWORK_NAME.to_owned(), vnet.metadata.name.clone());
    service.metadata.owner_references = vec![owner];
    let service = kube.apply(ctx.cluster(), &service)?;
    let vip = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.first_ip())
        .map(str::to_owned);

    if let Some(vip) = &vip
        && vsc.spec.control_plane_endpoint.host != *vip
    {
        let endpoint: VSphereCluster = new_object(
            &namespace,
            &vsc.metadata.name,
            VSphereClusterSpec {
                control_plane_endpoint: ApiEndpoint { host: vip.clone(), port: CONTROL_PLANE_PORT },
            },
        );
        kube.apply(ctx.cluster(), &endpoint)?;
    }

    let ready = network_ready && vip.is_some();
    report(ctx, &vsc, |s| {
        s.resource_policy_name = Some(policy_name.clone());
        set_condition(&mut s.conditions, Condition::true_(condition::RESOURCE_POLICY_READY));
        set_condition(
            &mut s.conditions,
            if network_ready {
                Condition::true_(condition::CLUSTER_NETWORK_READY)
            } else {
                let message =
                    format!("waiting for VirtualNetwork {namespace}/{} to be ready", vnet.metadata.name);
                Condition::false_(
                    condition::CLUSTER_NETWORK_READY,
                    reason::CLUSTER_NETWORK_PROVISION_STARTED,
                    Severity::Info,
                    &message,
                )
            },
        );
        set_condition(
            &mut s.conditions,
            match &vip {
                Some(_) => Condition::true_(condition::LOAD_BALANCER_READY),
                None => Condition::false_(
                    condition::LOAD_BALANCER_READY,
                    reason::WAITING_FOR_LOAD_BALANCER_IP,
                    Severity::Info,
                    &format!(
                        "waiting for an ingress IP on VirtualMachineService {namespace}/{}",
                        service.metadata.name
                    ),
                ),
            },
        );
        let summary = if ready {
            Condition::true_(condition::READY)
        } else {
            Condition::false_(
                condition::READY,
                "WaitingForInfrastructure",
                Severity::Info,
                "network or load balancer not ready",
            )
        };
        set_condition(&mut s.conditions, summary);
        s.ready = Some(ready);
    })?;
    Ok(Action::done())
}
