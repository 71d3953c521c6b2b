//! The Supervisor chain's CustomResourceDefinitions (the YAML files of
//! `crds/`, shaped like the public originals) and the Supervisor's defaults
//! (`crds/defaults/supervisor.yaml`: VM classes, images, releases), as text
//! for `wasmvisor up` to install. `kubectl apply -k crds/` installs the same
//! CRDs into any cluster.

/// Every CRD file: `(file name, YAML)`, sorted by name.
pub const CRDS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/crds.rs"));

/// The Supervisor's defaults, several YAML documents.
pub const SUPERVISOR_DEFAULTS: &str = include_str!("../defaults/supervisor.yaml");
