//! IPv4 address arithmetic shared by NSX IPAM, segment subnets and guest IPs.
//!
//! The simulated world is IPv4 only: every CIDR and range is parsed into `ipnet` /
//! `u32` values here, once, and handlers compare those.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// An inclusive range of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Range {
    /// The usable host addresses of `net` (without network and broadcast when the
    /// subnet is larger than /31).
    pub(crate) fn hosts(net: Ipv4Net) -> Range {
        let (network, broadcast) = (u32::from(net.network()), u32::from(net.broadcast()));
        if net.prefix_len() >= 31 {
            Range { start: network, end: broadcast }
        } else {
            Range { start: network + 1, end: broadcast - 1 }
        }
    }

    /// Whether `ip` is in the range.
    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.start..=self.end).contains(&u32::from(ip))
    }
}

/// Parses `a.b.c.d/n`, keeping host bits (a gateway address in CIDR form stays as given).
pub(crate) fn parse_net(text: &str) -> Option<Ipv4Net> {
    text.trim().parse().ok()
}

/// Whether two networks share any address.
pub(crate) fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first address of `ranges` (in order) that is not in `used`.
pub(crate) fn first_free(ranges: &[Range], used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    ranges.iter().find_map(|r| (r.start..=r.end).map(Ipv4Addr::from).find(|ip| !used.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_skip_network_and_broadcast() {
        let Some(net) = parse_net("10.0.0.0/30") else { panic!() };
        let r = Range::hosts(net);
        assert_eq!(
            (Ipv4Addr::from(r.start), Ipv4Addr::from(r.end)),
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
        );
        let Some(single) = parse_net("10.0.0.7/32") else { panic!() };
        assert_eq!(Range::hosts(single).start, Range::hosts(single).end);
    }

    #[test]
    fn first_free_skips_used_and_runs_out() {
        let ranges = [Range {
            start: u32::from(Ipv4Addr::new(10, 0, 0, 1)),
            end: u32::from(Ipv4Addr::new(10, 0, 0, 2)),
        }];
        let mut used = HashSet::from([Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(first_free(&ranges, &used), Some(Ipv4Addr::new(10, 0, 0, 2)));
        used.insert(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(first_free(&ranges, &used), None);
    }

    #[test]
    fn overlap_is_symmetric() {
        let (Some(a), Some(b), Some(c)) =
            (parse_net("10.0.0.0/24"), parse_net("10.0.0.128/25"), parse_net("10.0.1.0/24"))
        else {
            panic!()
        };
        assert!(overlaps(a, b) && overlaps(b, a));
        assert!(!overlaps(a, c));
        assert!(parse_net("nonsense").is_none());
    }
}
