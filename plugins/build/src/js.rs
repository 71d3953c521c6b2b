//! JavaScript plugin projects: the project's own `npm run build`, with the
//! componentizer pinned in its `package.json` and installed in its
//! `node_modules` (componentize-qjs, or jco / componentize-js).
//!
//! A project holds `plugin.toml` and a `package.json` whose `build` script
//! writes the bare component; `wasmvisor.component` in `package.json` says
//! where (default `dist/component.wasm`):
//!
//! ```json
//! { "scripts": { "build": "mkdir -p dist && componentize-qjs --wit wit --world reconciler
//!     --js src/plugin.js --module-root . --sync --output dist/component.wasm" },
//!   "devDependencies": { "componentize-qjs": "0.4.5" } }
//! ```
//!
//! Why componentize-qjs (QuickJS) and not jco: a QuickJS instance costs a
//! fraction of a StarlingMonkey one (see the `languages` bench), and jco
//! 1.34.0's `--backend quickjs` never passes `--backend-qjs-disable-async`
//! on (it reads the misspelt option `backendQjsDisableAysnc`), so its
//! components import component-model async builtins the host does not
//! enable; jco 1.35.0 cannot componentize at all here. componentize-qjs is
//! the engine jco 1.34 itself drives; `--sync` is that flag.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::{BuildError, io, run_logged};

/// The componentize-qjs release checked on this project's machines.
pub const COMPONENTIZE_QJS_VERSION: &str = "0.4.5";

/// The file that marks a JavaScript project.
pub const PACKAGE_JSON: &str = "package.json";

/// Where the build script writes the component unless `package.json` says.
pub const DEFAULT_COMPONENT: &str = "dist/component.wasm";

/// The parts of `package.json` the build reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PackageJson {
    /// npm scripts.
    #[serde(default)]
    pub scripts: std::collections::BTreeMap<String, String>,
    /// `wasmvisor` settings.
    #[serde(default)]
    pub wasmvisor: JsSettings,
}

/// `wasmvisor` in `package.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsSettings {
    /// The component the build script writes, relative to the project.
    pub component: Option<PathBuf>,
}

/// Reads `dir/package.json`.
pub fn read_package(dir: &Path) -> Result<PackageJson, BuildError> {
    let path = dir.join(PACKAGE_JSON);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| BuildError::Settings { path, message: e.to_string() })
}

/// The componentizer the `build` script runs.
fn componentizer(script: &str) -> Option<&'static str> {
    script.split(|c: char| c.is_whitespace() || c == '&' || c == ';').find_map(|word| match word {
        "jco" => Some("jco"),
        "componentize-js" => Some("componentize-js"),
        "componentize-qjs" => Some("componentize-qjs"),
        _ => None,
    })
}

/// `node_modules/.bin/<tool>` in `dir` or an ancestor, as npm scripts see it.
pub fn find_bin(dir: &Path, tool: &str) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join("node_modules/.bin").join(tool)).find(|p| p.exists())
}

/// Runs `npm run build` in `dir`; returns the bare component's path.
pub fn npm_build(dir: &Path, package: &PackageJson) -> Result<PathBuf, BuildError> {
    let path = dir.join(PACKAGE_JSON);
    let Some(script) = package.scripts.get("build") else {
        return Err(BuildError::Settings {
            path,
            message: "has no \"build\" script; it should run componentize-qjs (see `wasmvisor plugin new --lang js`)"
                .into(),
        });
    };
    // npm first: the hint for a missing componentizer is an npm command.
    if Command::new("npm").arg("--version").output().is_err() {
        return Err(BuildError::MissingTool {
            tool: "npm".into(),
            hint: "install Node.js 20 or newer with npm (https://nodejs.org)".into(),
        });
    }
    if let Some(tool) = componentizer(script)
        && find_bin(dir, tool).is_none()
    {
        return Err(BuildError::MissingTool {
            tool: format!("{tool} (pinned in {})", path.display()),
            hint: format!("run `npm install --prefix {}`", dir.display()),
        });
    }
    let component = dir.join(package.wasmvisor.component.as_deref().unwrap_or(Path::new(DEFAULT_COMPONENT)));
    // A stale component must not pass for a fresh one if the script forgets to write it.
    match std::fs::remove_file(&component) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BuildError::Io { path: component, error: e }),
    }
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir).args(["run", "--silent", "build"]);
    run_logged(cmd, "npm run build")?;
    if !component.is_file() {
        return Err(BuildError::Settings {
            path,
            message: format!(
                "the build script succeeded but did not write {}; set \"wasmvisor\": {{\"component\": PATH}}",
                component.display()
            ),
        });
    }
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_componentizer_in_a_script() {
        assert_eq!(componentizer("mkdir -p dist && jco componentize src/plugin.js"), Some("jco"));
        assert_eq!(componentizer("componentize-js app.js -o x.wasm"), Some("componentize-js"));
        assert_eq!(componentizer("node build.mjs"), None);
    }
}
