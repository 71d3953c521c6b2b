//! `wasmvisor plugin new NAME [--lang rust|python|js] [--path DIR]`: a
//! plugin project that builds and passes `check` as it is.
//!
//! The SDK is not published yet, so the project points at the SDK of the
//! checkout this binary was built from (or `--sdk`): a path dependency for
//! Rust, a module search path for Python, a `file:` dependency for JS.
//! Python and JS projects also get a copy of the WIT contract in `wit/`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wasmvisor_build::js::COMPONENTIZE_QJS_VERSION;
use wasmvisor_build::python::COMPONENTIZE_PY_VERSION;

/// Arguments of `plugin new`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Plugin name: lowercase letters, digits and '-' (also the crate or package name).
    pub(crate) name: String,
    /// Directory to create (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// Language of the project.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub(crate) lang: Lang,
    /// The wasmvisor guest SDK for the language (default: the one in the
    /// checkout this binary was built from: plugins/sdk, plugins/sdk-python
    /// or plugins/sdk-js).
    #[arg(long, env = "WASMVISOR_SDK")]
    pub(crate) sdk: Option<PathBuf>,
}

/// Plugin languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with the wasmvisor SDK, built by cargo.
    Rust,
    /// Python, with the wasmvisor Python SDK, built by componentize-py.
    Python,
    /// JavaScript, with the wasmvisor JS SDK, built by componentize-qjs from the project's npm script.
    Js,
}

/// One file of a template: path in the project, contents.
type Template = (&'static str, &'static str);

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("../../templates/rust/Cargo.toml.tmpl")),
    ("plugin.toml", include_str!("../../templates/rust/plugin.toml.tmpl")),
    ("src/lib.rs", include_str!("../../templates/rust/src/lib.rs.tmpl")),
    (".gitignore", "/target\n"),
];

const PYTHON: &[Template] = &[
    ("pyproject.toml", include_str!("../../templates/python/pyproject.toml.tmpl")),
    ("plugin.toml", include_str!("../../templates/python/plugin.toml.tmpl")),
    ("app.py", include_str!("../../templates/python/app.py.tmpl")),
    (".gitignore", "/dist\n/.venv\n__pycache__/\n"),
];

const JS: &[Template] = &[
    ("package.json", include_str!("../../templates/js/package.json.tmpl")),
    ("plugin.toml", include_str!("../../templates/js/plugin.toml.tmpl")),
    ("src/plugin.js", include_str!("../../templates/js/src/plugin.js.tmpl")),
    (".gitignore", "/dist\nnode_modules/\n"),
    // Copy the SDK into node_modules instead of linking it: componentize-qjs
    // reads modules only from inside --module-root.
    (".npmrc", "install-links=true\n"),
];

/// The WIT contract this binary was built with, for projects whose tool
/// reads WIT files (Python and JS).
const WIT: &[Template] = &[
    ("wit/types.wit", include_str!("../../../wit/types.wit")),
    ("wit/kube.wit", include_str!("../../../wit/kube.wit")),
    ("wit/nsx.wit", include_str!("../../../wit/nsx.wit")),
    ("wit/vcenter.wit", include_str!("../../../wit/vcenter.wit")),
    ("wit/log.wit", include_str!("../../../wit/log.wit")),
    ("wit/world.wit", include_str!("../../../wit/world.wit")),
];

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn templates(self) -> Vec<Template> {
        match self {
            Lang::Rust => RUST.to_vec(),
            Lang::Python => [PYTHON, WIT].concat(),
            Lang::Js => [JS, WIT].concat(),
        }
    }

    /// The SDK of the checkout this binary was built from.
    fn default_sdk(self) -> PathBuf {
        let dir = match self {
            Lang::Rust => "sdk",
            Lang::Python => "sdk-python",
            Lang::Js => "sdk-js",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins").join(dir)
    }

    /// What to do after `new`.
    fn next_steps(self, dir: &Path) -> Vec<String> {
        let dir = dir.display();
        match self {
            Lang::Rust => vec![format!("wasmvisor plugin build {dir}")],
            Lang::Python => vec![
                format!(
                    "(once, unless a wasmvisor checkout's .venv has it) python3 -m venv {dir}/.venv && {dir}/.venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
                ),
                format!("wasmvisor plugin build {dir}"),
            ],
            Lang::Js => vec![format!("npm install --prefix {dir}"), format!("wasmvisor plugin build {dir}")],
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let manifest = format!(
        "name = {:?}\nversion = \"0.1.0\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\n",
        args.name
    );
    wasmvisor_manifest::Manifest::parse(&manifest).with_context(|| format!("plugin name {:?}", args.name))?;
    let dir = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; choose another --path", dir.display());
    }
    let sdk = args.sdk.unwrap_or_else(|| args.lang.default_sdk());
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the wasmvisor {} SDK is not at {}; pass --sdk PATH to it in a wasmvisor checkout",
            args.lang.as_str(),
            sdk.display(),
        )
    })?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", &args.name)
            .replace("{{sdk}}", &sdk.display().to_string())
            .replace("{{componentize_qjs}}", COMPONENTIZE_QJS_VERSION)
            .replace("{{componentize_py}}", COMPONENTIZE_PY_VERSION)
    };
    for (file, template) in args.lang.templates() {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, fill(template)).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("created {} plugin {} in {}", args.lang.as_str(), args.name, dir.display());
    for step in args.lang.next_steps(&dir) {
        println!("next: {step}");
    }
    Ok(())
}
