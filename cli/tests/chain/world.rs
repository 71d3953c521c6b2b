//! The simulated vCenter and NSX read through their own REST APIs (with the
//! endpoint settings `wasmvisor up` wrote to `DIR/host.toml`), never
//! through the status fields the chain writes: what the tests assert is
//! what a vSphere or NSX user would see.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use wasmvisor_host::capability::endpoint::{
    EndpointMetrics, HttpEndpoint, HttpRequest, connect_nsx, connect_vcenter,
};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::manifest::Method;

/// NSX tag scopes the chain's objects carry (ncp's `ids`).
pub(crate) const NAMESPACE_SCOPE: &str = "wasmvisor/namespace";
/// The guest cluster an NSX object serves.
pub(crate) const CLUSTER_SCOPE: &str = "wasmvisor/cluster";
/// The Kubernetes object an NSX object exists for, `Kind/namespace/name`.
pub(crate) const OWNER_SCOPE: &str = "wasmvisor/owner";

/// Clients for both simulators.
pub(crate) struct World {
    runtime: tokio::runtime::Runtime,
    nsx: Arc<dyn HttpEndpoint>,
    vcenter: Arc<dyn HttpEndpoint>,
}

/// A VM as vCenter shows it.
#[derive(Debug, Clone)]
pub(crate) struct Vm {
    /// Its name (the VirtualMachine's).
    pub(crate) name: String,
    /// `POWERED_ON`, …
    pub(crate) power_state: String,
    /// The guest IP Tools reports, if any.
    pub(crate) ip: Option<String>,
}

impl World {
    /// Connects to the simulators `up` in `dir` runs.
    pub(crate) fn connect(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join("host.toml")).expect("up wrote host.toml");
        let config = HostConfig::parse(&text).expect("host.toml parses");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (nsx, vcenter) = runtime.block_on(async {
            let nsx =
                connect_nsx(config.nsx.as_ref().expect("an NSX endpoint"), None, &EndpointMetrics::default())
                    .await
                    .unwrap();
            let vcenter = connect_vcenter(
                config.vcenter.as_ref().expect("a vCenter endpoint"),
                None,
                &EndpointMetrics::default(),
            )
            .await
            .unwrap();
            (nsx, vcenter)
        });
        Self { runtime, nsx, vcenter }
    }

    fn get(&self, endpoint: &Arc<dyn HttpEndpoint>, path: &str) -> Option<Value> {
        let request = HttpRequest { method: Method::Get, path: path.into(), body: None };
        match self.runtime.block_on(endpoint.send(request)) {
            Ok(response) => Some(serde_json::from_str(&response.body).unwrap_or(Value::Null)),
            Err(e) if e.to_string().starts_with("not found") => None,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Every object of an NSX collection (`/infra/segments`), all pages.
    pub(crate) fn nsx_list(&self, collection: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let query = if cursor.is_empty() { String::new() } else { format!("?cursor={cursor}") };
            let Some(page) = self.get(&self.nsx, &format!("/policy/api/v1{collection}{query}")) else {
                return all;
            };
            all.extend(page["results"].as_array().cloned().unwrap_or_default());
            match page["cursor"].as_str() {
                Some(next) if !next.is_empty() && !next.starts_with("0000") => cursor = next.to_owned(),
                _ => return all,
            }
        }
    }

    /// The objects of `collection` tagged `scope`=`tag`.
    pub(crate) fn nsx_tagged(&self, collection: &str, scope: &str, tag: &str) -> Vec<Value> {
        self.nsx_list(collection).into_iter().filter(|o| has_tag(o, scope, tag)).collect()
    }

    /// One NSX object by path, if it exists.
    pub(crate) fn nsx_get(&self, path: &str) -> Option<Value> {
        self.get(&self.nsx, &format!("/policy/api/v1{path}"))
    }

    /// The vCenter VMs whose names start with `prefix`, with their guest IPs.
    pub(crate) fn vms(&self, prefix: &str) -> Vec<Vm> {
        let listed = self.get(&self.vcenter, "/api/vcenter/vm").unwrap_or(Value::Null);
        let mut vms: Vec<Vm> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .map(|v| {
                let id = v["vm"].as_str().unwrap_or_default();
                let ip = self.guest_identity(id).and_then(|g| g["ip_address"].as_str().map(str::to_owned));
                Vm {
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    power_state: v["power_state"].as_str().unwrap_or_default().to_owned(),
                    ip,
                }
            })
            .collect();
        vms.sort_by(|a, b| a.name.cmp(&b.name));
        vms
    }

    fn guest_identity(&self, vm: &str) -> Option<Value> {
        let request = HttpRequest {
            method: Method::Get,
            path: format!("/api/vcenter/vm/{vm}/guest/identity"),
            body: None,
        };
        let response = self.runtime.block_on(self.vcenter.send(request)).ok()?;
        serde_json::from_str(&response.body).ok()
    }
}

/// Whether NSX object `object` carries the tag `scope`=`tag`.
pub(crate) fn has_tag(object: &Value, scope: &str, tag: &str) -> bool {
    object["tags"].as_array().into_iter().flatten().any(|t| t["scope"] == scope && t["tag"] == tag)
}
