//! `wasmvisor plugin new NAME [--path DIR]`: a Rust plugin project.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Arguments of `plugin new`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Plugin name: lowercase letters, digits and '-' (also the crate name).
    pub(crate) name: String,
    /// Directory to create (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// Language of the project.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub(crate) lang: Lang,
    /// The wasmvisor guest SDK to depend on (default: the one in the
    /// checkout this binary was built from).
    #[arg(long, env = "WASMVISOR_SDK")]
    pub(crate) sdk: Option<PathBuf>,
}

/// Plugin languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with the wasmvisor SDK.
    Rust,
}

const CARGO_TOML: &str = include_str!("../../templates/rust/Cargo.toml.tmpl");
const PLUGIN_TOML: &str = include_str!("../../templates/rust/plugin.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/rust/src/lib.rs.tmpl");

/// The SDK of the checkout this binary was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let manifest = format!(
        "name = {:?}\nversion = \"0.1.0\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\n",
        args.name
    );
    wasmvisor_manifest::Manifest::parse(&manifest).with_context(|| format!("plugin name {:?}", args.name))?;
    let Lang::Rust = args.lang;
    let dir = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; choose another --path", dir.display());
    }
    let sdk = args.sdk.unwrap_or_else(default_sdk);
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the wasmvisor SDK is not at {}; pass --sdk PATH to a checkout's plugins/sdk",
            sdk.display()
        )
    })?;
    let fill = |template: &str| {
        template.replace("{{name}}", &args.name).replace("{{sdk}}", &sdk.display().to_string())
    };
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {}", dir.display()))?;
    for (file, template) in [("Cargo.toml", CARGO_TOML), ("plugin.toml", PLUGIN_TOML), ("src/lib.rs", LIB_RS)] {
        let path = dir.join(file);
        std::fs::write(&path, fill(template)).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(dir.join(".gitignore"), "/target\n")
        .with_context(|| format!("writing {}", dir.join(".gitignore").display()))?;
    println!("created plugin {} in {}", args.name, dir.display());
    println!("next: wasmvisor plugin build {}", dir.display());
    Ok(())
}
