//! The example plugins in Python and JavaScript, built once per process with
//! the same code as `wasmvisor plugin build` and the toolchains that
//! `.ci/toolchains` pins into the repository (`.venv/`, `node_modules/`).
//!
//! Shared by the `languages` tests and the `languages` bench.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmvisor_build::project::{self, Language, Toolchains};

/// One built example plugin.
#[derive(Debug)]
pub struct Guest {
    /// Plugin name (from its plugin.toml).
    pub name: &'static str,
    /// The component, manifest embedded.
    pub bytes: Vec<u8>,
    /// How long the language's tool took.
    pub build_time: Duration,
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_owned()
}

const INSTALL: &str = "install the pinned toolchains with `bash .ci/toolchains` from the repository root";

fn build(language: Language, dir: &str, name: &'static str) -> Guest {
    let root = repo();
    // Fail (never skip) when a toolchain is missing, naming the fix.
    match language {
        Language::Python => assert!(
            root.join(".venv/bin/componentize-py").is_file(),
            "componentize-py is not in {}/.venv: {INSTALL}",
            root.display()
        ),
        Language::Js => assert!(
            root.join("node_modules/.bin/componentize-qjs").exists(),
            "the JS toolchain is not in {}/node_modules: {INSTALL}",
            root.display()
        ),
        Language::Rust => {}
    }
    let tools = Toolchains { python_venvs: vec![root.join(".venv")], ..Toolchains::default() };
    let started = Instant::now();
    let built = project::build(&root.join(dir), &tools)
        .unwrap_or_else(|e| panic!("building {dir} failed: {e}; if a tool is missing, {INSTALL}"));
    let build_time = started.elapsed();
    eprintln!("built {dir} in {build_time:.1?}");
    assert_eq!(built.language, language);
    let bytes = std::fs::read(&built.component).expect("the built component is readable");
    Guest { name, bytes, build_time }
}

/// `plugins/python/label-propagator`, built by componentize-py.
pub fn python() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| build(Language::Python, "plugins/python/label-propagator", "label-propagator"))
}

/// `plugins/js/trust-bundle`, built by its npm script (QuickJS backend).
pub fn js() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| build(Language::Js, "plugins/js/trust-bundle", "trust-bundle"))
}
