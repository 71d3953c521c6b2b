//! Bad requests get the right Status, and the server keeps serving afterwards.

use serde_json::json;

use crate::support::{TestServer, raw};

const CM: &str = "/api/v1/namespaces/default/configmaps";

/// method, path, content type, body, expected code, expected reason.
type Case = (&'static str, &'static str, &'static str, Vec<u8>, u16, &'static str);

#[tokio::test]
async fn each_kind_of_bad_input_gets_its_status() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    let good = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}}).to_string();

    let cases: Vec<Case> = vec![
        ("POST", CM, "application/json", b"{not json".to_vec(), 400, "BadRequest"),
        ("POST", CM, "application/json", b"[1,2]".to_vec(), 400, "BadRequest"),
        (
            "POST",
            CM,
            "application/json",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}).to_string().into_bytes(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            CM,
            "application/json",
            json!({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "a"}})
                .to_string()
                .into_bytes(),
            400,
            "BadRequest",
        ),
        ("POST", CM, "application/json", vec![b' '; 4 * 1024 * 1024], 413, "RequestEntityTooLarge"),
        ("POST", CM, "text/plain", good.clone().into_bytes(), 415, "UnsupportedMediaType"),
        ("POST", CM, "application/vnd.kubernetes.protobuf", good.clone().into_bytes(), 400, "BadRequest"),
        ("POST", CM, "application/yaml", good.clone().into_bytes(), 415, "UnsupportedMediaType"),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/ok",
            "application/apply-patch+cbor",
            b"{}".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
        // Server-side apply needs a field manager.
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/ok",
            "application/apply-patch+yaml",
            b"{}".to_vec(),
            422,
            "Invalid",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/ok?fieldManager=m",
            "application/apply-patch+yaml",
            b"data: [unclosed\n".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/ok?fieldManager=m&force=true",
            "application/merge-patch+json",
            b"{}".to_vec(),
            422,
            "Invalid",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/widgets",
            "application/json",
            good.clone().into_bytes(),
            404,
            "NotFound",
        ),
        ("GET", "/apis/nope.example.com/v1/things", "application/json", vec![], 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/configmaps/missing", "application/json", vec![], 404, "NotFound"),
        ("PUT", CM, "application/json", good.clone().into_bytes(), 405, "MethodNotAllowed"),
        (
            "POST",
            "/api/v1/configmaps",
            "application/json",
            good.clone().into_bytes(),
            405,
            "MethodNotAllowed",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b",
            "application/json",
            vec![],
            400,
            "BadRequest",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?resourceVersion=abc",
            "application/json",
            vec![],
            400,
            "BadRequest",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?continue=garbage",
            "application/json",
            vec![],
            400,
            "BadRequest",
        ),
        (
            "POST",
            CM,
            "application/json",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}})
                .to_string()
                .into_bytes(),
            422,
            "Invalid",
        ),
    ];
    for (method, path, content_type, body, code, reason) in cases {
        let response = raw(&client, method, path, content_type, body).await?;
        assert_eq!(response.status, code, "{method} {path} ({content_type}): {}", response.body);
        assert_eq!(response.body["kind"], "Status", "{method} {path}");
        assert_eq!(response.body["code"], code, "{method} {path}");
        assert_eq!(response.body["reason"], reason, "{method} {path}: {}", response.body);
    }

    // Unknown fields: refused with fieldValidation=Strict, dropped with a Warning otherwise.
    let typo =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"}, "datax": {"a": "b"}});
    let strict = raw(
        &client,
        "POST",
        &format!("{CM}?fieldValidation=Strict"),
        "application/json",
        typo.to_string().into_bytes(),
    )
    .await?;
    assert_eq!(
        (strict.status, strict.body["message"].as_str()),
        (400, Some("strict decoding error: unknown field \"datax\""))
    );
    let warned = raw(&client, "POST", CM, "application/json", typo.to_string().into_bytes()).await?;
    assert_eq!(warned.status, 201);
    assert!(warned.body.get("datax").is_none());

    // Still serving, and still writing.
    let created = raw(&client, "POST", CM, "application/json", good.into_bytes()).await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let conflict = raw(
        &client,
        "PUT",
        &format!("{CM}/ok"),
        "application/json",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "resourceVersion": "1"}})
            .to_string()
            .into_bytes(),
    )
    .await?;
    assert_eq!((conflict.status, conflict.body["reason"].as_str()), (409, Some("Conflict")));
    let url_name = raw(
        &client,
        "PUT",
        &format!("{CM}/ok"),
        "application/json",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}})
            .to_string()
            .into_bytes(),
    )
    .await?;
    assert_eq!(url_name.status, 400);
    Ok(())
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let anonymous = server.anonymous_client()?;
    for path in ["/api/v1/namespaces", "/version", "/apis", "/openapi/v3"] {
        let response = raw(&anonymous, "GET", path, "application/json", vec![]).await?;
        assert_eq!(
            (response.status, response.body["reason"].as_str()),
            (401, Some("Unauthorized")),
            "{path}"
        );
    }
    let health = raw(&anonymous, "GET", "/healthz", "application/json", vec![]).await?;
    assert_eq!(health.status, 200);
    let client = server.client().await?;
    assert_eq!(raw(&client, "GET", "/api/v1/namespaces", "application/json", vec![]).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn kubeconfig_is_private_and_complete() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.kubeconfig())?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(server.kubeconfig())?)?;
    assert_eq!(doc["clusters"][0]["cluster"]["server"], format!("https://{}", server.running.addr()));
    assert_eq!(doc["users"][0]["user"]["token"], server.running.token());
    Ok(())
}

#[tokio::test]
async fn odd_shapes_never_get_5xx() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    const SVC: &str = "/api/v1/namespaces/default/services";
    let creates = [
        (CM, json!({"metadata": 5})),
        (CM, json!({"metadata": {"labels": 3, "annotations": [1]}})),
        (CM, json!({"metadata": {"name": "x"}, "data": [1, 2]})),
        (SVC, json!({"metadata": {"name": "s"}, "spec": "nope"})),
        (SVC, json!({"metadata": {"name": "s"}, "spec": {"ports": [80, null, "x"]}})),
        (SVC, json!({"metadata": {"name": "s"}, "spec": {"type": 7, "ports": {"port": 80}}})),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({"metadata": {"name": "x"}, "spec": {"versions": [1]}}),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({"metadata": {"name": "a.b.c"}, "spec": {"group": "b.c", "scope": "Cluster",
            "names": {"plural": "a", "kind": "A"}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": []}}]}}),
        ),
    ];
    for (path, body) in creates {
        let response = raw(&client, "POST", path, "application/json", body.to_string().into_bytes()).await?;
        assert!(
            (400..500).contains(&response.status),
            "{path} {body}: {} {}",
            response.status,
            response.body
        );
    }
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "target"}}).to_string();
    assert_eq!(raw(&client, "POST", CM, "application/json", ok.into_bytes()).await?.status, 201);
    let target = format!("{CM}/target");
    let patches = [
        ("application/json-patch+json", r#"[{"op": "replace", "path": "", "value": []}]"#),
        ("application/json-patch+json", r#"[{"op": "remove", "path": "/metadata"}]"#),
        ("application/json-patch+json", r#"{"op": "add"}"#),
        ("application/merge-patch+json", r#"{"metadata": null}"#),
        ("application/merge-patch+json", r#"{"metadata": {"name": "other"}}"#),
        ("application/merge-patch+json", r#"[1]"#),
        ("application/strategic-merge-patch+json", r#"{"$patch": "delete"}"#),
        ("application/strategic-merge-patch+json", r#"{"metadata": {"$bogus": 1}}"#),
    ];
    for (content_type, patch) in patches {
        // Some of these are legal (removing metadata leaves the server-owned fields in
        // place); none may be a server error, and the object must still be there.
        let response = raw(&client, "PATCH", &target, content_type, patch.as_bytes().to_vec()).await?;
        assert!(response.status < 500, "{content_type} {patch}: {} {}", response.status, response.body);
        let still = raw(&client, "GET", &target, "application/json", vec![]).await?;
        assert_eq!(still.body["metadata"]["name"], "target");
    }
    assert_eq!(raw(&client, "GET", &target, "application/json", vec![]).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn an_expired_continue_token_is_410_with_a_token_to_go_on() -> anyhow::Result<()> {
    use base64::Engine;
    let server = TestServer::start().await?;
    let client = server.client().await?;
    for name in ["a", "b", "c"] {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        assert_eq!(
            raw(&client, "POST", CM, "application/json", body.to_string().into_bytes()).await?.status,
            201
        );
    }
    // A token of a list at resourceVersion 1, which no page was read at and which is long past.
    let old = json!({"rv": 1, "ns": "default", "name": "a"}).to_string();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(old);
    let expired =
        raw(&client, "GET", &format!("{CM}?limit=1&continue={token}"), "application/json", vec![]).await?;
    assert_eq!((expired.status, expired.body["reason"].as_str()), (410, Some("Expired")), "{}", expired.body);
    let go_on = expired.body["metadata"]["continue"].as_str().unwrap_or_default();
    let rest =
        raw(&client, "GET", &format!("{CM}?limit=5&continue={go_on}"), "application/json", vec![]).await?;
    let names: Vec<&str> = rest.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["metadata"]["name"].as_str())
        .collect();
    assert_eq!((rest.status, names), (200, vec!["b", "c"]), "{}", rest.body);
    Ok(())
}
