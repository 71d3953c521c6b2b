//! MachineSet → `spec.replicas` Machines from its template (all at once, as
//! Cluster API's MachineSet does); scale down removes the newest first.

use wasmvisor_chain_api::capi::{KubeadmConfigTemplate, MachineSet, MachineSetStatus};
use wasmvisor_chain_api::capv::VSphereMachineTemplate;
use wasmvisor_chain_api::{Resource, labels, status};
use wasmvisor_sdk::{Action, Context, Error};

use crate::machines::{self, Template};

/// Keeps the set's Machines.
pub fn reconcile(ctx: &Context, set: MachineSet) -> Result<Action, Error> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let cluster = set.spec.cluster_name.clone();
    let Some(template) = set.spec.template.clone() else {
        return Err(Error::Invalid(format!(
            "MachineSet {namespace}/{} has no spec.template",
            set.metadata.name
        )));
    };
    let kube = ctx.kube();
    let infra_name = template.spec.infrastructure_ref.name.clone().unwrap_or_default();
    let infrastructure: VSphereMachineTemplate =
        kube.get(&VSphereMachineTemplate::named(ctx.cluster(), &namespace, &infra_name))?;
    let config_name =
        template.spec.bootstrap.config_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
    let bootstrap: KubeadmConfigTemplate =
        kube.get(&KubeadmConfigTemplate::named(ctx.cluster(), &namespace, &config_name))?;
    let mut machine_labels = template.metadata.map(|m| m.labels).unwrap_or_default();
    machine_labels.insert(labels::CAPI_CLUSTER_NAME.to_owned(), cluster.clone());
    machine_labels.insert(labels::CAPI_SET_NAME.to_owned(), set.metadata.name.clone());
    let recipe = Template {
        cluster: &cluster,
        version: template.spec.version.clone(),
        labels: machine_labels,
        infrastructure: infrastructure.spec.template.spec,
        bootstrap: bootstrap.spec.template.spec,
    };
    let owner = set.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;

    let mut existing = machines::owned(ctx, &namespace, &cluster, &uid)?;
    let alive: Vec<_> = existing.iter().filter(|m| !m.is_being_deleted()).cloned().collect();
    for machine in &alive {
        machines::ensure_parts(ctx, machine, &recipe)?;
    }
    let wanted = usize::try_from(set.spec.replicas.unwrap_or(1)).unwrap_or(0);
    let mut created = 0;
    while alive.len() + created < wanted {
        let name = machines::next_name(&set.metadata.name, &uid, &existing);
        existing.push(machines::create(ctx, &namespace, &name, &owner, &recipe)?);
        created += 1;
    }
    for surplus in machines::surplus(&alive, wanted) {
        kube.delete(&surplus.object_ref(ctx.cluster()))?;
    }
    let ready = alive.iter().filter(|m| machines::running(m)).count();
    let count = |n: usize| Some(i32::try_from(n).unwrap_or(i32::MAX));
    status::set(ctx, &set, |s: &mut MachineSetStatus| {
        s.replicas = count(alive.len() + created);
        s.ready_replicas = count(ready);
        s.available_replicas = count(ready);
        s.observed_generation = set.metadata.generation;
    })?;
    Ok(Action::done())
}
