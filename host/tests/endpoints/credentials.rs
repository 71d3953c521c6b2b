//! Endpoint credentials kept in a Kubernetes Secret of the host's cluster
//! (the embedded API server here), read once when the client is built; a
//! Secret that is missing or incomplete is an error naming it and the key,
//! never quoting what it holds.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use serde_json::json;
use wasmvisor_host::capability::endpoint::{
    ConnectError, CredentialsSource, EndpointConfig, connect_nsx, connect_vcenter,
};
use wasmvisor_host::manifest::Method;

use crate::embedded;
use crate::harness::{Sims, direct};

const NAMESPACE: &str = "wasmvisor-system";

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let data: BTreeMap<String, ByteString> =
        data.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect();
    Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

fn from_secret(config: &EndpointConfig, name: &str) -> EndpointConfig {
    EndpointConfig {
        credentials: CredentialsSource::Secret { namespace: NAMESPACE.into(), name: name.into() },
        ..config.clone()
    }
}

#[tokio::test]
async fn clients_read_their_credentials_from_a_secret() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (server, _clusters, client) = embedded::start(dir.path()).await;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&Default::default(), &namespace).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let (nsx_creds, vc_creds) = (&sims.nsx.credentials, &sims.vcenter.credentials);
    for (name, data) in [
        ("nsx", vec![("username", nsx_creds.username.as_str()), ("password", nsx_creds.password.as_str())]),
        ("vcenter", vec![("username", vc_creds.username.as_str()), ("password", vc_creds.password.as_str())]),
        ("half", vec![("username", "admin"), ("passwd", nsx_creds.password.as_str())]),
        ("blank", vec![("username", "admin"), ("password", "")]),
    ] {
        secrets.create(&Default::default(), &secret(name, &data)).await.unwrap();
    }

    let nsx =
        connect_nsx(&from_secret(&sims.nsx_config, "nsx"), Some(&client), &Default::default()).await.unwrap();
    let tier1s = direct(&*nsx, Method::Get, "/policy/api/v1/infra/tier-1s", None).await.unwrap();
    assert!(tier1s.body.contains("\"results\""), "NSX accepted the Secret's credentials: {}", tier1s.body);
    let vcenter =
        connect_vcenter(&from_secret(&sims.vcenter_config, "vcenter"), Some(&client), &Default::default())
            .await
            .unwrap();
    let vms = direct(&*vcenter, Method::Get, "/api/vcenter/vm", None).await.unwrap();
    assert_eq!(vms.body, "[]", "vCenter logged in with the Secret's credentials");

    let refused = |name: &'static str| {
        let (config, client) = (from_secret(&sims.nsx_config, name), client.clone());
        async move {
            match connect_nsx(&config, Some(&client), &Default::default()).await {
                Err(ConnectError::Credentials(e)) => e.to_string(),
                Err(other) => panic!("{name}: expected a credentials error, got {other}"),
                Ok(_) => panic!("{name}: expected a credentials error"),
            }
        }
    };
    let absent = refused("absent").await;
    assert!(absent.starts_with("reading credentials Secret wasmvisor-system/absent: 404 "), "{absent}");
    assert_eq!(refused("half").await, "credentials Secret wasmvisor-system/half: key password is missing");
    assert_eq!(refused("blank").await, "credentials Secret wasmvisor-system/blank: key password is empty");
    server.shutdown().await.unwrap();
}
