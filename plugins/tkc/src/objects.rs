//! The Cluster API objects a TanzuKubernetesCluster becomes: a Cluster and
//! VSphereCluster of its name, a KubeadmControlPlane
//! `<name>-control-plane` with its VSphereMachineTemplate, and per node pool
//! a MachineDeployment `<name>-<pool>` with its VSphereMachineTemplate and
//! KubeadmConfigTemplate. Everything carries the label
//! `cluster.x-k8s.io/cluster-name`; the Cluster is controlled by the TKC,
//! the rest owned by the Cluster, as Cluster API's own controllers leave it.

use std::collections::BTreeMap;

use wasmvisor_chain_api::capi::{
    Bootstrap, Cluster, ClusterNetwork, ClusterSpec, KubeadmConfigSpec, KubeadmConfigTemplate,
    KubeadmConfigTemplateResource, KubeadmConfigTemplateSpec, KubeadmControlPlane,
    KubeadmControlPlaneMachineTemplate, KubeadmControlPlaneSpec, LabelSelector, MachineDeployment,
    MachineDeploymentSpec, MachineSpec, MachineTemplateSpec, NetworkRanges, TemplateMeta,
};
use wasmvisor_chain_api::capv::{
    VSphereCluster, VSphereClusterSpec, VSphereMachineSpec, VSphereMachineTemplate,
    VSphereMachineTemplateResource, VSphereMachineTemplateSpec,
};
use wasmvisor_chain_api::core::ObjectReference;
use wasmvisor_chain_api::tkc::{TanzuKubernetesCluster, TopologySettings};
use wasmvisor_chain_api::{Resource, labels, new_object};
use wasmvisor_sdk::OwnerReference;

use crate::validate::{DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, Resolved};

/// The name of the control plane (and its machine template).
pub fn control_plane(cluster: &str) -> String {
    format!("{cluster}-control-plane")
}

/// The name of a node pool's deployment and templates.
pub fn pool(cluster: &str, pool: &str) -> String {
    format!("{cluster}-{pool}")
}

fn cluster_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::CAPI_CLUSTER_NAME.to_owned(), cluster.to_owned())])
}

fn reference<T: Resource>(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference::to(T::API_VERSION, T::KIND, namespace, name)
}

/// The Cluster, controlled by the TKC.
pub fn cluster(tkc: &TanzuKubernetesCluster, owner: OwnerReference) -> Cluster {
    let namespace = tkc.metadata.namespace.clone().unwrap_or_default();
    let name = &tkc.metadata.name;
    let network = tkc.spec.settings.as_ref().and_then(|s| s.network.as_ref());
    let ranges = |given: Option<&wasmvisor_chain_api::tkc::NetworkRanges>, default: &str| NetworkRanges {
        cidr_blocks: given
            .map(|r| r.cidr_blocks.clone())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| vec![default.to_owned()]),
    };
    let mut cluster: Cluster = new_object(
        &namespace,
        name,
        ClusterSpec {
            cluster_network: Some(ClusterNetwork {
                pods: Some(ranges(network.and_then(|n| n.pods.as_ref()), DEFAULT_POD_CIDR)),
                services: Some(ranges(network.and_then(|n| n.services.as_ref()), DEFAULT_SERVICE_CIDR)),
                service_domain: Some(
                    network.and_then(|n| n.service_domain.clone()).unwrap_or_else(|| "cluster.local".into()),
                ),
                api_server_port: None,
            }),
            infrastructure_ref: Some(reference::<VSphereCluster>(&namespace, name)),
            control_plane_ref: Some(reference::<KubeadmControlPlane>(&namespace, &control_plane(name))),
            ..ClusterSpec::default()
        },
    );
    cluster.metadata.labels = cluster_labels(name);
    cluster.metadata.owner_references = vec![owner];
    cluster
}

/// Everything below the Cluster, owned by it (`owner`, a plain reference).
pub struct Parts {
    /// The infrastructure cluster.
    pub vsphere_cluster: VSphereCluster,
    /// Machine templates: the control plane's, then one per pool.
    pub machine_templates: Vec<VSphereMachineTemplate>,
    /// One bootstrap template per pool.
    pub config_templates: Vec<KubeadmConfigTemplate>,
    /// The control plane.
    pub control_plane: KubeadmControlPlane,
    /// One deployment per pool.
    pub deployments: Vec<MachineDeployment>,
}

fn machine_template(
    namespace: &str,
    name: &str,
    settings: &TopologySettings,
    image: &str,
) -> VSphereMachineTemplate {
    new_object(
        namespace,
        name,
        VSphereMachineTemplateSpec {
            template: VSphereMachineTemplateResource {
                spec: VSphereMachineSpec {
                    image_name: image.to_owned(),
                    class_name: settings.vm_class.clone(),
                    storage_class: Some(settings.storage_class.clone()).filter(|s| !s.is_empty()),
                    ..VSphereMachineSpec::default()
                },
            },
        },
    )
}

/// The parts of `tkc`'s cluster for `resolved`.
pub fn parts(tkc: &TanzuKubernetesCluster, resolved: &Resolved, owner: &OwnerReference) -> Parts {
    let namespace = tkc.metadata.namespace.clone().unwrap_or_default();
    let name = &tkc.metadata.name;
    let topology = &tkc.spec.topology;
    let own = |meta: &mut wasmvisor_sdk::ObjectMeta| {
        meta.labels = cluster_labels(name);
        meta.owner_references = vec![owner.clone()];
    };

    let mut vsphere_cluster: VSphereCluster = new_object(&namespace, name, VSphereClusterSpec::default());
    own(&mut vsphere_cluster.metadata);

    let plane_name = control_plane(name);
    let mut templates =
        vec![machine_template(&namespace, &plane_name, &topology.control_plane, &resolved.image)];
    let mut control_plane: KubeadmControlPlane = new_object(
        &namespace,
        &plane_name,
        KubeadmControlPlaneSpec {
            replicas: Some(topology.control_plane.replicas.unwrap_or(1)),
            version: resolved.version.clone(),
            machine_template: KubeadmControlPlaneMachineTemplate {
                metadata: None,
                infrastructure_ref: reference::<VSphereMachineTemplate>(&namespace, &plane_name),
                node_drain_timeout: topology.control_plane.node_drain_timeout.clone(),
            },
            kubeadm_config_spec: KubeadmConfigSpec::default(),
        },
    );
    own(&mut control_plane.metadata);

    let mut config_templates = Vec::new();
    let mut deployments = Vec::new();
    for node_pool in &topology.node_pools {
        let pool_name = pool(name, &node_pool.name);
        templates.push(machine_template(&namespace, &pool_name, &node_pool.settings, &resolved.image));
        let mut config: KubeadmConfigTemplate = new_object(
            &namespace,
            &pool_name,
            KubeadmConfigTemplateSpec {
                template: KubeadmConfigTemplateResource { spec: KubeadmConfigSpec::default() },
            },
        );
        own(&mut config.metadata);
        config_templates.push(config);
        let mut selector = cluster_labels(name);
        selector.insert(labels::CAPI_DEPLOYMENT_NAME.to_owned(), pool_name.clone());
        let mut machine_labels = node_pool.labels.clone();
        machine_labels.extend(selector.clone());
        let mut deployment: MachineDeployment = new_object(
            &namespace,
            &pool_name,
            MachineDeploymentSpec {
                cluster_name: name.clone(),
                replicas: node_pool.settings.replicas,
                selector: LabelSelector { match_labels: selector, ..LabelSelector::default() },
                template: MachineTemplateSpec {
                    metadata: Some(TemplateMeta { labels: machine_labels, annotations: BTreeMap::new() }),
                    spec: MachineSpec {
                        cluster_name: name.clone(),
                        bootstrap: Bootstrap {
                            config_ref: Some(reference::<KubeadmConfigTemplate>(&namespace, &pool_name)),
                            data_secret_name: None,
                        },
                        infrastructure_ref: reference::<VSphereMachineTemplate>(&namespace, &pool_name),
                        version: Some(resolved.version.clone()),
                        node_drain_timeout: node_pool.settings.node_drain_timeout.clone(),
                        ..MachineSpec::default()
                    },
                },
                strategy: None,
            },
        );
        own(&mut deployment.metadata);
        deployments.push(deployment);
    }
    for template in &mut templates {
        own(&mut template.metadata);
    }
    Parts { vsphere_cluster, machine_templates: templates, config_templates, control_plane, deployments }
}
