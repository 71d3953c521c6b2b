//! Capabilities: what a plugin may do through each host interface.
//!
//! The same types describe what a manifest asks for and what an operator
//! grants. Two questions are answered here, both fail-closed: does a grant
//! cover a request (checked at load, listing every gap), and does a set of
//! rules allow one concrete call (checked in the host function, right before
//! the client call).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::path_pattern::PathPattern;
use crate::sensitive;

/// A name that is either one value or `*` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Scope {
    /// `*`
    #[default]
    Any,
    /// Exactly this value.
    Named(String),
}

impl Scope {
    /// Whether `value` is inside this scope. A name also admits the names
    /// below it (`guests` admits `guests/ns/tkc-a`): that is how a grant for
    /// a dynamic cluster source covers the clusters it discovers.
    pub fn admits(&self, value: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Named(name) => {
                name == value || value.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }

    /// Whether everything `other` admits, `self` admits too.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Any, _) => true,
            (Scope::Named(a), Scope::Named(b)) => a == b,
            (Scope::Named(_), Scope::Any) => false,
        }
    }
}

impl From<String> for Scope {
    fn from(value: String) -> Self {
        if value == "*" { Scope::Any } else { Scope::Named(value) }
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> Self {
        value.to_string()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Any => f.write_str("*"),
            Scope::Named(name) => f.write_str(name),
        }
    }
}

/// The kube operations, named as the WIT functions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeVerb {
    /// `kube.get`
    Get,
    /// `kube.list`
    List,
    /// `kube.apply`
    Apply,
    /// `kube.apply-status`
    ApplyStatus,
    /// `kube.delete`
    Delete,
}

impl fmt::Display for KubeVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KubeVerb::Get => "get",
            KubeVerb::List => "list",
            KubeVerb::Apply => "apply",
            KubeVerb::ApplyStatus => "apply-status",
            KubeVerb::Delete => "delete",
        })
    }
}

/// How a rule writes [`Namespaces::Origin`].
pub const ORIGIN: &str = "$origin";

/// Which namespaces a kube rule reaches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Namespaces {
    /// Every namespace, cluster-scoped objects and all-namespace lists.
    #[default]
    All,
    /// Only these namespaces.
    Only(BTreeSet<String>),
    /// `["$origin"]`: only the namespace of the Secret that made the
    /// reconciled object's cluster a member of a dynamic source (a guest
    /// cluster's Supervisor namespace), decided per call by the host from
    /// the object being reconciled, never from what the plugin asks. A
    /// reconcile of an object in a static cluster reaches no namespace.
    Origin,
}

impl Namespaces {
    /// Whether a call in `namespace` is inside, for a reconcile whose object
    /// came from `origin` (see [`Namespaces::Origin`]); `None` (cluster-scoped
    /// or all namespaces) needs [`Namespaces::All`].
    pub fn admits(&self, namespace: Option<&str>, origin: Option<&str>) -> bool {
        match (self, namespace) {
            (Namespaces::All, _) => true,
            (Namespaces::Only(set), Some(ns)) => set.contains(ns),
            (Namespaces::Origin, Some(ns)) => origin == Some(ns),
            (Namespaces::Only(_) | Namespaces::Origin, None) => false,
        }
    }

    /// Whether a grant with these namespaces covers `wanted`, one entry of
    /// what a manifest asks (`None`: all namespaces; `Some(ORIGIN)`: the origin).
    fn covers(&self, wanted: Option<&str>) -> bool {
        match (self, wanted) {
            (Namespaces::All, _) => true,
            (Namespaces::Origin, Some(ns)) => ns == ORIGIN,
            (Namespaces::Only(set), Some(ns)) => ns != ORIGIN && set.contains(ns),
            (Namespaces::Only(_) | Namespaces::Origin, None) => false,
        }
    }
}

impl Serialize for Namespaces {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Namespaces::All => vec!["*"].serialize(s),
            Namespaces::Only(set) => set.serialize(s),
            Namespaces::Origin => vec![ORIGIN].serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Namespaces {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        if names.iter().any(|n| n == "*") {
            if names.len() > 1 {
                return Err(serde::de::Error::custom(
                    "namespaces: \"*\" already means every namespace; list names or \"*\" alone",
                ));
            }
            return Ok(Namespaces::All);
        }
        if names.iter().any(|n| n == ORIGIN) {
            if names.len() > 1 {
                return Err(serde::de::Error::custom(
                    "namespaces: \"$origin\" (the reconciled object's guest cluster namespace) stands alone",
                ));
            }
            return Ok(Namespaces::Origin);
        }
        if names.is_empty() {
            return Err(serde::de::Error::custom(
                "namespaces: empty list grants nothing; list names or use [\"*\"]",
            ));
        }
        Ok(Namespaces::Only(names.into_iter().collect()))
    }
}

impl fmt::Display for Namespaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Namespaces::All => f.write_str("all namespaces"),
            Namespaces::Only(set) => {
                let names: Vec<_> = set.iter().map(|n| format!("{n:?}")).collect();
                write!(f, "namespaces {}", names.join(", "))
            }
            Namespaces::Origin => f.write_str("the namespace the reconciled object's cluster comes from"),
        }
    }
}

/// Kube verbs on one kind in one cluster and some namespaces.
///
/// Which objects a rule reaches depends on the kind's scope, as the
/// cluster's discovery reports it (never on what the plugin passes): a
/// namespaced kind in [`KubeRule::namespaces`], a cluster-scoped kind only
/// with `cluster-scoped = true`, which lists no namespaces. Namespaces and
/// the RBAC kinds ([`sensitive`]) are reached only by name.
///
/// Inside what a rule reaches, each plugin keeps its own objects: an
/// `apply` never takes fields another plugin manages and never adds a
/// finalizer to an object another plugin manages, unless the rule says
/// `foreign = true` (as [`HttpRule::foreign`] for NSX and vCenter objects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KubeRuleFields", rename_all = "kebab-case")]
pub struct KubeRule {
    /// Cluster name from the host configuration, or `*` (the default).
    pub cluster: Scope,
    /// `apiVersion` of the kind, e.g. `v1`.
    pub api_version: String,
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// The operations.
    pub verbs: BTreeSet<KubeVerb>,
    /// Which namespaces (default: all) of a namespaced kind.
    pub namespaces: Namespaces,
    /// The kind is cluster-scoped and the rule reaches it (default false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cluster_scoped: bool,
    /// Only the objects of these names (default: any name; required for
    /// the kinds in [`sensitive`]). A list names no object, so it never
    /// matches a rule with names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<BTreeSet<String>>,
    /// Whether applies may take fields of, and add finalizers to, objects
    /// another plugin manages (default `false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub foreign: bool,
}

/// A kube rule as written, before [`KubeRule`]'s checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KubeRuleFields {
    #[serde(default)]
    cluster: Scope,
    api_version: String,
    kind: String,
    verbs: BTreeSet<KubeVerb>,
    #[serde(default)]
    namespaces: Option<Namespaces>,
    #[serde(default)]
    cluster_scoped: bool,
    #[serde(default)]
    names: Option<BTreeSet<String>>,
    #[serde(default)]
    foreign: bool,
}

impl TryFrom<KubeRuleFields> for KubeRule {
    type Error = String;

    fn try_from(f: KubeRuleFields) -> Result<Self, String> {
        let kind = format!("{}/{}", f.api_version, f.kind);
        if f.cluster_scoped && f.namespaces.as_ref().is_some_and(|n| *n != Namespaces::All) {
            return Err(format!(
                "kube rule for {kind}: a cluster-scoped rule reaches no namespace; drop `namespaces` or `cluster-scoped`"
            ));
        }
        if f.names.as_ref().is_some_and(BTreeSet::is_empty) {
            return Err(format!(
                "kube rule for {kind}: `names = []` reaches nothing; list names or drop `names`"
            ));
        }
        if sensitive::is_sensitive(&f.api_version, &f.kind) && f.names.is_none() {
            return Err(format!(
                "kube rule for {kind}: Namespaces and RBAC objects are reached only by name; add `names = [...]`"
            ));
        }
        Ok(KubeRule {
            cluster: f.cluster,
            api_version: f.api_version,
            kind: f.kind,
            verbs: f.verbs,
            namespaces: f.namespaces.unwrap_or_default(),
            cluster_scoped: f.cluster_scoped,
            names: f.names,
            foreign: f.foreign,
        })
    }
}

/// Where a kind's objects live, as the cluster's discovery says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ResourceScope {
    /// In namespaces.
    Namespaced,
    /// Cluster-wide.
    Cluster,
}

/// One concrete kube call, as the host function sees it.
#[derive(Debug, Clone, Copy)]
pub struct KubeCall<'a> {
    /// The operation.
    pub verb: KubeVerb,
    /// Cluster name.
    pub cluster: &'a str,
    /// `apiVersion`.
    pub api_version: &'a str,
    /// `kind`.
    pub kind: &'a str,
    /// The kind's scope, from discovery: what the client will address.
    pub scope: ResourceScope,
    /// Namespace of a namespaced kind; `None` for all-namespace calls.
    /// Ignored for a cluster-scoped kind.
    pub namespace: Option<&'a str>,
    /// The object's name; `None` for a list.
    pub name: Option<&'a str>,
    /// The namespace the reconciled object's cluster comes from, when it is
    /// a member of a dynamic source (see [`Namespaces::Origin`]).
    pub origin: Option<&'a str>,
}

impl KubeRule {
    /// Whether this rule allows `call`.
    pub fn allows(&self, call: &KubeCall<'_>) -> bool {
        self.verbs.contains(&call.verb)
            && self.cluster.admits(call.cluster)
            && self.api_version == call.api_version
            && self.kind == call.kind
            && match call.scope {
                ResourceScope::Cluster => self.cluster_scoped,
                ResourceScope::Namespaced => {
                    !self.cluster_scoped && self.namespaces.admits(call.namespace, call.origin)
                }
            }
            && self.names.as_ref().is_none_or(|names| call.name.is_some_and(|n| names.contains(n)))
    }

    fn covers_verb_in(&self, wanted: &KubeRule, verb: KubeVerb, namespace: Option<&str>) -> bool {
        self.verbs.contains(&verb)
            && self.cluster.covers(&wanted.cluster)
            && self.api_version == wanted.api_version
            && self.kind == wanted.kind
            && self.cluster_scoped == wanted.cluster_scoped
            && (self.foreign || !wanted.foreign)
            && (self.cluster_scoped || self.namespaces.covers(namespace))
            && match (&self.names, &wanted.names) {
                (None, _) => true,
                (Some(granted), Some(asked)) => asked.is_subset(granted),
                (Some(_), None) => false,
            }
    }
}

impl fmt::Display for KubeCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kube {} {}/{}", self.verb, self.api_version, self.kind)?;
        if let Some(name) = self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " in cluster {:?}", self.cluster)?;
        match (self.scope, self.namespace) {
            (ResourceScope::Cluster, _) => f.write_str(", cluster-scoped"),
            (ResourceScope::Namespaced, Some(ns)) => write!(f, ", namespace {ns:?}"),
            (ResourceScope::Namespaced, None) => f.write_str(", all namespaces"),
        }
    }
}

/// HTTP methods, as in the WIT `method` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Methods on the paths one pattern matches, for `nsx` or `vcenter`.
///
/// Objects a plugin creates through the host carry its identity (an NSX tag,
/// a vCenter tag), and a mutating call (PATCH, PUT, DELETE, POST) on an
/// existing object is allowed only when the object carries the caller's
/// identity. `foreign = true` lifts that: the rule then also reaches objects
/// of other plugins and objects created outside wasmvisor. A manifest rule
/// with `foreign` needs a grant rule with `foreign` covering it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    /// Allowed methods.
    pub methods: BTreeSet<Method>,
    /// Paths, e.g. `/policy/api/v1/infra/segments/*`.
    pub path: PathPattern,
    /// Whether mutating calls may reach objects that do not carry the
    /// plugin's identity (default `false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub foreign: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl HttpRule {
    /// Whether this rule allows `method` on the concrete `path` (for the
    /// plugin's own objects; see [`HttpRule::foreign`] for others').
    pub fn allows(&self, method: Method, path: &str) -> bool {
        self.methods.contains(&method) && self.path.matches(path)
    }

    /// Whether this rule, as a grant, covers `method` on every path of
    /// `wanted`, including its reach to foreign objects.
    fn covers(&self, method: Method, wanted: &HttpRule) -> bool {
        self.methods.contains(&method) && self.path.covers(&wanted.path) && (self.foreign || !wanted.foreign)
    }
}

impl fmt::Display for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods: Vec<_> = self.methods.iter().map(|m| m.as_str()).collect();
        write!(f, "{} {}", methods.join(","), self.path)?;
        if self.foreign {
            f.write_str(" (foreign objects too)")?;
        }
        Ok(())
    }
}

/// What a set of HTTP rules says about one concrete call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAccess {
    /// No rule allows the method on the path.
    Denied,
    /// Allowed on objects carrying the plugin's identity (and on new ones).
    OwnOnly,
    /// Allowed on any object: a matching rule has `foreign = true`.
    Foreign,
}

/// Checks one call against `rules`: the widest access any matching rule gives.
pub fn http_access(rules: &[HttpRule], method: Method, path: &str) -> HttpAccess {
    let mut access = HttpAccess::Denied;
    for rule in rules.iter().filter(|r| r.allows(method, path)) {
        if rule.foreign {
            return HttpAccess::Foreign;
        }
        access = HttpAccess::OwnOnly;
    }
    access
}

/// Everything a plugin may do, per host interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Kubernetes API rules.
    #[serde(default)]
    pub kube: Vec<KubeRule>,
    /// NSX Policy API rules.
    #[serde(default)]
    pub nsx: Vec<HttpRule>,
    /// vCenter REST API rules.
    #[serde(default)]
    pub vcenter: Vec<HttpRule>,
}

/// One capability a manifest asks for that a grant does not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A kube verb on a kind, in a namespace (or in all of them).
    Kube {
        /// The verb.
        verb: KubeVerb,
        /// Cluster scope asked for.
        cluster: Scope,
        /// `apiVersion`.
        api_version: String,
        /// `kind`.
        kind: String,
        /// The namespace not covered; `None` for all namespaces.
        namespace: Option<String>,
        /// Whether the rule asked for is for a cluster-scoped kind.
        cluster_scoped: bool,
        /// The object names asked for, if the rule names them.
        names: Option<BTreeSet<String>>,
    },
    /// An HTTP method on a path pattern of one endpoint.
    Http {
        /// `nsx` or `vcenter`.
        endpoint: &'static str,
        /// The method.
        method: Method,
        /// The pattern asked for.
        path: PathPattern,
        /// Whether the manifest asked to reach foreign objects.
        foreign: bool,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Kube { verb, cluster, api_version, kind, namespace, cluster_scoped, names } => {
                write!(f, "kube {verb} {api_version}/{kind} in cluster {cluster}")?;
                match (cluster_scoped, namespace) {
                    (true, _) => f.write_str(", cluster-scoped")?,
                    (false, Some(ns)) => write!(f, ", namespace {ns:?}")?,
                    (false, None) => f.write_str(", all namespaces")?,
                }
                if let Some(names) = names {
                    let names: Vec<_> = names.iter().map(|n| format!("{n:?}")).collect();
                    write!(f, ", names {}", names.join(", "))?;
                }
                Ok(())
            }
            Missing::Http { endpoint, method, path, foreign } => {
                write!(f, "{endpoint} {method} {path}")?;
                if *foreign {
                    f.write_str(" on foreign objects")?;
                }
                Ok(())
            }
        }
    }
}

impl Capabilities {
    /// Every capability in `wanted` that `self` (a grant) does not cover,
    /// one entry per verb/method and namespace, in a stable order.
    pub fn missing(&self, wanted: &Capabilities) -> Vec<Missing> {
        let mut missing = Vec::new();
        for rule in &wanted.kube {
            let namespaces: Vec<Option<&str>> = match &rule.namespaces {
                Namespaces::All => vec![None],
                Namespaces::Only(set) => set.iter().map(|n| Some(n.as_str())).collect(),
                Namespaces::Origin => vec![Some(ORIGIN)],
            };
            for &verb in &rule.verbs {
                for &namespace in &namespaces {
                    let covered = self.kube.iter().any(|g| g.covers_verb_in(rule, verb, namespace));
                    if !covered {
                        missing.push(Missing::Kube {
                            verb,
                            cluster: rule.cluster.clone(),
                            api_version: rule.api_version.clone(),
                            kind: rule.kind.clone(),
                            namespace: namespace.map(str::to_owned),
                            cluster_scoped: rule.cluster_scoped,
                            names: rule.names.clone(),
                        });
                    }
                }
            }
        }
        for (endpoint, granted, asked) in
            [("nsx", &self.nsx, &wanted.nsx), ("vcenter", &self.vcenter, &wanted.vcenter)]
        {
            for rule in asked {
                for &method in &rule.methods {
                    if !granted.iter().any(|g| g.covers(method, rule)) {
                        missing.push(Missing::Http {
                            endpoint,
                            method,
                            path: rule.path.clone(),
                            foreign: rule.foreign,
                        });
                    }
                }
            }
        }
        missing
    }

    /// The first kube rule that allows `call`, if any.
    pub fn allow_kube(&self, call: &KubeCall<'_>) -> Option<&KubeRule> {
        self.kube.iter().find(|r| r.allows(call))
    }

    /// Whether a kube rule allowing `call` also reaches objects other
    /// plugins manage ([`KubeRule::foreign`]).
    pub fn allow_kube_foreign(&self, call: &KubeCall<'_>) -> bool {
        self.kube.iter().any(|r| r.foreign && r.allows(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> Capabilities {
        toml::from_str(text).unwrap()
    }

    const GRANT: &str = r#"
        [[kube]]
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["get", "list", "apply"]
        namespaces = ["team-a", "team-b"]

        [[kube]]
        cluster = "supervisor"
        api-version = "v1"
        kind = "Node"
        verbs = ["get"]
        cluster-scoped = true

        [[nsx]]
        methods = ["GET", "PATCH"]
        path = "/policy/api/v1/infra/segments/*"
    "#;

    /// Kinds these tests treat as cluster-scoped, as discovery would.
    const CLUSTER_KINDS: &[&str] = &["Node", "Namespace", "ClusterRoleBinding"];

    fn call<'a>(verb: KubeVerb, kind: &'a str, ns: Option<&'a str>) -> KubeCall<'a> {
        let scope =
            if CLUSTER_KINDS.contains(&kind) { ResourceScope::Cluster } else { ResourceScope::Namespaced };
        let name = (verb != KubeVerb::List).then_some("x");
        KubeCall {
            verb,
            cluster: "supervisor",
            api_version: "v1",
            kind,
            scope,
            namespace: ns,
            name,
            origin: None,
        }
    }

    const ORIGIN_RULE: &str = r#"
        [[kube]]
        cluster = "supervisor"
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["apply"]
        namespaces = ["$origin"]
    "#;

    #[test]
    fn an_origin_rule_reaches_only_the_namespace_the_reconcile_comes_from() {
        let g = caps(ORIGIN_RULE);
        let from = |origin: Option<&'static str>, ns: Option<&'static str>| KubeCall {
            origin,
            ..call(KubeVerb::Apply, "ConfigMap", ns)
        };
        assert!(g.allow_kube(&from(Some("team-a"), Some("team-a"))).is_some());
        assert!(g.allow_kube(&from(Some("team-a"), Some("team-b"))).is_none(), "another guest's namespace");
        assert!(g.allow_kube(&from(None, Some("team-a"))).is_none(), "a static cluster has no origin");
        assert!(g.allow_kube(&from(Some("team-a"), None)).is_none(), "never all namespaces");
        assert!(g.allow_kube(&from(Some("$origin"), Some("team-b"))).is_none());
    }

    #[test]
    fn an_origin_rule_is_covered_by_an_origin_or_all_namespaces_grant_only() {
        let wanted = caps(ORIGIN_RULE);
        assert!(caps(ORIGIN_RULE).missing(&wanted).is_empty());
        assert!(caps(&ORIGIN_RULE.replace("[\"$origin\"]", "[\"*\"]")).missing(&wanted).is_empty());
        let named = caps(&ORIGIN_RULE.replace("[\"$origin\"]", "[\"team-a\"]"));
        assert_eq!(named.missing(&wanted).len(), 1, "a named namespace does not cover every origin");
        assert!(wanted.missing(&named).len() == 1, "nor the origin a named namespace");
        let mixed: Result<Capabilities, _> =
            toml::from_str(&ORIGIN_RULE.replace("[\"$origin\"]", "[\"$origin\", \"a\"]"));
        assert!(mixed.unwrap_err().to_string().contains("stands alone"));
    }

    #[test]
    fn kube_call_allowed_inside_rule() {
        let g = caps(GRANT);
        assert!(g.allow_kube(&call(KubeVerb::Get, "ConfigMap", Some("team-a"))).is_some());
        assert!(g.allow_kube(&call(KubeVerb::Get, "Node", None)).is_some());
    }

    #[test]
    fn kube_call_refused_outside_rule() {
        let g = caps(GRANT);
        assert!(g.allow_kube(&call(KubeVerb::Delete, "ConfigMap", Some("team-a"))).is_none());
        assert!(g.allow_kube(&call(KubeVerb::Get, "ConfigMap", Some("kube-system"))).is_none());
        assert!(g.allow_kube(&call(KubeVerb::List, "ConfigMap", None)).is_none());
        assert!(g.allow_kube(&call(KubeVerb::Get, "Secret", Some("team-a"))).is_none());
        let other_cluster = KubeCall { cluster: "guest-1", ..call(KubeVerb::Get, "Node", None) };
        assert!(g.allow_kube(&other_cluster).is_none());
        let lookalike = KubeCall { cluster: "supervisor-2", ..call(KubeVerb::Get, "Node", None) };
        assert!(g.allow_kube(&lookalike).is_none(), "a name admits only names below it, not prefixes");
    }

    #[test]
    fn a_cluster_name_admits_the_members_of_that_source() {
        let source = Scope::Named("guests".into());
        assert!(source.admits("guests"));
        assert!(source.admits("guests/ns/tkc-a-kubeconfig"));
        assert!(!source.admits("guests-2/ns/x"));
        assert!(!source.admits("guest"));
    }

    #[test]
    fn grant_covering_request_has_nothing_missing() {
        let wanted = caps(
            r#"
            [[kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get", "apply"]
            namespaces = ["team-a"]
            [[nsx]]
            methods = ["GET"]
            path = "/policy/api/v1/infra/segments/seg-1"
        "#,
        );
        assert_eq!(caps(GRANT).missing(&wanted), vec![]);
    }

    #[test]
    fn each_missing_capability_is_listed() {
        let wanted = caps(
            r#"
            [[kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get", "delete"]
            namespaces = ["team-a", "kube-system"]
            [[kube]]
            api-version = "v1"
            kind = "Node"
            verbs = ["get"]
            cluster-scoped = true
            [[nsx]]
            methods = ["GET", "DELETE"]
            path = "/policy/api/v1/infra/**"
        "#,
        );
        let missing: Vec<String> = caps(GRANT).missing(&wanted).iter().map(|m| m.to_string()).collect();
        assert_eq!(
            missing,
            vec![
                r#"kube get v1/ConfigMap in cluster *, namespace "kube-system""#,
                r#"kube delete v1/ConfigMap in cluster *, namespace "kube-system""#,
                r#"kube delete v1/ConfigMap in cluster *, namespace "team-a""#,
                "kube get v1/Node in cluster *, cluster-scoped",
                "nsx GET /policy/api/v1/infra/**",
                "nsx DELETE /policy/api/v1/infra/**",
            ]
        );
    }

    #[test]
    fn namespace_lists_reject_star_mixed_with_names() {
        let err = toml::from_str::<Capabilities>(
            r#"
            [[kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
            namespaces = ["*", "a"]
        "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"*\" alone"), "{err}");
    }

    /// Rules of every shape, for the scope x kind table.
    const SCOPED: &str = r#"
        [[kube]]
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["get", "list"]
        namespaces = ["h06"]

        [[kube]]
        api-version = "v1"
        kind = "Node"
        verbs = ["get", "list"]
        namespaces = ["h06"]

        [[kube]]
        api-version = "v1"
        kind = "PersistentVolume"
        verbs = ["get", "list"]

        [[kube]]
        api-version = "storage.k8s.io/v1"
        kind = "StorageClass"
        verbs = ["get", "list"]
        cluster-scoped = true

        [[kube]]
        api-version = "v1"
        kind = "Namespace"
        verbs = ["get", "apply"]
        cluster-scoped = true
        names = ["h06"]
    "#;

    #[test]
    fn scope_by_kind_table() {
        use KubeVerb::{Apply, Get, List};
        use ResourceScope::{Cluster, Namespaced};
        let g = caps(SCOPED);
        /// (kind, api-version, scope from discovery, verb, namespace the plugin passes, name, allowed)
        type Case = (
            &'static str,
            &'static str,
            ResourceScope,
            KubeVerb,
            Option<&'static str>,
            Option<&'static str>,
            bool,
        );
        let cases: &[Case] = &[
            // A namespaced kind under a namespace list: inside it only.
            ("ConfigMap", "v1", Namespaced, Get, Some("h06"), Some("a"), true),
            ("ConfigMap", "v1", Namespaced, List, Some("h06"), None, true),
            ("ConfigMap", "v1", Namespaced, Get, Some("h07"), Some("a"), false),
            ("ConfigMap", "v1", Namespaced, List, None, None, false),
            // A cluster-scoped kind never matches a namespace list, whatever namespace the plugin names.
            ("Node", "v1", Cluster, Get, Some("h06"), Some("n1"), false),
            ("Node", "v1", Cluster, List, Some("h06"), None, false),
            ("Node", "v1", Cluster, Get, None, Some("n1"), false),
            // Nor a rule for all namespaces: cluster-scoped access needs a rule that says so.
            ("PersistentVolume", "v1", Cluster, Get, None, Some("pv"), false),
            ("PersistentVolume", "v1", Cluster, List, Some("h06"), None, false),
            ("StorageClass", "storage.k8s.io/v1", Cluster, Get, None, Some("fast"), true),
            ("StorageClass", "storage.k8s.io/v1", Cluster, List, Some("h06"), None, true),
            // A cluster-scoped rule never reaches a namespaced kind of the same name.
            ("StorageClass", "storage.k8s.io/v1", Namespaced, Get, Some("h06"), Some("fast"), false),
            // Sensitive kinds: by name only, never listed.
            ("Namespace", "v1", Cluster, Get, Some("h06"), Some("h06"), true),
            ("Namespace", "v1", Cluster, Apply, None, Some("h06"), true),
            ("Namespace", "v1", Cluster, Get, Some("h06"), Some("kube-system"), false),
            ("Namespace", "v1", Cluster, List, Some("h06"), None, false),
        ];
        for &(kind, api_version, scope, verb, namespace, name, allowed) in cases {
            let call = KubeCall {
                verb,
                cluster: "supervisor",
                api_version,
                kind,
                scope,
                namespace,
                name,
                origin: None,
            };
            assert_eq!(g.allow_kube(&call).is_some(), allowed, "{call}");
        }
    }

    #[test]
    fn sensitive_kinds_need_names_and_cluster_rules_no_namespaces() {
        let rule = |extra: &str, kind: &str, api_version: &str| {
            toml::from_str::<Capabilities>(&format!(
                "[[kube]]\napi-version = \"{api_version}\"\nkind = \"{kind}\"\nverbs = [\"get\"]\n{extra}"
            ))
        };
        let err =
            rule("cluster-scoped = true", "ClusterRoleBinding", "rbac.authorization.k8s.io/v1").unwrap_err();
        assert!(err.to_string().contains("only by name; add `names = [...]`"), "{err}");
        let err = rule("namespaces = [\"h06\"]", "Namespace", "v1").unwrap_err();
        assert!(err.to_string().contains("only by name"), "{err}");
        assert!(rule("cluster-scoped = true\nnames = [\"h06\"]", "Namespace", "v1").is_ok());
        let err = rule("cluster-scoped = true\nnamespaces = [\"h06\"]", "Node", "v1").unwrap_err();
        assert!(err.to_string().contains("reaches no namespace"), "{err}");
        let err = rule("names = []", "ConfigMap", "v1").unwrap_err();
        assert!(err.to_string().contains("reaches nothing"), "{err}");
    }

    #[test]
    fn grants_cover_scope_and_names_exactly() {
        let granted = caps(SCOPED);
        let asked = |extra: &str, kind: &str| {
            caps(&format!("[[kube]]\napi-version = \"v1\"\nkind = \"{kind}\"\nverbs = [\"get\"]\n{extra}"))
        };
        assert!(granted.missing(&asked("cluster-scoped = true\nnames = [\"h06\"]", "Namespace")).is_empty());
        let missing =
            granted.missing(&asked("cluster-scoped = true\nnames = [\"h06\", \"h07\"]", "Namespace"));
        assert_eq!(missing.len(), 1, "a name outside the grant");
        assert_eq!(
            missing[0].to_string(),
            r#"kube get v1/Namespace in cluster *, cluster-scoped, names "h06", "h07""#
        );
        assert_eq!(granted.missing(&asked("cluster-scoped = true", "PersistentVolume")).len(), 1);
        assert_eq!(granted.missing(&asked("", "PersistentVolume")).len(), 0);
    }

    const FOREIGN_GRANT: &str = r#"
        [[nsx]]
        methods = ["GET", "PATCH", "DELETE"]
        path = "/policy/api/v1/infra/segments/*"
        [[nsx]]
        methods = ["DELETE"]
        path = "/policy/api/v1/infra/tier-1s/*"
        foreign = true
    "#;

    #[test]
    fn http_access_table() {
        let g = caps(FOREIGN_GRANT);
        let cases = [
            // (method, path, expected)
            (Method::Get, "/policy/api/v1/infra/segments/s1", HttpAccess::OwnOnly),
            (Method::Delete, "/policy/api/v1/infra/segments/s1", HttpAccess::OwnOnly),
            (Method::Put, "/policy/api/v1/infra/segments/s1", HttpAccess::Denied),
            (Method::Delete, "/policy/api/v1/infra/tier-1s/t1", HttpAccess::Foreign),
            (Method::Patch, "/policy/api/v1/infra/tier-1s/t1", HttpAccess::Denied),
            (Method::Get, "/policy/api/v1/infra/lb-pools/p", HttpAccess::Denied),
            (Method::Get, "/policy/api/v1/infra/segments/../tier-1s/t1", HttpAccess::Denied),
        ];
        for (method, path, expected) in cases {
            assert_eq!(http_access(&g.nsx, method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn the_widest_matching_rule_wins() {
        let g = caps(
            r#"
            [[nsx]]
            methods = ["DELETE"]
            path = "/policy/api/v1/infra/**"
            [[nsx]]
            methods = ["DELETE"]
            path = "/policy/api/v1/infra/segments/*"
            foreign = true
        "#,
        );
        assert_eq!(
            http_access(&g.nsx, Method::Delete, "/policy/api/v1/infra/segments/s"),
            HttpAccess::Foreign
        );
        assert_eq!(
            http_access(&g.nsx, Method::Delete, "/policy/api/v1/infra/tier-1s/t"),
            HttpAccess::OwnOnly
        );
    }

    #[test]
    fn foreign_needs_a_foreign_grant() {
        let wanted = caps(
            r#"
            [[nsx]]
            methods = ["DELETE"]
            path = "/policy/api/v1/infra/segments/*"
            foreign = true
            [[nsx]]
            methods = ["DELETE"]
            path = "/policy/api/v1/infra/tier-1s/t1"
            foreign = true
        "#,
        );
        let missing: Vec<String> =
            caps(FOREIGN_GRANT).missing(&wanted).iter().map(|m| m.to_string()).collect();
        assert_eq!(missing, vec!["nsx DELETE /policy/api/v1/infra/segments/* on foreign objects"]);
    }

    #[test]
    fn a_foreign_grant_covers_own_only_requests() {
        let wanted = caps("[[nsx]]\nmethods = [\"DELETE\"]\npath = \"/policy/api/v1/infra/tier-1s/t9\"");
        assert!(caps(FOREIGN_GRANT).missing(&wanted).is_empty());
    }

    #[test]
    fn foreign_shows_in_the_rule_and_round_trips() {
        let g = caps(FOREIGN_GRANT);
        assert_eq!(g.nsx[1].to_string(), "DELETE /policy/api/v1/infra/tier-1s/* (foreign objects too)");
        assert_eq!(g.nsx[0].to_string(), "GET,PATCH,DELETE /policy/api/v1/infra/segments/*");
        let text = toml::to_string(&g).unwrap();
        assert_eq!(caps(&text), g);
        assert_eq!(text.matches("foreign").count(), 1, "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Capabilities>("[[nsx]]\nmethods=[\"GET\"]\npath=\"/a\"\nhost=\"x\"")
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `host`"), "{err}");
    }
}
