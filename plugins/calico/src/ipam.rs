//! Which node holds which block: a pure function of the pool, the nodes and
//! the blocks already handed out.
//!
//! Rules, as Calico's IPAM keeps them: a node keeps the block it holds; a
//! block whose node is gone is released; a node without a block gets the
//! lowest free one (nodes in name order, so two runs over the same input
//! agree); blocks never overlap and never leave the pool. A block released
//! in this pass is not handed out again in the same pass.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;

/// What to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every present node's block after the change, new ones included.
    pub held: BTreeMap<String, Ipv4Net>,
    /// Blocks newly handed out, by node.
    pub allocate: BTreeMap<String, Ipv4Net>,
    /// Blocks to release, with the node they were affine to.
    pub release: Vec<(String, Ipv4Net)>,
    /// Nodes left without a block: the pool is full.
    pub exhausted: Vec<String>,
}

/// Plans blocks of prefix `block` in `pool` for `nodes`, given the `(node,
/// block)` pairs that exist.
pub fn plan(pool: Ipv4Net, block: u8, nodes: &BTreeSet<String>, existing: &[(String, Ipv4Net)]) -> Plan {
    let mut out = Plan::default();
    let taken: BTreeSet<Ipv4Net> = existing.iter().map(|(_, b)| *b).collect();
    for (node, cidr) in existing {
        let keeps = nodes.contains(node) && pool.contains(cidr) && !out.held.contains_key(node);
        if keeps {
            out.held.insert(node.clone(), *cidr);
        } else {
            out.release.push((node.clone(), *cidr));
        }
    }
    let mut free = pool.subnets(block).into_iter().flatten().filter(|b| !taken.contains(b));
    let unplaced: Vec<&String> = nodes.iter().filter(|n| !out.held.contains_key(*n)).collect();
    for node in unplaced {
        match free.next() {
            Some(cidr) => {
                out.held.insert(node.clone(), cidr);
                out.allocate.insert(node.clone(), cidr);
            }
            None => out.exhausted.push(node.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn new_nodes_get_the_lowest_free_blocks_in_name_order() {
        let plan = plan(net("192.168.0.0/16"), 26, &nodes(&["b", "a"]), &[]);
        assert_eq!(plan.allocate["a"], net("192.168.0.0/26"));
        assert_eq!(plan.allocate["b"], net("192.168.0.64/26"));
        assert!(plan.release.is_empty() && plan.exhausted.is_empty());
    }

    #[test]
    fn a_node_keeps_its_block_and_a_gone_node_releases_its_own() {
        let existing = [("a".to_owned(), net("192.168.0.64/26")), ("gone".to_owned(), net("192.168.0.0/26"))];
        let plan = plan(net("192.168.0.0/16"), 26, &nodes(&["a", "c"]), &existing);
        assert_eq!(plan.held["a"], net("192.168.0.64/26"));
        assert!(!plan.allocate.contains_key("a"));
        assert_eq!(plan.release, [("gone".to_owned(), net("192.168.0.0/26"))]);
        assert_eq!(plan.allocate["c"], net("192.168.0.128/26"), "a block released now is not reused now");
    }

    #[test]
    fn blocks_outside_the_pool_and_second_blocks_are_released() {
        let existing = [
            ("a".to_owned(), net("10.0.0.0/26")),
            ("b".to_owned(), net("192.168.0.0/26")),
            ("b".to_owned(), net("192.168.0.64/26")),
        ];
        let plan = plan(net("192.168.0.0/24"), 26, &nodes(&["a", "b"]), &existing);
        assert_eq!(plan.held["b"], net("192.168.0.0/26"));
        assert_eq!(plan.allocate["a"], net("192.168.0.128/26"));
        assert_eq!(plan.release.len(), 2);
    }

    #[test]
    fn a_full_pool_names_the_nodes_left_out() {
        let plan = plan(net("192.168.0.0/25"), 26, &nodes(&["a", "b", "c"]), &[]);
        assert_eq!(plan.exhausted, ["c"]);
        let blocks: BTreeSet<Ipv4Net> = plan.held.values().copied().collect();
        assert_eq!(blocks.len(), 2, "disjoint blocks");
    }
}
