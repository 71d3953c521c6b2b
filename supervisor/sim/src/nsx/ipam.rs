//! IP address management: blocks, pool subnets (static or carved from a block) and
//! allocations, with the address NSX picked.
//!
//! This is where "VIPs come from the ingress CIDR" and "segment subnets come from the
//! cluster network CIDR" happen: an operator (or `wasmvisor up`) makes an IP pool with a
//! static subnet of the ingress CIDR and an IP block of the cluster network CIDR; NCP
//! allocates VIPs from the pool and carves segment subnets from the block with
//! `IpAddressPoolBlockSubnet`. Picked addresses and carved CIDRs are stored on the
//! object (`allocation_ip`, `cidr`) and also reported in realized state. When nothing is
//! free, the object is stored without them and realizes as `ERROR` with alarm code 8212,
//! as NSX reports pool exhaustion.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};

use super::error::{ALLOCATION_FAILED, NsxError, OVERLAP_ADDRESSES};
use super::kinds::{Kind, ObjectPath};
use super::stamp::INTERNAL_PREFIX;
use crate::cidr::{Range, first_free, parse_net};
use crate::store::Tx;

/// Internal field: the realization alarm of an object that could not be realized.
pub(crate) const REALIZATION_ERROR: &str = "_sim_realization_error";

/// Checks and completes a block, pool subnet or allocation about to be stored.
pub(crate) fn normalize(
    tx: &Tx<'_>,
    object: &ObjectPath,
    fields: &mut Map<String, Value>,
) -> Result<(), NsxError> {
    fields.retain(|k, _| !k.starts_with(INTERNAL_PREFIX));
    match object.kind {
        Kind::IpBlock => {
            let net = required_net(fields, "cidr")?;
            fields.insert("cidr".into(), json!(net.trunc().to_string()));
            Ok(())
        }
        Kind::IpPoolSubnet if resource_type(fields) == "IpAddressPoolBlockSubnet" => {
            carve(tx, object, fields)
        }
        Kind::IpPoolSubnet => {
            let net = required_net(fields, "cidr")?.trunc();
            fields.insert("cidr".into(), json!(net.to_string()));
            static_ranges(fields, net).map(|_| ())
        }
        Kind::IpAllocation => allocate(tx, object, fields),
        _ => Ok(()),
    }
}

/// Carves a `size`-address CIDR for a block subnet out of its `ip_block_path`.
fn carve(tx: &Tx<'_>, object: &ObjectPath, fields: &mut Map<String, Value>) -> Result<(), NsxError> {
    let block_path = fields.get("ip_block_path").and_then(Value::as_str).unwrap_or("").to_owned();
    let size = fields.get("size").and_then(Value::as_u64).unwrap_or(0);
    if !size.is_power_of_two() || size > 1 << 32 {
        return Err(NsxError::invalid(format!("size must be a power of two, got {size}.")));
    }
    let block = super::kinds::parse_object(&block_path)
        .filter(|b| b.kind == Kind::IpBlock)
        .ok_or_else(|| NsxError::invalid_path("ip_block_path", &block_path))?;
    let Some(block_body) = tx.get(&block.collection, &block.id)? else {
        return Err(NsxError::invalid_path("ip_block_path", &block_path));
    };
    let block_net = block_body.get("cidr").and_then(Value::as_str).and_then(parse_net).map(|n| n.trunc());
    let Some(block_net) = block_net else { return Err(NsxError::invalid_path("ip_block_path", &block_path)) };
    let prefix = 32 - u8::try_from(size.trailing_zeros()).unwrap_or(32);
    // Keep the CIDR carved before if block and size did not change.
    if let Some(current) = tx.get(&object.collection, &object.id)?
        && current.get("ip_block_path").and_then(Value::as_str) == Some(block_path.as_str())
        && let Some(cidr) = current.get("cidr").and_then(Value::as_str).and_then(parse_net)
        && cidr.prefix_len() == prefix
    {
        fields.insert("cidr".into(), json!(cidr.to_string()));
        return Ok(());
    }
    let taken: Vec<Ipv4Net> = carved_from(tx, &block_path)?
        .into_iter()
        .filter(|(path, _)| *path != object.path)
        .map(|(_, net)| net)
        .collect();
    let free = block_net
        .subnets(prefix)
        .ok()
        .and_then(|mut candidates| candidates.find(|c| !taken.iter().any(|t| crate::cidr::overlaps(*c, *t))));
    match free {
        Some(cidr) => {
            fields.insert("cidr".into(), json!(cidr.to_string()));
        }
        None => {
            fields.remove("cidr");
            fields.insert(
                REALIZATION_ERROR.into(),
                alarm(&format!("IP block {block_path} has no free /{prefix} left.")),
            );
        }
    }
    Ok(())
}

/// Picks (or checks) the `allocation_ip` of an allocation from its pool's subnets.
fn allocate(tx: &Tx<'_>, object: &ObjectPath, fields: &mut Map<String, Value>) -> Result<(), NsxError> {
    let pool = object.parent_path().to_owned();
    let ranges = pool_ranges(tx, &pool)?;
    let used: HashSet<Ipv4Addr> = tx
        .list(&object.collection)?
        .into_iter()
        .filter(|(id, _)| *id != object.id)
        .filter_map(|(_, a)| a.get("allocation_ip").and_then(Value::as_str).and_then(|ip| ip.parse().ok()))
        .collect();
    match fields.get("allocation_ip").filter(|v| !v.is_null()) {
        Some(given) => {
            let ip: Ipv4Addr = given
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| NsxError::invalid(format!("allocation_ip {given} is not an IPv4 address.")))?;
            if !ranges.iter().any(|r| r.contains(ip)) {
                return Err(NsxError::invalid(format!("allocation_ip {ip} is not in any subnet of {pool}.")));
            }
            if used.contains(&ip) {
                return Err(NsxError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    OVERLAP_ADDRESSES,
                    format!("allocation_ip {ip} is already allocated in {pool}."),
                ));
            }
        }
        None => match first_free(&ranges, &used) {
            Some(ip) => {
                fields.insert("allocation_ip".into(), json!(ip.to_string()));
            }
            None => {
                fields.insert(
                    REALIZATION_ERROR.into(),
                    alarm(&format!("IP pool {pool} has no free address left.")),
                );
            }
        },
    }
    Ok(())
}

/// Every `(subnet path, cidr)` carved from the block at `block_path`.
fn carved_from(tx: &Tx<'_>, block_path: &str) -> Result<Vec<(String, Ipv4Net)>, NsxError> {
    Ok(tx
        .list_under("/infra/ip-pools/")?
        .into_iter()
        .filter(|(collection, _, body)| {
            collection.ends_with("/ip-subnets")
                && body.get("ip_block_path").and_then(Value::as_str) == Some(block_path)
        })
        .filter_map(|(collection, id, body)| {
            let cidr = body.get("cidr").and_then(Value::as_str).and_then(parse_net)?;
            Some((format!("{collection}/{id}"), cidr))
        })
        .collect())
}

/// The allocatable ranges of a pool: each subnet's `allocation_ranges` (static) or its
/// hosts without the gateway.
fn pool_ranges(tx: &Tx<'_>, pool: &str) -> Result<Vec<Range>, NsxError> {
    let mut ranges = Vec::new();
    for (_, subnet) in tx.list(&format!("{pool}/ip-subnets"))? {
        let Some(net) = subnet.get("cidr").and_then(Value::as_str).and_then(parse_net) else { continue };
        let Value::Object(fields) = &subnet else { continue };
        if resource_type(fields) == "IpAddressPoolBlockSubnet" {
            let mut hosts = Range::hosts(net);
            if fields.get("auto_assign_gateway").and_then(Value::as_bool).unwrap_or(true)
                && hosts.start < hosts.end
            {
                hosts.start += 1;
            }
            ranges.push(hosts);
        } else {
            ranges.extend(static_ranges(fields, net)?);
        }
    }
    Ok(ranges)
}

/// The ranges of a static subnet: `allocation_ranges` checked against `net`, or all
/// hosts of `net` except `gateway_ip`.
fn static_ranges(fields: &Map<String, Value>, net: Ipv4Net) -> Result<Vec<Range>, NsxError> {
    let gateway = fields.get("gateway_ip").and_then(Value::as_str).and_then(|g| g.parse::<Ipv4Addr>().ok());
    let Some(given) = fields.get("allocation_ranges").and_then(Value::as_array) else {
        let hosts = Range::hosts(net);
        return Ok(match gateway.map(u32::from) {
            Some(g) if g == hosts.start && hosts.start < hosts.end => {
                vec![Range { start: g + 1, end: hosts.end }]
            }
            Some(g) if hosts.start < g && g <= hosts.end => vec![
                Range { start: hosts.start, end: g - 1 },
                Range { start: g.saturating_add(1), end: hosts.end },
            ]
            .into_iter()
            .filter(|r| r.start <= r.end)
            .collect(),
            _ => vec![hosts],
        });
    };
    given
        .iter()
        .map(|r| {
            let ip = |k: &str| r.get(k).and_then(Value::as_str).and_then(|s| s.parse::<Ipv4Addr>().ok());
            match (ip("start"), ip("end")) {
                (Some(start), Some(end)) if start <= end && net.contains(&start) && net.contains(&end) => {
                    Ok(Range { start: start.into(), end: end.into() })
                }
                _ => Err(NsxError::invalid(format!(
                    "allocation_ranges entry {r} must be start <= end inside {net}."
                ))),
            }
        })
        .collect()
}

fn required_net(fields: &Map<String, Value>, field: &str) -> Result<Ipv4Net, NsxError> {
    let text = fields.get(field).and_then(Value::as_str).unwrap_or("");
    parse_net(text).ok_or_else(|| NsxError::invalid(format!("{field} {text:?} must be an IPv4 CIDR.")))
}

fn resource_type(fields: &Map<String, Value>) -> &str {
    fields.get("resource_type").and_then(Value::as_str).unwrap_or("")
}

fn alarm(message: &str) -> Value {
    json!({"error_code": ALLOCATION_FAILED, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        parse_net(s).unwrap()
    }

    #[test]
    fn static_ranges_skip_the_gateway() {
        let mut fields = Map::new();
        fields.insert("gateway_ip".into(), json!("10.0.0.1"));
        let ranges = static_ranges(&fields, net("10.0.0.0/29")).unwrap();
        assert_eq!(
            ranges,
            [Range {
                start: u32::from(Ipv4Addr::new(10, 0, 0, 2)),
                end: u32::from(Ipv4Addr::new(10, 0, 0, 6))
            }]
        );
    }

    #[test]
    fn static_ranges_must_sit_inside_the_cidr() {
        let mut fields = Map::new();
        fields.insert("allocation_ranges".into(), json!([{"start": "10.0.0.5", "end": "10.0.1.1"}]));
        assert!(static_ranges(&fields, net("10.0.0.0/24")).is_err());
        fields.insert("allocation_ranges".into(), json!([{"start": "10.0.0.5", "end": "10.0.0.9"}]));
        assert_eq!(static_ranges(&fields, net("10.0.0.0/24")).unwrap().len(), 1);
    }
}
