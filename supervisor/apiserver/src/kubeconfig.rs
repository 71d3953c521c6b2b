//! The kubeconfig the server writes for kubectl and kube-rs: the server URL, the CA and
//! the admin token, in a file with mode 0600 (written with [`wasmvisor_tls::write_private`]).

use std::net::SocketAddr;

use base64::Engine;
use serde_json::json;

/// Name of the cluster, user and context entries.
pub const CONTEXT: &str = "wasmvisor";

/// The kubeconfig document (JSON, which every YAML reader accepts).
pub fn render(addr: SocketAddr, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": format!("https://{addr}"), "certificate-authority-data": ca}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    match serde_json::to_string_pretty(&doc) {
        Ok(text) => text + "\n",
        Err(_) => doc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_carries_server_ca_and_token() {
        let text = render("127.0.0.1:6443".parse().unwrap(), "PEM", "tok");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(doc["clusters"][0]["cluster"]["certificate-authority-data"], "UEVN");
        assert_eq!(doc["users"][0]["user"]["token"], "tok");
    }
}
