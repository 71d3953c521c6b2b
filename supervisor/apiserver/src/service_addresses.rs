//! Service address allocation: a cluster IP in 10.96.0.0/16 and node ports in 30000-32767,
//! as kube-apiserver's allocators hand them out.
//!
//! Called by [`crate::pipeline::allocate`] inside the storage write, after defaulting
//! ([`crate::builtin`]) and before the object is committed. Invariant: it runs under the
//! storage write lock with every other Service in view, so no two Services ever hold the
//! same cluster IP or node port, and an explicit nodePort another Service holds is refused.

use serde_json::{Value, json};

use crate::meta::object_field;
use crate::status::Cause;

fn fnv(parts: &[&str]) -> u32 {
    let mut hash: u32 = 2_166_136_261;
    for byte in parts.join("/").bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(16_777_619);
    }
    hash
}

/// The first free value in `range`, probing from a start derived from `seed`.
fn first_free(range: std::ops::RangeInclusive<u32>, seed: u32, used: &[u32]) -> Option<u32> {
    let size = range.end() - range.start() + 1;
    (0..size).map(|i| range.start() + (seed.wrapping_add(i)) % size).find(|c| !used.contains(c))
}

const NODE_PORTS: std::ops::RangeInclusive<u32> = 30000..=32767;

/// Allocates what a Service still lacks (cluster IP in 10.96.0.0/16, node ports for NodePort
/// and LoadBalancer services) without colliding with `others`, and refuses an explicit
/// nodePort another Service holds. Runs under the storage write lock, so two creates
/// cannot pick the same value.
pub fn allocate_service(object: &mut Value, others: &[Value]) -> Vec<Cause> {
    let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_owned();
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
    let others: Vec<&Value> = others
        .iter()
        .filter(|o| {
            o.pointer("/metadata/namespace").and_then(Value::as_str) != Some(namespace.as_str())
                || o.pointer("/metadata/name").and_then(Value::as_str) != Some(name.as_str())
        })
        .collect();
    let kind = object.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_owned();
    let mut causes = Vec::new();
    let ip = object.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
    if kind != "ExternalName" && ip.is_empty() {
        let used: Vec<u32> = others
            .iter()
            .filter_map(|o| o.pointer("/spec/clusterIP").and_then(Value::as_str))
            .filter_map(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
            .map(u32::from)
            .collect();
        let base = u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0));
        let used_hosts: Vec<u32> = used.iter().filter_map(|ip| ip.checked_sub(base)).collect();
        match first_free(2..=65_534, fnv(&[&namespace, &name]), &used_hosts) {
            Some(host) => {
                let ip = json!(std::net::Ipv4Addr::from(base + host).to_string());
                if let Some(spec) = object_field(object, "spec") {
                    spec.insert("clusterIP".into(), ip.clone());
                    spec.insert("clusterIPs".into(), json!([ip]));
                }
            }
            None => causes.push(Cause::invalid(
                "spec.clusterIP",
                &json!(""),
                "no cluster IPs left in 10.96.0.0/16",
            )),
        }
    }
    // A LoadBalancer Service may opt out of node ports (a load balancer that
    // reaches the backends directly, as NSX does for vm-service's Services).
    let node_ports_wanted = kind == "NodePort"
        || (kind == "LoadBalancer"
            && object.pointer("/spec/allocateLoadBalancerNodePorts").and_then(Value::as_bool) != Some(false));
    if node_ports_wanted {
        let mut used: Vec<u32> = others
            .iter()
            .flat_map(|o| o.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default())
            .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
            .filter_map(|p| u32::try_from(p).ok())
            .collect();
        let Some(ports) = object.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
            return causes;
        };
        for (i, port) in ports.iter_mut().enumerate() {
            if let Some(explicit) =
                port.get("nodePort").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok())
            {
                if used.contains(&explicit) {
                    causes.push(Cause::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(explicit),
                        "provided port is already allocated",
                    ));
                }
                used.push(explicit);
                continue;
            }
            let seed = fnv(&[&namespace, &name, &i.to_string()]);
            match first_free(NODE_PORTS, seed, &used) {
                Some(node_port) => {
                    if let Some(port) = port.as_object_mut() {
                        port.insert("nodePort".into(), json!(node_port));
                    }
                    used.push(node_port);
                }
                None => causes.push(Cause::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    &json!(0),
                    "no node ports left in 30000-32767",
                )),
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::BuiltinKind;

    #[test]
    fn allocation_never_collides() {
        let mut taken = Vec::new();
        for i in 0..50 {
            let mut svc = json!({"metadata": {"name": format!("s{i}"), "namespace": "default"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
            BuiltinKind::Service.default_fields(&mut svc, None);
            assert!(allocate_service(&mut svc, &taken).is_empty());
            taken.push(svc);
        }
        let mut ips: Vec<&str> = taken.iter().map(|s| s["spec"]["clusterIP"].as_str().unwrap()).collect();
        let mut node_ports: Vec<u64> = taken
            .iter()
            .flat_map(|s| {
                s["spec"]["ports"].as_array().unwrap().iter().map(|p| p["nodePort"].as_u64().unwrap())
            })
            .collect();
        ips.sort_unstable();
        ips.dedup();
        node_ports.sort_unstable();
        node_ports.dedup();
        assert_eq!((ips.len(), node_ports.len()), (50, 100));
        let mut direct = json!({"metadata": {"name": "direct", "namespace": "ns"},
            "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 6443}]}});
        BuiltinKind::Service.default_fields(&mut direct, None);
        assert!(allocate_service(&mut direct, &taken).is_empty());
        assert_eq!(
            direct["spec"]["ports"][0].get("nodePort"),
            None,
            "allocateLoadBalancerNodePorts: false allocates none"
        );
        let held = taken[0]["spec"]["ports"][0]["nodePort"].clone();
        let mut clash = json!({"metadata": {"name": "clash", "namespace": "default"},
            "spec": {"type": "NodePort", "ports": [{"port": 1, "nodePort": held}]}});
        let causes = allocate_service(&mut clash, &taken);
        assert_eq!(causes[0].field, "spec.ports[0].nodePort");
    }
}
