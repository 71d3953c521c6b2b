//! Segment rules: subnets in CIDR form with their computed `network`, the read-only
//! `type`, and no overlapping subnets among segments of one Tier-1.
//!
//! Linking a new segment to a vCenter network is done by `world` after the write.

use serde_json::{Map, Value, json};

use super::error::{NsxError, OVERLAP_ADDRESSES};
use super::kinds::ObjectPath;
use crate::cidr::{overlaps, parse_net};
use crate::store::Tx;

/// Collection of all segments.
pub(crate) const SEGMENTS: &str = "/infra/segments";

/// Checks and completes a segment about to be stored.
pub(crate) fn normalize(
    tx: &Tx<'_>,
    object: &ObjectPath,
    fields: &mut Map<String, Value>,
) -> Result<(), NsxError> {
    let connectivity = fields.get("connectivity_path").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut networks = Vec::new();
    if let Some(subnets) = fields.get_mut("subnets") {
        let Value::Array(list) = subnets else { return Err(NsxError::invalid("subnets must be an array.")) };
        for subnet in list.iter_mut() {
            let gateway = subnet.get("gateway_address").and_then(Value::as_str).unwrap_or("");
            let net = parse_net(gateway).ok_or_else(|| {
                NsxError::invalid(format!(
                    "Subnet gateway_address {gateway:?} must be an IPv4 address in CIDR form, \
                     e.g. 10.244.0.1/28."
                ))
            })?;
            subnet["network"] = json!(net.trunc().to_string());
            networks.push(net.trunc());
        }
    }
    fields.insert("type".into(), json!(if connectivity.is_empty() { "DISCONNECTED" } else { "ROUTED" }));
    if connectivity.is_empty() || networks.is_empty() {
        return Ok(());
    }
    for (id, other) in tx.list(SEGMENTS)? {
        if id == object.id
            || other.get("connectivity_path").and_then(Value::as_str) != Some(connectivity.as_str())
        {
            continue;
        }
        for theirs in subnets_of(&other) {
            if let Some(ours) = networks.iter().find(|ours| overlaps(**ours, theirs)) {
                return Err(NsxError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    OVERLAP_ADDRESSES,
                    format!(
                        "Subnet {ours} of {} overlaps subnet {theirs} of /infra/segments/{id} \
                         on {connectivity}.",
                        object.path
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The subnets of a stored segment as networks with the gateway kept as the address.
pub(crate) fn subnets_of(segment: &Value) -> Vec<ipnet::Ipv4Net> {
    segment
        .get("subnets")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.get("gateway_address").and_then(Value::as_str).and_then(parse_net))
                .collect()
        })
        .unwrap_or_default()
}
