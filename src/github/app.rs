//! GitHub App authentication: a short-lived JWT signed with the app key, exchanged for
//! installation tokens that are cached until shortly before they expire.
//!
//! Tokens and the key live only in memory, wrapped in secret types.

use super::http::{send_with_retries, GitHubError};
use crate::domain::time::parse_rfc3339;
use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// Refresh a cached token when less than this many seconds of validity remain.
const TOKEN_REFRESH_MARGIN_SECS: i64 = 300;

pub struct GitHubApp {
    app_id: u64,
    key: PKey<Private>,
    api_url: String,
    http: reqwest::Client,
    tokens: Mutex<HashMap<(i64, TokenScope), CachedToken>>,
    /// Rate-limit pauses and the one writer slot, per installation.
    pub(crate) throttle: super::throttle::Throttle,
}

/// What an installation token may do: act on one repository, with only the permissions a job
/// needs. A token that leaked could do no more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenScope {
    pub repository_id: i64,
    pub access: Access,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Fetch the code and publish check runs.
    Analyse,
    /// Write pull request comments (and read who may ask for re-runs).
    Converse,
}

impl Access {
    fn permissions(self) -> serde_json::Value {
        match self {
            Access::Analyse => serde_json::json!({
                "checks": "write", "contents": "read", "metadata": "read"
            }),
            Access::Converse => serde_json::json!({
                "pull_requests": "write", "metadata": "read"
            }),
        }
    }
}

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    expires_at: i64,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl GitHubApp {
    pub fn new(app_id: u64, private_key_pem: &SecretString, api_url: &str) -> Result<GitHubApp> {
        // The PEM's content never goes into the error: only that it could not be read.
        let key = PKey::private_key_from_pem(private_key_pem.expose_secret().as_bytes())
            .map_err(|_| anyhow::anyhow!("GITHUB_PRIVATE_KEY is not a valid PEM private key"))?;
        if key.rsa().is_err() {
            anyhow::bail!("GITHUB_PRIVATE_KEY must be an RSA key (GitHub App keys are)");
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("flext-quality/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building HTTP client")?;
        Ok(GitHubApp {
            app_id,
            key,
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
            tokens: Mutex::new(HashMap::new()),
            throttle: Default::default(),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A JWT for app-level calls: issued a minute in the past against clock drift and valid for
    /// nine minutes, inside GitHub's ten-minute maximum.
    pub fn jwt(&self) -> Result<SecretString> {
        let now = unix_now();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({ "iat": now - 60, "exp": now + 540, "iss": self.app_id.to_string() })
                .to_string(),
        );
        let signing_input = format!("{header}.{claims}");
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).context("JWT signer")?;
        signer
            .update(signing_input.as_bytes())
            .context("JWT signing")?;
        let signature = URL_SAFE_NO_PAD.encode(signer.sign_to_vec().context("JWT signing")?);
        Ok(SecretString::from(format!("{signing_input}.{signature}")))
    }

    /// An installation token for `scope`, from the cache while it has more than five minutes
    /// left.
    pub async fn installation_token(
        &self,
        installation_id: i64,
        scope: TokenScope,
    ) -> Result<SecretString, GitHubError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(cached) = tokens.get(&(installation_id, scope)) {
            if cached.expires_at - unix_now() > TOKEN_REFRESH_MARGIN_SECS {
                return Ok(cached.token.clone());
            }
        }
        let jwt = self
            .jwt()
            .map_err(|e| GitHubError::Local(format!("{e:#}")))?;
        let url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            self.api_url
        );
        let body = serde_json::json!({
            "repository_ids": [scope.repository_id],
            "permissions": scope.access.permissions(),
        });
        let response = loop {
            self.throttle.wait(installation_id).await?;
            let sent = send_with_retries(|| {
                self.http
                    .post(&url)
                    .bearer_auth(jwt.expose_secret())
                    .header("Accept", "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .json(&body)
            })
            .await;
            match sent {
                Err(GitHubError::RateLimited { wait, message }) => {
                    self.throttle.pause(installation_id, wait, &message)
                }
                other => break other?,
            }
        };
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: String,
            expires_at: String,
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|e| GitHubError::Decode(format!("installation token response: {e}")))?;
        let expires_at = parse_rfc3339(&body.expires_at).unwrap_or_else(|| unix_now() + 3600);
        let token = SecretString::from(body.token);
        tokens.insert(
            (installation_id, scope),
            CachedToken {
                token: token.clone(),
                expires_at,
            },
        );
        Ok(token)
    }

    /// Drops a cached token that GitHub refused, so the next call fetches a fresh one.
    pub async fn forget_token(&self, installation_id: i64, scope: TokenScope) {
        self.tokens.lock().await.remove(&(installation_id, scope));
    }
}
