//! The address ranges an NSX set up for a Supervisor already has: an IP pool for the
//! ingress CIDR (VIPs) and an IP block for the cluster network CIDR (segment subnets),
//! created at start unless they exist, so NCP-style plugins find them as they would on
//! a real Supervisor.
//!
//! Creating only what is absent keeps restarts and two simulators on one data dir
//! harmless, and never undoes what a client changed.

use serde_json::json;

use super::kinds::parse_object;
use super::objects::{WriteMode, write};
use super::stamp::Author;
use crate::cidr::parse_net;
use crate::config::NsxSettings;
use crate::server::{Ctx, StartError};

/// The IP pool VIPs are allocated from (when `ingress_cidr` is set).
pub const INGRESS_POOL: &str = "/infra/ip-pools/ingress";
/// Its static subnet holding the ingress CIDR.
pub const INGRESS_SUBNET: &str = "/infra/ip-pools/ingress/ip-subnets/ingress-cidr";
/// The IP block segment subnets are carved from (when `cluster_network_cidr` is set).
pub const CLUSTER_NETWORK_BLOCK: &str = "/infra/ip-blocks/cluster-network";

/// The objects to create at start, `(path, body)` in creation order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seeds(Vec<(&'static str, serde_json::Value)>);

impl Seeds {
    /// Validates the CIDRs of `settings` and lists what to create.
    pub(crate) fn parse(settings: &NsxSettings) -> Result<Seeds, StartError> {
        let net = |field: &'static str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => parse_net(text)
                .map(|n| Some(n.trunc().to_string()))
                .ok_or_else(|| StartError::InvalidCidr { field, value: text.clone() }),
        };
        let mut seeds = Vec::new();
        let system = json!([{"scope": "wasmvisor/sim", "tag": "supervisor"}]);
        if let Some(cidr) = net("ingress_cidr", &settings.ingress_cidr)? {
            seeds.push((INGRESS_POOL, json!({"display_name": "ingress", "tags": system})));
            seeds.push((
                INGRESS_SUBNET,
                json!({"resource_type": "IpAddressPoolStaticSubnet", "cidr": cidr, "tags": system}),
            ));
        }
        if let Some(cidr) = net("cluster_network_cidr", &settings.cluster_network_cidr)? {
            seeds.push((
                CLUSTER_NETWORK_BLOCK,
                json!({"display_name": "cluster-network", "cidr": cidr, "tags": system}),
            ));
        }
        Ok(Seeds(seeds))
    }

    /// Creates every seed that does not exist yet, in one transaction.
    pub(crate) async fn apply(self, ctx: &Ctx) -> Result<(), StartError> {
        let author = Author { user: "system".into(), now_ms: ctx.clock.now_ms() };
        ctx.store
            .transact(move |tx| {
                for (path, body) in self.0 {
                    let Some(object) = parse_object(path) else { continue };
                    if tx.get(&object.collection, &object.id)?.is_some() {
                        continue;
                    }
                    write(tx, &author, &object, body, WriteMode::Patch)
                        .map_err(|e| StartError::Seed { path: path.to_owned(), source: Box::new(e) })?;
                }
                Ok::<_, StartError>(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_cidrs_and_skips_none() {
        let bad = NsxSettings { ingress_cidr: Some("nope".into()), ..NsxSettings::default() };
        assert!(matches!(Seeds::parse(&bad), Err(StartError::InvalidCidr { field: "ingress_cidr", .. })));
        let none = NsxSettings { ingress_cidr: None, cluster_network_cidr: None, ..NsxSettings::default() };
        assert!(Seeds::parse(&none).is_ok_and(|s| s.0.is_empty()));
        assert_eq!(Seeds::parse(&NsxSettings::default()).map(|s| s.0.len()).ok(), Some(3));
    }
}
