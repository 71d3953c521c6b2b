//! What a kubelet registers for a VM: the Node object and its status, as server-side
//! apply bodies.
//!
//! In: a [`NodePlan`]. Out: the Node's spec part ([`node`]) and status part
//! ([`node_status`]), applied separately because Node has a status subresource. KWOK is
//! the model: a Node that is Ready with no heartbeat, addresses and node info filled in.
//! Invariant: the bodies depend only on the plan and `now`, so the same plan re-applied
//! at the same time is a no-op for the server.

use serde_json::{Value, json};

use crate::topology::NodePlan;

/// The field manager of everything written into a guest cluster (the kubelet's role).
pub const MANAGER: &str = "wasmvisor-guests";

/// The label every kubelet sets to its host name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// The role label kubeadm puts on control-plane nodes.
pub const CONTROL_PLANE_ROLE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// The Node object (metadata and spec) for `node`.
pub fn node(node: &NodePlan) -> Value {
    let mut labels = json!({
        HOSTNAME_LABEL: node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    });
    if node.control_plane {
        labels[CONTROL_PLANE_ROLE_LABEL] = json!("");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": {"providerID": node.provider_id()},
    })
}

/// The Node's status: Ready (as of `now`, RFC 3339), its addresses and node info.
pub fn node_status(node: &NodePlan, now: &str) -> Value {
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name},
        "status": {
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": node.ip.to_string()},
                {"type": "Hostname", "address": node.name},
            ],
            "nodeInfo": {
                "kubeletVersion": node.kubelet_version,
                "kubeProxyVersion": node.kubelet_version,
                "systemUUID": node.bios_uuid,
                "machineID": node.bios_uuid.replace('-', ""),
                "bootID": "",
                "osImage": "VMware Photon OS/Linux",
                "kernelVersion": "4.19.256-4.ph3-esx",
                "containerRuntimeVersion": "containerd://1.6.6",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(control_plane: bool) -> NodePlan {
        NodePlan {
            name: "c1-control-plane-abcde".into(),
            ip: "127.160.0.2".parse().unwrap(),
            bios_uuid: "bb7756fa-ef55-4572-8424-00d19189bc29".into(),
            control_plane,
            kubelet_version: "v1.23.8+vmware.3".into(),
        }
    }

    #[test]
    fn a_control_plane_node_has_the_role_label_and_the_provider_id() {
        let object = node(&plan(true));
        assert_eq!(object["metadata"]["labels"][HOSTNAME_LABEL], "c1-control-plane-abcde");
        assert_eq!(object["metadata"]["labels"][CONTROL_PLANE_ROLE_LABEL], "");
        assert_eq!(object["spec"]["providerID"], "vsphere://bb7756fa-ef55-4572-8424-00d19189bc29");
        let worker = node(&plan(false));
        assert!(worker["metadata"]["labels"].get(CONTROL_PLANE_ROLE_LABEL).is_none());
    }

    #[test]
    fn the_status_is_ready_with_the_vm_ip_and_host_name() {
        let status = node_status(&plan(false), "2026-01-02T03:04:05Z");
        let ready = status["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready");
        assert_eq!(ready.unwrap()["status"], "True");
        assert_eq!(
            status["status"]["addresses"],
            json!([{"type": "InternalIP", "address": "127.160.0.2"},
                {"type": "Hostname", "address": "c1-control-plane-abcde"}])
        );
        assert_eq!(status["status"]["nodeInfo"]["kubeletVersion"], "v1.23.8+vmware.3");
    }
}
