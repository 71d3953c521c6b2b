//! Kube grants against cluster-scoped reach: the scope judged is the one
//! discovery reports (what the client will address), never the namespace
//! the plugin passes. A namespace list never reaches a cluster-scoped kind,
//! cluster-scoped access needs `cluster-scoped = true`, and Namespaces and
//! RBAC objects are reached only by name.

use serde_json::json;

use crate::fixture::{Host, assert_error, kube_get, probe_wearing};

const NODE_IN_NAMESPACE: &str = r#"
[[capabilities.kube]]
api-version = "v1"
kind = "Node"
verbs = ["get"]
namespaces = ["hostile"]

[[capabilities.kube]]
api-version = "example.com/v1"
kind = "Thing"
verbs = ["get"]
namespaces = ["hostile"]
"#;

fn with_node_and_thing(host: &Host) {
    host.kube
        .insert("default", json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}))
        .unwrap();
    host.kube.cluster_scoped("example.com/v1", "Thing");
    host.kube
        .insert(
            "default",
            json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t1"}}),
        )
        .unwrap();
}

#[tokio::test]
async fn a_namespace_list_never_reaches_a_cluster_scoped_kind() {
    let host = Host::new(&[(&probe_wearing(NODE_IN_NAMESPACE), "hostile.wasm")]);
    with_node_and_thing(&host);
    let seen = host
        .probe(json!([kube_get("v1/Node/hostile/n1"), kube_get("example.com/v1/Thing/hostile/t1")]))
        .await;
    assert_error(&seen[0], "forbidden", "kube get v1/Node \"n1\" in cluster \"default\", cluster-scoped");
    // A custom kind is judged by what discovery says of it, not by its name.
    assert_error(&seen[1], "forbidden", "example.com/v1/Thing \"t1\" in cluster \"default\", cluster-scoped");
    host.assert_responsive().await;
}

#[tokio::test]
async fn cluster_scoped_access_needs_a_rule_that_says_so() {
    let all_namespaces = "[[capabilities.kube]]\napi-version = \"v1\"\nkind = \"Node\"\nverbs = [\"get\"]\n";
    let host = Host::new(&[(&probe_wearing(all_namespaces), "hostile.wasm")]);
    with_node_and_thing(&host);
    let seen = host.probe(json!([kube_get("v1/Node/hostile/n1")])).await;
    assert_error(&seen[0], "forbidden", "cluster-scoped");

    let explicit = format!("{all_namespaces}cluster-scoped = true\n");
    let host = Host::new(&[(&probe_wearing(&explicit), "hostile.wasm")]);
    with_node_and_thing(&host);
    // Whatever namespace the plugin passes, the client addresses the Node cluster-wide.
    let seen = host.probe(json!([kube_get("v1/Node/hostile/n1")])).await;
    assert_eq!(seen[0]["status"], 200, "{}", seen[0]);
    assert!(seen[0]["body"].as_str().unwrap().contains("\"name\":\"n1\""), "{}", seen[0]);
    host.assert_responsive().await;
}

#[tokio::test]
async fn namespaces_and_rbac_kinds_are_reached_only_by_name() {
    let host = Host::new(&[]);
    for kind in ["ClusterRoleBinding", "RoleBinding", "ClusterRole"] {
        let escalation = format!(
            "[[capabilities.kube]]\napi-version = \"rbac.authorization.k8s.io/v1\"\nkind = \"{kind}\"\n\
             verbs = [\"get\", \"apply\"]\nnamespaces = [\"hostile\"]\n"
        );
        let refused = host.install(&probe_wearing(&escalation), "hostile.wasm").unwrap_err().to_string();
        assert!(refused.contains("reached only by name; add `names = [...]`"), "{refused}");
    }
    let all = "[[capabilities.kube]]\napi-version = \"v1\"\nkind = \"Namespace\"\nverbs = [\"get\"]\ncluster-scoped = true\n";
    let refused = host.install(&probe_wearing(all), "hostile.wasm").unwrap_err().to_string();
    assert!(
        refused.contains("v1/Namespace: Namespaces and RBAC objects are reached only by name"),
        "{refused}"
    );

    let named = format!("{all}names = [\"hostile\"]\n");
    host.install(&probe_wearing(&named), "hostile.wasm").unwrap();
    for ns in ["hostile", "kube-system"] {
        host.kube
            .insert("default", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    let seen = host
        .probe(json!([
            kube_get("v1/Namespace/hostile/hostile"),
            kube_get("v1/Namespace/hostile/kube-system")
        ]))
        .await;
    assert_eq!(seen[0]["status"], 200, "{}", seen[0]);
    assert_error(&seen[1], "forbidden", "v1/Namespace \"kube-system\"");
    host.assert_responsive().await;
}
