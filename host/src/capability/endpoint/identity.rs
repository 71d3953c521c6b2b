//! Plugin identity on NSX and vCenter objects: who made an object, and
//! whether the calling plugin may change it.
//!
//! Runs in the `nsx`/`vcenter` host function after the method/path rule has
//! matched and before the plugin's request is sent. Every lookup goes
//! through the same client as the request itself, with the host's
//! credentials; nothing of it is charged to or shown to the plugin.
//!
//! - **NSX**: every PATCH/PUT body of a Policy object carries the tag
//!   `{scope: "wasmvisor/plugin", tag: <plugin>}`. Tags are NSX's own
//!   ownership mechanism (NCP uses `ncp/cluster` the same way), they travel
//!   with the object and are searchable. A plugin cannot forge or drop it:
//!   the host rewrites any `wasmvisor/plugin` tag in a body.
//! - **vCenter**: a VM created through the host gets the tag named after the
//!   plugin in the category `wasmvisor/plugin`, attached right after the
//!   create. A tag rather than a folder, because placement stays the
//!   plugin's choice (vm-operator puts VMs in the namespace's folder) and the
//!   simulator, like vCenter's `/api`, cannot create folders; rather than a
//!   custom attribute, because those are not in the `/api` REST surface. The
//!   category and tag ids are chosen by the host
//!   (`urn:vmomi:InventoryServiceTag:wasmvisor-plugin-<name>:GLOBAL`), so the
//!   owner is read from one `list-attached-tags` call without looking ids up.
//!   Mutating tagging calls could forge or strip that identity, so they need
//!   a rule with `foreign = true`; `/api/session` belongs to the host alone.
//!
//! The invariant: a mutating call (PATCH, PUT, DELETE, POST) on an existing
//! object goes through only when the object carries the caller's identity or
//! the matching rule has `foreign = true`. The check and the call are two
//! requests, so a concurrent change in between is not caught (no NSX or
//! vCenter precondition covers tags); plugins never race on one object in
//! practice because one reconcile per object runs at a time.

use serde_json::{Value, json};
use wasmvisor_manifest::{HttpAccess, HttpRule, Method};

use super::request_target::RequestTarget;
use crate::capability::endpoint::{EndpointError, EndpointKind, HttpEndpoint, HttpRequest, HttpResponse};
use crate::capability::endpoint::{nsx, vcenter};

/// NSX tag scope (and vCenter tag category name) carrying the plugin's name.
pub const IDENTITY_SCOPE: &str = "wasmvisor/plugin";

/// The vCenter category holding one tag per plugin.
pub const VCENTER_CATEGORY_ID: &str = "urn:vmomi:InventoryServiceCategory:wasmvisor-plugin:GLOBAL";

const VCENTER_TAG_PREFIX: &str = "urn:vmomi:InventoryServiceTag:wasmvisor-plugin-";
const VCENTER_TAG_SUFFIX: &str = ":GLOBAL";
const VM_COLLECTION: &str = "/api/vcenter/vm";
/// How often the host tries to create its identity category or tag while
/// vCenter answers 5xx (the client's own retries come on top).
const CREATE_ATTEMPTS: u32 = 4;
/// The pause between those attempts.
const CREATE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// The vCenter tag id of `plugin`'s identity.
pub fn vcenter_tag_id(plugin: &str) -> String {
    format!("{VCENTER_TAG_PREFIX}{plugin}{VCENTER_TAG_SUFFIX}")
}

/// Whose an existing object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// There is no object at the path (a create, or a delete of nothing).
    Absent,
    /// It carries this plugin's identity.
    Plugin(String),
    /// It exists but carries no plugin identity (made outside wasmvisor).
    Unowned,
}

/// Why an identity check stopped a call.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Outside the plugin's reach; the reason completes `"<cap> <METHOD> <path>: "`.
    Denied(String),
    /// Looking the owner up failed.
    Failed(EndpointError),
}

/// What to do with the plugin's request once it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Send it as it is.
    Pass,
    /// NSX PATCH/PUT: make the body's identity tag `identity` (`None`: strip
    /// any), adding a `tags` list if the body has none when `always`.
    StampNsx { identity: Option<String>, always: bool },
    /// vCenter VM create: tag the new VM with the plugin's identity.
    TagNewVm,
}

/// The identity checks of one call.
pub(crate) struct Identity<'a> {
    pub(crate) kind: EndpointKind,
    pub(crate) plugin: &'a str,
    pub(crate) endpoint: &'a dyn HttpEndpoint,
}

fn mutating(method: Method) -> bool {
    !matches!(method, Method::Get)
}

fn without_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// A request that could attach, detach or rewrite a plugin identity, and
/// what it takes to send one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdentityRoute {
    /// Named in the refusal.
    what: &'static str,
    /// The naming rule must also have `foreign = true`: the request can
    /// reach other plugins' identities.
    foreign: bool,
}

/// Path prefixes whose writes touch identities: vCenter tags, categories
/// and their associations (both REST surfaces), NSX's bulk tag operations
/// and batch APIs.
const IDENTITY_PREFIXES: &[(EndpointKind, &str, &str)] = &[
    (EndpointKind::Vcenter, "/api/cis/tagging/", "tagging changes"),
    (EndpointKind::Vcenter, "/rest/com/vmware/cis/tagging/", "tagging changes"),
    (EndpointKind::Nsx, "/policy/api/v1/infra/tags/", "bulk tag operations"),
    (EndpointKind::Nsx, "/api/v1/batch", "batch requests"),
    (EndpointKind::Nsx, "/policy/api/v1/batch", "batch requests"),
];

/// NSX's hierarchical API: one PATCH/PUT of the root can rewrite any
/// child's tags, which the host stamps only on the root body.
const NSX_HIERARCHY_ROOT: &str = "/policy/api/v1/infra";

/// Whether `target` is identity-bearing for a `method` call, and how.
fn identity_route(kind: EndpointKind, method: Method, target: &RequestTarget) -> Option<IdentityRoute> {
    let path = target.path().trim_end_matches('/');
    let reads = target.action().is_some_and(|a| a.starts_with("list"));
    if mutating(method) && !reads {
        let prefixed = IDENTITY_PREFIXES
            .iter()
            .find(|(k, prefix, _)| *k == kind && (path.starts_with(prefix) || format!("{path}/") == *prefix));
        if let Some(&(_, _, what)) = prefixed {
            return Some(IdentityRoute { what, foreign: true });
        }
        let custom = path.split('/').any(|s| s.contains("custom-attribute") || s.contains("custom-field"));
        if kind == EndpointKind::Vcenter && custom {
            return Some(IdentityRoute { what: "custom attribute changes", foreign: true });
        }
        if kind == EndpointKind::Nsx
            && path == NSX_HIERARCHY_ROOT
            && matches!(method, Method::Patch | Method::Put)
        {
            return Some(IdentityRoute { what: "hierarchical API writes", foreign: true });
        }
    }
    if target.action().is_some() && !reads {
        return Some(IdentityRoute { what: "?action= requests", foreign: false });
    }
    None
}

/// Routes no grant opens: the sessions the host holds with its own
/// credentials (open one and the plugin has them; end one and the host is
/// logged out), and vCenter's vAPI JSON-RPC endpoint, whose body may name
/// any operation where no path rule or identity check can see it.
fn host_held(kind: EndpointKind, path: &str) -> Option<&'static str> {
    match kind {
        EndpointKind::Vcenter if vcenter::is_session_path(path) => {
            Some("the vCenter session belongs to the host")
        }
        EndpointKind::Vcenter if vcenter::is_json_rpc_path(path) => Some(
            "the vAPI JSON-RPC endpoint names its operation in the body, out of reach of path rules; use the REST paths",
        ),
        EndpointKind::Nsx if nsx::is_session_path(path) => Some("the NSX session belongs to the host"),
        _ => None,
    }
}

/// Calls no grant can open ([`host_held`]), and identity-bearing calls
/// no rule names: tagging, custom attributes, bulk and hierarchical writes
/// (these also need `foreign = true`), and any `?action=` form other than a
/// `list…` read. A rule names a route when its pattern has no `**`.
/// Returns the reason.
pub(crate) fn reserved(
    kind: EndpointKind,
    method: Method,
    target: &RequestTarget,
    rules: &[HttpRule],
) -> Option<String> {
    if let Some(reason) = host_held(kind, target.path()) {
        return Some(reason.into());
    }
    let route = identity_route(kind, method, target)?;
    let path = target.wire();
    let named = rules
        .iter()
        .any(|r| r.allows(method, &path) && r.path.names_routes() && (r.foreign || !route.foreign));
    if named {
        return None;
    }
    let foreign = if route.foreign { " with foreign = true" } else { "" };
    Some(format!(
        "{} can alter plugin identity; needs a rule naming the route (a path without '**'){foreign}",
        route.what
    ))
}

impl Identity<'_> {
    /// Decides whether the call may go and how to send it.
    pub(crate) async fn check(
        &self,
        method: Method,
        path: &str,
        access: HttpAccess,
    ) -> Result<Plan, Refusal> {
        if !mutating(method) {
            return Ok(Plan::Pass);
        }
        match self.kind {
            EndpointKind::Nsx => self.check_nsx(method, path, access).await,
            EndpointKind::Vcenter => self.check_vcenter(method, path, access).await,
        }
    }

    async fn check_nsx(&self, method: Method, path: &str, access: HttpAccess) -> Result<Plan, Refusal> {
        let owner = self.nsx_owner(path).await.map_err(Refusal::Failed)?;
        self.admit(&owner, access)?;
        let writes_body = matches!(method, Method::Patch | Method::Put);
        Ok(match owner {
            _ if !writes_body => Plan::Pass,
            Owner::Absent => Plan::StampNsx { identity: Some(self.plugin.to_owned()), always: true },
            // PUT replaces the whole object: the identity must be in the body.
            Owner::Plugin(owner) => Plan::StampNsx { identity: Some(owner), always: method == Method::Put },
            Owner::Unowned => Plan::StampNsx { identity: None, always: false },
        })
    }

    async fn check_vcenter(&self, method: Method, path: &str, access: HttpAccess) -> Result<Plan, Refusal> {
        let bare = without_query(path).trim_end_matches('/');
        if bare == VM_COLLECTION {
            return Ok(if method == Method::Post { Plan::TagNewVm } else { Plan::Pass });
        }
        let Some(vm) = bare.strip_prefix("/api/vcenter/vm/").and_then(|rest| rest.split('/').next()) else {
            // No identity model for other resources; the rule alone decides.
            return Ok(Plan::Pass);
        };
        let owner = self.vcenter_owner(vm).await.map_err(Refusal::Failed)?;
        self.admit(&owner, access)?;
        Ok(Plan::Pass)
    }

    fn admit(&self, owner: &Owner, access: HttpAccess) -> Result<(), Refusal> {
        match owner {
            Owner::Absent => Ok(()),
            Owner::Plugin(name) if name == self.plugin => Ok(()),
            _ if access == HttpAccess::Foreign => Ok(()),
            Owner::Plugin(name) => Err(Refusal::Denied(format!("object belongs to plugin {name:?}"))),
            Owner::Unowned => Err(Refusal::Denied(
                "object carries no plugin identity (not created through wasmvisor)".into(),
            )),
        }
    }

    async fn get(&self, path: String) -> Result<Option<HttpResponse>, EndpointError> {
        match self.endpoint.send(HttpRequest { method: Method::Get, path, body: None }).await {
            Ok(r) => Ok(Some(r)),
            Err(EndpointError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn nsx_owner(&self, path: &str) -> Result<Owner, EndpointError> {
        let Some(found) = self.get(without_query(path).to_owned()).await? else {
            return Ok(Owner::Absent);
        };
        let object: Value = serde_json::from_str(&found.body).unwrap_or(Value::Null);
        let tag = object
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|t| t.get("scope").and_then(Value::as_str) == Some(IDENTITY_SCOPE))
            .and_then(|t| t.get("tag").and_then(Value::as_str));
        Ok(tag.map_or(Owner::Unowned, |t| Owner::Plugin(t.to_owned())))
    }

    async fn vcenter_owner(&self, vm: &str) -> Result<Owner, EndpointError> {
        let list = HttpRequest {
            method: Method::Post,
            path: "/api/cis/tagging/tag-association?action=list-attached-tags".into(),
            body: Some(json!({"object_id": {"type": "VirtualMachine", "id": vm}}).to_string()),
        };
        let attached = self.endpoint.send(list).await?;
        let ids: Vec<String> = serde_json::from_str(&attached.body).unwrap_or_default();
        let owner = ids.iter().find_map(|id| {
            id.strip_prefix(VCENTER_TAG_PREFIX).and_then(|rest| rest.strip_suffix(VCENTER_TAG_SUFFIX))
        });
        if let Some(name) = owner {
            return Ok(Owner::Plugin(name.to_owned()));
        }
        Ok(match self.get(format!("{VM_COLLECTION}/{vm}")).await? {
            Some(_) => Owner::Unowned,
            None => Owner::Absent,
        })
    }

    /// After a successful call: tags a VM the plugin just created. Failing
    /// here leaves an untagged VM, so the error names it.
    pub(crate) async fn finish(&self, plan: &Plan, response: &HttpResponse) -> Result<(), EndpointError> {
        if *plan != Plan::TagNewVm {
            return Ok(());
        }
        let Ok(vm) = serde_json::from_str::<String>(&response.body) else {
            return Err(EndpointError::Internal(format!(
                "vCenter answered a VM create without a VM id; cannot tag it for plugin {:?}",
                self.plugin
            )));
        };
        self.tag_vm(&vm).await.map_err(|e| {
            EndpointError::Internal(format!(
                "VM {vm} was created but tagging it for plugin {:?} failed: {e}",
                self.plugin
            ))
        })
    }

    async fn tag_vm(&self, vm: &str) -> Result<(), EndpointError> {
        let tag_id = vcenter_tag_id(self.plugin);
        let attach = || HttpRequest {
            method: Method::Post,
            path: format!("/api/cis/tagging/tag-association/{tag_id}?action=attach"),
            body: Some(json!({"object_id": {"type": "VirtualMachine", "id": vm}}).to_string()),
        };
        match self.endpoint.send(attach()).await {
            Err(EndpointError::NotFound(_)) => {}
            other => return other.map(drop),
        }
        // First VM of this plugin: make the category and the tag, then attach.
        let category = json!({
            "name": IDENTITY_SCOPE, "category_id": VCENTER_CATEGORY_ID, "cardinality": "SINGLE",
            "description": "The wasmvisor plugin that created the object", "associable_types": ["VirtualMachine"],
        });
        self.create_once("/api/cis/tagging/category", category).await?;
        let tag = json!({
            "name": self.plugin, "category_id": VCENTER_CATEGORY_ID, "tag_id": tag_id,
            "description": format!("Created by wasmvisor plugin {}", self.plugin),
        });
        self.create_once("/api/cis/tagging/tag", tag).await?;
        self.endpoint.send(attach()).await.map(drop)
    }

    /// Creates something (with a host-chosen id) that another call may have
    /// created already. The client does not repeat a POST after a 5xx, but
    /// this one may repeat: a create that did land answers `conflict` the
    /// second time, which is success here.
    async fn create_once(&self, path: &str, body: Value) -> Result<(), EndpointError> {
        let request =
            || HttpRequest { method: Method::Post, path: path.into(), body: Some(body.to_string()) };
        let mut attempts = CREATE_ATTEMPTS;
        loop {
            attempts -= 1;
            match self.endpoint.send(request()).await {
                Ok(_) | Err(EndpointError::Conflict(_)) => return Ok(()),
                Err(EndpointError::Unavailable(_)) if attempts > 0 => {
                    tokio::time::sleep(CREATE_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Applies an NSX stamp to a request body. A body the host cannot read
/// as a JSON object with a `tags` list (not JSON, nested deeper than
/// serde_json's 128 levels, `tags` of another type) is refused: sent as it
/// is, it would carry whatever identity tags the plugin wrote.
pub(crate) fn stamp(plan: &Plan, body: Option<String>) -> Result<Option<String>, String> {
    let Plan::StampNsx { identity, always } = plan else { return Ok(body) };
    let mut object = match body.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        None if *always => serde_json::Map::new(),
        None => return Ok(body),
        Some(Ok(_)) => return Err("the request body is not a JSON object".into()),
        Some(Err(e)) => return Err(format!("the request body is not JSON the host can read: {e}")),
    };
    let tags = match object.get_mut("tags") {
        Some(Value::Array(tags)) => tags,
        Some(_) => return Err("the request body's `tags` is not a list".into()),
        None if *always => object.entry("tags").or_insert_with(|| json!([])).as_array_mut().expect("a list"),
        None => return Ok(body),
    };
    tags.retain(|t| t.get("scope").and_then(Value::as_str) != Some(IDENTITY_SCOPE));
    if let Some(identity) = identity {
        tags.push(json!({"scope": IDENTITY_SCOPE, "tag": identity}));
    }
    Ok(Some(Value::Object(object).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(name: &str, always: bool) -> Plan {
        Plan::StampNsx { identity: Some(name.into()), always }
    }

    fn tags(body: &Result<Option<String>, String>) -> Value {
        serde_json::from_str::<Value>(body.as_ref().unwrap().as_deref().unwrap()).unwrap()["tags"].clone()
    }

    #[test]
    fn stamp_adds_replaces_and_strips() {
        let created = stamp(&own("a", true), Some(r#"{"display_name":"s"}"#.into()));
        assert_eq!(tags(&created), json!([{"scope": "wasmvisor/plugin", "tag": "a"}]));

        let forged = r#"{"tags":[{"scope":"wasmvisor/plugin","tag":"b"},{"scope":"team","tag":"x"}]}"#;
        assert_eq!(
            tags(&stamp(&own("a", false), Some(forged.into()))),
            json!([{"scope": "team", "tag": "x"}, {"scope": "wasmvisor/plugin", "tag": "a"}])
        );
        let stripped = stamp(&Plan::StampNsx { identity: None, always: false }, Some(forged.into()));
        assert_eq!(tags(&stripped), json!([{"scope": "team", "tag": "x"}]));
    }

    #[test]
    fn patch_without_tags_keeps_the_stored_tags() {
        let body = Some(r#"{"display_name":"s"}"#.to_owned());
        assert_eq!(stamp(&own("a", false), body.clone()), Ok(body.clone()));
        assert_eq!(stamp(&Plan::Pass, body.clone()), Ok(body));
    }

    #[test]
    fn a_body_the_host_cannot_stamp_is_refused() {
        assert_eq!(
            stamp(&own("a", true), Some("[1]".into())),
            Err("the request body is not a JSON object".into())
        );
        let not_a_list = stamp(&own("a", true), Some(r#"{"tags":"x"}"#.into()));
        assert_eq!(not_a_list, Err("the request body's `tags` is not a list".into()));
        // Forged tags beside a value too deep to parse never go out as written.
        let deep = format!(
            r#"{{"tags":[{{"scope":"wasmvisor/plugin","tag":"b"}}],"x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let refused = stamp(&own("a", false), Some(deep)).unwrap_err();
        assert!(refused.contains("recursion limit exceeded"), "{refused}");
        assert_eq!(tags(&stamp(&own("a", true), None)), json!([{"scope": "wasmvisor/plugin", "tag": "a"}]));
    }

    fn rules(text: &str) -> Vec<HttpRule> {
        #[derive(serde::Deserialize)]
        struct Rules {
            rule: Vec<HttpRule>,
        }
        toml::from_str::<Rules>(text).unwrap().rule
    }

    /// Wide rules (`**`), with and without `foreign`: what a plugin that
    /// wants to forge ownership would ask for.
    const WIDE: &str = r#"
        [[rule]]
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        path = "/**"
        foreign = true
    "#;

    #[test]
    fn identity_bearing_routes_need_a_rule_that_names_them() {
        use EndpointKind::{Nsx, Vcenter};
        use Method::{Delete, Get, Patch, Post, Put};
        let wide = rules(WIDE);
        // (endpoint, method, path, a rule that names it, refused under WIDE)
        let cases: &[(EndpointKind, Method, &str, &str, bool)] = &[
            (
                Vcenter,
                Post,
                "/api/cis/tagging/tag-association/t?action=attach",
                "/api/cis/tagging/tag-association/*",
                true,
            ),
            (
                Vcenter,
                Post,
                "/api/cis/tagging/tag-association/t?action=detach",
                "/api/cis/tagging/tag-association/*",
                true,
            ),
            (
                Vcenter,
                Post,
                "/api/cis/tagging/tag-association?action=attach-multiple-tags-to-object",
                "/api/cis/tagging/tag-association",
                true,
            ),
            (Vcenter, Post, "/api/cis/tagging/tag", "/api/cis/tagging/tag", true),
            (Vcenter, Patch, "/api/cis/tagging/tag/t", "/api/cis/tagging/tag/*", true),
            (Vcenter, Delete, "/api/cis/tagging/tag/t", "/api/cis/tagging/tag/*", true),
            (Vcenter, Post, "/api/cis/tagging/category", "/api/cis/tagging/category", true),
            (Vcenter, Delete, "/api/cis/tagging/category/c", "/api/cis/tagging/category/*", true),
            (
                Vcenter,
                Post,
                "/rest/com/vmware/cis/tagging/tag-association/id:t?~action=attach",
                "/rest/com/vmware/cis/tagging/tag-association/*",
                true,
            ),
            (
                Vcenter,
                Post,
                "/rest/vcenter/vm/vm-1/custom-attributes",
                "/rest/vcenter/vm/*/custom-attributes",
                true,
            ),
            (Vcenter, Post, "/api/vcenter/vm/vm-1/power?action=start", "/api/vcenter/vm/*/power", true),
            (
                Nsx,
                Post,
                "/policy/api/v1/infra/tags/tag-operations/op",
                "/policy/api/v1/infra/tags/tag-operations/*",
                true,
            ),
            (Nsx, Post, "/api/v1/batch", "/api/v1/batch", true),
            (Nsx, Patch, "/policy/api/v1/infra", "/policy/api/v1/infra", true),
            (Nsx, Put, "/policy/api/v1/infra/", "/policy/api/v1/infra", true),
            (
                Nsx,
                Post,
                "/policy/api/v1/infra/segments/s1?action=revise",
                "/policy/api/v1/infra/segments/*",
                true,
            ),
            // Not identity-bearing: reads, list actions, ordinary objects.
            (Vcenter, Post, "/api/cis/tagging/tag-association?action=list-attached-tags", "", false),
            (Vcenter, Get, "/api/cis/tagging/tag/t", "", false),
            (Vcenter, Delete, "/api/vcenter/vm/vm-1", "", false),
            (Nsx, Patch, "/policy/api/v1/infra/segments/s1", "", false),
            (Nsx, Get, "/policy/api/v1/infra", "", false),
        ];
        for &(kind, method, path, naming, refused) in cases {
            let target = RequestTarget::parse(path).unwrap();
            assert_eq!(
                reserved(kind, method, &target, &wide).is_some(),
                refused,
                "{method} {path} under '/**'"
            );
            if refused {
                let named = rules(&format!(
                    "[[rule]]\nmethods = [\"{method}\"]\npath = \"{naming}\"\nforeign = true\n"
                ));
                assert_eq!(reserved(kind, method, &target, &named), None, "{method} {path} under {naming}");
            }
        }
    }

    #[test]
    fn tagging_needs_foreign_but_a_named_action_does_not() {
        let v = EndpointKind::Vcenter;
        let attach = RequestTarget::parse("/api/cis/tagging/tag-association/t?action=attach").unwrap();
        let own = rules("[[rule]]\nmethods = [\"POST\"]\npath = \"/api/cis/tagging/tag-association/*\"\n");
        let refused = reserved(v, Method::Post, &attach, &own).unwrap();
        assert_eq!(
            refused,
            "tagging changes can alter plugin identity; needs a rule naming the route (a path without '**') with foreign = true"
        );
        let power = RequestTarget::parse("/api/vcenter/vm/vm-1/power?action=start").unwrap();
        let own = rules("[[rule]]\nmethods = [\"POST\"]\npath = \"/api/vcenter/vm/*/power\"\n");
        assert_eq!(reserved(v, Method::Post, &power, &own), None);
    }

    #[test]
    fn the_vcenter_session_is_the_hosts_alone() {
        let session = RequestTarget::parse("/api/session").unwrap();
        let named =
            rules("[[rule]]\nmethods = [\"GET\", \"POST\"]\npath = \"/api/session\"\nforeign = true\n");
        assert!(reserved(EndpointKind::Vcenter, Method::Post, &session, &named).is_some());
        assert!(reserved(EndpointKind::Vcenter, Method::Get, &session, &named).is_some());
        assert!(reserved(EndpointKind::Nsx, Method::Post, &session, &named).is_none());
    }

    #[test]
    fn vcenter_tag_ids_round_trip() {
        let id = vcenter_tag_id("capw");
        assert_eq!(id, "urn:vmomi:InventoryServiceTag:wasmvisor-plugin-capw:GLOBAL");
        assert_eq!(
            id.strip_prefix(VCENTER_TAG_PREFIX).and_then(|r| r.strip_suffix(VCENTER_TAG_SUFFIX)),
            Some("capw")
        );
    }
}
