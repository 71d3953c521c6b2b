//! Machines made from templates, shared by the control plane and machine
//! sets: a Machine with its KubeadmConfig (bootstrap) and VSphereMachine
//! (infrastructure), both controller-owned by the Machine.
//!
//! Names are `<owner>-<5 characters>` as Cluster API makes them, but the
//! characters derive from the owner's uid and the lowest free ordinal, so a
//! create that is retried (after a timeout, a crash, a restart) addresses
//! the same Machine instead of adding a twin.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use wasmvisor_chain_api::capi::{
    Bootstrap, KubeadmConfig, KubeadmConfigSpec, Machine, MachinePhase, MachineSpec,
};
use wasmvisor_chain_api::capv::{VSphereMachine, VSphereMachineSpec};
use wasmvisor_chain_api::core::ObjectReference;
use wasmvisor_chain_api::{Resource, labels, new_object};
use wasmvisor_sdk::{Context, Error, OwnerReference};

/// What a new Machine is made of.
pub struct Template<'a> {
    /// The cluster it joins.
    pub cluster: &'a str,
    /// Kubernetes version.
    pub version: Option<String>,
    /// Labels of the Machine.
    pub labels: BTreeMap<String, String>,
    /// The VSphereMachine spec (from a VSphereMachineTemplate).
    pub infrastructure: VSphereMachineSpec,
    /// The bootstrap config (from a KubeadmConfigTemplate or the control plane).
    pub bootstrap: KubeadmConfigSpec,
}

/// The Machines `owner` controls (listed through the cluster label).
pub fn owned(ctx: &Context, namespace: &str, cluster: &str, owner_uid: &str) -> Result<Vec<Machine>, Error> {
    let selector = format!("{}={cluster}", labels::CAPI_CLUSTER_NAME);
    let all: Vec<Machine> =
        ctx.kube().list(&Machine::kind_ref(ctx.cluster(), Some(namespace)), Some(&selector))?;
    Ok(all
        .into_iter()
        .filter(|m| m.metadata.controller_owner().is_some_and(|o| o.uid == owner_uid))
        .collect())
}

/// `<owner>-<5 lowercase letters and digits>` for ordinal `n`.
pub fn name(owner: &str, owner_uid: &str, n: u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(format!("{owner_uid}/{n}").as_bytes());
    let suffix: String =
        digest.iter().take(5).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{owner}-{suffix}")
}

/// The first name no existing Machine has.
pub fn next_name(owner: &str, owner_uid: &str, existing: &[Machine]) -> String {
    (0..)
        .map(|n| name(owner, owner_uid, n))
        .find(|candidate| !existing.iter().any(|m| &m.metadata.name == candidate))
        .expect("an unbounded range yields a free name")
}

/// Creates Machine `name` controlled by `owner`, then its bootstrap config
/// and infrastructure.
pub fn create(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner: &OwnerReference,
    template: &Template<'_>,
) -> Result<Machine, Error> {
    let mut machine: Machine = new_object(
        namespace,
        name,
        MachineSpec {
            cluster_name: template.cluster.to_owned(),
            bootstrap: Bootstrap {
                config_ref: Some(ObjectReference::to(
                    KubeadmConfig::API_VERSION,
                    KubeadmConfig::KIND,
                    namespace,
                    name,
                )),
                data_secret_name: None,
            },
            infrastructure_ref: ObjectReference::to(
                VSphereMachine::API_VERSION,
                VSphereMachine::KIND,
                namespace,
                name,
            ),
            version: template.version.clone(),
            ..MachineSpec::default()
        },
    );
    machine.metadata.labels = template.labels.clone();
    machine.metadata.owner_references = vec![owner.clone()];
    let machine = ctx.kube().apply(ctx.cluster(), &machine)?;
    ensure_parts(ctx, &machine, template)?;
    Ok(machine)
}

/// Applies the Machine's bootstrap config and infrastructure from
/// `template`: a no-op when they are as they should be, and the end of a
/// creation an earlier attempt left half-done. The Machine itself is not
/// re-applied: its spec also carries what the Machine's own reconcile
/// filled in (bootstrap secret, provider ID).
pub fn ensure_parts(ctx: &Context, machine: &Machine, template: &Template<'_>) -> Result<(), Error> {
    let namespace = machine.metadata.namespace.as_deref().unwrap_or_default();
    let name = &machine.metadata.name;
    let controller =
        machine.owner_reference(true).ok_or_else(|| Error::Unavailable("Machine has no uid yet".into()))?;
    let mut config: KubeadmConfig = new_object(namespace, name, template.bootstrap.clone());
    config.metadata.labels = template.labels.clone();
    config.metadata.owner_references = vec![controller.clone()];
    ctx.kube().apply(ctx.cluster(), &config)?;

    let mut infrastructure: VSphereMachine = new_object(namespace, name, template.infrastructure.clone());
    infrastructure.spec.provider_id = None;
    infrastructure.metadata.labels = template.labels.clone();
    infrastructure.metadata.owner_references = vec![controller];
    ctx.kube().apply(ctx.cluster(), &infrastructure)?;
    Ok(())
}

/// Whether the Machine is up (its phase is `Running`).
pub fn running(machine: &Machine) -> bool {
    machine.status.as_ref().and_then(|s| s.phase) == Some(MachinePhase::Running)
}

/// The Machines to delete to come down to `wanted`: the newest first.
pub fn surplus(alive: &[Machine], wanted: usize) -> Vec<&Machine> {
    let mut newest_first: Vec<&Machine> = alive.iter().collect();
    newest_first.sort_by(|a, b| {
        let created = |m: &Machine| m.metadata.creation_timestamp.clone().unwrap_or_default();
        created(b).cmp(&created(a)).then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    newest_first.into_iter().take(alive.len().saturating_sub(wanted)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_per_owner_and_ordinal() {
        assert_eq!(name("c1-control-plane", "u1", 0), name("c1-control-plane", "u1", 0));
        assert_ne!(name("c1-control-plane", "u1", 0), name("c1-control-plane", "u1", 1));
        assert_ne!(name("c1-control-plane", "u1", 0), name("c1-control-plane", "u2", 0));
        let n = name("c1-workers", "u1", 0);
        assert!(n.starts_with("c1-workers-") && n.len() == "c1-workers-".len() + 5, "{n}");
    }
}
