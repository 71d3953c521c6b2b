//! The guest side of a TKC, as TKG's addon manager keeps it: once the guest
//! API server answers through the VIP, the CNI addon (Calico: its CRDs, its
//! config and the IPPool from the TKC's pod range) is applied into the guest,
//! and what the guest then says of itself is reported: every Node Ready, the
//! CNI provisioned (each Node holds a Calico block) and the cloud provider
//! provisioned (each Node carries its `vsphere://` provider ID and no
//! `uninitialized` taint).
//!
//! The guest lives in another cluster, so no watch brings its changes here:
//! a TKC whose guest is not complete yet is looked at again shortly.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde_json::Value;
use wasmvisor_chain_api::calico::{self, IpPool, IpPoolSpec};
use wasmvisor_chain_api::core::{ConfigMap, Node, node_is_ready};
use wasmvisor_chain_api::tkc::{AddonStatus, TanzuKubernetesCluster};
use wasmvisor_chain_api::{Condition, Resource, Severity, names, new_object};
use wasmvisor_sdk::{Context, Error};

use crate::validate::{CNI, Resolved};

/// Calico's CRDs, applied into every guest before its IPPool.
const CALICO_CRDS: [&str; 3] = [
    include_str!("../../../crds/guest/crd.projectcalico.org_ippools.yaml"),
    include_str!("../../../crds/guest/crd.projectcalico.org_ipamblocks.yaml"),
    include_str!("../../../crds/guest/crd.projectcalico.org_blockaffinities.yaml"),
];

/// The name the cloud provider addon is reported under.
pub const CPI: &str = "vsphere-cpi";

/// The taint a kubelet started with an external cloud provider carries until
/// the provider has initialized the node.
const UNINITIALIZED_TAINT: &str = "node.cloudprovider.kubernetes.io/uninitialized";

/// `Provisioned`: the addon condition type.
const PROVISIONED: &str = "Provisioned";

/// What the guest cluster shows.
#[derive(Debug, Clone, Default)]
pub struct Guest {
    /// Why the guest could not be read yet, if it could not.
    pub unreachable: Option<String>,
    /// Node name → Ready.
    pub nodes: BTreeMap<String, bool>,
    /// The addons and whether each is provisioned, with what it waits for.
    pub addons: Vec<(AddonStatus, Result<(), String>)>,
}

impl Guest {
    /// Whether every addon is provisioned.
    pub fn addons_ready(&self) -> bool {
        self.unreachable.is_none() && self.addons.iter().all(|(_, state)| state.is_ok())
    }

    /// What the addons wait for, in words.
    pub fn waiting(&self) -> String {
        if let Some(why) = &self.unreachable {
            return format!("the guest cluster's API server cannot be reached yet: {why}");
        }
        self.addons
            .iter()
            .filter_map(|(addon, state)| state.as_ref().err().map(|why| format!("{}: {why}", addon.name)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The guest's settings the addons are installed with.
pub struct Install<'a> {
    /// The TKC.
    pub tkc: &'a TanzuKubernetesCluster,
    /// Its resolved settings (pod ranges).
    pub resolved: &'a Resolved,
    /// The cluster's segment subnet, read off a VM's NIC.
    pub node_network: Option<Ipv4Net>,
}

/// Installs the addons into the guest and reads back what it shows. A guest
/// that does not answer yet (no kubeconfig Secret, API server not up) is a
/// state to report, not an error.
pub fn sync(ctx: &Context, install: &Install<'_>) -> Result<Guest, Error> {
    let namespace = install.tkc.metadata.namespace.clone().unwrap_or_default();
    let guest = names::guest_cluster(&namespace, &install.tkc.metadata.name);
    match apply_and_read(ctx, &guest, install) {
        Ok(found) => Ok(found),
        Err(Error::Unavailable(why)) => Ok(Guest { unreachable: Some(why), ..Guest::default() }),
        Err(other) => Err(other),
    }
}

fn apply_and_read(ctx: &Context, guest: &str, install: &Install<'_>) -> Result<Guest, Error> {
    let kube = ctx.kube();
    let mut data = BTreeMap::from([("calico_backend".to_owned(), "bird".to_owned())]);
    if let Some(network) = install.node_network {
        data.insert(calico::IP_AUTODETECTION_METHOD.into(), format!("cidr={}", network.trunc()));
    }
    let pods = install.resolved.pods.first().map(|net| net.trunc().to_string()).unwrap_or_default();
    let pool: IpPool = new_object(
        "",
        calico::DEFAULT_POOL,
        IpPoolSpec {
            cidr: pods,
            block_size: Some(calico::BLOCK_SIZE),
            ipip_mode: Some("Always".into()),
            vxlan_mode: Some("Never".into()),
            nat_outgoing: Some(true),
            disabled: None,
            node_selector: Some("all()".into()),
        },
    );
    // Installed in this order (CRDs, config, pool), so a config as wanted
    // means the CRDs are in and the pool's kind is served: then only the
    // pool needs a look. The common case costs two reads, not five writes.
    let config = ConfigMap::named(guest, "kube-system", calico::CONFIG);
    let configured = kube.get_opt::<ConfigMap>(&config)?.is_some_and(|c| c.data == data);
    if !configured {
        for crd in CALICO_CRDS {
            let object: Value = serde_yaml::from_str(crd)
                .map_err(|e| Error::Internal(format!("a bundled Calico CRD does not parse: {e}")))?;
            kube.apply(guest, &object)?;
        }
        let mut wanted: ConfigMap = ConfigMap {
            api_version: ConfigMap::API_VERSION.into(),
            kind: ConfigMap::KIND.into(),
            data,
            ..ConfigMap::default()
        };
        wanted.metadata.name = calico::CONFIG.into();
        wanted.metadata.namespace = Some("kube-system".into());
        kube.apply(guest, &wanted)?;
    }
    let pooled = configured
        && kube
            .get_opt::<IpPool>(&IpPool::named(guest, "", calico::DEFAULT_POOL))?
            .is_some_and(|p| p.spec == pool.spec);
    if !pooled {
        kube.apply(guest, &pool)?;
    }
    let nodes: Vec<Node> = kube.list(&Node::kind_ref(guest, None), None)?;
    Ok(Guest {
        unreachable: None,
        nodes: nodes.iter().map(|n| (n.metadata.name.clone(), node_is_ready(n))).collect(),
        addons: vec![(addon(CNI, "CNI"), cni_state(&nodes)), (addon(CPI, "CPI"), cpi_state(&nodes))],
    })
}

fn addon(name: &str, type_: &str) -> AddonStatus {
    AddonStatus { name: name.to_owned(), type_: type_.to_owned(), version: None, conditions: Vec::new() }
}

/// Calico is provisioned when there are nodes and each holds its block.
fn cni_state(nodes: &[Node]) -> Result<(), String> {
    every_node(nodes, "no pod address block yet on", |n| {
        n.spec.pod_cidr.is_none() || !n.metadata.annotations.contains_key(calico::IPIP_TUNNEL_ADDRESS)
    })
}

/// The cloud provider is provisioned when each node carries its provider ID
/// and none is still marked uninitialized.
fn cpi_state(nodes: &[Node]) -> Result<(), String> {
    every_node(nodes, "not initialized by the cloud provider:", |n| {
        names::bios_uuid_from_provider_id(n.spec.provider_id.as_deref().unwrap_or_default()).is_none()
            || n.spec.taints.iter().any(|t| t.key == UNINITIALIZED_TAINT)
    })
}

/// Done once some node has joined and none is `waiting`; else what is
/// missing, `missing` followed by the names of the nodes still waiting.
fn every_node(nodes: &[Node], missing: &str, waiting: impl Fn(&Node) -> bool) -> Result<(), String> {
    let waiting: Vec<&str> = nodes.iter().filter(|n| waiting(n)).map(|n| n.metadata.name.as_str()).collect();
    if nodes.is_empty() {
        Err("no node has joined yet".into())
    } else if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!("{missing} {}", waiting.join(", ")))
    }
}

/// `status.addons` for `guest`, each with its `Provisioned` condition.
pub fn statuses(guest: &Guest) -> Vec<AddonStatus> {
    guest
        .addons
        .iter()
        .map(|(addon, state)| {
            let mut addon = addon.clone();
            addon.conditions = vec![match state {
                Ok(()) => Condition::true_(PROVISIONED),
                Err(why) => Condition::false_(PROVISIONED, "Provisioning", Severity::Info, why),
            }];
            addon
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use wasmvisor_chain_api::core::{NodeSpec, Taint};

    use super::*;

    fn node(name: &str, provider: Option<&str>, block: bool) -> Node {
        let mut node: Node = new_object(
            "",
            name,
            NodeSpec {
                provider_id: provider.map(str::to_owned),
                pod_cidr: block.then(|| "192.168.0.0/26".to_owned()),
                taints: Vec::new(),
            },
        );
        if block {
            node.metadata.annotations.insert(calico::IPIP_TUNNEL_ADDRESS.into(), "192.168.0.0".into());
        }
        node
    }

    #[test]
    fn the_cni_waits_for_a_block_on_every_node() {
        assert!(cni_state(&[]).is_err(), "no nodes: nothing provisioned yet");
        assert_eq!(cni_state(&[node("a", None, true)]), Ok(()));
        let waiting = cni_state(&[node("a", None, true), node("b", None, false)]).unwrap_err();
        assert!(waiting.ends_with("on b"), "{waiting}");
    }

    #[test]
    fn the_cpi_waits_for_provider_ids_and_the_uninitialized_taint() {
        assert_eq!(cpi_state(&[node("a", Some("vsphere://42"), false)]), Ok(()));
        assert!(cpi_state(&[node("a", None, false)]).is_err());
        let mut tainted = node("a", Some("vsphere://42"), false);
        tainted.spec.taints.push(Taint {
            key: UNINITIALIZED_TAINT.into(),
            value: Some("true".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        });
        assert!(cpi_state(&[tainted]).is_err());
    }
}
