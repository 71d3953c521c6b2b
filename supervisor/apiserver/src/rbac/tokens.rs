//! ServiceAccount tokens: HS256-signed JWTs carrying the account's namespace, name and uid.
//!
//! In: claims to sign, or a bearer token. Out: a token, or the claims of a token whose
//! signature holds and which has not expired. The signing key lives in
//! `DATA_DIR/serviceaccount.key` (mode 0600), so tokens survive restarts. A valid signature
//! is not enough to authenticate: the caller also checks that the ServiceAccount (same uid)
//! and, for Secret-based tokens, the Secret still exist, so deleting either revokes tokens.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// What a ServiceAccount token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `system:serviceaccount:NAMESPACE:NAME`.
    pub sub: String,
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// The ServiceAccount's name.
    pub name: String,
    /// The ServiceAccount's uid when the token was issued.
    pub uid: String,
    /// For tokens stored in a `kubernetes.io/service-account-token` Secret: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds); Secret-based tokens do not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Signs and checks ServiceAccount tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer { .. }")
    }
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl TokenIssuer {
    /// Loads the signing key from `path`, or creates a random one there (mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<TokenIssuer> {
        let secret = match std::fs::read(path) {
            Ok(bytes) if bytes.len() >= 32 => bytes,
            _ => {
                let bytes: [u8; 32] = rand::rng().random();
                wasmvisor_tls::write_private(path, &bytes)?;
                bytes.to_vec()
            }
        };
        Ok(TokenIssuer::from_secret(&secret))
    }

    /// An issuer with the given key material.
    pub fn from_secret(secret: &[u8]) -> TokenIssuer {
        TokenIssuer { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// Signs `claims` into a token.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of `token` if its signature is ours and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        let (signed, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, signed.as_bytes(), &tag).ok()?;
        let (_, payload) = signed.split_once('.')?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        match claims.exp {
            Some(exp) if exp <= now => None,
            _ => Some(claims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>) -> Claims {
        Claims {
            sub: "system:serviceaccount:ns:sa".into(),
            namespace: "ns".into(),
            name: "sa".into(),
            uid: "u".into(),
            secret: None,
            iat: 100,
            exp,
        }
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let issuer = TokenIssuer::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = issuer.issue(&claims(Some(200)));
        assert_eq!(issuer.verify(&token, 150), Some(claims(Some(200))));
        assert_eq!(issuer.verify(&token, 200), None);
        let forever = issuer.issue(&claims(None));
        assert!(issuer.verify(&forever, i64::MAX).is_some());
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let issuer = TokenIssuer::from_secret(b"0123456789abcdef0123456789abcdef");
        let other = TokenIssuer::from_secret(b"fedcba9876543210fedcba9876543210");
        let token = other.issue(&claims(None));
        assert_eq!(issuer.verify(&token, 0), None);
        let mine = issuer.issue(&claims(None));
        let (head, _) = mine.rsplit_once('.').unwrap();
        let mut forged = claims(None);
        forged.namespace = "kube-system".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let (header, _) = head.split_once('.').unwrap();
        let tampered = format!("{header}.{payload}.{}", mine.rsplit_once('.').unwrap().1);
        assert_eq!(issuer.verify(&tampered, 0), None);
        assert_eq!(issuer.verify("not-a-token", 0), None);
    }
}
