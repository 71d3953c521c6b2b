//! Calico's IPAM in a guest cluster, read through the guest's own API
//! server with kubectl: one /26 block per Node, disjoint and inside the
//! TKC's pod range, each claimed by a confirmed BlockAffinity, its first
//! address the Node's tunnel address, and the Node annotated as calico-node
//! annotates it, with the block as its `spec.podCIDR`. No block outlives
//! its Node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::support::{kubectl, text};

fn list(kubeconfig: &Path, kind: &str) -> Result<Vec<Value>, String> {
    let out = kubectl(kubeconfig, &["get", kind, "-o", "json"], "");
    if !out.status.success() {
        return Err(format!("kubectl get {kind}: {}", text(&out.stderr)));
    }
    let list: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// Checks the guest's Calico IPAM against its Nodes; `Ok` gives each
/// node's block, `Err` says what is off.
pub(crate) fn blocks_per_node(kubeconfig: &Path, pods: Ipv4Net) -> Result<BTreeMap<String, Ipv4Net>, String> {
    let nodes = list(kubeconfig, "nodes")?;
    let affinities = list(kubeconfig, "blockaffinities.crd.projectcalico.org")?;
    let blocks = list(kubeconfig, "ipamblocks.crd.projectcalico.org")?;
    let pools = list(kubeconfig, "ippools.crd.projectcalico.org")?;
    let pool = pools.iter().find(|p| str_at(p, "/metadata/name") == "default-ipv4-ippool");
    if pool.map(|p| str_at(p, "/spec/cidr")) != Some(pods.to_string().as_str()) {
        return Err(format!("the default IPPool should have cidr {pods}: {pools:?}"));
    }
    if affinities.len() != nodes.len() || blocks.len() != nodes.len() {
        return Err(format!(
            "{} nodes, {} block affinities, {} blocks",
            nodes.len(),
            affinities.len(),
            blocks.len()
        ));
    }
    let mut held = BTreeMap::new();
    for node in &nodes {
        let name = str_at(node, "/metadata/name");
        let affinity = affinities
            .iter()
            .find(|a| str_at(a, "/spec/node") == name && str_at(a, "/spec/state") == "confirmed")
            .ok_or_else(|| format!("no confirmed BlockAffinity for {name}"))?;
        let cidr: Ipv4Net = str_at(affinity, "/spec/cidr").parse().map_err(|e| format!("{name}: {e}"))?;
        if cidr.prefix_len() != 26 || !pods.contains(&cidr) {
            return Err(format!("{name}'s block {cidr} is not a /26 inside {pods}"));
        }
        let block = blocks
            .iter()
            .find(|b| str_at(b, "/spec/cidr") == cidr.to_string())
            .ok_or_else(|| format!("no IPAMBlock {cidr}"))?;
        if str_at(block, "/spec/affinity") != format!("host:{name}") {
            return Err(format!("IPAMBlock {cidr} is not affine to {name}: {block}"));
        }
        let tunnel: Ipv4Addr = str_at(node, "/metadata/annotations/projectcalico.org~1IPv4IPIPTunnelAddr")
            .parse()
            .map_err(|_| format!("{name} has no tunnel address yet"))?;
        if !cidr.contains(&tunnel) {
            return Err(format!("{name}'s tunnel address {tunnel} is outside its block {cidr}"));
        }
        let internal = node["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == "InternalIP")
            .map(|a| str_at(a, "/address").to_owned())
            .unwrap_or_default();
        let address = str_at(node, "/metadata/annotations/projectcalico.org~1IPv4Address");
        if !address.starts_with(&format!("{internal}/")) {
            return Err(format!("{name}'s IPv4Address {address:?} is not its InternalIP {internal}"));
        }
        if str_at(node, "/spec/podCIDR") != cidr.to_string() {
            return Err(format!("{name}'s podCIDR is not its block {cidr}"));
        }
        held.insert(name.to_owned(), cidr);
    }
    let mut all: Vec<Ipv4Net> = held.values().copied().collect();
    all.sort();
    all.dedup();
    if all.len() != held.len() {
        return Err(format!("two nodes share a block: {held:?}"));
    }
    Ok(held)
}
