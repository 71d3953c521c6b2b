//! The Supervisor's own settings that the chain reads, kept in one place:
//! the network settings NCP works with, in ConfigMap `supervisor-network`
//! of namespace `vmware-system-nsx` (a real Supervisor keeps them in NCP's
//! configuration; `wasmvisor up` writes this ConfigMap from the values it
//! gives the NSX simulator).
//!
//! | key | meaning | `wasmvisor up` default |
//! | --- | --- | --- |
//! | `namespace-network-cidr` | where segment subnets are carved from | `127.160.0.0/16` |
//! | `namespace-network-ip-block` | the NSX IP block of that range | `/infra/ip-blocks/cluster-network` |
//! | `subnet-prefix` | the prefix length of each cluster's subnet | `28` |
//! | `ingress-cidr` | where load balancer VIPs come from | `127.170.0.0/24` |
//! | `ingress-ip-pool` | the NSX IP pool of that range | `/infra/ip-pools/ingress` |
//! | `egress-cidr` | where SNAT addresses come from | `127.180.0.0/24` |
//! | `tier0-path` | the Tier-0 every cluster Tier-1 uplinks to | `/infra/tier-0s/supervisor-t0` |
//! | `edge-cluster-path` | the edge cluster of the Tier-1s' load balancers | `/infra/sites/default/enforcement-points/default/edge-clusters/edge-cluster-1` |
//! | `transport-zone-path` | the overlay transport zone of the segments | `/infra/sites/default/enforcement-points/default/transport-zones/overlay-tz` |

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use wasmvisor_sdk::{Context, Error};

use crate::Resource;
use crate::core::ConfigMap;

/// The namespace holding the settings.
pub const NAMESPACE: &str = "vmware-system-nsx";
/// The ConfigMap holding the network settings.
pub const NETWORK_CONFIG_MAP: &str = "supervisor-network";

/// The Supervisor's network settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Where segment subnets are carved from.
    pub namespace_network_cidr: Ipv4Net,
    /// The NSX IP block of that range.
    pub namespace_network_ip_block: String,
    /// Prefix length of each cluster's subnet.
    pub subnet_prefix: u8,
    /// Where load balancer VIPs come from.
    pub ingress_cidr: Ipv4Net,
    /// The NSX IP pool of that range.
    pub ingress_ip_pool: String,
    /// Where SNAT addresses come from.
    pub egress_cidr: Ipv4Net,
    /// The Tier-0 gateway path.
    pub tier0_path: String,
    /// The edge cluster path.
    pub edge_cluster_path: String,
    /// The overlay transport zone path.
    pub transport_zone_path: String,
}

impl Default for NetworkSettings {
    /// What `wasmvisor up` uses: loopback ranges, so that on one machine
    /// every simulated address is one a connection can reach, and none
    /// overlaps a guest cluster's default pod (192.168.0.0/16) or service
    /// (10.96.0.0/12) range.
    fn default() -> Self {
        let net = |s: &str| s.parse().expect("a literal CIDR");
        Self {
            namespace_network_cidr: net("127.160.0.0/16"),
            namespace_network_ip_block: "/infra/ip-blocks/cluster-network".into(),
            subnet_prefix: 28,
            ingress_cidr: net("127.170.0.0/24"),
            ingress_ip_pool: "/infra/ip-pools/ingress".into(),
            egress_cidr: net("127.180.0.0/24"),
            tier0_path: "/infra/tier-0s/supervisor-t0".into(),
            edge_cluster_path: "/infra/sites/default/enforcement-points/default/edge-clusters/edge-cluster-1"
                .into(),
            transport_zone_path: "/infra/sites/default/enforcement-points/default/transport-zones/overlay-tz"
                .into(),
        }
    }
}

const KEYS: [&str; 9] = [
    "namespace-network-cidr",
    "namespace-network-ip-block",
    "subnet-prefix",
    "ingress-cidr",
    "ingress-ip-pool",
    "egress-cidr",
    "tier0-path",
    "edge-cluster-path",
    "transport-zone-path",
];

impl NetworkSettings {
    /// Reads the settings through the plugin's kube access.
    pub fn read(ctx: &Context) -> Result<Self, Error> {
        let target = ConfigMap::named(ctx.cluster(), NAMESPACE, NETWORK_CONFIG_MAP);
        let map: ConfigMap = ctx.kube().get(&target).map_err(|e| match e {
            Error::NotFound(_) => Error::Unavailable(format!(
                "ConfigMap {NAMESPACE}/{NETWORK_CONFIG_MAP} with the Supervisor's network settings is missing; `wasmvisor up` writes it, or create it (keys: {})",
                KEYS.join(", ")
            )),
            other => other,
        })?;
        Self::from_data(&map.data).map_err(Error::Invalid)
    }

    /// Parses the ConfigMap's data; the error names the key and the fix.
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Self, String> {
        let text = |key: &str| {
            data.get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("ConfigMap {NAMESPACE}/{NETWORK_CONFIG_MAP}: key {key} is missing"))
        };
        let net = |key: &str| -> Result<Ipv4Net, String> {
            let value = text(key)?;
            value.parse::<Ipv4Net>().map(|n| n.trunc()).map_err(|_| {
                format!("ConfigMap {NAMESPACE}/{NETWORK_CONFIG_MAP}: {key} {value:?} is not an IPv4 CIDR such as 10.244.0.0/16")
            })
        };
        let prefix = text("subnet-prefix")?;
        let subnet_prefix = prefix.parse::<u8>().ok().filter(|p| (16..=30).contains(p)).ok_or_else(|| {
            format!("ConfigMap {NAMESPACE}/{NETWORK_CONFIG_MAP}: subnet-prefix {prefix:?} must be a prefix length from 16 to 30")
        })?;
        Ok(Self {
            namespace_network_cidr: net("namespace-network-cidr")?,
            namespace_network_ip_block: text("namespace-network-ip-block")?,
            subnet_prefix,
            ingress_cidr: net("ingress-cidr")?,
            ingress_ip_pool: text("ingress-ip-pool")?,
            egress_cidr: net("egress-cidr")?,
            tier0_path: text("tier0-path")?,
            edge_cluster_path: text("edge-cluster-path")?,
            transport_zone_path: text("transport-zone-path")?,
        })
    }

    /// The ConfigMap holding these settings.
    pub fn to_config_map(&self) -> ConfigMap {
        let mut map = ConfigMap::new(NAMESPACE, NETWORK_CONFIG_MAP);
        let values = [
            self.namespace_network_cidr.to_string(),
            self.namespace_network_ip_block.clone(),
            self.subnet_prefix.to_string(),
            self.ingress_cidr.to_string(),
            self.ingress_ip_pool.clone(),
            self.egress_cidr.to_string(),
            self.tier0_path.clone(),
            self.edge_cluster_path.clone(),
            self.transport_zone_path.clone(),
        ];
        map.data = KEYS.iter().map(|k| (*k).to_owned()).zip(values).collect();
        map
    }

    /// The Supervisor's own ranges, which a guest cluster's must not overlap.
    pub fn reserved(&self) -> [Ipv4Net; 3] {
        [self.namespace_network_cidr, self.ingress_cidr, self.egress_cidr]
    }

    /// The first Supervisor range `net` overlaps, with its name.
    pub fn overlap(&self, net: Ipv4Net) -> Option<(&'static str, Ipv4Net)> {
        let named = [
            ("namespace network", self.namespace_network_cidr),
            ("ingress range", self.ingress_cidr),
            ("egress range", self.egress_cidr),
        ];
        named
            .into_iter()
            .find(|(_, theirs)| theirs.contains(&net.network()) || net.contains(&theirs.network()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_the_config_map() {
        let settings = NetworkSettings::default();
        assert_eq!(NetworkSettings::from_data(&settings.to_config_map().data), Ok(settings));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut data = NetworkSettings::default().to_config_map().data;
        data.insert("ingress-cidr".into(), "nope".into());
        assert!(
            NetworkSettings::from_data(&data)
                .unwrap_err()
                .contains("ingress-cidr \"nope\" is not an IPv4 CIDR")
        );
        data.insert("ingress-cidr".into(), "127.170.0.0/24".into());
        data.remove("tier0-path");
        assert!(NetworkSettings::from_data(&data).unwrap_err().contains("tier0-path is missing"));
    }

    #[test]
    fn overlaps_are_found_both_ways() {
        let settings = NetworkSettings::default();
        assert_eq!(
            settings.overlap("127.160.8.0/24".parse().unwrap()).map(|o| o.0),
            Some("namespace network")
        );
        assert_eq!(settings.overlap("127.0.0.0/8".parse().unwrap()).map(|o| o.0), Some("namespace network"));
        assert_eq!(settings.overlap("127.170.0.128/25".parse().unwrap()).map(|o| o.0), Some("ingress range"));
        assert_eq!(settings.overlap("192.168.0.0/16".parse().unwrap()), None, "the default pod range fits");
    }
}
