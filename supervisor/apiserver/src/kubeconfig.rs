//! The kubeconfig the server writes for kubectl and kube-rs: the server URL, the CA and
//! the admin token, in a file with mode 0600.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

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

/// Writes `bytes` to `path` with mode 0600: to a temporary sibling first, fsynced, then renamed.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
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

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        write_private(&path, b"x").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
