//! A real registry for tests: Debian's `docker-registry` (the CNCF
//! distribution server) on a loopback port, storing into a temporary
//! directory. `.ci/toolchains` installs it; without it a test fails saying
//! how to install it, rather than skipping.
//!
//! The server runs under a small shell that kills it when the test process
//! ends (its stdin, a pipe from the test, closes), so a registry shared
//! through a `static` never outlives the test binary.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the server.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct TestRegistry {
    /// `127.0.0.1:PORT`, the host part of references.
    pub host: String,
    storage: tempfile::TempDir,
    child: Child,
}

impl std::fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRegistry").field("host", &self.host).finish()
    }
}

impl TestRegistry {
    /// Starts a registry on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// If the binary is missing (with the install command) or the server
    /// does not come up within 20 s.
    pub fn start() -> Self {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: these tests run a real OCI registry. Install it with \
             `apt-get install -y docker-registry` (or run `bash .ci/toolchains`, which does)"
        );
        let storage = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        std::fs::write(&config, config_yaml(&storage.path().join("data"), &host))
            .expect("writing config.yml");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" serve "$1" >"$2" 2>&1 & server=$!; read -r _; kill "$server""#)
            .arg(REGISTRY_BINARY)
            .arg(&config)
            .arg(storage.path().join("registry.log"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawning docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr: SocketAddr = host.parse().expect("a socket address");
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(storage.path().join("registry.log")).unwrap_or_default();
                panic!("docker-registry did not start on {host}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Self { host, storage, child }
    }

    /// The registry's storage directory (blobs under
    /// `docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data`), for tests
    /// that tamper with what it serves.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stops the server (as when a registry goes down) and waits for it.
    pub fn stop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"stop\n");
        }
        self.child.stdin = None;
        let _ = self.child.wait();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a local address").port()
}

fn config_yaml(storage: &Path, addr: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n",
        storage.display()
    )
}
