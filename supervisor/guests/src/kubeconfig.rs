//! The `<cluster>-kubeconfig` Secret, published the way Cluster API publishes it.
//!
//! In: a [`GuestPlan`] and the guest API server's CA and admin token. Out: the kubeconfig
//! text ([`render`]) and the Secret as a server-side apply body ([`secret`]). Invariant:
//! the server is always the control-plane endpoint (`https://<VIP>:6443`), never the VM's
//! address, so clients go through the load balancer as they would on vSphere.
//!
//! Shape (CAPI `util/kubeconfig` and `util/secret`): type `cluster.x-k8s.io/secret`, data
//! key `value`, label `cluster.x-k8s.io/cluster-name`, owned by the Cluster; the context is
//! `<cluster>-admin@<cluster>`. CAPI signs a client certificate for the admin; the
//! embedded API server authenticates bearer tokens, so the admin credential is its token.

use base64::Engine as _;
use serde_json::{Value, json};
use wasmvisor_chain_api::Resource as _;
use wasmvisor_chain_api::capi::{self, Cluster};
use wasmvisor_chain_api::labels::CAPI_CLUSTER_NAME;

use crate::topology::GuestPlan;

/// The port every guest API server listens on (and the VIP forwards).
pub const API_SERVER_PORT: u16 = 6443;
/// The Secret type Cluster API gives its secrets.
pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
/// The data key of the kubeconfig.
pub const SECRET_KEY: &str = "value";

/// `<cluster>-kubeconfig`.
pub fn secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// The admin kubeconfig of the guest `plan`: server `https://<endpoint>:6443`, the guest's
/// CA and admin token.
pub fn render(plan: &GuestPlan, ca_pem: &str, token: &str) -> String {
    let cluster = &plan.key.name;
    let user = format!("{cluster}-admin");
    let context = format!("{user}@{cluster}");
    let server = match plan.endpoint.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("https://[{}]:{API_SERVER_PORT}", plan.endpoint),
        Err(_) => format!("https://{}:{API_SERVER_PORT}", plan.endpoint),
    };
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string()) + "\n"
}

/// The Secret `<cluster>-kubeconfig` holding `kubeconfig`, owned by the Cluster.
pub fn secret(plan: &GuestPlan, kubeconfig: &str) -> Value {
    let value = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(&plan.key.name),
            "namespace": plan.key.namespace,
            "labels": {CAPI_CLUSTER_NAME: plan.key.name},
            "ownerReferences": [{
                "apiVersion": capi::API_VERSION,
                "kind": Cluster::KIND,
                "name": plan.key.name,
                "uid": plan.cluster_uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "type": SECRET_TYPE,
        "data": {SECRET_KEY: value},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::ClusterKey;

    fn plan() -> GuestPlan {
        GuestPlan {
            key: ClusterKey::new("tkgs-ns", "c1"),
            cluster_uid: "uid-1".into(),
            endpoint: "127.170.0.1".into(),
            control_plane_ip: "127.160.0.2".parse().unwrap(),
            nodes: Vec::new(),
        }
    }

    #[test]
    fn the_kubeconfig_points_at_the_vip_with_the_guest_ca_and_token() {
        let text = render(&plan(), "PEM", "tok");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.170.0.1:6443");
        assert_eq!(doc["clusters"][0]["cluster"]["certificate-authority-data"], "UEVN");
        assert_eq!(doc["users"][0]["user"]["token"], "tok");
        assert_eq!(doc["current-context"], "c1-admin@c1");
        assert_eq!(doc["contexts"][0]["context"]["user"], "c1-admin");
    }

    #[test]
    fn the_secret_is_shaped_like_cluster_apis() {
        let secret = secret(&plan(), "KUBECONFIG");
        assert_eq!(secret["metadata"]["name"], "c1-kubeconfig");
        assert_eq!(secret["metadata"]["namespace"], "tkgs-ns");
        assert_eq!(secret["type"], "cluster.x-k8s.io/secret");
        assert_eq!(secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"], "c1");
        assert_eq!(secret["data"]["value"], "S1VCRUNPTkZJRw==");
        let owner = &secret["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str(), owner["uid"].as_str()),
            (Some("Cluster"), Some("c1"), Some("uid-1"))
        );
        assert_eq!(owner["apiVersion"], capi::API_VERSION);
    }
}
