//! The user name and password a simulator accepts, and the 0600 file they are kept in.
//!
//! When the operator gives no credentials, a simulator generates a password once and
//! writes it to `DATA_DIR/<product>-credentials.json` (mode 0600, written atomically);
//! later starts read the same file, so clients configured from it keep working across
//! restarts. Credentials given explicitly are used as they are and never written to disk.

use std::fs;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A user name and password accepted by a simulator (basic auth for NSX, session login
/// for vCenter). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Why the credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Reading or writing the file failed.
    #[error("{op} credentials file {path}")]
    Io {
        /// "reading" or "writing".
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not `{"username": …, "password": …}`.
    #[error("credentials file {path} is not {{\"username\", \"password\"}} JSON")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Returns `given`, or the credentials kept in `data_dir/file_name`, creating that file
/// with `default_user` and a random password when it does not exist yet.
pub(crate) fn resolve(
    data_dir: &Path,
    file_name: &str,
    default_user: &str,
    given: Option<Credentials>,
) -> Result<Credentials, CredentialsError> {
    if let Some(given) = given {
        return Ok(given);
    }
    let path = data_dir.join(file_name);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| CredentialsError::Parse { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let creds = Credentials { username: default_user.to_owned(), password: random_password() };
            let json = serde_json::to_vec_pretty(&creds)
                .map_err(|source| CredentialsError::Parse { path: path.clone(), source })?;
            wasmvisor_tls::write_private(&path, &json).map_err(|source| CredentialsError::Io {
                op: "writing",
                path: path.clone(),
                source,
            })?;
            Ok(creds)
        }
        Err(source) => Err(CredentialsError::Io { op: "reading", path, source }),
    }
}

fn random_password() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(dir.path(), "nsx-credentials.json", "admin", None).unwrap();
        let second = resolve(dir.path(), "nsx-credentials.json", "admin", None).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.username, "admin");
        assert_eq!(first.password.len(), 24);
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        resolve(dir.path(), "c.json", "admin", None).unwrap();
        let mode = fs::metadata(dir.path().join("c.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn given_credentials_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let given = Credentials { username: "u".into(), password: "p".into() };
        assert_eq!(resolve(dir.path(), "c.json", "admin", Some(given.clone())).unwrap(), given);
        assert!(!dir.path().join("c.json").exists());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials { username: "u".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
