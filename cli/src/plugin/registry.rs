//! What `plugin push`, `pull` and `check REF` share: the registry flags
//! and a client built from them.

use anyhow::Context as _;
use wasmvisor_oci::{Credentials, PluginRef, Pulled, Registry, RegistryOptions};

/// How to reach the registry.
#[derive(Debug, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Allow plain HTTP to a registry that is not on a loopback address
    /// (loopback registries may always speak HTTP, as docker allows).
    #[arg(long)]
    insecure: bool,
    /// Registry user (else the docker config file's entry for the registry).
    #[arg(long, env = "WASMVISOR_REGISTRY_USERNAME", requires = "password")]
    username: Option<String>,
    /// Registry password or token, with --username.
    #[arg(long, env = "WASMVISOR_REGISTRY_PASSWORD", hide_env_values = true, requires = "username")]
    password: Option<String>,
}

impl RegistryArgs {
    /// A client for `reference`'s registry.
    pub(crate) fn client(&self, reference: &PluginRef) -> anyhow::Result<Registry> {
        let credentials = match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                Some(Credentials::Basic { username: username.clone(), password: password.clone() })
            }
            _ => None,
        };
        Ok(Registry::for_reference(reference, &RegistryOptions { insecure: self.insecure, credentials })?)
    }

    /// Pulls the plugin at `reference`, verified.
    pub(crate) fn pull(&self, reference: &PluginRef) -> anyhow::Result<Pulled> {
        let registry = self.client(reference)?;
        block_on(registry.pull(reference)).with_context(|| format!("pulling {reference}"))
    }
}

/// Runs one registry operation to completion.
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(future)
}
