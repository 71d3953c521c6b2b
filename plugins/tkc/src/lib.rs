//! tkc: the TKG service's part of the Supervisor chain.
//!
//! A TanzuKubernetesCluster is checked ([`validate`]), becomes Cluster API
//! objects ([`objects`]), gets its addons installed into its guest cluster
//! ([`addons`]), and reports what they say ([`status`]). Deleting it deletes
//! its Cluster, whose controllers take the rest down in order.

pub mod addons;
pub mod objects;
pub mod status;
pub mod validate;

use std::time::Duration;

use wasmvisor_chain_api::capi::Cluster;
use wasmvisor_chain_api::capi::MachineDeployment;
use wasmvisor_chain_api::capv::VSphereCluster;
use wasmvisor_chain_api::supervisor::NetworkSettings;
use wasmvisor_chain_api::tkc::{TanzuKubernetesCluster, TanzuKubernetesClusterStatus, TkcPhase, condition};
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, set_condition};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

use status::Observed;

/// How often a TKC whose Cluster is being deleted is looked at again.
const DELETE_POLL: Duration = Duration::from_secs(1);

/// How often a TKC whose guest cluster is not complete yet is looked at
/// again (the guest is another cluster: no watch brings its changes).
const GUEST_POLL: Duration = Duration::from_secs(1);

struct Tkc;

fn write(
    ctx: &Context,
    tkc: &TanzuKubernetesCluster,
    change: impl FnOnce(&mut TanzuKubernetesClusterStatus),
) -> Result<(), Error> {
    wasmvisor_chain_api::status::set(ctx, tkc, change)
}

impl Reconciler for Tkc {
    type Object = TanzuKubernetesCluster;

    fn reconcile(ctx: &Context, tkc: TanzuKubernetesCluster) -> Result<Action, Error> {
        let network = NetworkSettings::read(ctx)?;
        let resolved = match validate::check(ctx, &tkc, &network)? {
            Ok(resolved) => resolved,
            Err(invalid) => {
                write(ctx, &tkc, |s| {
                    set_condition(
                        &mut s.conditions,
                        Condition::false_(
                            condition::READY,
                            invalid.reason,
                            Severity::Error,
                            &invalid.message,
                        ),
                    );
                    if s.phase.is_none() {
                        s.phase = Some(TkcPhase::Creating);
                    }
                })?;
                // Nothing to make until the TKC (or what it names) changes.
                return Ok(Action::done());
            }
        };
        let namespace = tkc.metadata.namespace.clone().unwrap_or_default();
        let kube = ctx.kube();
        let owner =
            tkc.owner_reference(true).ok_or_else(|| Error::Unavailable("the TKC has no uid yet".into()))?;
        let cluster = kube.apply(ctx.cluster(), &objects::cluster(&tkc, owner))?;
        let cluster_owner = cluster
            .owner_reference(false)
            .ok_or_else(|| Error::Unavailable("the Cluster has no uid yet".into()))?;
        let parts = objects::parts(&tkc, &resolved, &cluster_owner);
        // Made once: its only spec field, the endpoint, is capw's to fill.
        let vsphere_cluster = VSphereCluster::named(ctx.cluster(), &namespace, &tkc.metadata.name);
        if kube.get_opt::<VSphereCluster>(&vsphere_cluster)?.is_none() {
            kube.apply(ctx.cluster(), &parts.vsphere_cluster)?;
        }
        for template in &parts.machine_templates {
            kube.apply(ctx.cluster(), template)?;
        }
        for template in &parts.config_templates {
            kube.apply(ctx.cluster(), template)?;
        }
        kube.apply(ctx.cluster(), &parts.control_plane)?;
        for deployment in &parts.deployments {
            kube.apply(ctx.cluster(), deployment)?;
        }
        let selector = format!("{}={}", labels::CAPI_CLUSTER_NAME, tkc.metadata.name);
        let existing: Vec<MachineDeployment> =
            kube.list(&MachineDeployment::kind_ref(ctx.cluster(), Some(&namespace)), Some(&selector))?;
        for removed in
            existing.iter().filter(|d| !parts.deployments.iter().any(|p| p.metadata.name == d.metadata.name))
        {
            kube.delete(&removed.object_ref(ctx.cluster()))?;
        }
        let observed = Observed::read(ctx, &tkc)?;
        let guest = if observed.endpoint().is_some() {
            let install =
                addons::Install { tkc: &tkc, resolved: &resolved, node_network: observed.node_network() };
            addons::sync(ctx, &install)?
        } else {
            addons::Guest {
                unreachable: Some("the control plane has no endpoint yet".into()),
                ..addons::Guest::default()
            }
        };
        let mut ready = false;
        write(ctx, &tkc, |s| {
            s.version = Some(resolved.version.clone());
            ready = observed.report(&tkc, &guest, s);
        })?;
        // Nodes and addons live in the guest cluster: look again until whole.
        // Before the endpoint exists, the Supervisor objects' watches bring every change.
        let whole =
            ready && guest.nodes.len() == observed.machine_count() && guest.nodes.values().all(|r| *r);
        Ok(if whole || observed.endpoint().is_none() { Action::done() } else { Action::requeue(GUEST_POLL) })
    }

    fn finalize(ctx: &Context, tkc: TanzuKubernetesCluster) -> Result<Action, Error> {
        let namespace = tkc.metadata.namespace.clone().unwrap_or_default();
        let target = Cluster::named(ctx.cluster(), &namespace, &tkc.metadata.name);
        if ctx.kube().get_opt::<Cluster>(&target)?.is_none() {
            return Ok(Action::done());
        }
        ctx.kube().delete(&target)?;
        write(ctx, &tkc, |s| {
            s.phase = Some(TkcPhase::Deleting);
            set_condition(
                &mut s.conditions,
                Condition::false_(
                    condition::READY,
                    "Deleting",
                    Severity::Info,
                    "deleting the cluster's machines and network",
                ),
            );
        })?;
        Ok(Action::requeue(DELETE_POLL))
    }
}

wasmvisor_sdk::export!(Tkc);
