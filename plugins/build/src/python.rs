//! Python plugin projects: `componentize-py` (pinned to [`COMPONENTIZE_PY_VERSION`]).
//!
//! A project holds `plugin.toml`, the module defining `WitWorld` (default
//! `app.py`) and a `pyproject.toml` whose `[tool.wasmvisor]` table says where
//! the WIT and the SDK are:
//!
//! ```toml
//! [tool.wasmvisor]
//! module = "app"                 # the module that defines WitWorld
//! wit = "wit"                    # the reconciler world's WIT directory
//! python-path = ["../sdk-python"] # extra module search paths
//! ```
//!
//! Relative paths are relative to the project directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{BuildError, io, run_logged};

/// The componentize-py release the WIT bindings and SDK were checked with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The file that marks a Python project and holds its build settings.
pub const PYPROJECT: &str = "pyproject.toml";

/// `[tool.wasmvisor]` of `pyproject.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PythonSettings {
    /// The module that defines `WitWorld`.
    #[serde(default = "default_module")]
    pub module: String,
    /// The WIT directory.
    #[serde(default = "default_wit")]
    pub wit: PathBuf,
    /// Extra module search paths (the SDK).
    #[serde(default)]
    pub python_path: Vec<PathBuf>,
}

fn default_module() -> String {
    "app".into()
}

fn default_wit() -> PathBuf {
    "wit".into()
}

#[derive(Deserialize)]
struct PyProject {
    #[serde(default)]
    tool: Tool,
}

#[derive(Default, Deserialize)]
struct Tool {
    wasmvisor: Option<PythonSettings>,
}

/// Reads `[tool.wasmvisor]` from `dir/pyproject.toml` (defaults if absent).
pub fn read_settings(dir: &Path) -> Result<PythonSettings, BuildError> {
    let path = dir.join(PYPROJECT);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let project: PyProject = toml::from_str(&text)
        .map_err(|e| BuildError::Settings { path: path.clone(), message: e.to_string() })?;
    Ok(project.tool.wasmvisor.unwrap_or_else(|| PythonSettings {
        module: default_module(),
        wit: default_wit(),
        python_path: Vec::new(),
    }))
}

/// The command that installs the pinned componentize-py into `dir/.venv`.
pub fn install_hint(dir: &Path) -> String {
    let venv = dir.join(".venv");
    format!(
        "run `python3 -m venv {venv} && {pip} install componentize-py=={COMPONENTIZE_PY_VERSION}`",
        venv = venv.display(),
        pip = venv.join("bin/pip").display(),
    )
}

/// Finds componentize-py [`COMPONENTIZE_PY_VERSION`]: in `dir/.venv`, then in
/// each of `fallback_venvs`, then on `PATH`. A missing or different version
/// is a [`BuildError::MissingTool`] naming the command that installs it.
pub fn find_componentize_py(dir: &Path, fallback_venvs: &[PathBuf]) -> Result<PathBuf, BuildError> {
    let mut candidates: Vec<PathBuf> = std::iter::once(dir.join(".venv"))
        .chain(fallback_venvs.iter().cloned())
        .map(|venv| venv.join("bin/componentize-py"))
        .filter(|p| p.is_file())
        .collect();
    candidates.push("componentize-py".into());
    first_pinned(candidates, dir)
}

/// The first of `candidates` that runs and reports [`COMPONENTIZE_PY_VERSION`].
fn first_pinned(candidates: Vec<PathBuf>, dir: &Path) -> Result<PathBuf, BuildError> {
    let mut found_other = None;
    for candidate in candidates {
        let Ok(output) = Command::new(&candidate).arg("--version").output() else { continue };
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && version.split_whitespace().last() == Some(COMPONENTIZE_PY_VERSION) {
            return Ok(candidate);
        }
        found_other.get_or_insert(format!("{} is {version:?}", candidate.display()));
    }
    let tool = match found_other {
        Some(other) => format!("componentize-py {COMPONENTIZE_PY_VERSION} (found {other})"),
        None => format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
    };
    Err(BuildError::MissingTool { tool, hint: install_hint(dir) })
}

/// Runs componentize-py for the project in `dir`, writing the bare
/// component (no manifest yet) to `out`.
pub fn componentize(
    componentize_py: &Path,
    dir: &Path,
    settings: &PythonSettings,
    out: &Path,
) -> Result<(), BuildError> {
    let wit = dir.join(&settings.wit);
    if !wit.is_dir() {
        return Err(BuildError::Settings {
            path: dir.join(PYPROJECT),
            message: format!("the WIT directory {} does not exist ([tool.wasmvisor] wit)", wit.display()),
        });
    }
    let mut cmd = Command::new(componentize_py);
    cmd.current_dir(dir).arg("-d").arg(&wit).args(["-w", "reconciler", "componentize", &settings.module]);
    cmd.arg("-p").arg(".");
    for path in &settings.python_path {
        cmd.arg("-p").arg(dir.join(path));
    }
    cmd.arg("-o").arg(out);
    run_logged(cmd, "componentize-py")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_tool_wasmvisor_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PYPROJECT), "[project]\nname = \"x\"\n").unwrap();
        let defaults = read_settings(dir.path()).unwrap();
        assert_eq!((defaults.module.as_str(), defaults.wit.as_path()), ("app", Path::new("wit")));
        std::fs::write(
            dir.path().join(PYPROJECT),
            "[tool.wasmvisor]\nmodule = \"main\"\npython-path = [\"../sdk\"]\n",
        )
        .unwrap();
        let set = read_settings(dir.path()).unwrap();
        assert_eq!(set.module, "main");
        assert_eq!(set.python_path, vec![PathBuf::from("../sdk")]);
        std::fs::write(dir.path().join(PYPROJECT), "[tool.wasmvisor]\nmodul = \"typo\"\n").unwrap();
        let err = read_settings(dir.path()).unwrap_err().to_string();
        assert!(err.contains("pyproject.toml") && err.contains("unknown field `modul`"), "{err}");
    }

    /// A stand-in componentize-py that reports `version`.
    fn fake(dir: &Path, name: &str, version: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho componentize-py {version}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_missing_componentize_py_names_the_install_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = first_pinned(vec![dir.path().join("nowhere")], dir.path()).unwrap_err().to_string();
        let venv = dir.path().join(".venv");
        let install = format!(
            "run `python3 -m venv {} && {}/bin/pip install componentize-py==0.25.1`",
            venv.display(),
            venv.display()
        );
        assert_eq!(err, format!("componentize-py 0.25.1 is not available: {install}"));
    }

    #[test]
    fn only_the_pinned_version_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let old = fake(dir.path(), "old", "0.24.0");
        let err = first_pinned(vec![old.clone()], dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("(found {} is \"componentize-py 0.24.0\")", old.display())), "{err}");
        assert!(err.contains("pip install componentize-py==0.25.1"), "{err}");
        let pinned = fake(dir.path(), "pinned", COMPONENTIZE_PY_VERSION);
        assert_eq!(first_pinned(vec![old, pinned.clone()], dir.path()).unwrap(), pinned);
    }
}
