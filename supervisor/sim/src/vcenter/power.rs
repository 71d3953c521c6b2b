//! Power state (`/api/vcenter/vm/{vm}/power`): get, and `?action=start|stop|suspend|reset`
//! with vCenter's refusals (`ALREADY_IN_DESIRED_STATE`, `NOT_ALLOWED_IN_CURRENT_STATE`);
//! guest power (`…/guest/power`): `?action=shutdown|reboot|standby` through VMware Tools,
//! 503 `SERVICE_UNAVAILABLE` while Tools is not running.
//!
//! Power-on and reset restart the guest boot clock that `guest` reads; power-on also
//! gives NICs without an NCP-bound IP an address from the network's subnet. A guest
//! shutdown completes at once and is reported as `clean_power_off: true`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::VcState;
use super::error::{ErrorType, VcError};
use super::filters::Filters;
use super::guest::{Boot, boot};
use super::model::{PowerState, VmRecord};
use super::vm::{load, save};
use crate::store::Tx;
use crate::world;

/// `GET /api/vcenter/vm/{vm}/power`.
pub(crate) async fn get(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    let result = state.ctx.store.transact(move |tx| load(tx, &id)).await;
    match result {
        Ok(vm) => axum::Json(info(&vm)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `Power.Info`: the state, and `clean_power_off` when powered off.
pub(crate) fn info(vm: &VmRecord) -> Value {
    if vm.power_state == PowerState::PoweredOff {
        json!({"state": vm.power_state.as_str(), "clean_power_off": vm.clean_power_off})
    } else {
        json!({"state": vm.power_state.as_str()})
    }
}

/// `POST /api/vcenter/vm/{vm}/power?action=…`: 204.
pub(crate) async fn act(
    State(state): State<VcState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let action = Filters::parse(query.as_deref()).one("action").unwrap_or("").to_owned();
    let now = state.ctx.clock.now_ms();
    let result = state.ctx.store.transact(move |tx| apply(tx, &id, &action, now)).await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Applies the power `action` (`start`, `stop`, `suspend`, `reset`) to VM `id` at `now`.
pub(crate) fn apply(tx: &Tx<'_>, id: &str, action: &str, now: u64) -> Result<(), VcError> {
    let mut vm = load(tx, id)?;
    let already = |what: &str| {
        VcError::new(
            ErrorType::AlreadyInDesiredState,
            "com.vmware.api.vcenter.vm.power.already",
            format!("Virtual machine is already {what}."),
        )
    };
    let not_allowed = |what: &str| {
        VcError::new(
            ErrorType::NotAllowedInCurrentState,
            "com.vmware.api.vcenter.vm.power.not_allowed",
            what.to_owned(),
        )
    };
    match (action, vm.power_state) {
        ("start", PowerState::PoweredOn) => return Err(already("powered on")),
        ("start", _) => {
            vm.power_state = PowerState::PoweredOn;
            vm.booted_at_ms = Some(now);
            vm.clean_power_off = false;
            for index in 0..vm.nics.len() {
                if vm.nics[index].guest_ip.is_some() || world::bound_ip(tx, &vm.nics[index])?.is_some() {
                    continue;
                }
                if let Some(network) = world::network(tx, &vm.nics[index].network)? {
                    vm.nics[index].guest_ip = world::pick_guest_ip(tx, &network)?;
                    // Store each pick at once so this VM's next NIC does not get it too.
                    save(tx, &vm)?;
                }
            }
        }
        ("stop", PowerState::PoweredOff) => return Err(already("powered off")),
        ("stop", _) => power_off(&mut vm, false),
        ("suspend", PowerState::Suspended) => return Err(already("suspended")),
        ("suspend", PowerState::PoweredOff) => return Err(not_allowed("Virtual machine is powered off.")),
        ("suspend", PowerState::PoweredOn) => {
            vm.power_state = PowerState::Suspended;
            vm.booted_at_ms = None;
        }
        ("reset", PowerState::PoweredOn) => vm.booted_at_ms = Some(now),
        ("reset", _) => return Err(not_allowed("Virtual machine is not powered on.")),
        (other, _) => {
            return Err(VcError::invalid(format!(
                "Unknown power action {other:?}; use start, stop, suspend or reset."
            )));
        }
    }
    save(tx, &vm)
}

fn power_off(vm: &mut VmRecord, clean: bool) {
    vm.power_state = PowerState::PoweredOff;
    vm.booted_at_ms = None;
    vm.clean_power_off = clean;
    vm.nics.iter_mut().for_each(|n| n.guest_ip = None);
}

/// `GET /api/vcenter/vm/{vm}/guest/power`.
pub(crate) async fn guest_get(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    let now = state.ctx.clock.now_ms();
    match state.ctx.store.transact(move |tx| load(tx, &id)).await {
        Ok(vm) => {
            let running = boot(&vm, &state.timing, now) != Boot::ToolsNotRunning;
            let guest = if running { "RUNNING" } else { "NOT_RUNNING" };
            axum::Json(json!({"state": guest, "operations_ready": running})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /api/vcenter/vm/{vm}/guest/power?action=shutdown|reboot|standby`: 204.
pub(crate) async fn guest_act(
    State(state): State<VcState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let action = Filters::parse(query.as_deref()).one("action").unwrap_or("").to_owned();
    let now = state.ctx.clock.now_ms();
    let timing = state.timing.clone();
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            let mut vm = load(tx, &id)?;
            if vm.power_state != PowerState::PoweredOn {
                return Err(VcError::new(
                    ErrorType::NotAllowedInCurrentState,
                    "com.vmware.api.vcenter.vm.guest.power.not_on",
                    "Virtual machine is not powered on.",
                ));
            }
            if boot(&vm, &timing, now) == Boot::ToolsNotRunning {
                return Err(VcError::new(
                    ErrorType::ServiceUnavailable,
                    "com.vmware.api.vcenter.vm.guest.tools_not_running",
                    "Unable to contact VMware Tools in the guest.",
                ));
            }
            match action.as_str() {
                "shutdown" => power_off(&mut vm, true),
                "reboot" => vm.booted_at_ms = Some(now),
                "standby" => {
                    vm.power_state = PowerState::Suspended;
                    vm.booted_at_ms = None;
                }
                other => {
                    return Err(VcError::invalid(format!(
                        "Unknown guest power action {other:?}; use shutdown, reboot or standby."
                    )));
                }
            }
            save(tx, &vm)
        })
        .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
