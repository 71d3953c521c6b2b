//! A shadow of the probe beside the live probe, against both simulators
//! over HTTPS: the live plugin's NSX PATCH and vCenter POST reach the
//! simulators once, and the shadow, which asks the same, sends nothing to
//! either; its report says it did what the live plugin did.

use std::sync::{Arc, Mutex};

use serde_json::json;
use wasmvisor_host::capability::endpoint::{
    EndpointError, HttpEndpoint, HttpRequest, HttpResponse, connect_nsx, connect_vcenter,
};
use wasmvisor_host::manifest::{Method, section};
use wasmvisor_plugins::testing::PROBE;

use crate::faults::vm_spec;
use crate::harness::{Host, Sims, call, direct};

/// A host client that notes each request it sends.
struct Noted {
    client: Arc<dyn HttpEndpoint>,
    sent: Mutex<Vec<String>>,
}

impl Noted {
    fn sent(&self, method: Method, path: &str) -> usize {
        let line = format!("{method} {path}");
        self.sent.lock().unwrap().iter().filter(|s| **s == line).count()
    }
}

#[async_trait::async_trait]
impl HttpEndpoint for Noted {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError> {
        self.sent.lock().unwrap().push(format!("{} {}", request.method, request.path));
        self.client.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_sends_nothing_to_nsx_or_vcenter() {
    let sims = Sims::start().await;
    let noted = |client| Arc::new(Noted { client, sent: Mutex::new(Vec::new()) });
    let nsx = noted(connect_nsx(&sims.nsx_config, None, &Default::default()).await.unwrap());
    let vcenter = noted(connect_vcenter(&sims.vcenter_config, None, &Default::default()).await.unwrap());
    let host = Host::with(nsx.clone(), vcenter.clone());
    let candidate = section::embed(
        PROBE.bytes,
        &section::extract(PROBE.bytes).unwrap().replace("version = \"1.0.0\"", "version = \"1.0.1\""),
    )
    .unwrap();
    host.runtime.shadows().install(host.runtime.load(&candidate).unwrap());

    let segment = "/policy/api/v1/infra/segments/shadowed";
    let calls = json!([
        call("nsx", "PATCH", segment, Some(json!({"display_name": "shadowed"}))),
        call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("shadowed"))),
    ]);
    let seen = host.probe("shadowed", calls).await;
    assert_eq!(seen[0]["status"], 200, "{seen:?}");
    let shadows = host.runtime.shadows();
    let followed = async {
        loop {
            match shadows.report("probe") {
                Some(report) if report.same + report.different > 0 => return report,
                _ => tokio::task::yield_now().await,
            }
        }
    };
    let report = tokio::time::timeout(std::time::Duration::from_secs(30), followed)
        .await
        .expect("the shadow follows the live reconcile");
    assert_eq!((report.same, report.different), (1, 0), "{report:#?}");
    assert_eq!(nsx.sent(Method::Patch, segment), 1, "one PATCH, the live plugin's");
    assert_eq!(vcenter.sent(Method::Post, "/api/vcenter/vm"), 1, "one VM create, the live plugin's");
    let vms = direct(&*host.vcenter, Method::Get, "/api/vcenter/vm?names=shadowed", None).await.unwrap();
    let vms: serde_json::Value = serde_json::from_str(&vms.body).unwrap();
    assert_eq!(vms.as_array().map(Vec::len), Some(1), "no twin VM: {vms}");
}
