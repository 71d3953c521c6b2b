//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/{group}`, the resource lists,
//! and the OpenAPI v3 index kubectl reads before `apply`/`create`.
//!
//! In: the registry. Out: the discovery documents. `/api` and `/apis` answer with
//! aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`: every group,
//! version and resource in one response) when the client's Accept asks for it, as kubectl
//! 1.32 does, and with the legacy documents otherwise (kube-rs, older clients).
//!
//! OpenAPI v3: kubectl's `--validate=strict` (its default) checks the OpenAPI v3 document
//! of the object's group/version for a PATCH operation of that kind that takes the
//! `fieldValidation` parameter; if there is one it leaves validation to the server (which
//! refuses unknown fields of custom resources, see [`crate::pipeline`]). Without these
//! documents kubectl would refuse to create anything. The documents also carry the schemas
//! of custom resources (for `kubectl explain`), but no PATCH operation lists the strategic
//! merge patch media type, so kubectl's client-side apply keeps using JSON merge patch for
//! custom resources, as against a real server. Built-in kinds have no schemas here.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::context::Context;
use crate::registry::Registry;
use crate::resource::Resource;
use crate::status::ApiError;

/// The Kubernetes version this server claims to implement.
pub const KUBE_VERSION: (&str, &str) = ("1", "33");

fn json(value: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// `GET /version`.
pub async fn version() -> Response {
    let (major, minor) = KUBE_VERSION;
    json(&json!({
        "major": major, "minor": minor, "gitVersion": format!("v{major}.{minor}.0-wasmvisor"),
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }))
}

/// The media type of aggregated discovery, as clients ask for it in Accept.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.replace(' ', "") == AGGREGATED)
}

fn aggregated_resource(resource: &Resource) -> Value {
    let kind = |kind: &str| json!({"group": resource.group, "version": resource.version, "kind": kind});
    let mut subresources = Vec::new();
    if resource.status_subresource {
        subresources.push(json!({"subresource": "status", "responseKind": kind(&resource.kind), "verbs": ["get", "patch", "update"]}));
    }
    if is_service_accounts(resource) {
        subresources.push(json!({"subresource": "token",
            "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}, "verbs": ["create"]}));
    }
    let mut entry = json!({
        "resource": resource.plural, "responseKind": kind(&resource.kind),
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular, "verbs": resource.verbs(),
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}

fn is_service_accounts(resource: &Resource) -> bool {
    resource.group.is_empty() && resource.plural == "serviceaccounts"
}

/// The aggregated discovery document of the core group (`core`) or of all the others.
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> =
                        registry.resources_of(&g.name, v).iter().map(|r| aggregated_resource(r)).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g.name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_response(registry: &Registry, core: bool) -> Response {
    ([(header::CONTENT_TYPE, AGGREGATED)], aggregated(registry, core).to_string()).into_response()
}

/// `GET /api`.
pub async fn core_versions(State(ctx): State<Arc<Context>>, headers: axum::http::HeaderMap) -> Response {
    if wants_aggregated(&headers) {
        return aggregated_response(&ctx.registry, true);
    }
    json(&json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ctx.addr.to_string()}]}))
}

fn group_document(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

/// `GET /apis`.
pub async fn groups(State(ctx): State<Arc<Context>>, headers: axum::http::HeaderMap) -> Response {
    if wants_aggregated(&headers) {
        return aggregated_response(&ctx.registry, false);
    }
    let groups: Vec<Value> = ctx
        .registry
        .groups()
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| group_document(&g.name, &g.versions))
        .collect();
    json(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `GET /apis/{group}`.
pub fn group(registry: &Registry, name: &str) -> Result<Response, ApiError> {
    let group = registry
        .groups()
        .into_iter()
        .find(|g| g.name == name && !name.is_empty())
        .ok_or_else(ApiError::unknown_path)?;
    let mut doc = group_document(&group.name, &group.versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(json(&doc))
}

fn resource_entries(resource: &Resource) -> [Value; 3] {
    let main = json!({
        "name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
        "kind": resource.kind, "verbs": resource.verbs(), "shortNames": resource.short_names,
        "categories": resource.categories, "storageVersionHash": "",
    });
    let status = if resource.status_subresource {
        json!({"name": format!("{}/status", resource.plural), "singularName": "", "namespaced": resource.namespaced,
            "kind": resource.kind, "verbs": ["get", "patch", "update"]})
    } else {
        Value::Null
    };
    let token = if is_service_accounts(resource) {
        json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io",
            "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})
    } else {
        Value::Null
    };
    [main, status, token]
}

/// `GET /api/v1` and `GET /apis/{group}/{version}`.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Result<Response, ApiError> {
    let resources = registry.resources_of(group, version);
    if resources.is_empty() {
        return Err(ApiError::unknown_path());
    }
    let entries: Vec<Value> =
        resources.iter().flat_map(|r| resource_entries(r)).filter(|e| !e.is_null()).collect();
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Ok(json(
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}),
    ))
}

fn openapi_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `GET /openapi/v3`: the index of group/version documents.
pub async fn openapi_index(State(ctx): State<Arc<Context>>) -> Response {
    let mut paths = serde_json::Map::new();
    for group in ctx.registry.groups() {
        for version in &group.versions {
            let key = openapi_key(&group.name, version);
            // The hash changes when the served resources do, so clients refetch.
            let hash = fingerprint(&ctx.registry.resources_of(&group.name, version));
            paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}));
        }
    }
    json(&json!({"paths": paths}))
}

fn fingerprint(resources: &[Arc<Resource>]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for r in resources {
        for byte in format!("{}/{}/{}/{}", r.group, r.version, r.plural, r.kind).bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{hash:016X}")
}

/// `GET /openapi/v3/{api/v1 | apis/group/version}`: paths and parameters of each resource.
pub async fn openapi_group_version(State(ctx): State<Arc<Context>>, Path(rest): Path<String>) -> Response {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let (group, version) = match parts.as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return ApiError::unknown_path().into_response(),
    };
    let resources = ctx.registry.resources_of(group, version);
    if resources.is_empty() {
        return ApiError::unknown_path().into_response();
    }
    let mut paths = serde_json::Map::new();
    for resource in &resources {
        let prefix = format!("/{}", openapi_key(group, version));
        let collection = if resource.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural)
        } else {
            format!("{prefix}/{}", resource.plural)
        };
        let gvk = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
        let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let write_params = json!([param("dryRun"), param("fieldManager"), param("fieldValidation")]);
        let op = |action: &str, content: &[&str]| {
            let content: serde_json::Map<String, Value> =
                content.iter().map(|c| ((*c).to_owned(), json!({"schema": {"type": "object"}}))).collect();
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                "parameters": write_params, "requestBody": {"content": content},
                "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(collection.clone(), json!({"post": op("post", &["application/json"])}));
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "put": op("put", &["application/json"]),
                "patch": op("patch", &["application/json-patch+json", "application/merge-patch+json"]),
            }),
        );
        if resource.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({"patch": op("patch", &["application/json-patch+json", "application/merge-patch+json"])}),
            );
        }
    }
    let (major, minor) = KUBE_VERSION;
    json(
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
        "paths": paths, "components": {"schemas": schemas(&resources)}}),
    )
}

/// The schemas of custom resources (what `kubectl explain` reads), named like the real
/// server's: reversed group, version, kind (`com.example.v1.Widget`).
fn schemas(resources: &[Arc<Resource>]) -> serde_json::Map<String, Value> {
    let mut schemas = serde_json::Map::new();
    for resource in resources {
        let crate::resource::Strategy::Custom(version) = &resource.strategy else { continue };
        let Some(schema) = &version.schema else { continue };
        let mut schema = schema.clone();
        schema["x-kubernetes-group-version-kind"] =
            json!([{"group": resource.group, "version": resource.version, "kind": resource.kind}]);
        let group: Vec<&str> = resource.group.split('.').rev().collect();
        schemas.insert(format!("{}.{}.{}", group.join("."), resource.version, resource.kind), schema);
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(response: Response) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn resource_lists_carry_verbs_short_names_and_status() {
        let registry = Registry::with_builtins();
        let doc = body(resource_list(&registry, "", "v1").unwrap()).await;
        let services = doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == "services").unwrap();
        assert_eq!(services["shortNames"], json!(["svc"]));
        assert!(services["verbs"].as_array().unwrap().contains(&json!("watch")));
        assert!(doc["resources"].as_array().unwrap().iter().any(|r| r["name"] == "services/status"));
        assert!(resource_list(&registry, "nope.io", "v1").is_err());
    }

    #[test]
    fn aggregated_discovery_lists_every_resource_with_its_subresources() {
        let registry = Registry::with_builtins();
        let core = aggregated(&registry, true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        let v1 = &core["items"][0]["versions"][0];
        assert_eq!(
            (core["items"][0]["metadata"]["name"].as_str(), v1["version"].as_str()),
            (Some(""), Some("v1"))
        );
        let services =
            v1["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "services").unwrap();
        assert_eq!(services["scope"], "Namespaced");
        assert_eq!(services["responseKind"], json!({"group": "", "version": "v1", "kind": "Service"}));
        assert_eq!(services["subresources"][0]["subresource"], "status");
        let accounts =
            v1["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "serviceaccounts").unwrap();
        assert_eq!(accounts["subresources"][0]["responseKind"]["kind"], "TokenRequest");
        let groups = aggregated(&registry, false);
        let names: Vec<&str> = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["metadata"]["name"].as_str())
            .collect();
        assert!(names.contains(&"rbac.authorization.k8s.io") && !names.contains(&""), "{names:?}");
    }

    #[tokio::test]
    async fn group_documents_name_preferred_versions() {
        let registry = Registry::with_builtins();
        let doc = body(group(&registry, "coordination.k8s.io").unwrap()).await;
        assert_eq!(doc["preferredVersion"]["groupVersion"], "coordination.k8s.io/v1");
    }
}
