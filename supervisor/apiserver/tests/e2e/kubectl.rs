//! The real kubectl against the server: apply (twice), wait, printer columns, get -w, patch
//! (merge, json, status), label/annotate, selectors, finalizers.

use std::time::Duration;

use anyhow::ensure;
use tokio::io::AsyncBufReadExt;

use crate::support::TestServer;

const CRD: &str = include_str!("../data/widget-crd.yaml");
const WIDGETS: &str = include_str!("../data/widgets.yaml");

fn json(text: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(text)?)
}

#[tokio::test]
async fn kubectl_drives_a_crd_through_its_life() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();

    let first = k.run_with_input(&["apply", "-f", "-"], CRD).await?.ok()?;
    assert_eq!(first.trim(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created");
    let second = k.run_with_input(&["apply", "-f", "-"], CRD).await?.ok()?;
    assert_eq!(second.trim(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged");
    let waited = k
        .run(&["wait", "--for=condition=established", "crd/widgets.example.com", "--timeout=20s"])
        .await?
        .ok()?;
    assert!(waited.contains("condition met"), "{waited}");

    let created = k.run_with_input(&["apply", "-f", "-"], WIDGETS).await?.ok()?;
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        ["widget.example.com/alpha created", "widget.example.com/beta created"]
    );
    let unchanged = k.run_with_input(&["apply", "-f", "-"], WIDGETS).await?.ok()?;
    assert!(unchanged.contains("alpha unchanged") && unchanged.contains("beta unchanged"), "{unchanged}");
    let changed =
        k.run_with_input(&["apply", "-f", "-"], &WIDGETS.replace("size: 3", "size: 4")).await?.ok()?;
    assert!(changed.contains("widget.example.com/alpha configured"), "{changed}");

    // kubectl explain reads the CRD's schema from the OpenAPI v3 document.
    let explained = k.run(&["explain", "widgets.spec.size"]).await?.ok()?;
    assert!(explained.contains("FIELD: size <integer>"), "{explained}");

    // Printer columns, short name, defaulting (color red).
    let table = k.run(&["get", "wd"]).await?.ok()?;
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "COLOR", "READY", "AGE"]);
    assert_eq!(&lines[1][..3], ["alpha", "4", "red"]);
    assert_eq!(&lines[2][..3], ["beta", "5", "blue"]);

    // Patches: merge, json, status subresource.
    k.run(&["patch", "widget", "alpha", "--type", "merge", "-p", r#"{"spec":{"color":"green"}}"#])
        .await?
        .ok()?;
    k.run(&[
        "patch",
        "widget",
        "alpha",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/size","value":7}]"#,
    ])
    .await?
    .ok()?;
    k.run(&[
        "patch",
        "widget",
        "alpha",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ])
    .await?
    .ok()?;
    // Custom resources take no strategic merge patch, as on a real server (415).
    let strategic =
        k.run(&["patch", "widget", "alpha", "--type", "strategic", "-p", r#"{"spec":{"size":9}}"#]).await?;
    assert!(
        !strategic.success
            && strategic.stderr.contains("accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        "{strategic:?}"
    );
    k.run(&["label", "widget", "alpha", "env=prod"]).await?.ok()?;
    k.run(&["annotate", "widget", "alpha", "note=hello"]).await?.ok()?;
    let alpha = json(&k.run(&["get", "widget", "alpha", "-o", "json"]).await?.ok()?)?;
    assert_eq!(alpha["spec"], serde_json::json!({"size": 7, "color": "green"}));
    assert_eq!(alpha["status"]["conditions"][0]["status"], "True");
    assert_eq!(alpha["metadata"]["labels"]["env"], "prod");
    assert_eq!(alpha["metadata"]["annotations"]["note"], "hello");
    // create(1) + apply(2) + merge(3) + json(4); status, label, annotate leave it alone.
    assert_eq!(alpha["metadata"]["generation"], 4);
    let ready = k.run(&["get", "wd", "alpha", "--no-headers"]).await?.ok()?;
    assert_eq!(ready.split_whitespace().nth(3), Some("True"));

    // describe reads the object and its events (field selectors on involvedObject).
    let described = k.run(&["describe", "widget", "alpha"]).await?.ok()?;
    assert!(described.contains("Name:         alpha") && described.contains("Events:"), "{described}");

    // Selectors.
    let by_label = k.run(&["get", "wd", "-l", "env in (prod),tier=front", "-o", "name"]).await?.ok()?;
    assert_eq!(by_label.trim(), "widget.example.com/alpha");
    let by_field =
        k.run(&["get", "wd", "--field-selector", "metadata.name=beta", "-o", "name"]).await?.ok()?;
    assert_eq!(by_field.trim(), "widget.example.com/beta");
    let bad_field = k.run(&["get", "wd", "--field-selector", "spec.size=1"]).await?;
    assert!(!bad_field.success && bad_field.stderr.contains("field label not supported"), "{bad_field:?}");

    // Validation and strict field validation.
    let invalid =
        k.run(&["patch", "widget", "alpha", "--type", "merge", "-p", r#"{"spec":{"size":0}}"#]).await?;
    assert!(invalid.stderr.contains("spec.size in body should be greater than or equal to 1"), "{invalid:?}");
    let unknown = k
        .run_with_input(
            &["apply", "-f", "-"],
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: gamma}\nspec: {size: 1, nope: 1}\n",
        )
        .await?;
    assert!(unknown.stderr.contains("strict decoding error: unknown field \"spec.nope\""), "{unknown:?}");

    // Delete with a finalizer held, then released.
    k.run(&[
        "patch",
        "widget",
        "beta",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])
    .await?
    .ok()?;
    k.run(&["delete", "widget", "beta", "--wait=false"]).await?.ok()?;
    let held = json(&k.run(&["get", "widget", "beta", "-o", "json"]).await?.ok()?)?;
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    k.run(&[
        "patch",
        "widget",
        "beta",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await?
    .ok()?;
    let gone = k.run(&["get", "widget", "beta"]).await?;
    assert!(!gone.success && gone.stderr.contains("widgets.example.com \"beta\" not found"), "{gone:?}");
    // A plain delete waits for the object to go.
    k.run(&["delete", "widget", "alpha", "--timeout=20s"]).await?.ok()?;
    let none = k.run(&["get", "wd", "-o", "name"]).await?.ok()?;
    ensure!(none.trim().is_empty(), "left over: {none}");

    // Deleting the CRD stops serving its kind and removes its objects.
    k.run_with_input(&["apply", "-f", "-"], WIDGETS).await?.ok()?;
    k.run(&["delete", "crd", "widgets.example.com"]).await?.ok()?;
    let unserved = k.run(&["get", "widgets.example.com"]).await?;
    assert!(!unserved.success && unserved.stderr.contains("doesn't have a resource type"), "{unserved:?}");
    k.run_with_input(&["apply", "-f", "-"], CRD).await?.ok()?;
    k.run(&["wait", "--for=condition=established", "crd/widgets.example.com", "--timeout=20s"])
        .await?
        .ok()?;
    let fresh = k.run(&["get", "widgets.example.com", "-o", "name"]).await?.ok()?;
    ensure!(fresh.trim().is_empty(), "objects of a deleted CRD came back: {fresh}");
    Ok(())
}

#[tokio::test]
async fn kubectl_get_watch_prints_changes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    k.run(&["create", "configmap", "watched", "--from-literal=a=1"]).await?.ok()?;
    let mut child = k.command(&["get", "configmaps", "-w", "--output-watch-events"]).spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let mut next_line = async || -> anyhow::Result<String> {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await??;
        line.ok_or_else(|| anyhow::anyhow!("kubectl get -w ended"))
    };
    // Header and the initial object.
    while !seen.iter().any(|l: &String| l.contains("watched")) {
        seen.push(next_line().await?);
    }
    assert!(seen[0].starts_with("EVENT") && seen[0].contains("NAME"), "{seen:?}");
    k.run(&["label", "configmap", "watched", "x=y"]).await?.ok()?;
    let modified = next_line().await?;
    assert!(modified.starts_with("MODIFIED") && modified.contains("watched"), "{modified}");
    k.run(&["delete", "configmap", "watched"]).await?.ok()?;
    let deleted = next_line().await?;
    assert!(deleted.starts_with("DELETED") && deleted.contains("watched"), "{deleted}");
    child.kill().await?;
    Ok(())
}

#[tokio::test]
async fn kubectl_builtin_kinds_and_discovery() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let namespaces = k.run(&["get", "ns", "-o", "name"]).await?.ok()?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(namespaces.contains(&format!("namespace/{ns}")), "{namespaces}");
    }
    k.run(&["create", "namespace", "team-a"]).await?.ok()?;
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: team-a}\nspec:\n  ports: [{name: http, port: 80}]\n";
    k.run_with_input(&["apply", "-f", "-"], service).await?.ok()?;
    let again =
        k.run_with_input(&["apply", "-f", "-"], &service.replace("port: 80", "port: 8080")).await?.ok()?;
    assert!(again.contains("service/web configured"), "{again}");
    let svc = json(&k.run(&["get", "svc", "web", "-n", "team-a", "-o", "json"]).await?.ok()?)?;
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    k.run(&["create", "service", "clusterip", "typed", "-n", "team-a", "--tcp=80:8080"]).await?.ok()?;
    let typed = json(&k.run(&["get", "svc", "typed", "-n", "team-a", "-o", "json"]).await?.ok()?)?;
    assert_eq!(typed["spec"]["ports"][0]["targetPort"], 8080);
    let described = k.run(&["describe", "svc", "typed", "-n", "team-a"]).await?.ok()?;
    assert!(described.contains("TargetPort:               8080/TCP"), "{described}");
    // The columns and cells kube-apiserver's printers give Services.
    let table = k.run(&["get", "svc", "-n", "team-a", "-o", "wide"]).await?.ok()?;
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]);
    let typed_ip = typed["spec"]["clusterIP"].as_str().unwrap_or("");
    let typed_row: Vec<&str> = rows.iter().find(|r| r[0] == "typed").cloned().unwrap_or_default();
    assert_eq!(
        [&typed_row[..5], &typed_row[6..]].concat(),
        ["typed", "ClusterIP", typed_ip, "<none>", "80/TCP", "app=typed"],
        "{table}"
    );
    let web_row: Vec<&str> = rows.iter().find(|r| r[0] == "web").cloned().unwrap_or_default();
    assert_eq!((web_row[4], web_row[6]), ("8080/TCP", "<none>"), "{table}");
    k.run(&["create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=password=hunter2"])
        .await?
        .ok()?;
    let secret = json(&k.run(&["get", "secret", "creds", "-n", "team-a", "-o", "json"]).await?.ok()?)?;
    assert_eq!(
        (secret["type"].as_str(), secret["data"]["password"].as_str()),
        (Some("Opaque"), Some("aHVudGVyMg=="))
    );
    let secrets = k.run(&["get", "secrets", "-n", "team-a"]).await?.ok()?;
    let rows: Vec<Vec<&str>> = secrets.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        (&rows[0][..], &rows[1][..3]),
        (&["NAME", "TYPE", "DATA", "AGE"][..], &["creds", "Opaque", "1"][..])
    );
    k.run(&["create", "configmap", "two-keys", "-n", "team-a", "--from-literal=a=1", "--from-literal=b=2"])
        .await?
        .ok()?;
    let maps = k.run(&["get", "configmaps", "two-keys", "-n", "team-a"]).await?.ok()?;
    let rows: Vec<Vec<&str>> = maps.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!((&rows[0][..], &rows[1][..2]), (&["NAME", "DATA", "AGE"][..], &["two-keys", "2"][..]));
    let resources = k.run(&["api-resources", "--no-headers"]).await?.ok()?;
    for expected in ["leases", "endpointslices", "customresourcedefinitions", "events"] {
        assert!(resources.contains(expected), "{resources}");
    }
    let version = k.run(&["version", "-o", "json"]).await?.ok()?;
    assert_eq!(json(&version)?["serverVersion"]["minor"], "33");
    let bad = k.run(&["create", "configmap", "Bad_Name"]).await?;
    assert!(!bad.success && bad.stderr.contains("metadata.name: Invalid value"), "{bad:?}");
    Ok(())
}

/// Nodes as a kubelet (or KWOK) registers them: cluster-scoped, status through `/status`,
/// printed as NAME STATUS ROLES AGE VERSION.
#[tokio::test]
async fn kubectl_get_nodes_prints_status_roles_and_version() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let node = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1",
        "labels": {"node-role.kubernetes.io/control-plane": ""}}, "spec": {"providerID": "vsphere://42"}}"#;
    k.run_with_input(&["apply", "-f", "-"], node).await?.ok()?;
    let status = r#"{"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        "addresses": [{"type": "InternalIP", "address": "127.160.0.2"}],
        "nodeInfo": {"kubeletVersion": "v1.23.8+vmware.3"}}}"#;
    k.run(&["patch", "node", "cp-1", "--subresource=status", "--type=merge", "-p", status]).await?.ok()?;

    let table = k.run(&["get", "no"]).await?.ok()?;
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], "{table}");
    assert_eq!(
        [lines[1][0], lines[1][1], lines[1][2], lines[1][4]],
        ["cp-1", "Ready", "control-plane", "v1.23.8+vmware.3"],
        "{table}"
    );
    let wide = k.run(&["get", "nodes", "-o", "wide"]).await?.ok()?;
    ensure!(wide.contains("INTERNAL-IP") && wide.contains("127.160.0.2"), "{wide}");
    Ok(())
}
