//! A local certificate authority and an HTTPS accept loop for loopback servers.
//!
//! The embedded supervisor (API server, NSX and vCenter simulators) serves HTTPS on
//! loopback so that clients take the same TLS path as against real endpoints. This
//! crate keeps one CA per data directory ([`LocalCa::load_or_create`]) so that a
//! restart keeps the CA clients already trust, issues a fresh serving certificate per
//! start ([`LocalCa::server_config`]), builds a client config that trusts a CA
//! ([`client_config_trusting`]) and serves an axum `Router` over TLS ([`serve()`]).
//! [`LocalCa::load_or_create_locked`] is the same for a CA directory several servers may
//! start on at once, and [`write_private`] is the one writer for secrets on disk.
//!
//! Everything runs on the `ring` crypto provider; aws-lc-rs stays out of the tree.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = wasmvisor_tls::LocalCa::load_or_create(std::path::Path::new("/tmp/data"))?;
//! let tls = ca.server_config(&["127.0.0.1", "localhost"])?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let app = axum::Router::new();
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(wasmvisor_tls::serve(listener, tls, app, async {
//!     let _ = stop_rx.await;
//! }));
//! // ... later
//! let _ = stop_tx.send(());
//! server.await?;
//! # Ok(()) }
//! ```

mod serve;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use serve::{ConnectionKill, SHUTDOWN_GRACE, serve};

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

const CA_COMMON_NAME: &str = "wasmvisor local CA";

/// Why a CA could not be loaded or created, or a TLS config not built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Reading or writing a file of the CA directory failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done ("reading", "writing", "creating directory").
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Exactly one of `ca.crt` and `ca.key` exists; refusing to overwrite the other.
    #[error("CA directory {dir} holds only one of {CA_CERT_FILE} and {CA_KEY_FILE}")]
    IncompleteCa {
        /// The CA directory.
        dir: PathBuf,
    },
    /// A PEM file or string could not be parsed.
    #[error("parsing PEM of {what}")]
    Pem {
        /// Which PEM ("CA certificate", "CA key", "trusted CA").
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA key does not belong to the CA certificate.
    #[error("CA key in {dir} does not match the CA certificate")]
    KeyMismatch {
        /// The CA directory.
        dir: PathBuf,
    },
    /// Generating a key or a certificate failed.
    #[error("generating {what}")]
    Generate {
        /// What was generated ("CA key", "serving certificate", ...).
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the configuration.
    #[error("building TLS config")]
    Rustls(#[from] rustls::Error),
    /// No names were given for a serving certificate.
    #[error("a serving certificate needs at least one name")]
    NoNames,
}

/// A certificate authority kept in a directory, used to issue loopback serving certificates.
pub struct LocalCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from `dir/ca.crt` and `dir/ca.key`, or creates both if neither exists.
    ///
    /// The directory is created if missing. The key file is written with mode 0600, and the
    /// two files are written to temporary names and renamed, so a crash never leaves a
    /// half-written CA. If only one of the two files exists the call fails rather than
    /// replacing a CA that clients may already trust.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(dir, &cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path),
            _ => Err(TlsError::IncompleteCa { dir: dir.to_owned() }),
        }
    }

    /// [`LocalCa::load_or_create`] holding an exclusive lock on `DIR.lock` (a sibling of
    /// `dir`), for a CA directory that several servers may start on at once.
    ///
    /// Two simulators started together on a fresh data dir (`wasmvisor sim nsx` and
    /// `wasmvisor sim vcenter` in two shells, or two tasks of one process) would otherwise
    /// both make a CA and write it under each other: one start fails, or the files end up
    /// mixing one CA's key with the other's certificate. Under the lock the second waits
    /// and loads what the first made. The lock is `flock`, released when the file closes.
    pub fn load_or_create_locked(dir: &Path) -> Result<LocalCa, TlsError> {
        let path = dir.with_extension("lock");
        let io = |op| {
            let path = path.clone();
            move |source| TlsError::Io { op, path, source }
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io("creating directory"))?;
        }
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("opening"))?;
        lock.lock().map_err(io("locking"))?;
        Self::load_or_create(dir)
    }

    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, TlsError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|source| TlsError::Pem { what: "CA certificate", source })?;
        let key =
            KeyPair::from_pem(&key_pem).map_err(|source| TlsError::Generate { what: "CA key", source })?;
        // The certificate embeds the CA's public key; a key from another CA would issue
        // certificates nobody can verify, so check before serving with it.
        if !contains(cert_der.as_ref(), key.public_key_raw()) {
            return Err(TlsError::KeyMismatch { dir: dir.to_owned() });
        }
        Ok(LocalCa { cert_pem, cert_der, issuer: Issuer::new(ca_params(), key) })
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, TlsError> {
        fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            op: "creating directory",
            path: dir.to_owned(),
            source,
        })?;
        let key = KeyPair::generate().map_err(|source| TlsError::Generate { what: "CA key", source })?;
        let params = ca_params();
        let cert = params
            .self_signed(&key)
            .map_err(|source| TlsError::Generate { what: "CA certificate", source })?;
        let writing = |path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::Io { op: "writing", path, source }
        };
        write_private(key_path, key.serialize_pem().as_bytes()).map_err(writing(key_path))?;
        write_file(cert_path, cert.pem().as_bytes(), 0o644).map_err(writing(cert_path))?;
        Ok(LocalCa { cert_pem: cert.pem(), cert_der: cert.der().clone(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate in PEM, for kubeconfigs and clients that must trust this CA.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a fresh serving certificate for `names` and returns a server config using it.
    ///
    /// Names that parse as IP addresses become IP SANs, the others DNS SANs. The chain sent
    /// to clients is the leaf followed by the CA. ALPN offers `h2` and `http/1.1`.
    pub fn server_config(&self, names: &[&str]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let first = names.first().ok_or(TlsError::NoNames)?;
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans)
            .map_err(|source| TlsError::Generate { what: "serving certificate names", source })?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, *first);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(365);
        let key = KeyPair::generate().map_err(|source| TlsError::Generate { what: "serving key", source })?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| TlsError::Generate { what: "serving certificate", source })?;
        let chain = vec![cert.der().clone(), self.cert_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A client config that trusts exactly the CA certificates in `ca_pem` (no system roots).
pub fn client_config_trusting(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|source| TlsError::Pem { what: "trusted CA", source })?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(TlsError::Pem {
            what: "trusted CA",
            source: rustls::pki_types::pem::Error::NoItemsFound,
        });
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name.push(DnType::OrganizationName, "wasmvisor");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn read(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Io { op: "reading", path: path.to_owned(), source })
}

/// Writes `bytes` to `path` readable by its owner only (mode 0600 on Unix): to a temporary
/// sibling first, fsynced, then renamed over `path`, so a crash never leaves a half-written
/// file.
///
/// Every secret the embedded supervisor keeps on disk goes through here: this CA's key,
/// the API server's admin token, signing key and kubeconfig, and the simulators'
/// generated credentials.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_file(path, bytes, 0o600)
}

/// Writes `bytes` to a temporary sibling with `mode`, fsyncs it and renames it over `path`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reloads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCa::load_or_create(dir.path()).unwrap();
        let second = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert!(first.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        LocalCa::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(CA_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn refuses_a_half_ca() {
        let dir = tempfile::tempdir().unwrap();
        LocalCa::load_or_create(dir.path()).unwrap();
        fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        let err = LocalCa::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, TlsError::IncompleteCa { .. }), "{err}");
    }

    #[test]
    fn refuses_a_key_from_another_ca() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        LocalCa::load_or_create(a.path()).unwrap();
        LocalCa::load_or_create(b.path()).unwrap();
        fs::copy(b.path().join(CA_KEY_FILE), a.path().join(CA_KEY_FILE)).unwrap();
        let err = LocalCa::load_or_create(a.path()).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn serving_config_needs_names() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        assert!(matches!(ca.server_config(&[]), Err(TlsError::NoNames)));
        ca.server_config(&["127.0.0.1", "localhost"]).unwrap();
    }

    #[test]
    fn client_config_rejects_garbage() {
        assert!(client_config_trusting("not a pem").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        write_private(&path, b"x").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
