//! The App's webhook deliveries as GitHub recorded them, and asking for a redelivery: GitHub
//! does not retry a delivery that failed, so reconciliation finds those (and any we never
//! recorded) and has them sent again.

use super::app::GitHubApp;
use super::http::{send_with_retries, GitHubError};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// One delivery in `GET /app/hook/deliveries`.
#[derive(Debug, Clone, Deserialize)]
pub struct HookDelivery {
    pub id: i64,
    pub guid: String,
    #[serde(default)]
    pub redelivery: bool,
    pub status_code: i64,
    pub event: String,
}

/// The `cursor` of the `rel="next"` link, if there is a next page.
fn next_cursor(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        if !rel.contains("rel=\"next\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("cursor="))
            .map(str::to_owned)
    })
}

impl GitHubApp {
    async fn app_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::Response, GitHubError> {
        let jwt = self
            .jwt()
            .map_err(|e| GitHubError::Local(format!("{e:#}")))?;
        let url = format!("{}{path}", self.api_url());
        send_with_retries(|| {
            self.http()
                .request(method.clone(), &url)
                .bearer_auth(jwt.expose_secret())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
        })
        .await
    }

    /// A page of deliveries, newest first, and the cursor of the next page.
    pub async fn list_deliveries(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<HookDelivery>, Option<String>), GitHubError> {
        let mut path = "/app/hook/deliveries?per_page=100".to_owned();
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = self.app_request(reqwest::Method::GET, &path).await?;
        let next = next_cursor(response.headers().get("link").and_then(|v| v.to_str().ok()));
        let items = response
            .json()
            .await
            .map_err(|e| GitHubError::Decode(format!("hook deliveries: {e}")))?;
        Ok((items, next))
    }

    /// Asks GitHub to send delivery `id` again.
    pub async fn redeliver(&self, id: i64) -> Result<(), GitHubError> {
        self.app_request(
            reqwest::Method::POST,
            &format!("/app/hook/deliveries/{id}/attempts"),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_cursor_comes_from_the_link_header() {
        let link = r#"<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967>; rel="next", <https://api.github.com/app/hook/deliveries?per_page=2>; rel="first""#;
        assert_eq!(
            super::next_cursor(Some(link)).as_deref(),
            Some("v1_12077215967")
        );
        assert_eq!(
            super::next_cursor(Some(r#"<https://x/?cursor=a>; rel="prev""#)),
            None
        );
        assert_eq!(super::next_cursor(None), None);
    }
}
