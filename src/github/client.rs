//! A client acting as one installation of the app, on one repository, with one job's
//! permissions: a refused token is fetched again once.

use super::app::{GitHubApp, TokenScope};
use super::http::{send, GitHubError, Replay};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::sync::Arc;

#[derive(Clone)]
pub struct InstallationClient {
    app: Arc<GitHubApp>,
    installation_id: i64,
    scope: TokenScope,
}

impl InstallationClient {
    pub fn new(app: Arc<GitHubApp>, installation_id: i64, scope: TokenScope) -> Self {
        InstallationClient {
            app,
            installation_id,
            scope,
        }
    }

    pub async fn token(&self) -> Result<secrecy::SecretString, GitHubError> {
        self.app
            .installation_token(self.installation_id, self.scope)
            .await
    }

    /// Sends a JSON request to `path` (relative to the API URL) and decodes the answer; it may
    /// be sent again after a 5xx (see [`Replay::Safe`]).
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, GitHubError> {
        self.request_with(method, path, body, Replay::Safe).await
    }

    /// [`Self::request`] for a request that must not be sent twice when GitHub may already have
    /// applied it ([`Replay::Never`]): such a failure is returned for the caller to look first.
    pub async fn request_with<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> Result<T, GitHubError> {
        let url = format!("{}{}", self.app.api_url(), path);
        let throttle = &self.app.throttle;
        // One content-creating request of an installation at a time, held across its retries.
        let _writer = if method == reqwest::Method::GET {
            None
        } else {
            Some(throttle.writer(self.installation_id).await)
        };
        let mut refreshed = false;
        let mut limited = 0;
        loop {
            throttle.wait(self.installation_id).await?;
            let token = self.token().await?;
            let result = send(
                || {
                    let mut r = self
                        .app
                        .http()
                        .request(method.clone(), &url)
                        .header("Authorization", format!("token {}", token.expose_secret()))
                        .header("Accept", "application/vnd.github+json")
                        .header("X-GitHub-Api-Version", "2022-11-28");
                    if let Some(b) = body {
                        r = r.json(b);
                    }
                    r
                },
                replay,
            )
            .await;
            match result {
                Err(GitHubError::RateLimited { wait, message }) => {
                    // Every request of this installation waits, not only this one.
                    throttle.pause(self.installation_id, wait, &message);
                    limited += 1;
                    if limited >= 5 {
                        return Err(GitHubError::RateLimited { wait, message });
                    }
                }
                Err(e) if e.status() == Some(401) && !refreshed => {
                    // The cached token may have been revoked; fetch a new one once.
                    refreshed = true;
                    self.app
                        .forget_token(self.installation_id, self.scope)
                        .await;
                }
                Err(e) => return Err(e),
                Ok(response) => {
                    return response
                        .json::<T>()
                        .await
                        .map_err(|e| GitHubError::Decode(format!("{method} {path}: {e}")));
                }
            }
        }
    }
}
