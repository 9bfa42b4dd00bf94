//! Secrets the database must keep (a project's Slack webhook URL, event hooks' URLs and
//! secrets) are sealed with AES-256-GCM under a key derived from `FLEXT_QUALITY_SECRET_KEY`:
//! what is on disk is useless without the server's key, and any tampering is detected when it
//! is opened.

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";
const NONCE: usize = 12;
const TAG: usize = 16;

/// Seals and opens secrets for one purpose (a different purpose gets a different key).
pub struct SecretBox {
    key: [u8; 32],
    purpose: &'static str,
}

impl SecretBox {
    pub fn new(secret: &SecretString, purpose: &'static str) -> SecretBox {
        let mut h = Sha256::new();
        h.update(b"flext-quality secret box\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(secret.expose_secret().as_bytes());
        SecretBox {
            key: h.finalize().into(),
            purpose,
        }
    }

    /// A box for another purpose under the same server key: what one purpose sealed, another
    /// cannot open, so a sealed value cannot be moved to a column meant for something else.
    pub fn derive(&self, purpose: &'static str) -> SecretBox {
        let mut h = Sha256::new();
        h.update(b"flext-quality derived secret box\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(self.key);
        SecretBox {
            key: h.finalize().into(),
            purpose,
        }
    }

    pub fn seal(&self, plain: &SecretString) -> Result<String> {
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).context("random nonce")?;
        let mut tag = [0u8; TAG];
        let sealed = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            self.purpose.as_bytes(),
            plain.expose_secret().as_bytes(),
            &mut tag,
        )
        .context("sealing a secret")?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<SecretString> {
        let Some(body) = sealed.strip_prefix(PREFIX) else {
            bail!("not a sealed secret");
        };
        let bytes = STANDARD
            .decode(body)
            .context("sealed secret is not base64")?;
        if bytes.len() < NONCE + TAG {
            bail!("sealed secret is too short");
        }
        let (nonce, rest) = bytes.split_at(NONCE);
        let (data, tag) = rest.split_at(rest.len() - TAG);
        let plain = decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            self.purpose.as_bytes(),
            data,
            tag,
        )
        // Never say more: the reason would not help, and the key must not leak into errors.
        .map_err(|_| anyhow::anyhow!("the sealed secret does not open with this server's FLEXT_QUALITY_SECRET_KEY (was the key changed?)"))?;
        Ok(SecretString::from(
            String::from_utf8(plain).context("sealed secret is not UTF-8")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_purpose() {
        let url = key("https://hooks.slack.com/services/T000/B000/XXXX");
        let b = SecretBox::new(&key("server key"), "slack");
        let sealed = b.seal(&url).unwrap();
        assert!(!sealed.contains("hooks.slack.com"));
        assert_ne!(sealed, b.seal(&url).unwrap(), "a fresh nonce every time");
        assert_eq!(
            b.open(&sealed).unwrap().expose_secret(),
            url.expose_secret()
        );
        assert!(SecretBox::new(&key("other key"), "slack")
            .open(&sealed)
            .is_err());
        assert!(SecretBox::new(&key("server key"), "other")
            .open(&sealed)
            .is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(b.open(&String::from_utf8(tampered).unwrap()).is_err());
        let err = SecretBox::new(&key("other key"), "slack")
            .open(&sealed)
            .unwrap_err();
        assert!(!format!("{err:#}").contains("other key"));

        let derived = b.derive("event hook url");
        let sealed = derived.seal(&url).unwrap();
        assert!(b.open(&sealed).is_err());
        assert!(b.derive("event hook secret").open(&sealed).is_err());
        assert_eq!(
            SecretBox::new(&key("server key"), "slack")
                .derive("event hook url")
                .open(&sealed)
                .unwrap()
                .expose_secret(),
            url.expose_secret()
        );
    }
}
