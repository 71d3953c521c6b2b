//! calico: Calico's IPAM for each guest cluster, in Calico's own shapes.
//!
//! It reconciles the guest's IPPool (installed by the tkc plugin from the
//! TKC's pod range) against the guest's Nodes: each Node holds one block of
//! the pool (an IPAMBlock affine to it and the BlockAffinity that claims
//! it, [`ipam`] decides which), its first address is the Node's IP-in-IP
//! tunnel address, and the Node carries Calico's annotations and the block
//! as its `spec.podCIDR`. A Node that leaves releases its block. It holds
//! no capability outside the guest cluster.

pub mod ipam;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use wasmvisor_chain_api::calico::{
    self, AllocationAttribute, BlockAffinity, BlockAffinitySpec, IpPool, IpamBlock, IpamBlockSpec,
};
use wasmvisor_chain_api::core::{ConfigMap, Node, NodeSpec, node_internal_ip};
use wasmvisor_chain_api::{Resource, new_object};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

struct Calico;

/// The pool's range and block prefix; `Invalid` names the field and the fix.
fn ranges(pool: &IpPool) -> Result<(Ipv4Net, u8), Error> {
    let name = &pool.metadata.name;
    let cidr: Ipv4Net = pool.spec.cidr.parse().map_err(|_| {
        Error::Invalid(format!(
            "IPPool {name}: spec.cidr {:?} is not an IPv4 CIDR; set the TKC's spec.settings.network.pods.cidrBlocks",
            pool.spec.cidr
        ))
    })?;
    let block = pool.spec.block_size.unwrap_or(calico::BLOCK_SIZE);
    if block < cidr.prefix_len() || block > 32 {
        return Err(Error::Invalid(format!(
            "IPPool {name}: spec.blockSize {block} does not fit spec.cidr {cidr}; use a prefix between {} and 32",
            cidr.prefix_len()
        )));
    }
    Ok((cidr.trunc(), block))
}

/// The node address calico-node would detect: the InternalIP with the
/// prefix of the configured `cidr=` autodetection range that holds it.
fn node_address(ip: Ipv4Addr, config: Option<&ConfigMap>) -> String {
    let prefix = config
        .and_then(|c| c.data.get(calico::IP_AUTODETECTION_METHOD))
        .and_then(|method| method.strip_prefix("cidr="))
        .and_then(|cidr| cidr.parse::<Ipv4Net>().ok())
        .filter(|net| net.contains(&ip))
        .map_or(32, |net| net.prefix_len());
    format!("{ip}/{prefix}")
}

/// The IPAMBlock of `node`: its first address allocated as the tunnel address.
fn block(node: &str, cidr: Ipv4Net) -> IpamBlock {
    let size = 1u32 << (32 - u32::from(cidr.prefix_len()));
    let mut allocations = vec![None; size as usize];
    allocations[0] = Some(0);
    let secondary = BTreeMap::from([
        ("node".to_owned(), node.to_owned()),
        ("type".to_owned(), "ipipTunnelAddress".to_owned()),
    ]);
    new_object(
        "",
        &calico::cidr_name(&cidr.to_string()),
        IpamBlockSpec {
            cidr: cidr.to_string(),
            affinity: Some(calico::host_affinity(node)),
            strict_affinity: false,
            allocations,
            unallocated: (1..size).collect(),
            attributes: vec![AllocationAttribute { handle_id: calico::tunnel_handle(node), secondary }],
            deleted: false,
        },
    )
}

fn affinity(node: &str, cidr: Ipv4Net) -> BlockAffinity {
    new_object(
        "",
        &calico::affinity_name(node, &cidr.to_string()),
        BlockAffinitySpec {
            cidr: cidr.to_string(),
            node: node.to_owned(),
            state: "confirmed".into(),
            deleted: "false".into(),
        },
    )
}

/// Writes Calico's annotations and the pod range on `node` when they differ.
fn annotate(ctx: &Context, node: &Node, cidr: Ipv4Net, config: Option<&ConfigMap>) -> Result<(), Error> {
    let Some(ip) = node_internal_ip(node).and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else {
        return Ok(()); // its kubelet has not reported an address yet; its next update brings us back
    };
    let wanted = BTreeMap::from([
        (calico::IPV4_ADDRESS.to_owned(), node_address(ip, config)),
        (calico::IPIP_TUNNEL_ADDRESS.to_owned(), cidr.network().to_string()),
    ]);
    let current = &node.metadata.annotations;
    let same = wanted.iter().all(|(k, v)| current.get(k) == Some(v))
        && node.spec.pod_cidr.as_deref() == Some(cidr.to_string().as_str());
    if same {
        return Ok(());
    }
    let mut patch: Node = new_object(
        "",
        &node.metadata.name,
        NodeSpec { pod_cidr: Some(cidr.to_string()), ..NodeSpec::default() },
    );
    patch.metadata.annotations = wanted;
    ctx.kube().apply(ctx.cluster(), &patch)?;
    Ok(())
}

impl Reconciler for Calico {
    type Object = IpPool;

    fn reconcile(ctx: &Context, pool: IpPool) -> Result<Action, Error> {
        let (range, prefix) = ranges(&pool)?;
        let kube = ctx.kube();
        let cluster = ctx.cluster();
        let nodes: Vec<Node> = kube.list(&Node::kind_ref(cluster, None), None)?;
        let blocks: Vec<IpamBlock> = kube.list(&IpamBlock::kind_ref(cluster, None), None)?;
        let affinities: Vec<BlockAffinity> = kube.list(&BlockAffinity::kind_ref(cluster, None), None)?;
        let config: Option<ConfigMap> =
            kube.get_opt(&ConfigMap::named(cluster, "kube-system", calico::CONFIG))?;

        let present: BTreeSet<String> = if pool.spec.disabled == Some(true) {
            BTreeSet::new() // a disabled pool hands out nothing and takes back what it gave
        } else {
            nodes
                .iter()
                .filter(|n| n.metadata.deletion_timestamp.is_none())
                .map(|n| n.metadata.name.clone())
                .collect()
        };
        let existing: Vec<(String, Ipv4Net)> = blocks
            .iter()
            .filter_map(|b| {
                let node = b.spec.affinity.as_deref()?.strip_prefix("host:")?;
                let cidr: Ipv4Net = b.spec.cidr.parse().ok()?;
                range.contains(&cidr).then(|| (node.to_owned(), cidr))
            })
            .collect();
        let plan = ipam::plan(range, prefix, &present, &existing);

        for (node, cidr) in &plan.release {
            kube.delete(&BlockAffinity::named(cluster, "", &calico::affinity_name(node, &cidr.to_string())))?;
            kube.delete(&IpamBlock::named(cluster, "", &calico::cidr_name(&cidr.to_string())))?;
        }
        // Affinities whose block went (a release cut short) are released too.
        for stale in affinities.iter().filter(|a| {
            a.spec.cidr.parse::<Ipv4Net>().is_ok_and(|c| range.contains(&c))
                && plan.held.get(&a.spec.node).map(ToString::to_string).as_deref()
                    != Some(a.spec.cidr.as_str())
        }) {
            kube.delete(&stale.object_ref(cluster))?;
        }
        for (node, cidr) in &plan.allocate {
            kube.apply(cluster, &block(node, *cidr))?;
        }
        for (node, cidr) in &plan.held {
            let claimed = affinities.iter().any(|a| a.spec.node == *node && a.spec.cidr == cidr.to_string());
            if !claimed {
                kube.apply(cluster, &affinity(node, *cidr))?;
            }
        }
        for node in nodes.iter().filter(|n| n.metadata.deletion_timestamp.is_none()) {
            if let Some(cidr) = plan.held.get(&node.metadata.name) {
                annotate(ctx, node, *cidr, config.as_ref())?;
            }
        }
        if !plan.exhausted.is_empty() {
            return Err(Error::Unavailable(format!(
                "IPPool {}: no free /{prefix} block in {range} for {}; widen the TKC's spec.settings.network.pods.cidrBlocks",
                pool.metadata.name,
                plan.exhausted.join(", ")
            )));
        }
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(Calico);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_holds_its_tunnel_address_first_and_the_rest_free() {
        let b = block("w-1", "192.168.0.64/26".parse().unwrap());
        assert_eq!(b.metadata.name, "192-168-0-64-26");
        assert_eq!(b.spec.affinity.as_deref(), Some("host:w-1"));
        assert_eq!(b.spec.allocations.len(), 64);
        assert_eq!(b.spec.allocations[0], Some(0));
        assert_eq!(b.spec.unallocated.len(), 63);
        assert_eq!(b.spec.attributes[0].handle_id, "ipip-tunnel-addr-w-1");
    }

    #[test]
    fn the_node_address_takes_the_prefix_of_the_autodetection_range() {
        let mut config: ConfigMap = ConfigMap::default();
        config.data.insert(calico::IP_AUTODETECTION_METHOD.into(), "cidr=127.160.0.16/28".into());
        let ip: Ipv4Addr = "127.160.0.18".parse().unwrap();
        assert_eq!(node_address(ip, Some(&config)), "127.160.0.18/28");
        assert_eq!(node_address("10.0.0.1".parse().unwrap(), Some(&config)), "10.0.0.1/32");
        assert_eq!(node_address(ip, None), "127.160.0.18/32");
    }

    #[test]
    fn a_pool_that_cannot_hold_its_blocks_is_refused_with_the_fix() {
        let pool: IpPool = new_object(
            "",
            "default-ipv4-ippool",
            calico::IpPoolSpec { cidr: "192.168.0.0/24".into(), block_size: Some(16), ..Default::default() },
        );
        let error = ranges(&pool).unwrap_err().to_string();
        assert!(error.contains("spec.blockSize 16"), "{error}");
        let bad: IpPool =
            new_object("", "p", calico::IpPoolSpec { cidr: "nope".into(), ..Default::default() });
        assert!(ranges(&bad).unwrap_err().to_string().contains("pods.cidrBlocks"));
    }
}
