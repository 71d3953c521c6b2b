//! Which guest clusters should run, on which address, with which nodes: a pure function of
//! the Supervisor's VirtualMachines, Clusters and VSphereClusters.
//!
//! In: the current objects (from the watch caches of [`crate::supervise`]). Out: one
//! [`Fate`] per cluster that has anything left, and nothing for a cluster that is gone.
//! Invariant: level-based — the same objects always give the same plans, whatever order
//! they came in, so a missed or repeated event cannot leave a guest in the wrong state.
//!
//! The rules follow what a kubeadm-booted guest would do: a cluster's API server runs on
//! its first control-plane VM (oldest, then by name) once that VM is powered on with an
//! IP, behind the control-plane endpoint (the VIP) its Cluster or VSphereCluster names;
//! every VM that is powered on with an IP and a BIOS UUID and not being deleted joins as a
//! Node, as its kubelet would.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use wasmvisor_chain_api::capi::Cluster;
use wasmvisor_chain_api::capv::VSphereCluster;
#[cfg(test)]
use wasmvisor_chain_api::labels::ROLE_NODE;
use wasmvisor_chain_api::labels::{CAPV_CLUSTER_NAME, CAPV_CLUSTER_ROLE, ROLE_CONTROL_PLANE};
use wasmvisor_chain_api::names;
use wasmvisor_chain_api::vmop::{PowerState, VirtualMachine};
use wasmvisor_sdk::ObjectMeta;

/// A guest cluster: the namespace and name of its CAPI Cluster (and TKC).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterKey {
    /// The Supervisor namespace.
    pub namespace: String,
    /// The cluster's name.
    pub name: String,
}

impl ClusterKey {
    /// The cluster `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ClusterKey {
        ClusterKey { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One Node a VM makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// The Node's name: the VM's (= the Machine's).
    pub name: String,
    /// The VM's IP: the InternalIP, and where the node agent listens.
    pub ip: IpAddr,
    /// The VM's BIOS UUID (`spec.providerID = vsphere://<uuid>`).
    pub bios_uuid: String,
    /// Whether the VM is a control-plane machine.
    pub control_plane: bool,
    /// The kubelet version, from the VM image (`v1.23.8+vmware.3`); empty when unknown.
    pub kubelet_version: String,
}

impl NodePlan {
    /// `vsphere://<biosUUID>`, as CAPV writes it on the Machine.
    pub fn provider_id(&self) -> String {
        names::provider_id(&self.bios_uuid)
    }
}

/// A guest cluster that should be running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPlan {
    /// Which cluster.
    pub key: ClusterKey,
    /// The Cluster's uid, for the kubeconfig Secret's owner reference.
    pub cluster_uid: String,
    /// The control-plane endpoint host (the VIP): the kubeconfig's server and a
    /// certificate name.
    pub endpoint: String,
    /// The control-plane VM's IP: the API server listens on it, port 6443.
    pub control_plane_ip: IpAddr,
    /// The Nodes, sorted by name.
    pub nodes: Vec<NodePlan>,
}

/// Why a cluster with VMs has no running guest (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The Cluster has no control-plane endpoint yet (its load balancer has no VIP).
    Endpoint,
    /// No control-plane VM is powered on with an IP yet.
    ControlPlane,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Waiting::Endpoint => "waiting for the control-plane endpoint (VIP)",
            Waiting::ControlPlane => "waiting for a control-plane VM powered on with an IP",
        })
    }
}

/// What should become of a cluster that still has a Cluster object and VMs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Its guest API server runs as planned.
    Run(GuestPlan),
    /// Its guest does not run now but keeps its store: the cluster is coming up, or its
    /// control plane is down for a while.
    Wait(Waiting),
}

/// The plans for every cluster that has both a Cluster object and at least one VM. A
/// cluster absent from the result is gone: its guest stops and its store is removed.
pub fn plan(
    vms: &[VirtualMachine],
    clusters: &[Cluster],
    vsphere_clusters: &[VSphereCluster],
) -> BTreeMap<ClusterKey, Fate> {
    let mut by_cluster: BTreeMap<ClusterKey, Vec<&VirtualMachine>> = BTreeMap::new();
    for vm in vms {
        if let Some(cluster) = vm.metadata.labels.get(CAPV_CLUSTER_NAME) {
            let namespace = vm.metadata.namespace.clone().unwrap_or_default();
            by_cluster.entry(ClusterKey::new(namespace, cluster.clone())).or_default().push(vm);
        }
    }
    let mut fates = BTreeMap::new();
    for (key, mut members) in by_cluster {
        let Some(cluster) = clusters.iter().find(|c| is(&c.metadata, &key)) else { continue };
        let endpoint = cluster
            .spec
            .control_plane_endpoint
            .as_ref()
            .map(|e| e.host.clone())
            .filter(|h| !h.is_empty())
            .or_else(|| {
                vsphere_clusters
                    .iter()
                    .find(|v| is(&v.metadata, &key))
                    .map(|v| v.spec.control_plane_endpoint.host.clone())
                    .filter(|h| !h.is_empty())
            });
        members.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name)
                .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        let nodes: Vec<NodePlan> = members.iter().filter_map(|vm| node_of(vm)).collect();
        let first_control_plane = members
            .iter()
            .filter(|vm| is_control_plane(vm))
            .find_map(|vm| nodes.iter().find(|n| n.name == vm.metadata.name));
        let fate = match (endpoint, first_control_plane, cluster.metadata.uid.clone()) {
            (None, _, _) | (_, _, None) => Fate::Wait(Waiting::Endpoint),
            (Some(_), None, _) => Fate::Wait(Waiting::ControlPlane),
            (Some(endpoint), Some(control_plane), Some(cluster_uid)) => {
                let control_plane_ip = control_plane.ip;
                let mut nodes = nodes.clone();
                nodes.sort_by(|a, b| a.name.cmp(&b.name));
                Fate::Run(GuestPlan { key: key.clone(), cluster_uid, endpoint, control_plane_ip, nodes })
            }
        };
        fates.insert(key, fate);
    }
    fates
}

fn is(meta: &ObjectMeta, key: &ClusterKey) -> bool {
    meta.name == key.name && meta.namespace.as_deref() == Some(key.namespace.as_str())
}

fn is_control_plane(vm: &VirtualMachine) -> bool {
    vm.metadata.labels.get(CAPV_CLUSTER_ROLE).map(String::as_str) == Some(ROLE_CONTROL_PLANE)
}

/// The Node `vm` makes, if it is up: powered on, with an IP and a BIOS UUID, and not being
/// deleted (a VM being deleted is shut down first, and its kubelet with it).
pub fn node_of(vm: &VirtualMachine) -> Option<NodePlan> {
    if vm.is_being_deleted() {
        return None;
    }
    let status = vm.status.as_ref()?;
    if status.power_state != Some(PowerState::PoweredOn) {
        return None;
    }
    let ip = status.vm_ip.as_deref()?.parse().ok()?;
    let bios_uuid = status.bios_uuid.clone().filter(|u| !u.is_empty())?;
    Some(NodePlan {
        name: vm.metadata.name.clone(),
        ip,
        bios_uuid,
        control_plane: is_control_plane(vm),
        kubelet_version: kubelet_version(&vm.spec.image_name).unwrap_or_default(),
    })
}

/// The Kubernetes version a TKG image runs, from its name:
/// `ob-20953521-tkgs-ova-photon-3-v1.23.8---vmware.3-tkg.1` → `v1.23.8+vmware.3` (the
/// TKR's `---` stands for `+`, and `-tkg.N` is the release's own build).
pub fn kubelet_version(image_name: &str) -> Option<String> {
    let bytes = image_name.as_bytes();
    let start = (0..bytes.len()).find(|&i| {
        bytes[i] == b'v'
            && (i == 0 || bytes[i - 1] == b'-')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    })?;
    let version = &image_name[start..];
    let version = version.split("-tkg.").next().unwrap_or(version);
    Some(version.replacen("---", "+", 1))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vm(name: &str, role: &str, created: &str, status: serde_json::Value) -> VirtualMachine {
        serde_json::from_value(json!({
            "apiVersion": "vmoperator.vmware.com/v1alpha1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created,
                "labels": {CAPV_CLUSTER_NAME: "c1", CAPV_CLUSTER_ROLE: role}},
            "spec": {"imageName": "ob-20953521-tkgs-ova-photon-3-v1.23.8---vmware.3-tkg.1", "className": "best-effort-small"},
            "status": status,
        }))
        .unwrap()
    }

    fn up(ip: &str, uuid: &str) -> serde_json::Value {
        json!({"powerState": "poweredOn", "vmIp": ip, "biosUUID": uuid})
    }

    fn cluster(endpoint: Option<&str>) -> Cluster {
        let mut spec = json!({});
        if let Some(host) = endpoint {
            spec["controlPlaneEndpoint"] = json!({"host": host, "port": 6443});
        }
        serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "c1", "namespace": "ns", "uid": "uid-c1"}, "spec": spec}))
        .unwrap()
    }

    fn vsphere_cluster(host: &str) -> VSphereCluster {
        serde_json::from_value(json!({"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "VSphereCluster", "metadata": {"name": "c1", "namespace": "ns"},
            "spec": {"controlPlaneEndpoint": {"host": host, "port": 6443}}}))
        .unwrap()
    }

    fn key() -> ClusterKey {
        ClusterKey::new("ns", "c1")
    }

    fn run(fates: &BTreeMap<ClusterKey, Fate>) -> &GuestPlan {
        match fates.get(&key()) {
            Some(Fate::Run(plan)) => plan,
            other => panic!("not running: {other:?}"),
        }
    }

    #[test]
    fn one_control_plane_and_two_workers_make_three_nodes_on_the_control_planes_ip() {
        let vms = [
            vm("c1-w-b", ROLE_NODE, "2026-01-01T00:00:02Z", up("127.160.0.4", "u-wb")),
            vm("c1-cp", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", up("127.160.0.2", "u-cp")),
            vm("c1-w-a", ROLE_NODE, "2026-01-01T00:00:02Z", up("127.160.0.3", "u-wa")),
        ];
        let fates = plan(&vms, &[cluster(Some("127.170.0.1"))], &[]);
        let guest = run(&fates);
        assert_eq!(guest.control_plane_ip.to_string(), "127.160.0.2");
        assert_eq!(guest.endpoint, "127.170.0.1");
        assert_eq!(guest.cluster_uid, "uid-c1");
        let nodes: Vec<(&str, String, String, bool)> = guest
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.ip.to_string(), n.provider_id(), n.control_plane))
            .collect();
        assert_eq!(
            nodes,
            [
                ("c1-cp", "127.160.0.2".into(), "vsphere://u-cp".into(), true),
                ("c1-w-a", "127.160.0.3".into(), "vsphere://u-wa".into(), false),
                ("c1-w-b", "127.160.0.4".into(), "vsphere://u-wb".into(), false),
            ]
        );
        assert_eq!(guest.nodes[0].kubelet_version, "v1.23.8+vmware.3");
    }

    #[test]
    fn the_first_control_plane_is_the_oldest_one_that_is_up() {
        let vms = [
            vm("c1-cp-old", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", up("127.160.0.2", "u1")),
            vm("c1-cp-new", ROLE_CONTROL_PLANE, "2026-01-01T00:00:05Z", up("127.160.0.5", "u2")),
        ];
        let fates = plan(&vms, &[cluster(Some("127.170.0.1"))], &[]);
        assert_eq!(run(&fates).control_plane_ip.to_string(), "127.160.0.2");
        // The oldest is still booting: the next one that is up serves.
        let booting =
            vm("c1-cp-old", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", json!({"powerState": "poweredOn"}));
        let fates = plan(&[booting, vms[1].clone()], &[cluster(Some("127.170.0.1"))], &[]);
        assert_eq!(run(&fates).control_plane_ip.to_string(), "127.160.0.5");
    }

    #[test]
    fn vms_without_ip_uuid_or_power_or_being_deleted_make_no_node() {
        let mut deleting = vm("c1-w-d", ROLE_NODE, "2026-01-01T00:00:03Z", up("127.160.0.6", "u-d"));
        deleting.metadata.deletion_timestamp = Some("2026-01-01T00:01:00Z".into());
        let vms = [
            vm("c1-cp", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", up("127.160.0.2", "u-cp")),
            vm(
                "c1-w-noip",
                ROLE_NODE,
                "2026-01-01T00:00:02Z",
                json!({"powerState": "poweredOn", "biosUUID": "u"}),
            ),
            vm(
                "c1-w-nouuid",
                ROLE_NODE,
                "2026-01-01T00:00:02Z",
                json!({"powerState": "poweredOn", "vmIp": "127.160.0.7"}),
            ),
            vm(
                "c1-w-off",
                ROLE_NODE,
                "2026-01-01T00:00:02Z",
                json!({"powerState": "poweredOff", "vmIp": "127.160.0.8", "biosUUID": "u"}),
            ),
            deleting,
        ];
        let fates = plan(&vms, &[cluster(Some("127.170.0.1"))], &[]);
        let names: Vec<&str> = run(&fates).nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["c1-cp"]);
    }

    #[test]
    fn a_cluster_waits_for_its_endpoint_and_its_control_plane() {
        let cp = vm("c1-cp", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", up("127.160.0.2", "u-cp"));
        let worker = vm("c1-w", ROLE_NODE, "2026-01-01T00:00:02Z", up("127.160.0.3", "u-w"));
        let fates = plan(std::slice::from_ref(&cp), &[cluster(None)], &[]);
        assert_eq!(fates.get(&key()), Some(&Fate::Wait(Waiting::Endpoint)));
        // The VSphereCluster's endpoint serves until CAPI copies it to the Cluster.
        let fates = plan(std::slice::from_ref(&cp), &[cluster(None)], &[vsphere_cluster("127.170.0.9")]);
        assert_eq!(run(&fates).endpoint, "127.170.0.9");
        let fates = plan(&[worker], &[cluster(Some("127.170.0.1"))], &[]);
        assert_eq!(fates.get(&key()), Some(&Fate::Wait(Waiting::ControlPlane)));
    }

    #[test]
    fn a_cluster_without_its_cluster_object_or_without_vms_is_gone() {
        let cp = vm("c1-cp", ROLE_CONTROL_PLANE, "2026-01-01T00:00:01Z", up("127.160.0.2", "u-cp"));
        assert!(plan(&[cp], &[], &[]).is_empty());
        assert!(plan(&[], &[cluster(Some("127.170.0.1"))], &[]).is_empty());
    }

    #[test]
    fn kubelet_versions_come_from_the_image_name() {
        let cases = [
            ("ob-20953521-tkgs-ova-photon-3-v1.23.8---vmware.3-tkg.1", Some("v1.23.8+vmware.3")),
            (
                "ob-21552850-tkgs-ova-photon-3-v1.24.11---vmware.1-fips.1-tkg.1",
                Some("v1.24.11+vmware.1-fips.1"),
            ),
            ("v1.25.7---vmware.3-fips.1-tkg.1", Some("v1.25.7+vmware.3-fips.1")),
            ("photon-3-custom", None),
            ("", None),
        ];
        for (image, want) in cases {
            assert_eq!(kubelet_version(image).as_deref(), want, "{image}");
        }
    }
}
