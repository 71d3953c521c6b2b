//! `wasmvisor plugin check FILE|REF [--grant CONFIG]`: everything the host
//! checks at load, without a host: bytes, manifest, world (by compiling and
//! linking), and the grant in a host config. A REF is pulled (digests
//! verified) and checked the same way.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use wasmvisor_host::capability::kube::MemoryKube;
use wasmvisor_host::manifest::{Capabilities, KubeRule, Manifest, Namespaces};
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::{Backends, Grant, Grants, Runtime, RuntimeConfig};
use wasmvisor_oci::PluginRef;

use super::registry::RegistryArgs;

/// Arguments of `plugin check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The component: a .wasm file, or an OCI reference
    /// (REGISTRY/REPOSITORY:TAG or @sha256:DIGEST) to pull it from.
    pub(crate) file: String,
    /// Host config whose `[plugins.NAME]` grant the plugin must fit.
    #[arg(long, value_name = "CONFIG")]
    pub(crate) grant: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// The component's bytes and a label for it: the file if it exists, else
/// the reference, pulled.
fn component(args: &Args) -> anyhow::Result<(String, Vec<u8>)> {
    let file = PathBuf::from(&args.file);
    if file.exists() || !PluginRef::names_a_registry(&args.file) {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        return Ok((file.display().to_string(), bytes));
    }
    let reference: PluginRef = args.file.parse()?;
    let pulled = args.registry.pull(&reference)?;
    Ok((reference.pinned(&pulled.digest).to_string(), pulled.component))
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let (label, bytes) = component(&args)?;
    let manifest = Manifest::from_component(&bytes).with_context(|| format!("{label} is not a plugin"))?;
    let grants = match &args.grant {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Grants::from_host_config(&text)
                .with_context(|| format!("{} is not a valid host config", path.display()))?
        }
        // Without a config, grant exactly what the plugin asks, so the rest
        // of the checks still run.
        None => Grants {
            plugins: [(manifest.name.clone(), Grant::declared(&manifest))].into(),
            trust_manifests: false,
        },
    };
    let cache = tempfile::tempdir().context("creating a scratch compile cache")?;
    let cache_dir = cap_std::fs::Dir::open_ambient_dir(cache.path(), cap_std::ambient_authority())
        .context("opening the scratch compile cache")?;
    let config = RuntimeConfig {
        engine: EngineSettings { pooling: false, ..EngineSettings::default() },
        output: OutputLimits::default(),
        cache_dir,
        grants,
    };
    let backends = Backends { kube: Arc::new(MemoryKube::new()), nsx: None, vcenter: None };
    let runtime = Runtime::new(config, backends).context("starting the wasm engine")?;
    let plugin = runtime.load(&bytes).with_context(|| format!("{label} was refused"))?;

    println!("plugin    {}", manifest.id());
    println!("file      {label} ({} bytes)", bytes.len());
    println!("digest    {}", plugin.digest.to_prefixed());
    println!("world     wasmvisor:plugin/reconciler@0.1.0: ok");
    for watch in &manifest.watches {
        let selector =
            watch.label_selector.as_deref().map(|s| format!(" matching {s:?}")).unwrap_or_default();
        println!("watches   {}{selector}", watch.kind_ref());
    }
    for owned in &manifest.owns {
        println!("owns      {owned}");
    }
    for related in &manifest.related {
        println!("related   {} re-queues {} by {}", related.kind_ref(), related.reconciles, related.by);
    }
    for line in needs(&manifest.capabilities) {
        println!("needs     {line}");
    }
    let limits = manifest.limits;
    println!(
        "limits    memory {}, timeout {}, host-calls {}",
        limits.memory,
        wasmvisor_host::manifest::limits::format_duration(limits.timeout),
        limits.host_calls
    );
    match &args.grant {
        Some(path) => println!("grant     ok: fits [plugins.{}] in {}", manifest.name, path.display()),
        None => println!("grant     not checked (pass --grant CONFIG)"),
    }
    Ok(())
}

fn needs(caps: &Capabilities) -> Vec<String> {
    let mut lines: Vec<String> = caps.kube.iter().map(kube_rule).collect();
    lines.extend(caps.nsx.iter().map(|r| format!("nsx {r}")));
    lines.extend(caps.vcenter.iter().map(|r| format!("vcenter {r}")));
    if lines.is_empty() {
        lines.push("nothing".into());
    }
    lines
}

fn kube_rule(rule: &KubeRule) -> String {
    let verbs: Vec<String> = rule.verbs.iter().map(ToString::to_string).collect();
    let namespaces = match &rule.namespaces {
        Namespaces::All => "all namespaces".to_owned(),
        only => only.to_string(),
    };
    format!(
        "kube {} {}/{} in cluster {}, {namespaces}",
        verbs.join(","),
        rule.api_version,
        rule.kind,
        rule.cluster
    )
}
