//! Webhook signatures: `X-Hub-Signature-256` is `sha256=` + hex HMAC-SHA256 of the raw body.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};

type HmacSha256 = Hmac<sha2::Sha256>;

/// The signature GitHub would send for `body` under `secret`.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let hex: String = hmac_sha256(secret.expose_secret().as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn mac(key: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(body);
    mac
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> Vec<u8> {
    mac(key, body).finalize().into_bytes().to_vec()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
    NoSecretConfigured,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing X-Hub-Signature-256 header",
            SignatureError::Malformed => {
                "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>"
            }
            SignatureError::Mismatch => {
                "signature does not match the body under any configured webhook secret"
            }
            SignatureError::NoSecretConfigured => {
                "no webhook secret is configured (GITHUB_WEBHOOK_SECRET)"
            }
        }
    }
}

/// Verifies a signature header against any of the secrets, in constant time per secret.
pub fn verify(
    secrets: &[SecretString],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    let mut matched = false;
    for secret in secrets {
        // Constant-time per secret, and every secret is checked, so timing reveals nothing.
        matched |= mac(secret.expose_secret().as_bytes(), body)
            .verify_slice(&expected)
            .is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        secret: String,
        payload: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/github/signature-vectors.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("signature vectors missing at {path}: {e}"));
        serde_json::from_str(&text).expect("signature vectors parse")
    }

    #[test]
    fn published_vectors_sign_and_verify() {
        let vectors = vectors();
        assert!(vectors.len() >= 5);
        for v in vectors {
            let secret = SecretString::from(v.secret.clone());
            assert_eq!(sign(&secret, v.payload.as_bytes()), v.signature);
            assert_eq!(
                verify(&[secret], Some(&v.signature), v.payload.as_bytes()),
                Ok(())
            );
        }
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let old = SecretString::from("old".to_owned());
        let new = SecretString::from("new".to_owned());
        let sig = sign(&old, b"{}");
        assert_eq!(verify(&[new.clone(), old], Some(&sig), b"{}"), Ok(()));
        assert_eq!(
            verify(&[new], Some(&sig), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bad_headers_are_told_apart() {
        let s = [SecretString::from("s".to_owned())];
        assert_eq!(verify(&s, None, b""), Err(SignatureError::Missing));
        assert_eq!(
            verify(&s, Some("sha1=abc"), b""),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&s, Some("sha256=zz"), b""),
            Err(SignatureError::Malformed)
        );
        let tampered = sign(&s[0], b"a");
        assert_eq!(
            verify(&s, Some(&tampered), b"b"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[], Some(&tampered), b"a"),
            Err(SignatureError::NoSecretConfigured)
        );
    }
}
