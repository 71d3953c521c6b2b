//! VSphereMachine (CAPV in supervisor mode): once the cluster's
//! infrastructure is ready and the Machine has bootstrap data, the
//! bootstrap ConfigMap `<machine>-cloud-init` and the VirtualMachine; then
//! the VM's progress into `vmstatus`, `VMProvisioned`, and at the end
//! `providerID`, `vmIp` and `ready`.
//!
//! The VM and the ConfigMap are controller-owned by the VSphereMachine, so
//! their changes re-queue it; deleting the VSphereMachine deletes the VM and
//! waits until vm-service has removed it from vCenter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmvisor_chain_api::capi::Machine;
use wasmvisor_chain_api::capv::{
    CONTROL_PLANE_MODULE_GROUP, VSphereCluster, VSphereMachine, VSphereMachineStatus, VmStatus, cloud_init,
    condition, reason,
};
use wasmvisor_chain_api::core::{AddressType, ConfigMap, NodeAddress};
use wasmvisor_chain_api::vmop::{
    NetworkInterface, NetworkType, PowerState, VirtualMachine, VirtualMachinePhase, VirtualMachineSpec,
    VmMetadata, VmMetadataTransport,
};
use wasmvisor_chain_api::{
    Condition, Resource, Severity, annotations, labels, names, new_object, set_condition, status,
};
use wasmvisor_sdk::{Action, Context, Error, ObjectMeta, ObjectRef};

use crate::cluster::cluster_name;

/// How often a machine whose VM is still being deleted is looked at again.
const DELETE_POLL: Duration = Duration::from_secs(1);

/// The one spec field capw owns on a VSphereMachine (capi owns the rest, from the
/// template): applied alone, so the two field managers never take each other's fields.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderId {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: ProviderIdSpec,
}

#[derive(Serialize, Deserialize)]
struct ProviderIdSpec {
    #[serde(rename = "providerID")]
    provider_id: String,
}

impl ProviderId {
    fn of(namespace: &str, name: &str, provider_id: String) -> Self {
        Self {
            api_version: VSphereMachine::API_VERSION.to_owned(),
            kind: VSphereMachine::KIND.to_owned(),
            metadata: ObjectMeta {
                name: name.to_owned(),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec: ProviderIdSpec { provider_id },
        }
    }
}

#[derive(Deserialize)]
struct Secret {
    #[serde(default)]
    data: BTreeMap<String, String>,
}

fn report(
    ctx: &Context,
    vsm: &VSphereMachine,
    change: impl FnOnce(&mut VSphereMachineStatus),
) -> Result<(), Error> {
    status::set(ctx, vsm, change)
}

fn waiting(ctx: &Context, vsm: &VSphereMachine, why: &str, message: &str) -> Result<Action, Error> {
    report(ctx, vsm, |s| {
        s.vm_status.get_or_insert(VmStatus::Pending);
        set_condition(
            &mut s.conditions,
            Condition::false_(condition::VM_PROVISIONED, why, Severity::Info, message),
        );
    })?;
    Ok(Action::done())
}

/// Base64 of `text` (the bootstrap metadata vm-operator hands the guest).
fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Provisions the machine's VM and reports its progress.
pub fn reconcile(ctx: &Context, vsm: VSphereMachine) -> Result<Action, Error> {
    let namespace = vsm.metadata.namespace.clone().unwrap_or_default();
    let name = vsm.metadata.name.clone();
    let kube = ctx.kube();
    let Some(owner) = vsm.metadata.controller_owner().filter(|o| o.kind == Machine::KIND) else {
        return waiting(ctx, &vsm, "WaitingForOwner", "no Machine owns this VSphereMachine yet");
    };
    let Some(machine) = kube.get_opt::<Machine>(&Machine::named(ctx.cluster(), &namespace, &owner.name))?
    else {
        return waiting(
            ctx,
            &vsm,
            "WaitingForOwner",
            &format!("Machine {namespace}/{} not found", owner.name),
        );
    };
    let cluster = cluster_name(&vsm.metadata);
    let vsc: Option<VSphereCluster> =
        kube.get_opt(&VSphereCluster::named(ctx.cluster(), &namespace, &cluster))?;
    let Some(vsc) = vsc.filter(|c| c.status.as_ref().and_then(|s| s.ready) == Some(true)) else {
        return waiting(
            ctx,
            &vsm,
            "WaitingForClusterInfrastructure",
            &format!("VSphereCluster {namespace}/{cluster} is not ready"),
        );
    };
    let Some(secret_name) = machine.spec.bootstrap.data_secret_name.clone() else {
        return waiting(
            ctx,
            &vsm,
            "WaitingForBootstrapData",
            &format!("Machine {namespace}/{} has no bootstrap data yet", machine.metadata.name),
        );
    };
    let secret: Secret =
        kube.get(&ObjectRef::namespaced(ctx.cluster(), "v1", "Secret", &namespace, &secret_name))?;
    let userdata = secret.data.get("value").cloned().ok_or_else(|| {
        Error::Invalid(format!("bootstrap Secret {namespace}/{secret_name} has no key `value`"))
    })?;
    let controller = vsm.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;

    let mut config = ConfigMap::new(&namespace, &names::cloud_init_config_map(&name));
    config.metadata.owner_references = vec![controller.clone()];
    config.data = BTreeMap::from([
        (cloud_init::USERDATA.to_owned(), userdata),
        (cloud_init::USERDATA_ENCODING.to_owned(), cloud_init::BASE64.to_owned()),
        (
            cloud_init::METADATA.to_owned(),
            base64(&format!("instance-id: \"{name}\"\nlocal-hostname: \"{name}\"\n")),
        ),
        (cloud_init::METADATA_ENCODING.to_owned(), cloud_init::BASE64.to_owned()),
    ]);
    kube.apply(ctx.cluster(), &config)?;

    let control_plane = machine.metadata.labels.contains_key(labels::CAPI_CONTROL_PLANE);
    let role = if control_plane { labels::ROLE_CONTROL_PLANE } else { labels::ROLE_NODE };
    let mut vm: VirtualMachine = new_object(
        &namespace,
        &name,
        VirtualMachineSpec {
            image_name: vsm.spec.image_name.clone(),
            class_name: vsm.spec.class_name.clone(),
            storage_class: vsm.spec.storage_class.clone(),
            power_state: Some(PowerState::PoweredOn),
            resource_policy_name: vsc.status.as_ref().and_then(|s| s.resource_policy_name.clone()),
            vm_metadata: Some(VmMetadata {
                config_map_name: Some(config.metadata.name.clone()),
                secret_name: None,
                transport: Some(VmMetadataTransport::ExtraConfig),
            }),
            network_interfaces: vec![NetworkInterface {
                network_type: Some(NetworkType::NsxT),
                network_name: Some(names::virtual_network(&cluster)),
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    for (key, value) in [
        (labels::CAPV_CLUSTER_NAME, cluster.as_str()),
        (labels::CAPV_CLUSTER_ROLE, role),
        (labels::CAPW_CLUSTER_NAME, cluster.as_str()),
        (labels::CAPW_CLUSTER_ROLE, role),
        (labels::CAPI_CLUSTER_NAME, cluster.as_str()),
    ] {
        vm.metadata.labels.insert(key.to_owned(), value.to_owned());
    }
    let (tag, group) = if control_plane {
        (annotations::VM_AA_TAG_CONTROL_PLANE.to_owned(), CONTROL_PLANE_MODULE_GROUP.to_owned())
    } else {
        (annotations::VM_AA_TAG_WORKER.to_owned(), names::workers_module_group(&cluster))
    };
    vm.metadata.annotations.insert(annotations::VSPHERE_TAG.to_owned(), tag);
    vm.metadata.annotations.insert(annotations::CLUSTER_MODULE_GROUP.to_owned(), group);
    vm.metadata.owner_references = vec![controller];
    let vm = kube.apply(ctx.cluster(), &vm)?;

    let observed = vm.status.clone().unwrap_or_default();
    let created = observed.phase == Some(VirtualMachinePhase::Created);
    let powered_on = observed.power_state == Some(PowerState::PoweredOn);
    let ip = observed.vm_ip.clone().filter(|ip| !ip.is_empty());
    let bios = observed.bios_uuid.clone().filter(|b| !b.is_empty());
    let (vm_status, progress) = match (created, powered_on, &ip, &bios) {
        (false, _, _, _) => (VmStatus::Pending, Some(reason::VM_PROVISION_STARTED)),
        (true, false, _, _) => (VmStatus::Created, Some(reason::POWERING_ON)),
        (true, true, None, _) => (VmStatus::PoweredOn, Some(reason::WAITING_FOR_NETWORK_ADDRESS)),
        (true, true, Some(_), None) => (VmStatus::PoweredOn, Some(reason::WAITING_FOR_BIOS_UUID)),
        (true, true, Some(_), Some(_)) => (VmStatus::Ready, None),
    };
    if let (None, Some(bios)) = (progress, &bios) {
        let provider_id = names::provider_id(bios);
        if vsm.spec.provider_id.as_deref() != Some(provider_id.as_str()) {
            kube.apply(ctx.cluster(), &ProviderId::of(&namespace, &name, provider_id))?;
        }
    }
    report(ctx, &vsm, |s| {
        s.vm_status = Some(vm_status);
        s.vm_ip = ip.clone();
        s.vm_id = bios.clone();
        s.ready = Some(progress.is_none());
        s.addresses =
            ip.iter().map(|ip| NodeAddress { type_: AddressType::InternalIp, address: ip.clone() }).collect();
        let provisioned = match progress {
            None => Condition::true_(condition::VM_PROVISIONED),
            Some(why) => Condition::false_(
                condition::VM_PROVISIONED,
                why,
                Severity::Info,
                &format!("VirtualMachine {namespace}/{name}: {why}"),
            ),
        };
        set_condition(&mut s.conditions, provisioned);
    })?;
    Ok(Action::done())
}

/// Deletes the VirtualMachine and waits until it is gone.
pub fn finalize(ctx: &Context, vsm: VSphereMachine) -> Result<Action, Error> {
    let namespace = vsm.metadata.namespace.clone().unwrap_or_default();
    let target = VirtualMachine::named(ctx.cluster(), &namespace, &vsm.metadata.name);
    if ctx.kube().get_opt::<VirtualMachine>(&target)?.is_none() {
        return Ok(Action::done());
    }
    ctx.kube().delete(&target)?;
    report(ctx, &vsm, |s| {
        s.vm_status = Some(VmStatus::Deleting);
        s.ready = Some(false);
        set_condition(
            &mut s.conditions,
            Condition::false_(
                condition::VM_PROVISIONED,
                reason::DELETING,
                Severity::Info,
                "deleting the VirtualMachine",
            ),
        );
    })?;
    Ok(Action::requeue(DELETE_POLL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(base64(""), "");
        assert_eq!(base64("a"), "YQ==");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("abc"), "YWJj");
        assert_eq!(base64("instance-id: x\n"), "aW5zdGFuY2UtaWQ6IHgK");
    }
}
