//! Sending requests to GitHub with GitHub's retry rules: 5xx and transport errors retried with
//! back-off; a rate limit (primary: `x-ratelimit-remaining: 0` with `x-ratelimit-reset`;
//! secondary: 403/429 with `retry-after`, or the "secondary rate limit" message) is returned as
//! [`GitHubError::RateLimited`] so the caller pauses the whole installation (see
//! [`super::throttle`]). Errors carry GitHub's message but never a request's headers (which
//! hold tokens).
//!
//! A request that creates something (a check run, a comment, annotations) is not sent again
//! after an answer that leaves open whether GitHub applied it — a 5xx or a connection lost
//! after sending: GitHub may have created it and lost only the answer, and sending it again
//! would create a duplicate. Its caller looks before trying again ([`Replay::Never`]).

use std::time::Duration;

/// Longest we wait for a rate limit to reset inside one job; beyond it the job is put back to
/// run after the reset.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Status {
        status: u16,
        method: String,
        path: String,
        message: String,
    },
    #[error("cannot reach GitHub: {0}")]
    Transport(String),
    #[error("unexpected answer from GitHub: {0}")]
    Decode(String),
    #[error("{0}")]
    Local(String),
    /// GitHub asked us to wait this long before the next request.
    #[error("GitHub rate limit: wait {} s ({message})", .wait.as_secs())]
    RateLimited { wait: Duration, message: String },
}

/// Whether a request may be sent again, unchanged, after an answer that leaves open whether
/// GitHub applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Sending it twice does no harm: a read, or an edit that sets values.
    Safe,
    /// Sending it twice would create something twice: only a request that surely never
    /// reached GitHub (the connection was refused) is sent again here; otherwise the caller
    /// finds out whether the first one went through before sending another.
    Never,
}

impl GitHubError {
    /// GitHub may have applied the request although the answer says it failed: a 5xx (the
    /// answer may come from a proxy after the work was done), a connection lost after sending,
    /// or a success whose body we could not read.
    pub fn may_have_applied(&self) -> bool {
        match self {
            GitHubError::Status { status, .. } => *status >= 500,
            GitHubError::Transport(_) | GitHubError::Decode(_) => true,
            GitHubError::Local(_) | GitHubError::RateLimited { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Trying again cannot help: a request GitHub refuses (400, 422), a permission the App
    /// lacks (403 once rate limits were waited out), a resource that is gone (404, 410). A 401
    /// can heal with a fresh token, and 408, 409 and 429 are worth another try.
    pub fn cannot_heal(&self) -> bool {
        matches!(self.status(), Some(400 | 403 | 404 | 410 | 422))
    }
}

/// How long GitHub asks us to wait before trying again, if the answer is a rate limit;
/// `message` is GitHub's message (a secondary limit may say so only there).
fn rate_limit_wait(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    message: &str,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = header("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some(0) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let reset = header("x-ratelimit-reset").unwrap_or(now + 60);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    // Without headers: a 429 is still a limit, and so is a 403 that says "secondary rate
    // limit"; GitHub says to wait at least a minute.
    let secondary = message.to_lowercase().contains("secondary rate limit");
    (status == 429 || secondary).then_some(Duration::from_secs(60))
}

/// Sends a request built by `build`, retrying transient failures. Errors carry GitHub's message
/// but never the request's headers (which hold the token).
pub async fn send_with_retries<F>(build: F) -> Result<reqwest::Response, GitHubError>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    send(build, Replay::Safe).await
}

/// Sends a request built by `build`, retrying transient failures as far as `replay` allows.
pub async fn send<F>(build: F, replay: Replay) -> Result<reqwest::Response, GitHubError>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let (client, request) = build().build_split();
        let request = request.map_err(|e| GitHubError::Local(format!("building request: {e}")))?;
        let method = request.method().to_string();
        let path = request.url().path().to_owned();
        let result = client.execute(request).await;
        let response = match result {
            // A refused connection never carried the request: safe to send again either way.
            Err(e) if attempt < ATTEMPTS && (replay == Replay::Safe || e.is_connect()) => {
                tracing::warn!(%method, %path, error = %e.without_url(), attempt, "GitHub request failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
                continue;
            }
            Err(e) => {
                crate::metrics::github_request(None);
                return Err(GitHubError::Transport(e.without_url().to_string()));
            }
            Ok(r) => r,
        };
        let status = response.status();
        crate::metrics::github_request(Some(status.as_u16()));
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        if let Some(wait) = rate_limit_wait(status.as_u16(), &headers, &message) {
            tracing::warn!(%method, %path, status = status.as_u16(), wait_ms = wait.as_millis() as u64,
                "GitHub rate limit");
            return Err(GitHubError::RateLimited { wait, message });
        }
        if status.is_server_error() && attempt < ATTEMPTS && replay == Replay::Safe {
            tracing::warn!(%method, %path, status = status.as_u16(), attempt, "GitHub answered 5xx; retrying");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
            continue;
        }
        return Err(GitHubError::Status {
            status: status.as_u16(),
            method,
            path,
            message,
        });
    }
}
