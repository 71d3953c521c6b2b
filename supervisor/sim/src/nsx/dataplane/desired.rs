//! What the data plane should serve: one listener per `ip_address:port` of every enabled
//! virtual server, each forwarding to the addresses of its pool's enabled members.
//!
//! In: the stored `lb-virtual-servers`, `lb-pools` and `lb-services`. Out: [`Desired`],
//! listen address → [`Route`], plus the [`Problem`]s of virtual servers that cannot be
//! served as given. Everything but [`read`] is pure, so each rule has a unit test below.
//! Invariant: one address has at most one route; when two virtual servers claim it, the
//! first by id wins and the other is a problem.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use crate::nsx::deletion;
use crate::store::{StoreError, Tx};

const VIRTUAL_SERVERS: &str = "/infra/lb-virtual-servers";
const POOLS: &str = "/infra/lb-pools";
const SERVICES: &str = "/infra/lb-services";

/// At most this many ports per virtual server (after expanding ranges): each is a socket
/// on this machine, so `"1-65535"` is refused rather than served.
pub(super) const MAX_PORTS: usize = 256;

/// Where the connections accepted on one address go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Route {
    /// The virtual server's path, for logs.
    pub(super) virtual_server: String,
    /// The enabled primary members, tried round robin.
    pub(super) members: Vec<SocketAddr>,
    /// The enabled backup members (`backup_member: true`), tried in order once every
    /// primary member refused.
    pub(super) backups: Vec<SocketAddr>,
}

/// Why (part of) a virtual server is not served.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Problem {
    /// The virtual server's path.
    pub(super) virtual_server: String,
    /// What is wrong, for the log.
    pub(super) reason: String,
}

/// Every listener the store asks for, and what could not be honoured.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Desired {
    /// Listen address → route.
    pub(super) listeners: BTreeMap<SocketAddr, Route>,
    /// Virtual servers (or members) left out, with the reason.
    pub(super) problems: Vec<Problem>,
}

/// Reads the load balancer objects (ignoring those marked for delete) and computes
/// [`Desired`].
pub(super) fn read(tx: &Tx<'_>) -> Result<Desired, StoreError> {
    let live = |collection: &str| -> Result<Vec<(String, Value)>, StoreError> {
        Ok(tx
            .list(collection)?
            .into_iter()
            .filter(|(_, v)| !deletion::is_marked(v))
            .map(|(id, v)| (format!("{collection}/{id}"), v))
            .collect())
    };
    let pools = live(POOLS)?.into_iter().collect();
    let services = live(SERVICES)?.into_iter().collect();
    Ok(desired(&live(VIRTUAL_SERVERS)?, &pools, &services))
}

/// The listeners `servers` (path, object; in id order) ask for.
///
/// A virtual server is served when it is `enabled` (default true), attached through
/// `lb_service_path` to an existing LB service that is not `enabled: false`, has an
/// `ip_address` and `ports`, and its application profile is not UDP (the data plane
/// is TCP only). Anything else it asks for that cannot be done is a [`Problem`].
pub(super) fn desired(
    servers: &[(String, Value)],
    pools: &HashMap<String, Value>,
    services: &HashMap<String, Value>,
) -> Desired {
    let mut out = Desired::default();
    for (path, vs) in servers {
        let mut reasons = Vec::new();
        for (addr, route) in routes(path, vs, pools, services, &mut reasons) {
            match out.listeners.get(&addr) {
                Some(taken) => reasons.push(format!("{addr} is already served by {}", taken.virtual_server)),
                None => {
                    out.listeners.insert(addr, route);
                }
            }
        }
        out.problems
            .extend(reasons.into_iter().map(|reason| Problem { virtual_server: path.clone(), reason }));
    }
    out
}

fn routes(
    path: &str,
    vs: &Value,
    pools: &HashMap<String, Value>,
    services: &HashMap<String, Value>,
    reasons: &mut Vec<String>,
) -> Vec<(SocketAddr, Route)> {
    let enabled = |object: &Value| object.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let service = vs.get("lb_service_path").and_then(Value::as_str).and_then(|p| services.get(p));
    let udp = vs
        .get("application_profile_path")
        .and_then(Value::as_str)
        .is_some_and(|p| p.to_ascii_lowercase().contains("udp"));
    if !enabled(vs) || !service.is_some_and(enabled) || udp {
        return Vec::new();
    }
    let Some(ip) = vs.get("ip_address").and_then(Value::as_str) else { return Vec::new() };
    let ip = match ip.parse::<IpAddr>() {
        Ok(ip) if !(ip.is_unspecified() || ip.is_multicast()) => ip,
        _ => {
            reasons.push(format!("ip_address {ip} cannot be listened on"));
            return Vec::new();
        }
    };
    let vs_ports = match ports(vs.get("ports")) {
        Ok(ports) if ports.is_empty() => return Vec::new(),
        Ok(ports) => ports,
        Err(reason) => {
            reasons.push(format!("ports: {reason}"));
            return Vec::new();
        }
    };
    let defaults = ports(vs.get("default_pool_member_ports")).unwrap_or_else(|reason| {
        reasons.push(format!("default_pool_member_ports: {reason}"));
        Vec::new()
    });
    let pool = vs.get("pool_path").and_then(Value::as_str).and_then(|p| pools.get(p));
    let members: &[Value] =
        pool.and_then(|p| p.get("members")).and_then(Value::as_array).map_or(&[], Vec::as_slice);
    vs_ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            // The member's own port, else the default at the same position as this
            // listener's port (or the first default), else the listener's port.
            let fallback = defaults.get(i).or(defaults.first()).copied().unwrap_or(port);
            let mut route =
                Route { virtual_server: path.to_owned(), members: Vec::new(), backups: Vec::new() };
            for member in members {
                match member_addr(member, fallback) {
                    Ok(None) => {}
                    Ok(Some(addr)) if member.get("backup_member").and_then(Value::as_bool) == Some(true) => {
                        route.backups.push(addr);
                    }
                    Ok(Some(addr)) => route.members.push(addr),
                    Err(reason) if i == 0 => reasons.push(reason),
                    Err(_) => {}
                }
            }
            (SocketAddr::new(ip, port), route)
        })
        .collect()
}

/// A member's address, `None` when its `admin_state` keeps new connections away.
fn member_addr(member: &Value, fallback: u16) -> Result<Option<SocketAddr>, String> {
    let state = member.get("admin_state").and_then(Value::as_str).unwrap_or("ENABLED");
    if matches!(state, "DISABLED" | "GRACEFUL_DISABLED") {
        return Ok(None);
    }
    let raw_ip = member.get("ip_address").and_then(Value::as_str).unwrap_or_default();
    let ip =
        raw_ip.parse::<IpAddr>().map_err(|_| format!("member ip_address {raw_ip:?} is not an IP address"))?;
    let port = match member.get("port") {
        None | Some(Value::Null) => fallback,
        Some(given) => {
            single_port(given).ok_or_else(|| format!("member {raw_ip} port {given} is not a port"))?
        }
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// Expands NSX port specs (`["80", "8000-8010"]`, numbers accepted too) into ports.
fn ports(value: Option<&Value>) -> Result<Vec<u16>, String> {
    let specs = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(specs)) => specs,
        Some(other) => return Err(format!("{other} is not a list of ports")),
    };
    let mut out = Vec::new();
    for spec in specs {
        let (low, high) = match spec {
            Value::String(s) => match s.split_once('-') {
                Some((low, high)) => (low.trim().parse::<u16>().ok(), high.trim().parse::<u16>().ok()),
                None => {
                    let port = s.trim().parse::<u16>().ok();
                    (port, port)
                }
            },
            other => (single_port(other), single_port(other)),
        };
        match (low, high) {
            (Some(low), Some(high)) if low >= 1 && low <= high => {
                if out.len() + usize::from(high - low) + 1 > MAX_PORTS {
                    return Err(format!("more than {MAX_PORTS} ports"));
                }
                out.extend(low..=high);
            }
            _ => return Err(format!("{spec} is not a port or a range such as \"80-90\"")),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn single_port(value: &Value) -> Option<u16> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVICE: &str = "/infra/lb-services/lbs";
    const POOL: &str = "/infra/lb-pools/pool";

    fn world(vs: Value, pool: Value) -> Desired {
        let pools = HashMap::from([(POOL.to_owned(), pool)]);
        let services = HashMap::from([(SERVICE.to_owned(), json!({"enabled": true}))]);
        desired(&[("/infra/lb-virtual-servers/vs".to_owned(), vs)], &pools, &services)
    }

    fn vs(extra: Value) -> Value {
        let mut vs = json!({
            "ip_address": "127.170.0.9", "ports": ["80"], "lb_service_path": SERVICE, "pool_path": POOL,
            "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
        });
        if let (Some(vs), Value::Object(extra)) = (vs.as_object_mut(), extra) {
            vs.extend(extra);
        }
        vs
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn serves_every_port_of_a_range_with_members_in_pool_order() {
        let got = world(
            vs(json!({"ports": ["80-82", 443]})),
            json!({"members": [{"ip_address": "127.160.0.3", "port": "8080"}, {"ip_address": "127.160.0.2"}]}),
        );
        assert_eq!(got.problems, []);
        assert_eq!(
            got.listeners.keys().copied().collect::<Vec<_>>(),
            [addr("127.170.0.9:80"), addr("127.170.0.9:81"), addr("127.170.0.9:82"), addr("127.170.0.9:443")]
        );
        assert_eq!(
            got.listeners[&addr("127.170.0.9:81")].members,
            [addr("127.160.0.3:8080"), addr("127.160.0.2:81")],
            "a member without a port gets the listener's port"
        );
    }

    #[test]
    fn member_without_port_uses_default_pool_member_ports_by_position() {
        let got = world(
            vs(json!({"ports": ["80", "443"], "default_pool_member_ports": ["8080", "8443"]})),
            json!({"members": [{"ip_address": "127.160.0.2"}]}),
        );
        assert_eq!(got.listeners[&addr("127.170.0.9:80")].members, [addr("127.160.0.2:8080")]);
        assert_eq!(got.listeners[&addr("127.170.0.9:443")].members, [addr("127.160.0.2:8443")]);
    }

    #[test]
    fn disabled_and_backup_members() {
        let got = world(
            vs(json!({})),
            json!({"members": [
                {"ip_address": "127.160.0.2", "port": "1", "admin_state": "DISABLED"},
                {"ip_address": "127.160.0.3", "port": "1", "admin_state": "GRACEFUL_DISABLED"},
                {"ip_address": "127.160.0.4", "port": "1", "admin_state": "ENABLED"},
                {"ip_address": "127.160.0.5", "port": "1", "backup_member": true},
            ]}),
        );
        let route = &got.listeners[&addr("127.170.0.9:80")];
        assert_eq!(route.members, [addr("127.160.0.4:1")]);
        assert_eq!(route.backups, [addr("127.160.0.5:1")]);
    }

    #[test]
    fn not_served_when_disabled_detached_udp_or_without_address() {
        for (case, server) in [
            ("disabled", vs(json!({"enabled": false}))),
            ("no lb service", vs(json!({"lb_service_path": null}))),
            ("unknown lb service", vs(json!({"lb_service_path": "/infra/lb-services/other"}))),
            (
                "udp",
                vs(json!({"application_profile_path": "/infra/lb-app-profiles/default-udp-lb-app-profile"})),
            ),
            ("no ip", vs(json!({"ip_address": null}))),
            ("no ports", vs(json!({"ports": []}))),
        ] {
            assert_eq!(world(server, json!({})), Desired::default(), "{case}");
        }
        let pools = HashMap::new();
        let services = HashMap::from([(SERVICE.to_owned(), json!({"enabled": false}))]);
        let off = desired(&[("/infra/lb-virtual-servers/vs".to_owned(), vs(json!({})))], &pools, &services);
        assert_eq!(off, Desired::default(), "disabled LB service");
    }

    #[test]
    fn without_a_pool_the_listener_has_no_members() {
        let got = world(vs(json!({"pool_path": null})), json!({}));
        assert_eq!(got.listeners[&addr("127.170.0.9:80")].members, []);
    }

    #[test]
    fn problems_name_what_is_wrong() {
        for (server, pool, want) in [
            (vs(json!({"ports": ["90-80"]})), json!({}), "ports: \"90-80\" is not a port"),
            (vs(json!({"ports": ["1-65535"]})), json!({}), "ports: more than 256 ports"),
            (vs(json!({"ip_address": "0.0.0.0"})), json!({}), "ip_address 0.0.0.0 cannot be listened on"),
            (vs(json!({})), json!({"members": [{"ip_address": "node-1"}]}), "member ip_address \"node-1\""),
            (vs(json!({})), json!({"members": [{"ip_address": "127.0.0.2", "port": "x"}]}), "port \"x\""),
        ] {
            let got = world(server, pool);
            assert!(
                got.problems.iter().any(|p| p.reason.contains(want)),
                "want {want:?}: {:?}",
                got.problems
            );
        }
    }

    #[test]
    fn the_first_virtual_server_keeps_a_shared_address() {
        let pools = HashMap::new();
        let services = HashMap::from([(SERVICE.to_owned(), json!({}))]);
        let servers = [
            ("/infra/lb-virtual-servers/a".to_owned(), vs(json!({}))),
            ("/infra/lb-virtual-servers/b".to_owned(), vs(json!({}))),
        ];
        let got = desired(&servers, &pools, &services);
        assert_eq!(got.listeners[&addr("127.170.0.9:80")].virtual_server, "/infra/lb-virtual-servers/a");
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].virtual_server, "/infra/lb-virtual-servers/b");
        assert!(got.problems[0].reason.contains("already served by /infra/lb-virtual-servers/a"));
    }
}
