//! The Supervisor's network settings, read from the one place the operator
//! (or `wasmvisor up`) keeps them: ConfigMap `supervisor-network` in
//! namespace `vmware-system-nsx` (see [`wasmvisor_chain_api::supervisor`]).

use ipnet::Ipv4Net;
use wasmvisor_chain_api::supervisor::NetworkSettings;
use wasmvisor_sdk::{Context, Error};

/// The settings, or an `invalid` error naming the ConfigMap and the fix.
pub fn read(ctx: &Context) -> Result<NetworkSettings, Error> {
    NetworkSettings::read(ctx)
}

/// The gateway of a segment subnet: its first host, in CIDR form as NSX
/// wants it (`10.244.0.1/28`).
pub fn gateway(subnet: Ipv4Net) -> String {
    let first = u32::from(subnet.network()).saturating_add(1);
    format!("{}/{}", std::net::Ipv4Addr::from(first), subnet.prefix_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_the_first_host() {
        assert_eq!(gateway("10.244.0.16/28".parse().unwrap()), "10.244.0.17/28");
    }
}
