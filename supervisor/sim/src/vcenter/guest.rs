//! Guest information from VMware Tools: `…/tools`, `…/guest/identity`,
//! `…/guest/networking`, `…/guest/networking/interfaces`.
//!
//! The boot model (`crate::config::VcenterTiming`): after power-on Tools is `NOT_RUNNING`
//! and guest calls answer 503 `SERVICE_UNAVAILABLE` for `tools_after`; then identity has
//! a host name but no IP until `ip_after`; then the IP appears in identity and in the
//! interface list (state `PREFERRED`). The IP is the one NCP bound on the NIC's NSX port,
//! else the one picked at power-on. A powered-off or suspended VM answers 503 too.

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::VcState;
use super::error::{ErrorType, VcError};
use super::model::{PowerState, VmRecord};
use super::vm::load;
use crate::clock::millis;
use crate::config::VcenterTiming;
use crate::store::Tx;
use crate::world;

/// How far the guest has booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Boot {
    /// Off, suspended, or Tools not started yet.
    ToolsNotRunning,
    /// Tools runs, the network is not up.
    ToolsRunning,
    /// Tools runs and the guest has its IP.
    NetworkUp,
}

/// Where `vm` is in the boot model at `now_ms`.
pub(crate) fn boot(vm: &VmRecord, timing: &VcenterTiming, now_ms: u64) -> Boot {
    let Some(booted) = vm.booted_at_ms.filter(|_| vm.power_state == PowerState::PoweredOn) else {
        return Boot::ToolsNotRunning;
    };
    let up = now_ms.saturating_sub(booted);
    let tools = millis(timing.tools_after);
    if up < tools {
        Boot::ToolsNotRunning
    } else if up < tools.max(millis(timing.ip_after)) {
        Boot::ToolsRunning
    } else {
        Boot::NetworkUp
    }
}

/// `GET /api/vcenter/vm/{vm}/tools`.
pub(crate) async fn tools(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    let now = state.ctx.clock.now_ms();
    let result = state.ctx.store.transact(move |tx| load(tx, &id)).await;
    match result {
        Ok(vm) => {
            let running = boot(&vm, &state.timing, now) != Boot::ToolsNotRunning;
            axum::Json(json!({
                "run_state": if running { "RUNNING" } else { "NOT_RUNNING" },
                "version_status": "CURRENT",
                "version": "12352",
                "version_number": 12352,
                "upgrade_policy": "MANUAL",
                "install_type": "OPEN_VM_TOOLS",
                "auto_update_supported": false,
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Which guest view a route serves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum GuestView {
    Identity,
    Networking,
    Interfaces,
}

/// `GET /api/vcenter/vm/{vm}/guest/{identity,networking,networking/interfaces}`.
pub(crate) async fn guest(State(state): State<VcState>, Path(id): Path<String>, view: GuestView) -> Response {
    let now = state.ctx.clock.now_ms();
    let timing = state.timing.clone();
    match state.ctx.store.transact(move |tx| view_in(tx, &id, view, &timing, now)).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// What VMware Tools reports for `view` of VM `id` at `now_ms`; 503
/// `SERVICE_UNAVAILABLE` while Tools is not running.
pub(crate) fn view_in(
    tx: &Tx<'_>,
    id: &str,
    view: GuestView,
    timing: &VcenterTiming,
    now_ms: u64,
) -> Result<Value, VcError> {
    let vm = load(tx, id)?;
    let stage = boot(&vm, timing, now_ms);
    if stage == Boot::ToolsNotRunning {
        return Err(VcError::new(
            ErrorType::ServiceUnavailable,
            "com.vmware.api.vcenter.vm.guest.tools_not_running",
            "Unable to contact VMware Tools in the guest.",
        ));
    }
    let addresses = if stage == Boot::NetworkUp { addresses(tx, &vm)? } else { Vec::new() };
    Ok(render(&vm, view, &addresses))
}

/// `(nic key, ip, prefix, origin)` for every NIC that has an address.
fn addresses(tx: &Tx<'_>, vm: &VmRecord) -> Result<Vec<(u32, Ipv4Addr, u8, &'static str)>, VcError> {
    let mut out = Vec::new();
    for nic in &vm.nics {
        let (ip, origin) = match (world::bound_ip(tx, nic)?, nic.guest_ip) {
            (Some(ip), _) => (ip, "MANUAL"),
            (None, Some(ip)) => (ip, "DHCP"),
            (None, None) => continue,
        };
        let subnet = match world::network(tx, &nic.network)? {
            Some(network) => world::guest_subnet(tx, &network)?,
            None => None,
        };
        let prefix = subnet.filter(|s| s.contains(&ip)).map_or(24, |s| s.prefix_len());
        out.push((nic.key, ip, prefix, origin));
    }
    Ok(out)
}

fn render(vm: &VmRecord, view: GuestView, addresses: &[(u32, Ipv4Addr, u8, &str)]) -> Value {
    let dns = json!({"host_name": vm.name, "domain_name": "sim.local"});
    match view {
        GuestView::Identity => {
            let family = if vm.guest_os.starts_with("WINDOWS") { "WINDOWS" } else { "LINUX" };
            let mut identity = json!({
                "name": vm.guest_os,
                "family": family,
                "full_name": {"id": "vmsg.guestos.sim", "default_message": vm.guest_os, "args": []},
                "host_name": vm.name,
            });
            if let Some((_, ip, _, _)) = addresses.first() {
                identity["ip_address"] = json!(ip.to_string());
            }
            identity
        }
        GuestView::Networking => {
            json!({"dns_values": dns, "dns": {"ip_addresses": [], "search_domains": ["sim.local"]}})
        }
        GuestView::Interfaces => Value::Array(
            vm.nics
                .iter()
                .map(|nic| {
                    let ips: Vec<Value> = addresses
                        .iter()
                        .filter(|(key, ..)| *key == nic.key)
                        .map(|(_, ip, prefix, origin)| {
                            json!({"ip_address": ip.to_string(), "prefix_length": prefix,
                                   "origin": origin, "state": "PREFERRED"})
                        })
                        .collect();
                    json!({
                        "nic": nic.key.to_string(),
                        "mac_address": nic.mac_address,
                        "ip": {"ip_addresses": ips, "dhcp": {"ipv4_enabled": true, "ipv6_enabled": false}},
                        "dns": {"ip_addresses": [], "search_domains": ["sim.local"]},
                        "dns_values": dns,
                    })
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vm(state: PowerState, booted: Option<u64>) -> VmRecord {
        VmRecord {
            id: "vm-1".into(),
            name: "n".into(),
            guest_os: "UBUNTU_64".into(),
            folder: "group-v3".into(),
            resource_pool: "resgroup-8".into(),
            host: "host-10".into(),
            cluster: "domain-c7".into(),
            datastore: "datastore-11".into(),
            cpu_count: 1,
            cores_per_socket: 1,
            memory_mib: 1024,
            hardware_version: "VMX_19".into(),
            power_state: state,
            booted_at_ms: booted,
            clean_power_off: false,
            bios_uuid: String::new(),
            instance_uuid: String::new(),
            nics: Vec::new(),
        }
    }

    #[test]
    fn boot_stages_follow_the_timing() {
        let timing = VcenterTiming {
            session_idle_timeout: Duration::from_secs(60),
            tools_after: Duration::from_secs(1),
            ip_after: Duration::from_secs(3),
        };
        let on = vm(PowerState::PoweredOn, Some(10_000));
        assert_eq!(boot(&on, &timing, 10_999), Boot::ToolsNotRunning);
        assert_eq!(boot(&on, &timing, 11_000), Boot::ToolsRunning);
        assert_eq!(boot(&on, &timing, 12_999), Boot::ToolsRunning);
        assert_eq!(boot(&on, &timing, 13_000), Boot::NetworkUp);
        assert_eq!(boot(&vm(PowerState::PoweredOff, None), &timing, 99_999), Boot::ToolsNotRunning);
    }
}
