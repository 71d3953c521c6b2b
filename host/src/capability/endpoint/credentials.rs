//! Where an endpoint's user name and password come from, and the one type
//! that holds them.
//!
//! Read once when a client is built, from a file or from a Kubernetes Secret
//! in the host's own cluster; afterwards the password lives only in the
//! client (as a pre-encoded, sensitive header). [`Credentials`] prints as
//! `<redacted>`, and no error here quotes a file's or a Secret's contents.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where to read the credentials (`credentials = { file = "…" }` or
/// `credentials.secret = { namespace = "…", name = "…" }` in host config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum CredentialsSource {
    /// A file holding `{"username": …, "password": …}` as JSON (what the
    /// simulators write) or `username = …` / `password = …` as TOML.
    File(PathBuf),
    /// A Kubernetes Secret with `username` and `password` keys, read once
    /// through the host's own cluster client (its ServiceAccount needs `get`
    /// on that Secret). A Secret changed later takes effect on the next
    /// host start, as a changed file does.
    Secret {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
}

/// Why credentials could not be read. Messages name the file but never
/// quote its contents.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("reading credentials file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is neither form.
    #[error(
        "credentials file {path} is neither JSON {{\"username\", \"password\"}} nor TOML username/password: {reason}"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed (no file contents).
        reason: String,
    },
    /// A field is empty.
    #[error("credentials file {path}: {field} is empty")]
    Empty {
        /// The file.
        path: PathBuf,
        /// `username` or `password`.
        field: &'static str,
    },
    /// A Secret is configured but the host has no cluster to read it from.
    #[error(
        "credentials from Secret {namespace}/{name}: the host has no cluster client to read it with; use credentials = {{ file = \"…\" }}"
    )]
    NoCluster {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// The API server refused or failed the read (not found, forbidden, …).
    #[error("reading credentials Secret {namespace}/{name}: {reason}")]
    SecretRead {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The API server's status code and message, or the client error.
        reason: String,
    },
    /// A key of the Secret is missing, empty or not UTF-8.
    #[error("credentials Secret {namespace}/{name}: key {key} is {problem}")]
    SecretKey {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// `username` or `password`.
        key: &'static str,
        /// `missing`, `empty` or `not UTF-8`.
        problem: &'static str,
    },
}

impl CredentialsSource {
    /// Reads the credentials: a file directly, a Secret through `cluster`,
    /// the client of the cluster the host runs in (`None` if it has none).
    pub async fn load(&self, cluster: Option<&kube::Client>) -> Result<Credentials, CredentialsError> {
        match self {
            CredentialsSource::File(path) => load_file(path),
            CredentialsSource::Secret { namespace, name } => match cluster {
                Some(client) => load_secret(client, namespace, name).await,
                None => Err(CredentialsError::NoCluster { namespace: namespace.clone(), name: name.clone() }),
            },
        }
    }
}

/// Reads `username` and `password` from the Secret's `data`.
async fn load_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Credentials, CredentialsError> {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client.clone(), namespace);
    let secret = api.get(name).await.map_err(|e| CredentialsError::SecretRead {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        // The status message names the Secret, never its data.
        reason: match e {
            kube::Error::Api(status) => format!("{} {}", status.code, status.message),
            other => other.to_string(),
        },
    })?;
    let data = secret.data.unwrap_or_default();
    let key = |key: &'static str| {
        let fail = |problem| CredentialsError::SecretKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key,
            problem,
        };
        let bytes = data.get(key).ok_or_else(|| fail("missing"))?;
        let text = String::from_utf8(bytes.0.clone()).map_err(|_| fail("not UTF-8"))?;
        if text.is_empty() { Err(fail("empty")) } else { Ok(text) }
    };
    Ok(Credentials { username: key("username")?, password: key("password")? })
}

/// Reads JSON when the file starts with `{`, TOML otherwise.
fn load_file(path: &Path) -> Result<Credentials, CredentialsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| CredentialsError::Read { path: path.to_owned(), source })?;
    let parse = |reason: String| CredentialsError::Parse { path: path.to_owned(), reason };
    let credentials: Credentials = if text.trim_start().starts_with('{') {
        // serde_json's messages name a line and column, never the text.
        serde_json::from_str(&text).map_err(|e| parse(format!("JSON: {e}")))?
    } else {
        // toml's Display quotes the offending line; keep only its message.
        toml::from_str(&text).map_err(|e| parse(format!("TOML: {}", e.message().trim())))?
    };
    for (field, value) in [("username", &credentials.username), ("password", &credentials.password)] {
        if value.is_empty() {
            return Err(CredentialsError::Empty { path: path.to_owned(), field });
        }
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Reads a file source (no cluster needed).
    fn load(path: PathBuf) -> Result<Credentials, CredentialsError> {
        load_file(&path)
    }

    #[test]
    fn reads_json_as_the_simulators_write_it() {
        let (_d, path) = file("{\n  \"username\": \"admin\",\n  \"password\": \"pw-1\"\n}");
        let c = load(path).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("admin", "pw-1"));
    }

    #[test]
    fn reads_toml() {
        let (_d, path) = file("username = \"admin\"\npassword = \"pw-2\"\n");
        assert_eq!(load(path).unwrap().password, "pw-2");
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let (_d, path) = file("username = \"admin\"\npassword = \"hunter2\"\nextra = \"hunter2\"\n");
        let err = load(path.clone()).unwrap_err().to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let (_d, path) = file("{\"username\": \"admin\", \"password\": hunter2}");
        let err = load(path).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn empty_fields_and_missing_files_are_named() {
        let (_d, path) = file("{\"username\": \"admin\", \"password\": \"\"}");
        let err = load(path).unwrap_err().to_string();
        assert!(err.ends_with("password is empty"), "{err}");
        let err = load("/nonexistent/creds.json".into()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/creds.json"), "{err}");
    }

    #[tokio::test]
    async fn a_secret_without_a_cluster_client_is_refused_by_name() {
        let source: CredentialsSource =
            toml::from_str::<toml::Table>("s = { secret = { namespace = \"kube-system\", name = \"nsx\" } }")
                .unwrap()["s"]
                .clone()
                .try_into()
                .unwrap();
        let err = source.load(None).await.unwrap_err().to_string();
        assert!(err.contains("Secret kube-system/nsx") && err.contains("no cluster client"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials { username: "admin".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
