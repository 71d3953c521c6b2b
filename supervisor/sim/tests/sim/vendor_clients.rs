//! The vendors' own Python clients, unchanged, against the simulators: OpenStack's
//! `vmware-nsxlib` (`NsxPolicyLib`) against NSX and VMware's vSphere Automation SDK
//! (`vmware-vcenter`, vAPI JSON-RPC) against vCenter.
//!
//! Each test starts a simulator, runs the client's script from `tests/clients/` with the
//! pinned virtualenv `.venv-vendor/` that `.ci/toolchains` installs, and fails with the
//! script's output when any step fails. Without the virtualenv the tests fail and name
//! the command that installs it: a missing client must not pass as a silent skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasmvisor_sim::{NsxSim, Running, VcenterSim, VcenterTiming};

use crate::harness::config;

/// The repository root (this crate is `supervisor/sim`).
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// The virtualenv's python, or an error naming the command that installs it.
fn vendor_python() -> Result<PathBuf> {
    let python = repo_root().join(".venv-vendor/bin/python");
    if !python.exists() {
        bail!(
            "the vendor clients' virtualenv {} is missing; install it with `.ci/toolchains` \
             (from the repository root)",
            python.display()
        );
    }
    Ok(python)
}

/// Runs `tests/clients/{script}` with `args` and fails with its output unless it exits 0.
async fn run_client(script: &str, args: Vec<String>) -> Result<String> {
    let python = vendor_python()?;
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        // requests prefers these over a session's own `verify` (the CA the script sets),
        // so a CA bundle from the environment would hide the simulator's CA.
        Command::new(python)
            .arg(script_path)
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .output()
    })
    .await?
    .with_context(|| format!("running {script}"))?;
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("{script} failed ({}) after {:?}\n{text}", output.status, started.elapsed());
    }
    Ok(text)
}

/// Writes the simulator's CA where the client can read it.
fn ca_file(dir: &Path, running: &Running) -> Result<String> {
    let path = dir.join("client-ca.pem");
    std::fs::write(&path, &running.ca_pem)?;
    Ok(path.display().to_string())
}

#[tokio::test]
async fn nsxlib_policy_lib_runs_unchanged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let running = NsxSim::start(config(dir.path())).await?;
    let creds = running.credentials.clone();
    let args = vec![
        running.base_url.clone(),
        creds.username.clone(),
        creds.password.clone(),
        ca_file(dir.path(), &running)?,
    ];
    let result = run_client("nsxlib.py", args).await;
    running.shutdown().await;
    let output = result?;
    println!("{output}");
    assert!(output.contains("nsxlib: all steps passed"), "{output}");
    Ok(())
}

#[tokio::test]
async fn vsphere_automation_sdk_runs_unchanged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let timing = VcenterTiming {
        session_idle_timeout: Duration::from_secs(600),
        tools_after: Duration::from_millis(200),
        ip_after: Duration::from_millis(500),
    };
    let vcenter = VcenterSim::start(config(dir.path()), timing).await?;
    let creds = vcenter.credentials.clone();
    let args = vec![
        vcenter.base_url.clone(),
        creds.username.clone(),
        creds.password.clone(),
        ca_file(dir.path(), &vcenter)?,
    ];
    let result = run_client("vcenter_sdk.py", args).await;
    vcenter.shutdown().await;
    let output = result?;
    println!("{output}");
    assert!(output.contains("vcenter_sdk: all steps passed"), "{output}");
    Ok(())
}
