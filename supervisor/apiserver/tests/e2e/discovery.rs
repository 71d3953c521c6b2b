//! Aggregated discovery: what kubectl 1.32 asks for first, and reads when the server answers it.

use http_body_util::BodyExt;

use crate::support::TestServer;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

#[tokio::test]
async fn aggregated_discovery_is_served_and_kubectl_reads_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    for (path, group) in [("/api", ""), ("/apis", "rbac.authorization.k8s.io")] {
        let request = http::Request::builder()
            .uri(path)
            .header("accept", format!("{AGGREGATED},application/json"))
            .body(kube::client::Body::empty())?;
        let response = client.send(request).await?;
        assert_eq!(response.headers()["content-type"], AGGREGATED);
        let body: serde_json::Value =
            serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
        assert_eq!(body["kind"], "APIGroupDiscoveryList");
        assert!(body["items"].as_array().unwrap().iter().any(|g| g["metadata"]["name"] == group), "{path}");
    }
    let listed = server.kubectl().run(&["api-resources", "-o", "name"]).await?.ok()?;
    for name in [
        "serviceaccounts",
        "rolebindings.rbac.authorization.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
    ] {
        assert!(listed.lines().any(|l| l == name), "{name} missing from:\n{listed}");
    }
    Ok(())
}
