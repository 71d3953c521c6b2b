//! Building plugin projects into components with their manifest embedded.
//!
//! Shared by `wasmvisor plugin build` and by the build script that compiles
//! the bundled plugins, so a plugin built either way is the same artifact:
//! the language's own compiler output plus a `wasmvisor-manifest` section
//! holding `plugin.toml`. [`project::build`] builds a project in any
//! supported language ([`project::Language`]): Rust with cargo, Python with
//! componentize-py ([`python`]), JavaScript with the project's npm script
//! (componentize-qjs, or jco) ([`js`]).

pub mod js;
pub mod project;
pub mod python;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmvisor_manifest::{MANIFEST_FILE, Manifest, section};

/// The Rust target plugins compile for.
pub const RUST_TARGET: &str = "wasm32-wasip2";

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool is not installed.
    #[error("{tool} is not available: {hint}")]
    MissingTool {
        /// The tool.
        tool: String,
        /// The one command that installs it.
        hint: String,
    },
    /// The compiler failed.
    #[error("`{command}` failed with {status}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A project file (`Cargo.toml`, `pyproject.toml`, `package.json`) is invalid.
    #[error("{path}: {message}")]
    Settings {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directory is not a plugin project of a known language.
    #[error("{dir} is not a plugin project: it has {reason}")]
    UnknownProject {
        /// The directory.
        dir: PathBuf,
        /// What was found.
        reason: String,
    },
    /// `plugin.toml` is missing or invalid.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Io { path: path.to_owned(), error }
}

/// Runs a build tool with its stdout sent to our stderr (stdout is for the
/// component's path), failing with the command line and exit status.
pub(crate) fn run_logged(mut cmd: Command, tool: &str) -> Result<(), BuildError> {
    cmd.stdout(std::io::stderr());
    let command = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| BuildError::MissingTool {
        tool: tool.to_owned(),
        hint: format!("cannot run {command}: {e}"),
    })?;
    if status.success() { Ok(()) } else { Err(BuildError::Failed { command, status }) }
}

/// Reads and validates `dir/plugin.toml`.
pub fn read_manifest(dir: &Path) -> Result<(String, Manifest), BuildError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| BuildError::Manifest {
        path: path.clone(),
        message: format!("cannot read the plugin manifest ({e}); every plugin project has one"),
    })?;
    let manifest =
        Manifest::parse(&text).map_err(|e| BuildError::Manifest { path, message: e.to_string() })?;
    Ok((text, manifest))
}

/// Writes `component` with `manifest_text` embedded to `out`.
pub fn package(component: &Path, manifest_text: &str, out: &Path) -> Result<(), BuildError> {
    let bytes = std::fs::read(component).map_err(io(component))?;
    let packaged = section::embed(&bytes, manifest_text)
        .map_err(|e| BuildError::Manifest { path: component.to_owned(), message: e.to_string() })?;
    let partial = out.with_extension("wasm.partial");
    std::fs::write(&partial, packaged).map_err(io(&partial))?;
    std::fs::rename(&partial, out).map_err(io(out))
}

/// Checks that rustup's `wasm32-wasip2` target is installed.
pub fn check_rust_target(rustc: &OsStr) -> Result<(), BuildError> {
    let missing = || BuildError::MissingTool {
        tool: format!("the Rust target {RUST_TARGET}"),
        hint: format!("run `rustup target add {RUST_TARGET}`"),
    };
    let output =
        Command::new(rustc).args(["--print", "sysroot"]).output().map_err(|_| BuildError::MissingTool {
            tool: "rustc".into(),
            hint: "install Rust with rustup (https://rustup.rs)".into(),
        })?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(RUST_TARGET);
    if lib.is_dir() { Ok(()) } else { Err(missing()) }
}

/// A cargo build of Rust plugin crates for `wasm32-wasip2`.
#[derive(Debug, Clone)]
pub struct CargoBuild {
    /// The `cargo` to run.
    pub cargo: PathBuf,
    /// `Cargo.toml` of the project or workspace.
    pub manifest_path: PathBuf,
    /// Packages to build (`-p`); empty builds the manifest's package.
    pub packages: Vec<String>,
    /// Cargo profile (`release`, or a custom one).
    pub profile: String,
    /// Target directory.
    pub target_dir: PathBuf,
}

impl CargoBuild {
    /// Runs cargo with an environment cleaned of the calling cargo's
    /// settings (flags meant for the host target must not reach wasm).
    pub fn run(&self) -> Result<(), BuildError> {
        let mut cmd = Command::new(&self.cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(&self.manifest_path)
            .args(["--target", RUST_TARGET, "--profile", &self.profile])
            .arg("--target-dir")
            .arg(&self.target_dir);
        for package in &self.packages {
            cmd.args(["-p", package]);
        }
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let inherited = key.starts_with("CARGO_PROFILE_")
                || key.starts_with("CARGO_FEATURE_")
                || key.starts_with("CARGO_CFG_")
                || matches!(
                    &*key,
                    "RUSTFLAGS"
                        | "CARGO_ENCODED_RUSTFLAGS"
                        | "CARGO_TARGET_DIR"
                        | "CARGO_BUILD_TARGET"
                        | "RUSTC_WORKSPACE_WRAPPER"
                        | "RUSTC_WRAPPER"
                        | "CARGO_PRIMARY_PACKAGE"
                );
            if inherited {
                cmd.env_remove(&*key);
            }
        }
        let command = format!("{cmd:?}");
        let status = cmd.status().map_err(|_| BuildError::MissingTool {
            tool: "cargo".into(),
            hint: "install Rust with rustup (https://rustup.rs)".into(),
        })?;
        if status.success() { Ok(()) } else { Err(BuildError::Failed { command, status }) }
    }

    /// Where cargo puts the `.wasm` of library crate `crate_name`.
    pub fn artifact(&self, crate_name: &str) -> PathBuf {
        let profile_dir = if self.profile == "dev" { "debug" } else { &self.profile };
        self.target_dir
            .join(RUST_TARGET)
            .join(profile_dir)
            .join(format!("{}.wasm", crate_name.replace('-', "_")))
    }
}
