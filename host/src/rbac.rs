//! Least-privilege RBAC for the host's ServiceAccount, derived from the
//! configured kube grants and (optionally) the plugins' manifests.
//!
//! In: the host config's [`Grants`], the [`Manifest`]s of the plugins that
//! will run (for what they watch and own, which the config does not say),
//! and [`RbacOptions`]. Out: a ServiceAccount, one ClusterRole and binding
//! for everything granted in all namespaces (or cluster-scoped), and one Role
//! and binding per namespace for namespaced grants — with exactly the verbs
//! the host uses on the plugins' behalf:
//!
//! | grant / need | Kubernetes verbs |
//! | --- | --- |
//! | `get` | `get` |
//! | `list` | `list`, `watch` (the host watches what it lists) |
//! | `apply` | `get`, `create`, `patch` (server-side apply creates when absent) |
//! | `apply-status` | `patch` on `<resource>/status` |
//! | `delete` | `delete` |
//! | a watched kind | `get`, `list`, `watch`, `patch` (finalizer), `patch` on `/status` (conditions) |
//! | an owned kind | `get`, `list`, `watch` |
//! | any watch | `create`, `patch` on `events.k8s.io` events (kube-runtime's recorder) |
//! | leader election | `get`, `update` on the named Lease, `create` on leases, in the host's namespace |
//!
//! Only grants and watches in [`RbacOptions::cluster`] count: the output is
//! for the ServiceAccount in that one cluster. A verb already granted
//! cluster-wide is not repeated in a namespaced Role.
//!
//! Resource names come from [`plural`]: a table for the built-in kinds the
//! chain uses, and otherwise Kubernetes' own fallback guess (lowercase, `-s`
//! → `-ses`, `-y` → `-ies`, else `+s`), which is right for the custom kinds
//! whose CRDs do not set an irregular plural.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wasmvisor_manifest::{KubeVerb, Manifest, Namespaces};

use crate::capability::grant::Grants;

/// What to generate for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacOptions {
    /// ServiceAccount name; also the name of the roles and bindings.
    pub service_account: String,
    /// Namespace the host (and its ServiceAccount) runs in.
    pub namespace: String,
    /// The cluster (host-config name) the ServiceAccount lives in.
    pub cluster: String,
    /// The Lease name, when the host runs with leader election.
    pub leader_election: Option<String>,
    /// Where a dynamic cluster source of this cluster watches kubeconfig
    /// Secrets: one namespace, or (`None`) all of them.
    pub kubeconfig_secrets: Vec<Option<String>>,
}

impl Default for RbacOptions {
    fn default() -> Self {
        Self {
            service_account: "wasmvisor".into(),
            namespace: "wasmvisor-system".into(),
            cluster: wasmvisor_manifest::DEFAULT_CLUSTER.into(),
            leader_election: None,
            kubeconfig_secrets: Vec::new(),
        }
    }
}

/// The generated objects.
#[derive(Debug, Clone, PartialEq)]
pub struct RbacObjects {
    /// The host's identity.
    pub service_account: ServiceAccount,
    /// Everything granted in all namespaces or cluster-scoped; `None` if nothing is.
    pub cluster_role: Option<(ClusterRole, ClusterRoleBinding)>,
    /// Per namespace, what is granted only there.
    pub roles: Vec<(Role, RoleBinding)>,
}

/// Why the YAML could not be written (a bug: the types always serialize).
#[derive(Debug, thiserror::Error)]
#[error("cannot serialize RBAC objects as YAML: {0}")]
pub struct YamlError(serde_yaml::Error);

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    Cluster,
    Namespace(String),
}

/// `(apiGroup, resource, resourceName)`.
type Target = (String, String, Option<String>);

#[derive(Debug, Default)]
struct Needs(BTreeMap<Reach, BTreeMap<Target, BTreeSet<&'static str>>>);

impl Needs {
    fn add(&mut self, reach: &Reach, group: &str, resource: &str, verbs: &[&'static str]) {
        self.add_named(reach, group, resource, None, verbs);
    }

    fn add_named(
        &mut self,
        reach: &Reach,
        group: &str,
        resource: &str,
        name: Option<&str>,
        verbs: &[&'static str],
    ) {
        self.0
            .entry(reach.clone())
            .or_default()
            .entry((group.to_owned(), resource.to_owned(), name.map(str::to_owned)))
            .or_default()
            .extend(verbs);
    }

    /// Drops from namespaced reaches what the cluster reach already allows.
    fn prune(&mut self) {
        let cluster = self.0.get(&Reach::Cluster).cloned().unwrap_or_default();
        for (reach, targets) in self.0.iter_mut() {
            if *reach == Reach::Cluster {
                continue;
            }
            for ((group, resource, name), verbs) in targets.iter_mut() {
                for key in
                    [(group.clone(), resource.clone(), None), (group.clone(), resource.clone(), name.clone())]
                {
                    if let Some(wide) = cluster.get(&key) {
                        verbs.retain(|v| !wide.contains(v));
                    }
                }
            }
            targets.retain(|_, verbs| !verbs.is_empty());
        }
        self.0.retain(|_, targets| !targets.is_empty());
    }
}

fn rules(targets: &BTreeMap<Target, BTreeSet<&'static str>>) -> Vec<PolicyRule> {
    targets
        .iter()
        .map(|((group, resource, name), verbs)| PolicyRule {
            api_groups: Some(vec![group.clone()]),
            resources: Some(vec![resource.clone()]),
            resource_names: name.as_ref().map(|n| vec![n.clone()]),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

/// The API group of an `apiVersion`: `""` for the core group (`v1`).
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Built-in kinds the chain uses, with their resource names.
const PLURALS: &[(&str, &str)] = &[
    ("ConfigMap", "configmaps"),
    ("Endpoints", "endpoints"),
    ("EndpointSlice", "endpointslices"),
    ("Event", "events"),
    ("Lease", "leases"),
    ("Namespace", "namespaces"),
    ("Node", "nodes"),
    ("Pod", "pods"),
    ("Secret", "secrets"),
    ("Service", "services"),
    ("ServiceAccount", "serviceaccounts"),
    ("CustomResourceDefinition", "customresourcedefinitions"),
];

/// The resource name of `kind`: from the built-in table, else Kubernetes'
/// fallback guess (`meta.UnsafeGuessKindToResource`): lowercase, then
/// `-s` → `-ses`, `-y` → `-ies`, otherwise `+s`. A CRD with an irregular
/// plural needs an entry in the table.
pub fn plural(kind: &str) -> String {
    if let Some((_, plural)) = PLURALS.iter().find(|(k, _)| *k == kind) {
        return (*plural).to_owned();
    }
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

fn verbs_of(verb: KubeVerb) -> (&'static [&'static str], bool) {
    match verb {
        KubeVerb::Get => (&["get"], false),
        KubeVerb::List => (&["list", "watch"], false),
        KubeVerb::Apply => (&["get", "create", "patch"], false),
        KubeVerb::ApplyStatus => (&["patch"], true),
        KubeVerb::Delete => (&["delete"], false),
    }
}

/// Generates the RBAC objects for `grants` and `manifests` under `options`.
///
/// With `trust-manifests`, a plugin without a grant runs with what its
/// manifest declares, so its manifest's kube rules count as its grant.
pub fn generate(grants: &Grants, manifests: &[Manifest], options: &RbacOptions) -> RbacObjects {
    let mut needs = Needs::default();
    let trusted = manifests
        .iter()
        .filter(|m| grants.trust_manifests && !grants.plugins.contains_key(&m.name))
        .map(|m| &m.capabilities.kube);
    let granted = grants.plugins.values().map(|g| &g.capabilities.kube).chain(trusted);
    for kube in granted {
        for rule in kube.iter().filter(|r| r.cluster.admits(&options.cluster)) {
            let group = api_group(&rule.api_version);
            let resource = plural(&rule.kind);
            let reaches: Vec<Reach> = match &rule.namespaces {
                _ if rule.cluster_scoped => vec![Reach::Cluster],
                Namespaces::All => vec![Reach::Cluster],
                Namespaces::Only(set) => set.iter().cloned().map(Reach::Namespace).collect(),
                // Origins are the namespaces of guest clusters yet to come, so
                // the host needs the rule everywhere; each call is narrowed to
                // its origin by the host, not by RBAC.
                Namespaces::Origin => vec![Reach::Cluster],
            };
            for &verb in &rule.verbs {
                let (verbs, status) = verbs_of(verb);
                let resource = if status { format!("{resource}/status") } else { resource.clone() };
                for reach in &reaches {
                    match &rule.names {
                        None => needs.add(reach, group, &resource, verbs),
                        Some(names) => {
                            // RBAC cannot narrow `create` by name (the request
                            // has none yet); the host's own check does.
                            let (create, named): (Vec<&'static str>, Vec<&'static str>) =
                                verbs.iter().partition(|v| **v == "create");
                            for name in names {
                                needs.add_named(reach, group, &resource, Some(name), &named);
                            }
                            if !create.is_empty() {
                                needs.add(reach, group, &resource, &create);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut watches_any = false;
    for manifest in manifests {
        for watch in manifest.watches.iter().filter(|w| w.cluster == options.cluster) {
            watches_any = true;
            let group = api_group(&watch.api_version);
            let resource = plural(&watch.kind);
            needs.add(&Reach::Cluster, group, &resource, &["get", "list", "watch", "patch"]);
            needs.add(&Reach::Cluster, group, &format!("{resource}/status"), &["patch"]);
        }
        let read = manifest.owns.iter().cloned().chain(manifest.related.iter().map(|r| r.kind_ref()));
        for kind in read.filter(|k| k.cluster == options.cluster) {
            needs.add(
                &Reach::Cluster,
                api_group(&kind.api_version),
                &plural(&kind.kind),
                &["get", "list", "watch"],
            );
        }
    }
    if watches_any {
        needs.add(&Reach::Cluster, "events.k8s.io", "events", &["create", "patch"]);
    }
    for namespace in &options.kubeconfig_secrets {
        let reach = namespace.clone().map_or(Reach::Cluster, Reach::Namespace);
        needs.add(&reach, "", "secrets", &["get", "list", "watch"]);
    }
    if let Some(lease) = &options.leader_election {
        let home = Reach::Namespace(options.namespace.clone());
        needs.add_named(&home, "coordination.k8s.io", "leases", Some(lease), &["get", "update"]);
        needs.add(&home, "coordination.k8s.io", "leases", &["create"]);
    }
    needs.prune();
    build(needs, options)
}

fn build(needs: Needs, options: &RbacOptions) -> RbacObjects {
    let name = &options.service_account;
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: name.clone(),
        namespace: Some(options.namespace.clone()),
        ..Subject::default()
    };
    let meta = |namespace: Option<&str>| ObjectMeta {
        name: Some(name.clone()),
        namespace: namespace.map(str::to_owned),
        labels: Some([("app.kubernetes.io/managed-by".to_owned(), "wasmvisor".to_owned())].into()),
        ..ObjectMeta::default()
    };
    let role_ref = |kind: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.clone(),
    };
    let mut objects = RbacObjects {
        service_account: ServiceAccount { metadata: meta(Some(&options.namespace)), ..Default::default() },
        cluster_role: None,
        roles: Vec::new(),
    };
    for (reach, targets) in &needs.0 {
        match reach {
            Reach::Cluster => {
                let role =
                    ClusterRole { metadata: meta(None), rules: Some(rules(targets)), ..Default::default() };
                let binding = ClusterRoleBinding {
                    metadata: meta(None),
                    role_ref: role_ref("ClusterRole"),
                    subjects: Some(vec![subject.clone()]),
                };
                objects.cluster_role = Some((role, binding));
            }
            Reach::Namespace(ns) => {
                let role = Role { metadata: meta(Some(ns)), rules: Some(rules(targets)) };
                let binding = RoleBinding {
                    metadata: meta(Some(ns)),
                    role_ref: role_ref("Role"),
                    subjects: Some(vec![subject.clone()]),
                };
                objects.roles.push((role, binding));
            }
        }
    }
    objects
}

impl RbacObjects {
    /// The objects as one multi-document YAML stream, ready for `kubectl apply -f -`.
    pub fn to_yaml(&self) -> Result<String, YamlError> {
        let mut docs = vec![serde_yaml::to_string(&self.service_account)];
        if let Some((role, binding)) = &self.cluster_role {
            docs.push(serde_yaml::to_string(role));
            docs.push(serde_yaml::to_string(binding));
        }
        for (role, binding) in &self.roles {
            docs.push(serde_yaml::to_string(role));
            docs.push(serde_yaml::to_string(binding));
        }
        let docs = docs.into_iter().collect::<Result<Vec<_>, _>>().map_err(YamlError)?;
        Ok(docs.iter().map(|d| format!("---\n{d}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(text: &str) -> Grants {
        Grants::parse(text).unwrap()
    }

    /// `(group, resource, names, verbs)` of each rule, for compact assertions.
    fn flat(rules: &Option<Vec<PolicyRule>>) -> Vec<(String, String, Option<String>, Vec<String>)> {
        rules
            .iter()
            .flatten()
            .map(|r| {
                (
                    r.api_groups.clone().unwrap().join(","),
                    r.resources.clone().unwrap().join(","),
                    r.resource_names.as_ref().map(|n| n.join(",")),
                    r.verbs.clone(),
                )
            })
            .collect()
    }

    fn rule(group: &str, resource: &str, verbs: &[&str]) -> (String, String, Option<String>, Vec<String>) {
        (group.into(), resource.into(), None, verbs.iter().map(|v| (*v).to_owned()).collect())
    }

    #[test]
    fn plurals_come_from_the_table_then_the_kubernetes_guess() {
        assert_eq!(plural("Endpoints"), "endpoints");
        assert_eq!(plural("ConfigMap"), "configmaps");
        assert_eq!(plural("TanzuKubernetesCluster"), "tanzukubernetesclusters");
        assert_eq!(plural("VirtualMachineService"), "virtualmachineservices");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(api_group("v1"), "");
        assert_eq!(api_group("vmoperator.vmware.com/v1alpha1"), "vmoperator.vmware.com");
    }

    #[test]
    fn each_kube_verb_maps_to_exactly_its_rbac_verbs() {
        let g = grants(
            r#"
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "Secret"
            verbs = ["list"]
            [[plugins.a.capabilities.kube]]
            api-version = "vmoperator.vmware.com/v1alpha1"
            kind = "VirtualMachineService"
            verbs = ["apply", "apply-status"]
            [[plugins.b.capabilities.kube]]
            api-version = "v1"
            kind = "Service"
            verbs = ["delete"]
        "#,
        );
        let out = generate(&g, &[], &RbacOptions::default());
        let (role, binding) = out.cluster_role.expect("cluster role");
        assert_eq!(
            flat(&role.rules),
            vec![
                rule("", "configmaps", &["get"]),
                rule("", "secrets", &["list", "watch"]),
                rule("", "services", &["delete"]),
                rule("vmoperator.vmware.com", "virtualmachineservices", &["create", "get", "patch"]),
                rule("vmoperator.vmware.com", "virtualmachineservices/status", &["patch"]),
            ]
        );
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(
            (subject.name.as_str(), subject.namespace.as_deref()),
            ("wasmvisor", Some("wasmvisor-system"))
        );
        assert!(out.roles.is_empty());
    }

    #[test]
    fn cluster_scoped_and_named_rules_reach_cluster_wide_by_name() {
        let g = grants(
            r#"
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "Namespace"
            verbs = ["get", "apply"]
            cluster-scoped = true
            names = ["h06"]
            [[plugins.a.capabilities.kube]]
            api-version = "vmoperator.vmware.com/v1alpha1"
            kind = "VirtualMachineClass"
            verbs = ["list"]
            cluster-scoped = true
        "#,
        );
        let out = generate(&g, &[], &RbacOptions::default());
        let named = |verbs: &[&str]| {
            (
                "".to_owned(),
                "namespaces".to_owned(),
                Some("h06".to_owned()),
                verbs.iter().map(|v| (*v).to_owned()).collect(),
            )
        };
        assert_eq!(
            flat(&out.cluster_role.unwrap().0.rules),
            vec![
                rule("", "namespaces", &["create"]),
                named(&["get", "patch"]),
                rule("vmoperator.vmware.com", "virtualmachineclasses", &["list", "watch"]),
            ]
        );
        assert!(out.roles.is_empty());
    }

    #[test]
    fn namespaced_grants_become_roles_without_repeating_cluster_verbs() {
        let g = grants(
            r#"
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get", "apply"]
            namespaces = ["team-a", "team-b"]
            [[plugins.b.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
        "#,
        );
        let out = generate(&g, &[], &RbacOptions::default());
        assert_eq!(flat(&out.cluster_role.unwrap().0.rules), vec![rule("", "configmaps", &["get"])]);
        let namespaces: Vec<_> = out
            .roles
            .iter()
            .map(|(r, b)| (r.metadata.namespace.clone(), b.metadata.namespace.clone()))
            .collect();
        assert_eq!(
            namespaces,
            vec![
                (Some("team-a".into()), Some("team-a".into())),
                (Some("team-b".into()), Some("team-b".into()))
            ]
        );
        for (role, binding) in &out.roles {
            assert_eq!(flat(&role.rules), vec![rule("", "configmaps", &["create", "patch"])]);
            assert_eq!(binding.role_ref.kind, "Role");
        }
    }

    #[test]
    fn other_clusters_grants_are_left_out() {
        let g = grants(
            r#"
            [[plugins.a.capabilities.kube]]
            cluster = "guest"
            api-version = "v1"
            kind = "Service"
            verbs = ["list"]
        "#,
        );
        let out = generate(&g, &[], &RbacOptions::default());
        assert!(out.cluster_role.is_none() && out.roles.is_empty());
        let guest = RbacOptions { cluster: "guest".into(), ..RbacOptions::default() };
        assert!(generate(&g, &[], &guest).cluster_role.is_some());
    }

    #[test]
    fn watches_owns_events_and_leases_add_the_hosts_own_needs() {
        let manifest = Manifest::parse(
            r#"
            name = "tkc"
            version = "1.0.0"
            [[watches]]
            api-version = "run.tanzu.vmware.com/v1alpha3"
            kind = "TanzuKubernetesCluster"
            [[watches]]
            cluster = "guest"
            api-version = "v1"
            kind = "Service"
            [[owns]]
            api-version = "cluster.x-k8s.io/v1beta1"
            kind = "Cluster"
        "#,
        )
        .unwrap();
        let options = RbacOptions { leader_election: Some("wasmvisor".into()), ..RbacOptions::default() };
        let out = generate(&Grants::default(), &[manifest], &options);
        assert_eq!(
            flat(&out.cluster_role.unwrap().0.rules),
            vec![
                rule("cluster.x-k8s.io", "clusters", &["get", "list", "watch"]),
                rule("events.k8s.io", "events", &["create", "patch"]),
                rule("run.tanzu.vmware.com", "tanzukubernetesclusters", &["get", "list", "patch", "watch"]),
                rule("run.tanzu.vmware.com", "tanzukubernetesclusters/status", &["patch"]),
            ]
        );
        let [(role, _)] = out.roles.as_slice() else { panic!("one role: {:?}", out.roles) };
        assert_eq!(role.metadata.namespace.as_deref(), Some("wasmvisor-system"));
        assert_eq!(
            flat(&role.rules),
            vec![
                rule("coordination.k8s.io", "leases", &["create"]),
                (
                    "coordination.k8s.io".into(),
                    "leases".into(),
                    Some("wasmvisor".into()),
                    vec!["get".into(), "update".into()]
                ),
            ]
        );
    }

    #[test]
    fn yaml_round_trips_into_kubernetes_types() {
        let g = grants(
            r#"
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
            namespaces = ["team-a"]
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "Secret"
            verbs = ["list"]
        "#,
        );
        let out = generate(&g, &[], &RbacOptions::default());
        let yaml = out.to_yaml().unwrap();
        let docs: Vec<serde_yaml::Value> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_yaml::from_str(d).unwrap())
            .collect();
        let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap().to_owned()).collect();
        assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
        let role: ClusterRole = serde_yaml::from_value(docs[1].clone()).unwrap();
        assert_eq!(role, out.cluster_role.as_ref().unwrap().0);
        let binding: RoleBinding = serde_yaml::from_value(docs[4].clone()).unwrap();
        assert_eq!(binding, out.roles[0].1);
        assert_eq!(docs[0]["apiVersion"].as_str(), Some("v1"));
        assert_eq!(docs[1]["apiVersion"].as_str(), Some("rbac.authorization.k8s.io/v1"));
    }
}
