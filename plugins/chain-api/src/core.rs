//! The subset of Kubernetes `v1` the chain writes and shares: Service, Endpoints and
//! ConfigMap as vm-service and capw write them (chain.md §4), and the small core types the
//! CRDs embed (ObjectReference, Taint, NodeAddress, resource lists).
//!
//! Hand-written and partial on purpose: only the fields a chain plugin sets or reads, every
//! optional one skipped when unset, so a server-side apply never claims a field the plugin
//! did not mean to own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::{Object, ObjectMeta};

use crate::Resource;

/// Resource amounts by name (`cpu`, `memory`, `storage`).
pub type ResourceList = BTreeMap<String, Quantity>;

/// A Kubernetes quantity (`resource.Quantity`), e.g. `4Gi` or `500m`, kept as its text.
///
/// On the wire a quantity may be a JSON number (`storage: 50`); it is read into the same
/// text (`"50"`) and always written back as a string, as Kubernetes does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Quantity(pub String);

impl From<&str> for Quantity {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => Ok(Self(text)),
            serde_json::Value::Number(n) => Ok(Self(n.to_string())),
            other => {
                Err(serde::de::Error::custom(format!("a quantity must be a string or a number, not {other}")))
            }
        }
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"x-kubernetes-int-or-string": true})
    }
}

/// A reference to another object (`corev1.ObjectReference`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// UID of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Resource version of the referent this reference was made at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Part of the referent this reference points at, if not the whole object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl ObjectReference {
    /// A reference to `kind` `name` of `api_version` in `namespace`.
    pub fn to(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..Self::default()
        }
    }
}

/// A node taint (`corev1.Taint`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
    /// When a `NoExecute` taint was added (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

/// Kind of a node address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum AddressType {
    /// The node's host name.
    Hostname,
    /// An IP reachable inside the cluster network.
    #[serde(rename = "InternalIP")]
    InternalIp,
    /// An IP reachable from outside.
    #[serde(rename = "ExternalIP")]
    ExternalIp,
    /// A DNS name resolvable inside the cluster.
    #[serde(rename = "InternalDNS")]
    InternalDns,
    /// A DNS name resolvable from outside.
    #[serde(rename = "ExternalDNS")]
    ExternalDns,
}

/// One address of a node or machine (`corev1.NodeAddress`, `clusterv1.MachineAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NodeAddress {
    /// What kind of address this is.
    #[serde(rename = "type")]
    pub type_: AddressType,
    /// The address itself.
    pub address: String,
}

/// A port given as a number or as a named port (`intstr.IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum IntOrString {
    /// A port number.
    Int(i32),
    /// A named port.
    String(String),
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

/// How a Service is exposed (shared by Service and VirtualMachineService).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ServiceType {
    /// A virtual IP inside the cluster.
    #[default]
    ClusterIP,
    /// A cluster IP plus a node port on every node.
    NodePort,
    /// A load balancer VIP (NSX on a Supervisor).
    LoadBalancer,
    /// A DNS CNAME to `externalName`.
    ExternalName,
}

/// One load balancer ingress point (`corev1.LoadBalancerIngress`, also VMService status).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LoadBalancerIngress {
    /// The VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A DNS name, for load balancers that give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Load balancer state (`corev1.LoadBalancerStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LoadBalancerStatus {
    /// Ingress points; the first one's `ip` is the VIP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngress>,
}

impl LoadBalancerStatus {
    /// The first ingress IP, if any.
    pub fn first_ip(&self) -> Option<&str> {
        self.ingress.first().and_then(|i| i.ip.as_deref()).filter(|ip| !ip.is_empty())
    }
}

/// A Service (v1) as the chain writes and reads it.
pub type Service = Object<ServiceSpec, ServiceStatus>;

impl Resource for Service {
    const API_VERSION: &'static str = "v1";
    const KIND: &'static str = "Service";
    const PLURAL: &'static str = "services";
    const NAMESPACED: bool = true;
}

/// `Service.spec`: the fields vm-service copies from a VMService and the guest CCM reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// How the Service is exposed.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Pod selector; vm-service leaves it unset (it writes the Endpoints itself).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The cluster IP (copied from the VMService only on create).
    #[serde(rename = "clusterIP", default, skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// Requested load balancer IP (deprecated upstream, still passed through).
    #[serde(rename = "loadBalancerIP", default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    /// Client CIDRs allowed through the load balancer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_source_ranges: Vec<String>,
    /// CNAME target of an `ExternalName` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Whether a LoadBalancer Service gets node ports; vm-service sets `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// `Cluster` or `Local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<String>,
    /// Health check node port of a `Local` LoadBalancer Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_node_port: Option<i32>,
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port name (unique within the Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The Service's port.
    pub port: i32,
    /// The backends' port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The node port (guest Services of type LoadBalancer have one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

/// `Service.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Load balancer state; NCP writes the VIP here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
}

/// Endpoints (v1): the backends vm-service computes for a selector-less Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// `v1`.
    pub api_version: String,
    /// `Endpoints`.
    pub kind: String,
    /// Metadata; labels and annotations are the Service's.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Address groups sharing the same ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<EndpointSubset>,
}

impl Resource for Endpoints {
    const API_VERSION: &'static str = "v1";
    const KIND: &'static str = "Endpoints";
    const PLURAL: &'static str = "endpoints";
    const NAMESPACED: bool = true;
}

/// Addresses that share one set of ports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    /// Ready backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<EndpointAddress>,
    /// Backends whose readiness probe does not pass yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// Ports on every address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// One backend address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    /// The backend IP (a VM's primary IP).
    pub ip: String,
    /// The object behind the address (kind `VirtualMachine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// One backend port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// The Service port's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The backend port (the VMService port's targetPort).
    pub port: i32,
    /// Protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

/// ConfigMap (v1): capw's bootstrap data `<machine>-cloud-init`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// `v1`.
    pub api_version: String,
    /// `ConfigMap`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// String data by key (see [`crate::capv::cloud_init`] for the bootstrap keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl Resource for ConfigMap {
    const API_VERSION: &'static str = "v1";
    const KIND: &'static str = "ConfigMap";
    const PLURAL: &'static str = "configmaps";
    const NAMESPACED: bool = true;
}

impl ConfigMap {
    /// An empty ConfigMap `name` in `namespace`, with apiVersion and kind set.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            metadata: ObjectMeta {
                name: name.to_owned(),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            data: BTreeMap::new(),
        }
    }
}

impl Endpoints {
    /// Empty Endpoints `name` in `namespace`, with apiVersion and kind set.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            metadata: ObjectMeta {
                name: name.to_owned(),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            subsets: Vec::new(),
        }
    }
}

/// A guest cluster's Node (v1), as its kubelet (the embedded supervisor's
/// guests) reports it and as capi, calico and tkc read or annotate it.
pub type Node = Object<NodeSpec, NodeStatus>;
crate::resource!(Node, "v1", "Node", "nodes", namespaced = false);

/// `Node.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// `vsphere://<biosUUID>` of the node's VM; how a Machine finds its Node.
    #[serde(default, rename = "providerID", skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The pod range of this node (calico writes its block here).
    #[serde(default, rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// Taints; a cloud provider removes `node.cloudprovider.kubernetes.io/uninitialized`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// `Node.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Addresses; `InternalIP` is the VM's IP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// Conditions (`Ready`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
}

/// One condition of a Node (`corev1.NodeCondition`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether the kubelet reports `node` Ready.
pub fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The `InternalIP` of `node`, if its kubelet reports one.
pub fn node_internal_ip(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .addresses
        .iter()
        .find(|a| a.type_ == AddressType::InternalIp)
        .map(|a| a.address.as_str())
}
