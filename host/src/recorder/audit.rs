//! `wasmvisor audit`: from the recordings, what each plugin used against
//! what it declared and was granted, and the smallest grant that covers
//! every recorded call.
//!
//! The proposal is built from the declared rules, never invented: each
//! rule some call went through is kept with only the verbs (methods) that
//! were used and, where it lists namespaces, only the namespaces that were
//! used; rules nothing went through are dropped. So it is never wider than
//! the manifest, and narrower wherever the manifest asked for more than the
//! plugin used. A plugin whose manifest declares the proposal, granted the
//! proposal, makes the same calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use wasmvisor_manifest::{
    Capabilities, HttpRule, KubeCall, KubeRule, KubeVerb, Manifest, Method, Namespaces, ResourceScope,
};

use super::record::{CallResult, HostCall, PluginId, Record};
use crate::capability::grant::{Grant, Grants};
use crate::rbac::{RbacOptions, generate};

/// A call as the capability check saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "interface")]
pub enum Use {
    /// A kube call.
    Kube {
        /// The verb.
        verb: KubeVerb,
        /// Cluster.
        cluster: String,
        /// API version.
        api_version: String,
        /// Kind.
        kind: String,
        /// The kind's scope, as discovery told the host's check.
        scope: ResourceScope,
        /// Namespace (none: cluster-scoped or all namespaces).
        namespace: Option<String>,
        /// The object's name (none for a list).
        name: Option<String>,
        /// The origin namespace of the reconcile, for `$origin` rules.
        origin: Option<String>,
    },
    /// An NSX or vCenter request.
    Http {
        /// `nsx` or `vcenter`.
        endpoint: String,
        /// Method.
        method: Method,
        /// Concrete path.
        path: String,
    },
}

impl std::fmt::Display for Use {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Use::Kube { verb, cluster, api_version, kind, namespace, .. } => {
                write!(f, "kube {verb} {api_version} {kind}")?;
                match namespace {
                    Some(ns) => write!(f, " in {ns}")?,
                    None => f.write_str(" (cluster-wide)")?,
                }
                write!(f, " on {cluster}")
            }
            Use::Http { endpoint, method, path } => write!(f, "{endpoint} {} {path}", method.as_str()),
        }
    }
}

/// The audit of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginAudit {
    /// Plugin name.
    pub plugin: String,
    /// Versions recorded.
    pub versions: Vec<String>,
    /// Calls of the plugin recorded.
    pub reconciles: usize,
    /// Distinct calls allowed, with how often.
    pub used: Vec<(String, usize)>,
    /// What the newest recorded manifest declares.
    pub declared: Capabilities,
    /// What the host config grants; `None` when the manifest is trusted as
    /// its grant (`trust-manifests`, as `wasmvisor up` runs).
    pub granted: Option<Capabilities>,
    /// Declared rules or verbs nothing used.
    pub unused_declared: Vec<String>,
    /// Granted rules or verbs nothing used.
    pub unused_granted: Vec<String>,
    /// The smallest grant covering every recorded call.
    pub proposal: Capabilities,
    /// Distinct denials, with how often.
    pub denials: Vec<(String, usize)>,
    /// The manifest the proposal narrows (for the RBAC of its watches).
    #[serde(skip)]
    pub manifest: Manifest,
}

impl PluginAudit {
    /// The proposal as a host-config `[plugins.NAME]` grant, the manifest's
    /// limits as ceilings.
    pub fn grant(&self) -> Grant {
        Grant { capabilities: self.proposal.clone(), source: None, limits: self.manifest.limits }
    }

    /// The proposal as host-config TOML.
    pub fn grant_toml(&self) -> String {
        let plugins = BTreeMap::from([(self.plugin.clone(), self.grant())]);
        let mut doc = toml::Table::new();
        doc.insert("plugins".to_owned(), toml::Value::try_from(plugins).expect("grants serialize"));
        toml::to_string(&doc).expect("a table serializes")
    }

    /// The RBAC `wasmvisor rbac` prints for the proposal.
    pub fn rbac_yaml(&self) -> String {
        let grants =
            Grants { plugins: BTreeMap::from([(self.plugin.clone(), self.grant())]), trust_manifests: false };
        generate(&grants, std::slice::from_ref(&self.manifest), &RbacOptions::default())
            .to_yaml()
            .unwrap_or_else(|e| format!("# {e}\n"))
    }

    /// The manifest with its capabilities narrowed to the proposal.
    pub fn narrowed_manifest(&self) -> Manifest {
        Manifest { capabilities: self.proposal.clone(), ..self.manifest.clone() }
    }
}

/// The calls of a record, as the capability check saw them; denials apart.
fn uses(record: &Record) -> (Vec<Use>, Vec<String>) {
    let mut used = Vec::new();
    let mut denied = Vec::new();
    for call in &record.calls {
        match &call.result {
            CallResult::Denied { what } => denied.push(format!("{}: {what}", call.interface)),
            CallResult::Limit { .. } => {}
            _ => used.extend(use_of(call, record.origin.as_deref())),
        }
    }
    (used, denied)
}

fn use_of(call: &HostCall, origin: Option<&str>) -> Option<Use> {
    let a = &call.args;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match call.interface.as_str() {
        "kube" => {
            let verb: KubeVerb = serde_json::from_value(Value::String(call.function.clone())).ok()?;
            let (cluster, api_version, kind, namespace, name) = match verb {
                KubeVerb::Get | KubeVerb::Delete => {
                    let t = a.get("target")?;
                    (
                        s(t.get("cluster"))?,
                        s(t.get("apiVersion"))?,
                        s(t.get("kind"))?,
                        s(t.get("namespace")),
                        s(t.get("name")),
                    )
                }
                KubeVerb::List => {
                    let k = a.get("kinds")?;
                    (
                        s(k.get("cluster"))?,
                        s(k.get("apiVersion"))?,
                        s(k.get("kind"))?,
                        s(k.get("namespace")),
                        None,
                    )
                }
                KubeVerb::Apply | KubeVerb::ApplyStatus => {
                    let o = a.get("object")?;
                    (
                        s(a.get("cluster"))?,
                        s(o.get("apiVersion"))?,
                        s(o.get("kind"))?,
                        s(o.pointer("/metadata/namespace")),
                        s(o.pointer("/metadata/name")),
                    )
                }
            };
            // The scope discovery gave the host's check; a call denied or
            // failed before discovery answered has none and counts as namespaced.
            let scope = match a.get("scope").and_then(Value::as_str) {
                Some("Cluster") => ResourceScope::Cluster,
                _ => ResourceScope::Namespaced,
            };
            let namespace = namespace.filter(|_| scope == ResourceScope::Namespaced);
            let origin = origin.map(str::to_owned);
            Some(Use::Kube { verb, cluster, api_version, kind, scope, namespace, name, origin })
        }
        endpoint @ ("nsx" | "vcenter") => Some(Use::Http {
            endpoint: endpoint.to_owned(),
            method: serde_json::from_value(a.get("method")?.clone()).ok()?,
            path: s(a.get("path"))?,
        }),
        _ => None,
    }
}

/// Which rule of `caps` each use went through: (interface, index) → verbs
/// or methods used, and namespaces used.
#[derive(Default)]
struct Coverage {
    kube: BTreeMap<usize, (BTreeSet<KubeVerb>, BTreeSet<String>)>,
    nsx: BTreeMap<usize, BTreeSet<Method>>,
    vcenter: BTreeMap<usize, BTreeSet<Method>>,
}

fn coverage(caps: &Capabilities, used: &BTreeMap<Use, usize>) -> Coverage {
    let mut c = Coverage::default();
    for u in used.keys() {
        match u {
            Use::Kube { verb, cluster, api_version, kind, scope, namespace, name, origin } => {
                let call = KubeCall {
                    verb: *verb,
                    cluster,
                    api_version,
                    kind,
                    scope: *scope,
                    namespace: namespace.as_deref(),
                    name: name.as_deref(),
                    origin: origin.as_deref(),
                };
                if let Some(i) = caps.kube.iter().position(|r| r.allows(&call)) {
                    let entry = c.kube.entry(i).or_default();
                    entry.0.insert(*verb);
                    entry.1.extend(namespace.clone());
                }
            }
            Use::Http { endpoint, method, path } => {
                let (rules, map) =
                    if endpoint == "nsx" { (&caps.nsx, &mut c.nsx) } else { (&caps.vcenter, &mut c.vcenter) };
                if let Some(i) = rules.iter().position(|r| r.allows(*method, path)) {
                    map.entry(i).or_default().insert(*method);
                }
            }
        }
    }
    c
}

fn kube_rule_name(r: &KubeRule) -> String {
    format!(
        "kube {} {} ({})",
        r.api_version,
        r.kind,
        r.verbs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )
}

/// What of `caps` nothing used, in words.
fn unused(caps: &Capabilities, c: &Coverage) -> Vec<String> {
    let mut out = Vec::new();
    for (i, rule) in caps.kube.iter().enumerate() {
        match c.kube.get(&i) {
            None => out.push(format!("{}: never used", kube_rule_name(rule))),
            Some((verbs, _)) => {
                let idle: Vec<String> = rule.verbs.difference(verbs).map(ToString::to_string).collect();
                if !idle.is_empty() {
                    out.push(format!("{}: {} never used", kube_rule_name(rule), idle.join(", ")));
                }
            }
        }
    }
    for (name, rules, map) in [("nsx", &caps.nsx, &c.nsx), ("vcenter", &caps.vcenter, &c.vcenter)] {
        for (i, rule) in rules.iter().enumerate() {
            let methods = |m: &BTreeSet<Method>| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
            match map.get(&i) {
                None => out.push(format!("{name} {} {}: never used", methods(&rule.methods), rule.path)),
                Some(used) => {
                    let idle: BTreeSet<Method> = rule.methods.difference(used).copied().collect();
                    if !idle.is_empty() {
                        out.push(format!(
                            "{name} {} {}: {} never used",
                            methods(&rule.methods),
                            rule.path,
                            methods(&idle)
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The declared rules narrowed to what was used.
fn propose(declared: &Capabilities, c: &Coverage) -> Capabilities {
    let kube = c
        .kube
        .iter()
        .map(|(&i, (verbs, namespaces))| {
            let rule = &declared.kube[i];
            let namespaces = match &rule.namespaces {
                Namespaces::Only(listed) => {
                    Namespaces::Only(listed.intersection(namespaces).cloned().collect())
                }
                other => other.clone(),
            };
            KubeRule { verbs: verbs.clone(), namespaces, ..rule.clone() }
        })
        .collect();
    let http = |rules: &[HttpRule], map: &BTreeMap<usize, BTreeSet<Method>>| -> Vec<HttpRule> {
        map.iter().map(|(&i, methods)| HttpRule { methods: methods.clone(), ..rules[i].clone() }).collect()
    };
    Capabilities { kube, nsx: http(&declared.nsx, &c.nsx), vcenter: http(&declared.vcenter, &c.vcenter) }
}

/// Audits `records` against the newest recorded manifest of each plugin
/// and, when given, the host config's grants.
pub fn audit(
    records: &[Record],
    manifests: &[(PluginId, Manifest)],
    grants: Option<&Grants>,
) -> Vec<PluginAudit> {
    let mut by_plugin: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_plugin.entry(&r.plugin.name).or_default().push(r);
    }
    let mut out = Vec::new();
    for (name, records) in by_plugin {
        // The newest version recorded decides what is declared.
        let newest = records.last().expect("grouped records are not empty");
        let Some((_, manifest)) = manifests.iter().find(|(id, _)| id.digest == newest.plugin.digest) else {
            continue;
        };
        let mut used: BTreeMap<Use, usize> = BTreeMap::new();
        let mut denials: BTreeMap<String, usize> = BTreeMap::new();
        for r in &records {
            let (u, d) = uses(r);
            u.into_iter().for_each(|u| *used.entry(u).or_default() += 1);
            d.into_iter().for_each(|d| *denials.entry(d).or_default() += 1);
        }
        let declared = manifest.capabilities.clone();
        let by_declared = coverage(&declared, &used);
        let granted = grants.and_then(|g| g.plugins.get(name)).map(|g| g.capabilities.clone());
        let unused_granted = granted.as_ref().map(|g| unused(g, &coverage(g, &used))).unwrap_or_default();
        let versions: BTreeSet<String> = records.iter().map(|r| r.plugin.version.clone()).collect();
        let mut shown: BTreeMap<String, usize> = BTreeMap::new();
        for (u, n) in &used {
            *shown.entry(u.to_string()).or_default() += n;
        }
        out.push(PluginAudit {
            plugin: name.to_owned(),
            versions: versions.into_iter().collect(),
            reconciles: records.len(),
            used: shown.into_iter().collect(),
            unused_declared: unused(&declared, &by_declared),
            unused_granted,
            proposal: propose(&declared, &by_declared),
            declared,
            granted,
            denials: denials.into_iter().collect(),
            manifest: manifest.clone(),
        });
    }
    out
}

/// The audit in words, with the proposal as TOML and as RBAC.
pub fn render(audits: &[PluginAudit]) -> String {
    if audits.is_empty() {
        return "no recorded reconciles in that window\n".to_owned();
    }
    let mut out = String::new();
    for a in audits {
        let _ = writeln!(
            out,
            "plugin {} ({}), {} reconciles recorded",
            a.plugin,
            a.versions.join(", "),
            a.reconciles
        );
        let _ = writeln!(out, "  used:");
        if a.used.is_empty() {
            let _ = writeln!(out, "    nothing");
        }
        for (u, n) in &a.used {
            let _ = writeln!(out, "    {u}  ×{n}");
        }
        let _ = writeln!(out, "  declared but unused:");
        list(&mut out, &a.unused_declared);
        match &a.granted {
            Some(_) => {
                let _ = writeln!(out, "  granted but unused:");
                list(&mut out, &a.unused_granted);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  granted: as declared (no [plugins.{}] grant given; trusted manifest)",
                    a.plugin
                );
            }
        }
        let _ = writeln!(out, "  denials:");
        if a.denials.is_empty() {
            let _ = writeln!(out, "    none");
        }
        for (d, n) in &a.denials {
            let _ = writeln!(out, "    {d}  ×{n}");
        }
        let _ = writeln!(out, "  smallest covering grant (host config):\n");
        for line in a.grant_toml().lines() {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "\n  as RBAC (wasmvisor rbac):\n");
        for line in a.rbac_yaml().lines() {
            let _ = writeln!(out, "    {line}");
        }
        out.push('\n');
    }
    out
}

fn list(out: &mut String, items: &[String]) {
    if items.is_empty() {
        let _ = writeln!(out, "    nothing");
    }
    for item in items {
        let _ = writeln!(out, "    {item}");
    }
}
