//! A plugin project in any supported language, built into its component.
//!
//! The language follows from the files present: `Cargo.toml` (Rust),
//! `pyproject.toml` (Python), `package.json` (JavaScript). Each is built with
//! its own tool, then `plugin.toml` is embedded; the component lands in
//! `target/wasmvisor/NAME.wasm` (Rust) or `dist/NAME.wasm` (Python, JS).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{BuildError, CargoBuild, check_rust_target, io, js, package, python, read_manifest};

/// Languages a plugin project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Rust with the wasmvisor SDK, built by cargo for wasm32-wasip2.
    Rust,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by the project's npm script (componentize-qjs or jco).
    Js,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        })
    }
}

impl Language {
    /// The language of the project in `dir`, from the files it holds.
    pub fn detect(dir: &Path) -> Result<Self, BuildError> {
        let markers = [
            ("Cargo.toml", Language::Rust),
            (python::PYPROJECT, Language::Python),
            (js::PACKAGE_JSON, Language::Js),
        ];
        let found: Vec<Language> =
            markers.iter().filter(|(file, _)| dir.join(file).is_file()).map(|(_, lang)| *lang).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(BuildError::UnknownProject {
                dir: dir.to_owned(),
                reason: "none of Cargo.toml (Rust), pyproject.toml (Python), package.json (JavaScript)"
                    .into(),
            }),
            many => Err(BuildError::UnknownProject {
                dir: dir.to_owned(),
                reason: format!(
                    "more than one of Cargo.toml, pyproject.toml, package.json ({})",
                    many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
}

/// Where to look for toolchains a project does not carry itself.
#[derive(Debug, Clone, Default)]
pub struct Toolchains {
    /// `cargo` to run (default `cargo` on PATH).
    pub cargo: Option<PathBuf>,
    /// `rustc` whose sysroot must have the wasm32-wasip2 target.
    pub rustc: Option<PathBuf>,
    /// Python virtualenvs to try for componentize-py after the project's own `.venv`.
    pub python_venvs: Vec<PathBuf>,
}

/// A built component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The project's language.
    pub language: Language,
    /// The component with its manifest embedded.
    pub component: PathBuf,
}

/// Builds the project in `dir` into its component.
pub fn build(dir: &Path, tools: &Toolchains) -> Result<Built, BuildError> {
    let (manifest_text, manifest) = read_manifest(dir)?;
    let language = Language::detect(dir)?;
    let component = match language {
        Language::Rust => {
            let cargo_toml = dir.join("Cargo.toml");
            let crate_name = cargo_package_name(&cargo_toml)?;
            check_rust_target(tools.rustc.as_deref().unwrap_or(Path::new("rustc")).as_os_str())?;
            let target_dir = dir.join("target");
            let build = CargoBuild {
                cargo: tools.cargo.clone().unwrap_or_else(|| "cargo".into()),
                manifest_path: cargo_toml,
                packages: Vec::new(),
                profile: "release".into(),
                target_dir: target_dir.clone(),
            };
            build.run()?;
            let out = target_dir.join("wasmvisor").join(format!("{}.wasm", manifest.name));
            create_parent(&out)?;
            package(&build.artifact(&crate_name), &manifest_text, &out)?;
            out
        }
        Language::Python => {
            let settings = python::read_settings(dir)?;
            let componentize_py = python::find_componentize_py(dir, &tools.python_venvs)?;
            let bare = dir.join("dist/component.wasm");
            create_parent(&bare)?;
            python::componentize(&componentize_py, dir, &settings, &bare)?;
            let out = dir.join("dist").join(format!("{}.wasm", manifest.name));
            package(&bare, &manifest_text, &out)?;
            out
        }
        Language::Js => {
            let package_json = js::read_package(dir)?;
            let bare = js::npm_build(dir, &package_json)?;
            let out = dir.join("dist").join(format!("{}.wasm", manifest.name));
            create_parent(&out)?;
            package(&bare, &manifest_text, &out)?;
            out
        }
    };
    Ok(Built { language, component: component.canonicalize().unwrap_or(component) })
}

fn create_parent(path: &Path) -> Result<(), BuildError> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(io(parent)),
        None => Ok(()),
    }
}

fn cargo_package_name(cargo_toml: &Path) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(cargo_toml).map_err(io(cargo_toml))?;
    let settings = |message: String| BuildError::Settings { path: cargo_toml.to_owned(), message };
    let value: toml::Value = toml::from_str(&text).map_err(|e| settings(e.to_string()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| settings("has no [package] name".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_language_from_the_marker_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Language::detect(dir.path()), Err(BuildError::UnknownProject { .. })));
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        assert_eq!(Language::detect(dir.path()).unwrap(), Language::Python);
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        let err = Language::detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("more than one") && err.contains("python, js"), "{err}");
    }
}
