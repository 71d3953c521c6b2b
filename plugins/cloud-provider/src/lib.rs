//! cloud-provider: the vSphere paravirtual cloud provider's load balancer,
//! the chain's step from a guest cluster back to the Supervisor.
//!
//! It watches Services of type LoadBalancer in every guest cluster (the
//! dynamic cluster source over the `<cluster>-kubeconfig` Secrets), keeps
//! for each a Supervisor VirtualMachineService `<cluster>-<hash>` in the
//! cluster's Supervisor namespace (worker VMs, ports to the node ports),
//! and writes the VIP the Supervisor gives it back into the guest Service's
//! status. The guest never holds a Supervisor, NSX or vCenter credential,
//! and the host lets a reconcile from guest cluster X write only in X's
//! Supervisor namespace.

pub mod origin;
pub mod vmservice;

use std::time::Duration;

use wasmvisor_chain_api::core::{LoadBalancerStatus, Service, ServiceStatus, ServiceType};
use wasmvisor_chain_api::vmop::VirtualMachineService;
use wasmvisor_chain_api::{Resource, names, status};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

use origin::Origin;

/// How often a guest Service waiting for its VIP is looked at again (the
/// Supervisor's VM service lives in another cluster, so no watch brings it).
const VIP_POLL: Duration = Duration::from_secs(1);

struct CloudProvider;

impl Reconciler for CloudProvider {
    type Object = Service;

    fn reconcile(ctx: &Context, service: Service) -> Result<Action, Error> {
        let origin = Origin::of(ctx)?;
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = names::ccm_vm_service(&origin.cluster, &service.metadata.name, &namespace);
        let target = VirtualMachineService::named(origin::SUPERVISOR, &origin.namespace, &name);
        if service.spec.type_ != Some(ServiceType::LoadBalancer) {
            // Not (or no longer) a load balancer: the Supervisor keeps nothing for it.
            ctx.kube().delete(&target)?;
            return Ok(Action::done());
        }
        let desired = vmservice::desired(ctx, &origin, &service, &name)?;
        let stored = ctx.kube().apply(origin::SUPERVISOR, &desired)?;
        let vip = stored
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.first_ip())
            .map(str::to_owned);
        let Some(vip) = vip else {
            return Ok(Action::requeue(VIP_POLL));
        };
        let ingress = LoadBalancerStatus {
            ingress: vec![wasmvisor_chain_api::core::LoadBalancerIngress { ip: Some(vip), hostname: None }],
        };
        status::update(ctx, &service, |s: &mut ServiceStatus| {
            let changed = s.load_balancer.as_ref() != Some(&ingress);
            s.load_balancer = Some(ingress);
            changed
        })?;
        Ok(Action::done())
    }

    fn finalize(ctx: &Context, service: Service) -> Result<Action, Error> {
        let origin = Origin::of(ctx)?;
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = names::ccm_vm_service(&origin.cluster, &service.metadata.name, &namespace);
        ctx.kube().delete(&VirtualMachineService::named(origin::SUPERVISOR, &origin.namespace, &name))?;
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(CloudProvider);
