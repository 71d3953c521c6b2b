//! VirtualMachineService → a selector-less Service of the same name and the
//! Endpoints of the VirtualMachines its selector matches (their primary
//! IPs), and the Service's load balancer status copied back.
//!
//! A VM's change re-queues every VirtualMachineService whose selector
//! matches it (a `related` entry of the manifest), so an IP appearing or a
//! VM going is in the Endpoints at once.

use wasmvisor_chain_api::core::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, ObjectReference, Service,
    ServicePort, ServiceSpec, ServiceType,
};
use wasmvisor_chain_api::vmop::{
    VirtualMachine, VirtualMachineService, VirtualMachineServiceStatus, condition,
};
use wasmvisor_chain_api::{Resource, annotations, conditions, new_object, status};
use wasmvisor_sdk::{Action, Context, Error};

/// Whether `vm` backs the service: selected, alive and with a primary IP.
fn backs(selector: &std::collections::BTreeMap<String, String>, vm: &VirtualMachine) -> bool {
    !selector.is_empty()
        && selector.iter().all(|(k, v)| vm.metadata.labels.get(k) == Some(v))
        && !vm.is_being_deleted()
        && vm.status.as_ref().and_then(|s| s.vm_ip.as_deref()).is_some_and(|ip| !ip.is_empty())
}

/// A VM without a readiness probe is ready once it has an IP; with one, its
/// `Ready` condition decides (vm-operator's rule).
fn ready(vm: &VirtualMachine) -> bool {
    vm.spec.readiness_probe.is_none()
        || vm.status.as_ref().is_some_and(|s| conditions::is_true(&s.conditions, condition::READY))
}

/// The Service vm-service keeps for `vms`.
fn service(vms: &VirtualMachineService, namespace: &str) -> Result<Service, Error> {
    let owner = vms.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;
    let mut service: Service = new_object(namespace, &vms.metadata.name, ServiceSpec::default());
    service.metadata.labels = vms.metadata.labels.clone();
    service.metadata.annotations = vms.metadata.annotations.clone();
    service.metadata.owner_references = vec![owner];
    let local =
        vms.metadata.annotations.get(annotations::VMSERVICE_EXTERNAL_TRAFFIC_POLICY).map(String::as_str)
            == Some("Local");
    if let Some(port) = vms.metadata.annotations.get(annotations::VMSERVICE_HEALTH_CHECK_NODE_PORT) {
        service.metadata.annotations.insert(annotations::NCP_HEALTH_CHECK_NODE_PORT.into(), port.clone());
    }
    if local {
        service.metadata.labels.insert(
            wasmvisor_chain_api::labels::SERVICE_PROXY_NAME.into(),
            wasmvisor_chain_api::labels::NSX_T_PROXY.into(),
        );
    }
    let spec = &vms.spec;
    service.spec = ServiceSpec {
        type_: Some(spec.type_),
        ports: spec
            .ports
            .iter()
            .map(|p| ServicePort {
                name: Some(p.name.clone()),
                protocol: Some(p.protocol),
                port: p.port,
                target_port: Some(IntOrString::Int(p.target_port)),
                node_port: None,
            })
            .collect(),
        load_balancer_ip: spec.load_balancer_ip.clone(),
        load_balancer_source_ranges: spec.load_balancer_source_ranges.clone(),
        external_name: spec.external_name.clone(),
        allocate_load_balancer_node_ports: (spec.type_ == ServiceType::LoadBalancer).then_some(false),
        external_traffic_policy: (spec.type_ == ServiceType::LoadBalancer)
            .then(|| if local { "Local" } else { "Cluster" }.to_owned()),
        ..ServiceSpec::default()
    };
    Ok(service)
}

/// The Endpoints of `service` backed by `vms_backing`.
fn endpoints(service: &Service, spec: &VirtualMachineService, backing: &[VirtualMachine]) -> Endpoints {
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let mut endpoints = Endpoints::new(&namespace, &service.metadata.name);
    endpoints.metadata.labels = service.metadata.labels.clone();
    endpoints.metadata.annotations = service.metadata.annotations.clone();
    endpoints.metadata.owner_references = service.metadata.owner_references.clone();
    let address = |vm: &VirtualMachine| EndpointAddress {
        ip: vm.status.as_ref().and_then(|s| s.vm_ip.clone()).unwrap_or_default(),
        target_ref: Some(ObjectReference {
            uid: vm.metadata.uid.clone(),
            ..ObjectReference::to(
                VirtualMachine::API_VERSION,
                VirtualMachine::KIND,
                &namespace,
                &vm.metadata.name,
            )
        }),
    };
    let mut addresses: Vec<EndpointAddress> = backing.iter().filter(|vm| ready(vm)).map(address).collect();
    let mut not_ready: Vec<EndpointAddress> = backing.iter().filter(|vm| !ready(vm)).map(address).collect();
    addresses.sort_by(|a, b| a.ip.cmp(&b.ip));
    not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
    if !addresses.is_empty() || !not_ready.is_empty() {
        endpoints.subsets = vec![EndpointSubset {
            addresses,
            not_ready_addresses: not_ready,
            ports: spec
                .spec
                .ports
                .iter()
                .map(|p| EndpointPort {
                    name: Some(p.name.clone()),
                    port: p.target_port,
                    protocol: Some(p.protocol),
                })
                .collect(),
        }];
    }
    endpoints
}

/// Keeps the Service and Endpoints and copies the load balancer status back.
pub fn reconcile(ctx: &Context, vms: VirtualMachineService) -> Result<Action, Error> {
    let namespace = vms.metadata.namespace.clone().unwrap_or_default();
    let desired = service(&vms, &namespace)?;
    let stored = ctx.kube().apply(ctx.cluster(), &desired)?;
    let all: Vec<VirtualMachine> =
        ctx.kube().list(&VirtualMachine::kind_ref(ctx.cluster(), Some(&namespace)), None)?;
    let backing: Vec<VirtualMachine> = all.into_iter().filter(|vm| backs(&vms.spec.selector, vm)).collect();
    ctx.kube().apply(ctx.cluster(), &endpoints(&desired, &vms, &backing))?;
    let load_balancer = (vms.spec.type_ == ServiceType::LoadBalancer)
        .then(|| stored.status.and_then(|s| s.load_balancer))
        .flatten()
        .filter(|lb| !lb.ingress.is_empty());
    status::update(ctx, &vms, |s: &mut VirtualMachineServiceStatus| {
        let changed = s.load_balancer != load_balancer;
        s.load_balancer = load_balancer;
        changed
    })?;
    Ok(Action::done())
}

/// Deletes the Endpoints and the Service.
pub fn finalize(ctx: &Context, vms: VirtualMachineService) -> Result<Action, Error> {
    let namespace = vms.metadata.namespace.clone().unwrap_or_default();
    ctx.kube().delete(&Endpoints::named(ctx.cluster(), &namespace, &vms.metadata.name))?;
    ctx.kube().delete(&Service::named(ctx.cluster(), &namespace, &vms.metadata.name))?;
    Ok(Action::done())
}
