//! What a TanzuKubernetesCluster names must exist and fit before anything
//! is made for it: its VM classes, its release and that release's image,
//! and a pod range that does not overlap the Supervisor's own networks.
//! A failed check is a `Ready=False` condition whose reason names the
//! problem and whose message names the field and the fix.

use ipnet::Ipv4Net;
use wasmvisor_chain_api::Resource;
use wasmvisor_chain_api::supervisor::NetworkSettings;
use wasmvisor_chain_api::tkc::{TanzuKubernetesCluster, TanzuKubernetesRelease};
use wasmvisor_chain_api::vmop::{VirtualMachineClass, VirtualMachineImage};
use wasmvisor_sdk::{Context, Error};

/// The default pod range of a TKC (TKG's).
pub const DEFAULT_POD_CIDR: &str = "192.168.0.0/16";
/// The default service range of a TKC.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// The CNI this Supervisor installs (the calico plugin runs its IPAM); also
/// the default when a TKC names none.
pub const CNI: &str = "calico";

/// A request the Supervisor cannot serve, said so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// CamelCase reason for the `Ready` condition.
    pub reason: &'static str,
    /// Which field, what is wrong, what to do.
    pub message: String,
}

/// What the checks resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The release.
    pub release: TanzuKubernetesRelease,
    /// Its Kubernetes version (`v1.23.8+vmware.3`).
    pub version: String,
    /// Its VirtualMachineImage.
    pub image: String,
    /// The pod ranges (the TKC's, or the default).
    pub pods: Vec<Ipv4Net>,
}

fn names<T>(items: &[wasmvisor_sdk::Object<T, impl Sized>]) -> String {
    let mut names: Vec<&str> = items.iter().map(|i| i.metadata.name.as_str()).collect();
    names.sort_unstable();
    names.join(", ")
}

/// The release a TKC asks for: `…controlPlane.tkr.reference.name`, else
/// `spec.distribution.version` matched against release names and versions.
fn release_name(tkc: &TanzuKubernetesCluster) -> (String, &'static str) {
    let reference = tkc
        .spec
        .topology
        .control_plane
        .tkr
        .as_ref()
        .and_then(|t| t.reference.as_ref())
        .and_then(|r| r.name.clone());
    match reference {
        Some(name) => (name, "spec.topology.controlPlane.tkr.reference.name"),
        None => {
            let distribution = tkc.spec.distribution.as_ref();
            let version = distribution.and_then(|d| d.version.clone().or_else(|| d.full_version.clone()));
            (version.unwrap_or_default(), "spec.distribution.version")
        }
    }
}

/// Runs every check.
pub fn check(
    ctx: &Context,
    tkc: &TanzuKubernetesCluster,
    network: &NetworkSettings,
) -> Result<Result<Resolved, Invalid>, Error> {
    let kube = ctx.kube();
    let classes: Vec<VirtualMachineClass> =
        kube.list(&VirtualMachineClass::kind_ref(ctx.cluster(), None), None)?;
    let topology = &tkc.spec.topology;
    let wanted =
        std::iter::once(("spec.topology.controlPlane.vmClass".to_owned(), &topology.control_plane.vm_class))
            .chain(
                topology
                    .node_pools
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("spec.topology.nodePools[{i}].vmClass"), &p.settings.vm_class)),
            );
    for (field, class) in wanted {
        if !classes.iter().any(|c| &c.metadata.name == class) {
            return Ok(Err(Invalid {
                reason: "VirtualMachineClassNotFound",
                message: format!(
                    "{field} {class:?} is not a VirtualMachineClass on this Supervisor; use one of: {} (kubectl get virtualmachineclasses)",
                    names(&classes)
                ),
            }));
        }
    }
    let mut pools = std::collections::BTreeSet::new();
    for (i, pool) in topology.node_pools.iter().enumerate() {
        if !pools.insert(&pool.name) {
            return Ok(Err(Invalid {
                reason: "DuplicateNodePool",
                message: format!(
                    "spec.topology.nodePools[{i}].name {:?} is used twice; give each node pool its own name",
                    pool.name
                ),
            }));
        }
    }

    let (wanted_release, field) = release_name(tkc);
    let releases: Vec<TanzuKubernetesRelease> =
        kube.list(&TanzuKubernetesRelease::kind_ref(ctx.cluster(), None), None)?;
    let release = releases.iter().find(|r| r.metadata.name == wanted_release).or_else(|| {
        releases.iter().find(|r| {
            !wanted_release.is_empty()
                && r.spec.version.trim_start_matches('v') == wanted_release.trim_start_matches('v')
        })
    });
    let Some(release) = release.cloned() else {
        return Ok(Err(Invalid {
            reason: "TanzuKubernetesReleaseNotFound",
            message: format!(
                "{field} {wanted_release:?} names no TanzuKubernetesRelease; use one of: {} (kubectl get tkr)",
                names(&releases)
            ),
        }));
    };
    let image = release.spec.node_image_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
    let images: Vec<VirtualMachineImage> =
        kube.list(&VirtualMachineImage::kind_ref(ctx.cluster(), None), None)?;
    if !images.iter().any(|i| i.metadata.name == image) {
        return Ok(Err(Invalid {
            reason: "VirtualMachineImageNotFound",
            message: format!(
                "TanzuKubernetesRelease {} wants VirtualMachineImage {image:?}, which this Supervisor does not have; pick another release (kubectl get tkr) or import the image",
                release.metadata.name
            ),
        }));
    }

    let pods = tkc
        .spec
        .settings
        .as_ref()
        .and_then(|s| s.network.as_ref())
        .and_then(|n| n.pods.as_ref())
        .map(|p| p.cidr_blocks.clone())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| vec![DEFAULT_POD_CIDR.to_owned()]);
    let cni = tkc.spec.settings.as_ref().and_then(|s| s.network.as_ref()).and_then(|n| n.cni.as_ref());
    if let Some(cni) = cni.filter(|c| !c.name.is_empty() && c.name != CNI) {
        return Ok(Err(Invalid {
            reason: "CNINotSupported",
            message: format!(
                "spec.settings.network.cni.name {:?} is not a CNI this Supervisor installs; set it to {CNI:?} or leave it out",
                cni.name
            ),
        }));
    }
    let mut nets = Vec::new();
    for (i, block) in pods.iter().enumerate() {
        let field = format!("spec.settings.network.pods.cidrBlocks[{i}]");
        let Ok(net) = block.parse::<Ipv4Net>() else {
            return Ok(Err(Invalid {
                reason: "InvalidPodCIDR",
                message: format!("{field} {block:?} is not an IPv4 CIDR such as 192.168.0.0/16"),
            }));
        };
        if let Some((what, theirs)) = network.overlap(net) {
            return Ok(Err(Invalid {
                reason: "PodCIDROverlap",
                message: format!(
                    "{field} {net} overlaps the Supervisor's {what} {theirs}; pick a range outside {}",
                    network.reserved().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            }));
        }
        nets.push(net);
    }
    let version = release.spec.kubernetes_version.clone().unwrap_or_else(|| release.spec.version.clone());
    Ok(Ok(Resolved { release, version, image, pods: nets }))
}
