//! The Supervisor VirtualMachineService for one guest LoadBalancer Service,
//! as cloud-provider-vsphere's paravirtual provider makes it: the guest
//! cluster's worker VMs behind the Service's ports, each to its node port.

use std::collections::BTreeMap;

use wasmvisor_chain_api::core::{Service, ServiceType};
use wasmvisor_chain_api::tkc::TanzuKubernetesCluster;
use wasmvisor_chain_api::vmop::{
    VirtualMachineService, VirtualMachineServicePort, VirtualMachineServiceSpec,
};
use wasmvisor_chain_api::{Resource, annotations, labels, new_object};
use wasmvisor_sdk::{Context, Error};

use crate::origin::{Origin, SUPERVISOR};

/// The VirtualMachineService `name` for guest Service `service` of `origin`.
pub fn desired(
    ctx: &Context,
    origin: &Origin,
    service: &Service,
    name: &str,
) -> Result<VirtualMachineService, Error> {
    let guest_namespace = service.metadata.namespace.clone().unwrap_or_default();
    let mut ports = Vec::new();
    for (i, port) in service.spec.ports.iter().enumerate() {
        let Some(node_port) = port.node_port else {
            return Err(Error::Invalid(format!(
                "NodePort not found: Service {guest_namespace}/{} spec.ports[{i}] ({}) has none; the Supervisor's load balancer reaches the guest's nodes on their node ports, so leave allocateLoadBalancerNodePorts unset or true",
                service.metadata.name,
                port.name.as_deref().unwrap_or("unnamed")
            )));
        };
        ports.push(VirtualMachineServicePort {
            name: port.name.clone().unwrap_or_else(|| format!("port-{}", port.port)),
            protocol: port.protocol.unwrap_or_default(),
            port: port.port,
            target_port: node_port,
        });
    }
    let selector = BTreeMap::from([
        (labels::CAPV_CLUSTER_NAME.to_owned(), origin.cluster.clone()),
        (labels::CAPV_CLUSTER_ROLE.to_owned(), labels::ROLE_NODE.to_owned()),
    ]);
    let mut vms: VirtualMachineService = new_object(
        &origin.namespace,
        name,
        VirtualMachineServiceSpec {
            type_: ServiceType::LoadBalancer,
            ports,
            selector,
            load_balancer_ip: service.spec.load_balancer_ip.clone().filter(|ip| !ip.is_empty()),
            load_balancer_source_ranges: service.spec.load_balancer_source_ranges.clone(),
            ..VirtualMachineServiceSpec::default()
        },
    );
    vms.metadata.labels = BTreeMap::from([
        (labels::CCM_CLUSTER_NAME.to_owned(), origin.cluster.clone()),
        (labels::CCM_SERVICE_NAME.to_owned(), service.metadata.name.clone()),
        (labels::CCM_SERVICE_NAMESPACE.to_owned(), guest_namespace),
    ]);
    if service.spec.external_traffic_policy.as_deref() == Some("Local") {
        vms.metadata
            .annotations
            .insert(annotations::VMSERVICE_EXTERNAL_TRAFFIC_POLICY.to_owned(), "Local".to_owned());
        if let Some(port) = service.spec.health_check_node_port {
            vms.metadata
                .annotations
                .insert(annotations::VMSERVICE_HEALTH_CHECK_NODE_PORT.to_owned(), port.to_string());
        }
    }
    let tkc: Option<TanzuKubernetesCluster> =
        ctx.kube().get_opt(&TanzuKubernetesCluster::named(SUPERVISOR, &origin.namespace, &origin.cluster))?;
    if let Some(owner) = tkc.and_then(|t| t.owner_reference(false)) {
        vms.metadata.owner_references = vec![owner];
    }
    Ok(vms)
}
