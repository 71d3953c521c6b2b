//! Load balancer rules: an LB service needs a Tier-1 with an edge cluster, a virtual
//! server needs an application profile and a valid VIP.
//!
//! References (`connectivity_path`, `pool_path`, `lb_service_path`) are checked for
//! existence by `objects`; here only what NSX additionally demands.

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use super::error::NsxError;
use super::kinds::{self, Kind};
use crate::store::Tx;

/// Checks an LB service: when attached, its Tier-1 must have locale services with an
/// `edge_cluster_path` (a Tier-1 without an edge cannot host a load balancer).
pub(crate) fn normalize_service(tx: &Tx<'_>, fields: &Map<String, Value>) -> Result<(), NsxError> {
    let Some(tier1) = fields.get("connectivity_path").and_then(Value::as_str).filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    if kinds::parse_object(tier1).map(|o| o.kind) != Some(Kind::Tier1) {
        return Err(NsxError::invalid(format!(
            "connectivity_path {tier1} of an LB service must be a Tier-1."
        )));
    }
    let has_edge = tx
        .list(&format!("{tier1}/locale-services"))?
        .iter()
        .any(|(_, ls)| ls.get("edge_cluster_path").and_then(Value::as_str).is_some_and(|p| !p.is_empty()));
    if has_edge {
        Ok(())
    } else {
        Err(NsxError::invalid(format!(
            "Tier-1 {tier1} has no locale services with an edge_cluster_path; \
             an LB service needs an edge cluster."
        )))
    }
}

/// Checks a virtual server: `application_profile_path` is required and `ip_address`,
/// when set, is an IPv4 address.
pub(crate) fn normalize_virtual_server(fields: &Map<String, Value>) -> Result<(), NsxError> {
    if fields.get("application_profile_path").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(NsxError::invalid("application_profile_path is required for an LB virtual server."));
    }
    match fields.get("ip_address") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(ip)) if ip.parse::<Ipv4Addr>().is_ok() => Ok(()),
        Some(other) => Err(NsxError::invalid(format!("ip_address {other} is not an IPv4 address."))),
    }
}
