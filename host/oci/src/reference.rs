//! A plugin reference (`registry.example.com/team/tkc:0.3.1` or
//! `…@sha256:…`) and the transport it may use.
//!
//! HTTPS always, except to a registry on a loopback address (`localhost`,
//! `127.0.0.0/8`, `[::1]`), which may speak plain HTTP the way docker treats
//! those as insecure registries; any other registry needs `--insecure`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use oci_client::Reference;
use oci_client::client::ClientProtocol;

use crate::error::OciError;

/// A parsed reference, with the text the operator wrote for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    reference: Reference,
    written: String,
}

impl FromStr for PluginRef {
    type Err = OciError;

    fn from_str(text: &str) -> Result<Self, OciError> {
        let text = text.trim();
        if !Self::names_a_registry(text) {
            return Err(OciError::InvalidReference {
                reference: text.to_owned(),
                reason: "it names no registry host; wasmvisor does not default to Docker Hub".into(),
            });
        }
        let reference = Reference::from_str(text)
            .map_err(|e| OciError::InvalidReference { reference: text.to_owned(), reason: e.to_string() })?;
        if let Some(digest) = reference.digest()
            && !is_sha256(digest)
        {
            return Err(OciError::InvalidReference {
                reference: text.to_owned(),
                reason: format!("digest {digest:?} is not sha256:<64 hex digits>"),
            });
        }
        Ok(Self { reference, written: text.to_owned() })
    }
}

impl PluginRef {
    /// Whether `text` starts with a registry host (`localhost`, or a first
    /// segment with a `.` or a `:port`) and a repository: what tells a
    /// reference from a file path.
    pub fn names_a_registry(text: &str) -> bool {
        match text.split_once('/') {
            Some((host, rest)) => {
                !rest.is_empty()
                    && (host == "localhost" || host.contains('.') || host.contains(':'))
                    && !host.starts_with('.')
            }
            None => false,
        }
    }
}

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

impl<'de> serde::Deserialize<'de> for PluginRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for PluginRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.written)
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl PluginRef {
    /// The `oci-client` reference.
    pub fn oci(&self) -> &Reference {
        &self.reference
    }

    /// The registry host (with port), as the client addresses it.
    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// The pinned digest, if the reference names one.
    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// The same repository pinned to `digest` (the tag kept for messages).
    pub fn pinned(&self, digest: &str) -> Self {
        let reference = Reference::with_digest(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            digest.to_owned(),
        );
        Self { written: reference.whole(), reference }
    }

    /// Whether the registry is on a loopback address.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.registry())
    }

    /// The protocol to reach the registry: plain HTTP for loopback or when
    /// `insecure`, HTTPS otherwise.
    pub fn protocol(&self, insecure: bool) -> ClientProtocol {
        if insecure {
            ClientProtocol::Http
        } else if self.is_loopback() {
            ClientProtocol::HttpsExcept(vec![self.registry().to_owned()])
        } else {
            ClientProtocol::Https
        }
    }
}

/// `host[:port]` → whether host is `localhost` or a loopback IP.
fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _port)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn loopback_registries_may_speak_plain_http_others_only_when_insecure() {
        // (oci-spec's grammar has no IPv6 literals, so [::1] is checked alone.)
        assert!(is_loopback_host("[::1]:5000") && !is_loopback_host("[2001:db8::1]:5000"));
        for loopback in ["localhost:5000/t/p:1", "127.0.0.1:5000/p:1", "127.8.9.1/p:1"] {
            let r: PluginRef = loopback.parse().unwrap();
            assert!(r.is_loopback(), "{loopback}");
            assert!(matches!(r.protocol(false), ClientProtocol::HttpsExcept(_)), "{loopback}");
        }
        for remote in
            ["registry.example.com/team/tkc:0.3.1", "10.0.0.1:5000/p:1", "localhost.example.com/p:1"]
        {
            let r: PluginRef = remote.parse().unwrap();
            assert!(!r.is_loopback(), "{remote}");
            assert_eq!(r.protocol(false), ClientProtocol::Https, "{remote}");
            assert_eq!(r.protocol(true), ClientProtocol::Http, "{remote}");
        }
    }

    #[test]
    fn parses_tags_and_digests_and_pins_a_tag() {
        let tagged: PluginRef = "registry.example.com/team/tkc:0.3.1".parse().unwrap();
        assert_eq!(tagged.registry(), "registry.example.com");
        assert_eq!(tagged.digest(), None);
        let pinned = tagged.pinned(DIGEST);
        assert_eq!(pinned.to_string(), format!("registry.example.com/team/tkc@{DIGEST}"));
        let by_digest: PluginRef = format!("localhost:5000/tkc@{DIGEST}").parse().unwrap();
        assert_eq!(by_digest.digest(), Some(DIGEST));
    }

    #[test]
    fn refuses_what_is_not_a_reference_saying_how_to_write_one() {
        for bad in [
            "",
            "tkc:1",
            "team/tkc:1",
            "r.example.com/Upper:1",
            "r.example.com/p@sha256:abc",
            "r.example.com/p@md5:0123",
        ] {
            let error = bad.parse::<PluginRef>().unwrap_err().to_string();
            assert!(error.contains("REGISTRY/REPOSITORY:TAG"), "{bad}: {error}");
        }
        for path in ["/tmp/x.wasm", "./x.wasm", "../r.example.com/x", "x.wasm"] {
            assert!(!PluginRef::names_a_registry(path), "{path}");
        }
    }
}
