//! MachineDeployment → one MachineSet per template revision,
//! `<deployment>-<hash of the template>`. A changed template (a new version
//! or class) makes a new set at full size and removes the old sets: the
//! recreate strategy, whose old Machines go by the garbage collector.

use sha2::{Digest, Sha256};
use wasmvisor_chain_api::capi::{
    LabelSelector, MachineDeployment, MachineDeploymentPhase, MachineDeploymentStatus, MachineSet,
    MachineSetSpec, MachineTemplateSpec, TemplateMeta,
};
use wasmvisor_chain_api::{Resource, labels, new_object, status};
use wasmvisor_sdk::{Action, Context, Error};

/// A short hash of the template, naming its MachineSet.
fn revision(template: &MachineTemplateSpec) -> Result<String, Error> {
    let digest = Sha256::digest(serde_json::to_vec(&template.spec)?);
    Ok(digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>()[..10].to_owned())
}

/// Keeps the deployment's current MachineSet and retires the others.
pub fn reconcile(ctx: &Context, deployment: MachineDeployment) -> Result<Action, Error> {
    let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
    let name = &deployment.metadata.name;
    let cluster = &deployment.spec.cluster_name;
    let owner = deployment.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;
    let mut template = deployment.spec.template.clone();
    let mut meta = template.metadata.take().unwrap_or_default();
    meta.labels.insert(labels::CAPI_CLUSTER_NAME.to_owned(), cluster.clone());
    meta.labels.insert(labels::CAPI_DEPLOYMENT_NAME.to_owned(), name.clone());
    template.metadata = Some(TemplateMeta { labels: meta.labels.clone(), annotations: meta.annotations });
    let set_name = format!("{name}-{}", revision(&template)?);
    let mut set: MachineSet = new_object(
        &namespace,
        &set_name,
        MachineSetSpec {
            cluster_name: cluster.clone(),
            replicas: deployment.spec.replicas,
            selector: LabelSelector { match_labels: meta.labels.clone(), ..LabelSelector::default() },
            template: Some(template),
        },
    );
    set.metadata.labels = meta.labels;
    set.metadata.owner_references = vec![owner];
    let set = ctx.kube().apply(ctx.cluster(), &set)?;

    let selector = format!("{}={name}", labels::CAPI_DEPLOYMENT_NAME);
    let sets: Vec<MachineSet> =
        ctx.kube().list(&MachineSet::kind_ref(ctx.cluster(), Some(&namespace)), Some(&selector))?;
    for old in sets.iter().filter(|s| s.metadata.name != set_name && !s.is_being_deleted()) {
        ctx.kube().delete(&old.object_ref(ctx.cluster()))?;
    }
    let current = set.status.clone().unwrap_or_default();
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let replicas = current.replicas.unwrap_or(0);
    let ready = current.ready_replicas.unwrap_or(0);
    status::set(ctx, &deployment, |s: &mut MachineDeploymentStatus| {
        s.replicas = Some(replicas);
        s.ready_replicas = Some(ready);
        s.updated_replicas = Some(replicas);
        s.unavailable_replicas = Some((replicas - ready).max(0));
        s.observed_generation = deployment.metadata.generation;
        s.phase = Some(if replicas > wanted {
            MachineDeploymentPhase::ScalingDown
        } else if ready < wanted {
            MachineDeploymentPhase::ScalingUp
        } else {
            MachineDeploymentPhase::Running
        });
    })?;
    Ok(Action::done())
}
