//! Sending requests to GitHub with GitHub's retry rules: 5xx and transport errors retried with
//! back-off, 403/429 rate limits waited out (`retry-after`, `x-ratelimit-reset`). Errors carry
//! GitHub's message but never a request's headers (which hold tokens).

use std::time::Duration;

/// Longest we wait for a rate limit to reset inside one job; beyond it the job is retried later.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
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
}

impl GitHubError {
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

/// How long GitHub asks us to wait before trying again, if it is a rate limit.
fn rate_limit_wait(response: &reqwest::Response) -> Option<Duration> {
    let status = response.status().as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        response
            .headers()
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
    // A 429 without headers is still a rate limit; GitHub says to wait at least a minute.
    (status == 429).then_some(Duration::from_secs(60))
}

/// Sends a request built by `build`, retrying transient failures. Errors carry GitHub's message
/// but never the request's headers (which hold the token).
pub async fn send_with_retries<F>(build: F) -> Result<reqwest::Response, GitHubError>
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
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(%method, %path, error = %e.without_url(), attempt, "GitHub request failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
                continue;
            }
            Err(e) => return Err(GitHubError::Transport(e.without_url().to_string())),
            Ok(r) => r,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = rate_limit_wait(&response);
        let retryable = status.is_server_error() || wait.is_some();
        if retryable && attempt < ATTEMPTS {
            let wait = wait.unwrap_or(delay);
            if wait <= MAX_RATE_LIMIT_WAIT {
                tracing::warn!(%method, %path, status = status.as_u16(), wait_ms = wait.as_millis() as u64, attempt,
                    "GitHub asked us to retry");
                tokio::time::sleep(wait).await;
                delay *= 2;
                attempt += 1;
                continue;
            }
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(GitHubError::Status {
            status: status.as_u16(),
            method,
            path,
            message,
        });
    }
}
