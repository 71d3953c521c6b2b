//! Registry credentials: flags first, else the usual docker config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), else
//! anonymous.
//!
//! An `auths` entry's `auth` (base64 `user:password`) or its `username` and
//! `password` are used. Credential helpers (`credsStore`, `credHelpers`) are
//! programs wasmvisor does not run; a registry that only has one is an error
//! saying so, rather than an anonymous request that fails later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::OciError;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials.
    Anonymous,
    /// HTTP basic (the registry may trade it for a token).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

impl Credentials {
    /// The credentials for `registry`: `explicit` if given, else the
    /// docker config file's entry, else anonymous.
    pub fn resolve(registry: &str, explicit: Option<Credentials>) -> Result<Self, OciError> {
        if let Some(explicit) = explicit {
            return Ok(explicit);
        }
        match docker_config_path() {
            Some(path) if path.exists() => Self::from_docker_config(&path, registry),
            _ => Ok(Self::Anonymous),
        }
    }

    /// The entry for `registry` in the docker config file at `path`.
    pub fn from_docker_config(path: &Path, registry: &str) -> Result<Self, OciError> {
        let fail = |message: String| OciError::Credentials { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let config: DockerConfig =
            serde_json::from_str(&text).map_err(|e| fail(format!("not a docker config file: {e}")))?;
        let wanted = normalize(registry);
        let entry = config.auths.iter().find(|(key, _)| normalize(key) == wanted).map(|(_, e)| e);
        let helper = config.cred_helpers.get(registry).or(config.creds_store.as_ref());
        match entry {
            Some(entry) if entry.auth.is_some() || entry.username.is_some() => {
                entry.credentials().map_err(|m| fail(format!("auths.{registry}: {m}")))
            }
            _ => match helper {
                Some(helper) => Err(fail(format!(
                    "the credentials for {registry} are kept by the credential helper docker-credential-{helper}, which wasmvisor does not run; pass --username and --password"
                ))),
                None => Ok(Self::Anonymous),
            },
        }
    }

    pub(crate) fn to_auth(&self) -> RegistryAuth {
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// A registry key as docker writes it (`https://index.docker.io/v1/`,
/// `localhost:5000`, `http://r.example.com`) → its host.
fn normalize(key: &str) -> String {
    let key = key.trim_start_matches("https://").trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

#[derive(Debug, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl AuthEntry {
    fn credentials(&self) -> Result<Credentials, String> {
        if let Some(auth) = &self.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| format!("auth is not base64: {e}"))?;
            let text = String::from_utf8(decoded).map_err(|_| "auth is not UTF-8 text".to_owned())?;
            let (username, password) = text.split_once(':').ok_or("auth does not decode to user:password")?;
            return Ok(Credentials::Basic { username: username.to_owned(), password: password.to_owned() });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                Ok(Credentials::Basic { username: username.clone(), password: password.clone() })
            }
            _ => Err("has a username but no password".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_auth_and_username_password_entries_by_registry_host() {
        let (_dir, path) = config(
            r#"{"auths": {
                "localhost:5000": {"auth": "YWxpY2U6czNjcjN0"},
                "https://index.docker.io/v1/": {"username": "bob", "password": "pw"}
            }}"#,
        );
        let basic = |u: &str, p: &str| Credentials::Basic { username: u.into(), password: p.into() };
        assert_eq!(
            Credentials::from_docker_config(&path, "localhost:5000").unwrap(),
            basic("alice", "s3cr3t")
        );
        assert_eq!(Credentials::from_docker_config(&path, "docker.io").unwrap(), basic("bob", "pw"));
        assert_eq!(
            Credentials::from_docker_config(&path, "other.example.com").unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn a_credential_helper_or_a_broken_entry_is_an_error_naming_the_way_out() {
        let (_dir, path) = config(r#"{"auths": {"r.example.com": {}}, "credsStore": "desktop"}"#);
        let error = Credentials::from_docker_config(&path, "r.example.com").unwrap_err().to_string();
        assert!(error.contains("docker-credential-desktop") && error.contains("--username"), "{error}");
        let (_dir, path) = config(r#"{"auths": {"r.example.com": {"auth": "not base64!"}}}"#);
        let error = Credentials::from_docker_config(&path, "r.example.com").unwrap_err().to_string();
        assert!(error.contains("auth is not base64"), "{error}");
    }

    #[test]
    fn explicit_credentials_win_and_are_never_printed() {
        let explicit = Credentials::Basic { username: "u".into(), password: "hunter2".into() };
        assert_eq!(Credentials::resolve("r.example.com", Some(explicit.clone())).unwrap(), explicit);
        assert!(!format!("{explicit:?}").contains("hunter2"));
    }
}
