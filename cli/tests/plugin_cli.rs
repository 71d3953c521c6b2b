//! `wasmvisor plugin new|build|check` as a user runs them: the real binary,
//! real files, exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

use wasmvisor_plugins::testing::CHAOS;

fn wasmvisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmvisor")).args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_prints_what_a_plugin_watches_owns_and_needs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CHAOS.file);
    std::fs::write(&file, CHAOS.bytes).unwrap();
    let out = wasmvisor(&["plugin", "check", path(&file)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "plugin    chaos@1.0.0",
        "world     wasmvisor:plugin/reconciler@0.1.0: ok",
        "watches   v1/ConfigMap in cluster \"default\"",
        "needs     kube get,list,apply,apply-status,delete v1/ConfigMap in cluster *, namespaces \"chaos\"",
        "needs     nsx GET,PATCH /policy/api/v1/infra/segments/*",
        "limits    memory 32MiB, timeout 500ms, host-calls 20",
        "grant     not checked",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn check_against_a_grant_lists_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CHAOS.file);
    std::fs::write(&file, CHAOS.bytes).unwrap();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "[[plugins.chaos.capabilities.nsx]]\nmethods = [\"GET\"]\npath = \"/**\"\n")
        .unwrap();
    let out = wasmvisor(&["plugin", "check", path(&file), "--grant", path(&config)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("chaos@1.0.0 asks for more than its grant"), "{stderr}");
    assert!(stderr.contains("missing capability: nsx PATCH /policy/api/v1/infra/segments/*"), "{stderr}");
    assert!(stderr.contains("missing capability: kube get v1/ConfigMap"), "{stderr}");
}

#[test]
fn bad_input_exits_non_zero_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let fresh = dir.path().join("n");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["plugin", "check", path(&garbage)], "not a WebAssembly binary"),
        (vec!["plugin", "check", "/nonexistent/x.wasm"], "reading /nonexistent/x.wasm"),
        (vec!["plugin", "build", path(dir.path())], "cannot read the plugin manifest"),
        (vec!["plugin", "new", "Not_A_Name", "--path", path(&fresh)], "must be 1-63 lowercase"),
    ];
    for (args, expected) in cases {
        let out = wasmvisor(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// What a new user does outside the repository: scaffold, build, check.
#[test]
fn new_then_build_then_check_works_outside_the_repo() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("demo");
    let out = wasmvisor(&["plugin", "new", "demo", "--path", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wasmvisor(&["plugin", "build", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let component = text(&out.stdout).trim().to_owned();
    assert!(component.ends_with("demo.wasm") && Path::new(&component).is_file(), "{component}");
    let out = wasmvisor(&["plugin", "check", &component]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("plugin    demo@0.1.0"));
}

/// The repository root (its `.venv` and npm cache come from `.ci/toolchains`).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Python: scaffold, build with the pinned componentize-py, check.
#[test]
fn new_then_build_then_check_works_for_python() {
    assert!(
        repo().join(".venv/bin/componentize-py").is_file(),
        "componentize-py is missing: run `bash .ci/toolchains` from the repository root"
    );
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("demo-py");
    let out = wasmvisor(&["plugin", "new", "demo-py", "--lang", "python", "--path", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["plugin.toml", "pyproject.toml", "app.py", "wit/world.wit"] {
        assert!(project.join(file).is_file(), "the scaffold has {file}");
    }
    let out = wasmvisor(&["plugin", "build", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let component = text(&out.stdout).trim().to_owned();
    assert!(component.ends_with("dist/demo-py.wasm") && Path::new(&component).is_file(), "{component}");
    let out = wasmvisor(&["plugin", "check", &component]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("plugin    demo-py@0.1.0"), "{stdout}");
    assert!(stdout.contains("world     wasmvisor:plugin/reconciler@0.1.0: ok"), "{stdout}");
}

/// JavaScript: scaffold, a build before `npm install` names the command,
/// then install (from npm's cache, warmed by `.ci/toolchains`), build, check.
#[test]
fn new_then_build_then_check_works_for_js() {
    assert!(
        repo().join("node_modules/.bin/componentize-qjs").exists(),
        "the JS toolchain is missing: run `bash .ci/toolchains` from the repository root"
    );
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("demo-js");
    let out = wasmvisor(&["plugin", "new", "demo-js", "--lang", "js", "--path", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("next: npm install --prefix {}", project.display())));

    let out = wasmvisor(&["plugin", "build", path(&project)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("componentize-qjs (pinned in")
            && stderr.contains(&format!("npm install --prefix {}", project.display())),
        "{stderr}"
    );

    let install = Command::new("npm")
        .args(["install", "--prefer-offline", "--no-audit", "--no-fund", "--prefix", path(&project)])
        .output()
        .expect("npm runs");
    assert!(install.status.success(), "npm install: {}", text(&install.stderr));
    let out = wasmvisor(&["plugin", "build", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let component = text(&out.stdout).trim().to_owned();
    assert!(component.ends_with("dist/demo-js.wasm") && Path::new(&component).is_file(), "{component}");
    let out = wasmvisor(&["plugin", "check", &component]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("plugin    demo-js@0.1.0"));
}

#[test]
fn build_names_the_project_kinds_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        "name = \"x\"\nversion = \"1\"\n[[watches]]\napi-version = \"v1\"\nkind = \"Pod\"\n",
    )
    .unwrap();
    let out = wasmvisor(&["plugin", "build", path(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not a plugin project") && stderr.contains("pyproject.toml (Python)"),
        "{stderr}"
    );
}

/// Without Node.js, a JS build names what to install before anything else
/// (the next hint, `npm install`, would need npm).
#[test]
fn js_build_without_npm_says_to_install_node() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("no-node");
    let out = wasmvisor(&["plugin", "new", "no-node", "--lang", "js", "--path", path(&project)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_wasmvisor"))
        .args(["plugin", "build", path(&project)])
        .env("PATH", home.path())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: npm is not available: install Node.js 20 or newer with npm (https://nodejs.org)"
    );
}
