//! Where an endpoint's user name and password come from, and the one type
//! that holds them.
//!
//! Read once when a client is built; afterwards the password lives only in
//! the client (as a pre-encoded, sensitive header). [`Credentials`] prints as
//! `<redacted>`, and no error here quotes a file's contents.

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
    /// A Kubernetes Secret with `username` and `password` keys.
    ///
    /// Not available yet: reading it needs the kube client that the engine
    /// brings. Configuring it is refused with [`CredentialsError::SecretNotAvailable`].
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
    /// Secrets need the kube client, which is not wired in yet.
    #[error(
        "credentials from Secret {namespace}/{name}: Kubernetes Secrets are not supported yet; use credentials = {{ file = \"…\" }}"
    )]
    SecretNotAvailable {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
}

impl CredentialsSource {
    /// Reads the credentials.
    pub fn load(&self) -> Result<Credentials, CredentialsError> {
        match self {
            CredentialsSource::File(path) => load_file(path),
            CredentialsSource::Secret { namespace, name } => {
                Err(CredentialsError::SecretNotAvailable { namespace: namespace.clone(), name: name.clone() })
            }
        }
    }
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

    #[test]
    fn reads_json_as_the_simulators_write_it() {
        let (_d, path) = file("{\n  \"username\": \"admin\",\n  \"password\": \"pw-1\"\n}");
        let c = CredentialsSource::File(path).load().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("admin", "pw-1"));
    }

    #[test]
    fn reads_toml() {
        let (_d, path) = file("username = \"admin\"\npassword = \"pw-2\"\n");
        assert_eq!(CredentialsSource::File(path).load().unwrap().password, "pw-2");
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let (_d, path) = file("username = \"admin\"\npassword = \"hunter2\"\nextra = \"hunter2\"\n");
        let err = CredentialsSource::File(path.clone()).load().unwrap_err().to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let (_d, path) = file("{\"username\": \"admin\", \"password\": hunter2}");
        let err = CredentialsSource::File(path).load().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn empty_fields_and_missing_files_are_named() {
        let (_d, path) = file("{\"username\": \"admin\", \"password\": \"\"}");
        let err = CredentialsSource::File(path).load().unwrap_err().to_string();
        assert!(err.ends_with("password is empty"), "{err}");
        let err = CredentialsSource::File("/nonexistent/creds.json".into()).load().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/creds.json"), "{err}");
    }

    #[test]
    fn secret_source_says_it_is_not_available_yet() {
        let source: CredentialsSource =
            toml::from_str::<toml::Table>("s = { secret = { namespace = \"kube-system\", name = \"nsx\" } }")
                .unwrap()["s"]
                .clone()
                .try_into()
                .unwrap();
        let err = source.load().unwrap_err().to_string();
        assert!(err.contains("Secret kube-system/nsx") && err.contains("not supported yet"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials { username: "admin".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
