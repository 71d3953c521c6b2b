//! The TKC's status, read off what the chain made and what its guest cluster
//! shows: phase, conditions (`Ready`, `ControlPlaneReady`, `NodePoolsReady`,
//! `AddonsReady`, `TanzuKubernetesReleaseCompatible`), the API endpoint, the
//! worker count, the addons, and per node and per VM where each one stands.

use std::collections::BTreeMap;

use wasmvisor_chain_api::capi::{Cluster, KubeadmControlPlane, Machine, MachineDeployment, MachinePhase};
use wasmvisor_chain_api::tkc::{
    ApiEndpoint, TanzuKubernetesCluster, TanzuKubernetesClusterStatus, TkcPhase, condition,
};
use wasmvisor_chain_api::vmop::{PowerState, VirtualMachine};
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, set_condition};
use wasmvisor_sdk::{Context, Error};

use crate::addons::{self, Guest};
use crate::objects;

/// What the chain reports for one cluster, gathered in one place.
pub struct Observed {
    cluster: Option<Cluster>,
    control_plane: Option<KubeadmControlPlane>,
    deployments: Vec<MachineDeployment>,
    machines: Vec<Machine>,
    vms: Vec<VirtualMachine>,
}

impl Observed {
    /// Reads the cluster's objects (from the host's cache where it has one).
    pub fn read(ctx: &Context, tkc: &TanzuKubernetesCluster) -> Result<Self, Error> {
        let namespace = tkc.metadata.namespace.clone().unwrap_or_default();
        let name = &tkc.metadata.name;
        let kube = ctx.kube();
        let by_cluster = format!("{}={name}", labels::CAPI_CLUSTER_NAME);
        Ok(Self {
            cluster: kube.get_opt(&Cluster::named(ctx.cluster(), &namespace, name))?,
            control_plane: kube.get_opt(&KubeadmControlPlane::named(
                ctx.cluster(),
                &namespace,
                &objects::control_plane(name),
            ))?,
            deployments: kube
                .list(&MachineDeployment::kind_ref(ctx.cluster(), Some(&namespace)), Some(&by_cluster))?,
            machines: kube.list(&Machine::kind_ref(ctx.cluster(), Some(&namespace)), Some(&by_cluster))?,
            vms: kube.list(
                &VirtualMachine::kind_ref(ctx.cluster(), Some(&namespace)),
                Some(&format!("{}={name}", labels::CAPV_CLUSTER_NAME)),
            )?,
        })
    }

    /// The cluster's segment subnet, from the first VM NIC that reports an
    /// address in CIDR form.
    pub fn node_network(&self) -> Option<ipnet::Ipv4Net> {
        self.vms
            .iter()
            .filter_map(|vm| vm.status.as_ref())
            .flat_map(|s| &s.network_interfaces)
            .flat_map(|nic| &nic.ip_addresses)
            .find_map(|address| address.parse::<ipnet::Ipv4Net>().ok())
    }

    /// How many Machines the cluster has.
    pub fn machine_count(&self) -> usize {
        self.machines.len()
    }

    /// The cluster's API endpoint, once it has one.
    pub fn endpoint(&self) -> Option<ApiEndpoint> {
        let endpoint = self.cluster.as_ref()?.spec.control_plane_endpoint.clone().filter(|e| !e.is_zero())?;
        Some(ApiEndpoint { host: endpoint.host, port: endpoint.port })
    }

    /// Fills `status` for `tkc` and what its `guest` shows; returns whether
    /// the cluster is ready.
    pub fn report(
        &self,
        tkc: &TanzuKubernetesCluster,
        guest: &Guest,
        status: &mut TanzuKubernetesClusterStatus,
    ) -> bool {
        let topology = &tkc.spec.topology;
        let wanted_planes = topology.control_plane.replicas.unwrap_or(1);
        let plane = self.control_plane.as_ref().and_then(|p| p.status.clone()).unwrap_or_default();
        let planes_ready = plane.ready == Some(true)
            && plane.ready_replicas == Some(wanted_planes)
            && plane.replicas == Some(wanted_planes);
        let mut pools_waiting = Vec::new();
        for pool in &topology.node_pools {
            let name = objects::pool(&tkc.metadata.name, &pool.name);
            let deployment = self.deployments.iter().find(|d| d.metadata.name == name);
            let wanted = pool.settings.replicas.unwrap_or(1);
            let observed = deployment.and_then(|d| d.status.clone()).unwrap_or_default();
            if observed.ready_replicas != Some(wanted) || observed.replicas != Some(wanted) {
                pools_waiting.push(format!(
                    "{} ({} of {wanted} ready)",
                    pool.name,
                    observed.ready_replicas.unwrap_or(0)
                ));
            }
        }
        let infrastructure =
            self.cluster.as_ref().and_then(|c| c.status.as_ref()).and_then(|s| s.infrastructure_ready)
                == Some(true);
        let addons_ready = guest.addons_ready();
        let ready = planes_ready && pools_waiting.is_empty() && infrastructure && addons_ready;

        status.api_endpoints = self.endpoint().into_iter().collect();
        status.total_worker_replicas =
            Some(topology.node_pools.iter().map(|p| p.settings.replicas.unwrap_or(1)).sum());
        let was_running = matches!(status.phase, Some(TkcPhase::Running | TkcPhase::Updating));
        status.phase = Some(match (ready, was_running) {
            (true, _) => TkcPhase::Running,
            (false, true) => TkcPhase::Updating,
            (false, false) => TkcPhase::Creating,
        });
        set_condition(&mut status.conditions, Condition::true_(condition::TKR_COMPATIBLE));
        set_condition(
            &mut status.conditions,
            if planes_ready {
                Condition::true_(condition::CONTROL_PLANE_READY)
            } else {
                let message = format!(
                    "{} of {wanted_planes} control-plane machines ready",
                    plane.ready_replicas.unwrap_or(0)
                );
                Condition::false_(
                    condition::CONTROL_PLANE_READY,
                    "WaitingForControlPlane",
                    Severity::Info,
                    &message,
                )
            },
        );
        set_condition(
            &mut status.conditions,
            if pools_waiting.is_empty() {
                Condition::true_(condition::NODE_POOLS_READY)
            } else {
                let message = format!("node pools not ready: {}", pools_waiting.join(", "));
                Condition::false_(
                    condition::NODE_POOLS_READY,
                    "WaitingForNodePools",
                    Severity::Info,
                    &message,
                )
            },
        );
        status.addons = addons::statuses(guest);
        set_condition(
            &mut status.conditions,
            if addons_ready {
                Condition::true_(condition::ADDONS_READY)
            } else {
                Condition::false_(
                    condition::ADDONS_READY,
                    "WaitingForAddons",
                    Severity::Info,
                    &guest.waiting(),
                )
            },
        );
        set_condition(
            &mut status.conditions,
            if ready {
                Condition::true_(condition::READY)
            } else if !infrastructure {
                Condition::false_(
                    condition::READY,
                    "WaitingForInfrastructure",
                    Severity::Info,
                    "the cluster network or load balancer is not ready",
                )
            } else if !(planes_ready && pools_waiting.is_empty()) {
                Condition::false_(
                    condition::READY,
                    "WaitingForMachines",
                    Severity::Info,
                    "control plane or node pools not ready",
                )
            } else {
                Condition::false_(
                    condition::READY,
                    "WaitingForAddons",
                    Severity::Info,
                    "the guest cluster's addons are not provisioned yet",
                )
            },
        );
        status.node_status = self
            .machines
            .iter()
            .map(|m| {
                let state = match (guest.nodes.get(&m.metadata.name), m.status.as_ref().and_then(|s| s.phase))
                {
                    (Some(true), _) => "ready",
                    (Some(false), _) | (None, Some(MachinePhase::Failed)) => "notready",
                    (None, Some(_)) => "pending",
                    (None, None) => "unknown",
                };
                (m.metadata.name.clone(), state.to_owned())
            })
            .collect::<BTreeMap<_, _>>();
        status.vm_status = self
            .vms
            .iter()
            .map(|vm| {
                let observed = vm.status.clone().unwrap_or_default();
                let state = match (
                    observed.power_state,
                    observed.vm_ip.as_deref().is_some_and(|ip| !ip.is_empty()),
                ) {
                    (Some(PowerState::PoweredOn), true) => "ready",
                    (Some(PowerState::PoweredOn), false) => "poweredon",
                    (Some(_), _) => "created",
                    (None, _) => "pending",
                };
                (vm.metadata.name.clone(), state.to_owned())
            })
            .collect::<BTreeMap<_, _>>();
        ready
    }
}
