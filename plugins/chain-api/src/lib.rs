//! The vSphere Supervisor chain's API types, shared by its plugins (tkc, capw, vm-service,
//! ncp, cloud-provider): TanzuKubernetesCluster → Cluster API → VMs → NSX.
//!
//! One module per API group, in chain order: [`tkc`] (`run.tanzu.vmware.com`), [`capi`]
//! (`cluster.x-k8s.io` and its bootstrap and control-plane groups), [`capv`]
//! (`vmware.infrastructure.cluster.x-k8s.io`), [`vmop`] (`vmoperator.vmware.com`), [`ncp`]
//! (`vmware.com`), [`calico`] (`crd.projectcalico.org`, in guest clusters), plus [`core`] for the `v1` objects the chain writes and [`conditions`]
//! for the two condition shapes. The well-known keys live in [`labels`], [`annotations`] and
//! [`finalizers`]; the object names the chain derives from each other in [`names`]; the
//! Supervisor's own settings in [`supervisor`]; how a plugin writes a status in [`status`].
//!
//! Every kind is a [`wasmvisor_sdk::Object`] of its spec and status, with [`Resource`]
//! giving its apiVersion and kind. The field set is the one `crds/` at the repository root
//! declares, and a test keeps the two in step field by field.
//!
//! Serialization rule, because plugins write with server-side apply: every optional field is
//! an `Option` or a collection skipped when empty, so a plugin owns exactly the fields it
//! set. JSON names follow the originals, including the odd ones (`whitelist_source_ranges`,
//! `clusterIp`, `resourcepool`, `clustermodules`, `vmstatus`).

pub mod annotations;
pub mod calico;
pub mod capi;
pub mod capv;
pub mod conditions;
pub mod core;
pub mod finalizers;
pub mod labels;
pub mod names;
pub mod ncp;
pub mod status;
pub mod supervisor;
pub mod tkc;
pub mod vmop;

#[cfg(test)]
mod schema_tests;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::{KindRef, Object, ObjectMeta, ObjectRef};

pub use conditions::{Condition, ConditionStatus, NcpCondition, Severity, set_condition};

/// The identity of a kind: what goes in `apiVersion` and `kind`, and how it is addressed.
///
/// Implemented on each kind's object type, so `VirtualMachine::API_VERSION` reads as it
/// would in Go. For kinds served in several versions with one schema (TKC, TKR), this is
/// the storage version.
pub trait Resource {
    /// `group/version` (or `v1` for core kinds).
    const API_VERSION: &'static str;
    /// The kind, e.g. `VirtualMachine`.
    const KIND: &'static str;
    /// The plural resource name, e.g. `virtualmachines`.
    const PLURAL: &'static str;
    /// Whether objects live in a namespace.
    const NAMESPACED: bool;

    /// The reference to object `name` (in `namespace` when the kind is namespaced) in `cluster`.
    fn named(cluster: &str, namespace: &str, name: &str) -> ObjectRef {
        if Self::NAMESPACED {
            ObjectRef::namespaced(cluster, Self::API_VERSION, Self::KIND, namespace, name)
        } else {
            ObjectRef::cluster_scoped(cluster, Self::API_VERSION, Self::KIND, name)
        }
    }

    /// All objects of this kind in `cluster`, in one namespace or (`None`) all.
    fn kind_ref(cluster: &str, namespace: Option<&str>) -> KindRef {
        KindRef {
            cluster: cluster.to_owned(),
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }
}

/// A new object `name` of a chain kind with `spec`, apiVersion and kind filled in and no
/// status. `namespace` is ignored for cluster-scoped kinds.
pub fn new_object<Spec, Status>(namespace: &str, name: &str, spec: Spec) -> Object<Spec, Status>
where
    Object<Spec, Status>: Resource,
{
    Object {
        api_version: <Object<Spec, Status> as Resource>::API_VERSION.to_owned(),
        kind: <Object<Spec, Status> as Resource>::KIND.to_owned(),
        metadata: ObjectMeta {
            name: name.to_owned(),
            namespace: <Object<Spec, Status> as Resource>::NAMESPACED.then(|| namespace.to_owned()),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// The status of kinds that have none (templates): an empty object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NoStatus {}

/// Declares the [`Resource`] impl of a chain kind.
macro_rules! resource {
    ($object:ty, $api_version:expr, $kind:literal, $plural:literal, namespaced = $namespaced:literal) => {
        impl $crate::Resource for $object {
            const API_VERSION: &'static str = $api_version;
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            const NAMESPACED: bool = $namespaced;
        }
    };
}
pub(crate) use resource;
