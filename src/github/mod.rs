//! Everything that talks to GitHub: the App's authentication (JWT, scoped installation
//! tokens), requests with GitHub's retry rules, the calls we make, webhook signatures and
//! payloads.
//!
//! Webhook payloads are read with octocrab's typed models where it has them; requests go
//! through our own small client over reqwest rather than octocrab's: ours pauses and retries
//! the way the pipeline needs (per installation, with `retry-after` and `x-ratelimit-reset`),
//! keeps one HTTP client and one TLS stack (reqwest with the system's OpenSSL), and signs the
//! App's JWT with the same OpenSSL.

pub mod app;
pub mod checks;
pub mod client;
pub mod clone_url;
pub mod comments;
pub mod deliveries;
pub mod http;
pub mod manifest;
pub mod payloads;
pub mod signature;
pub mod throttle;

/// The web address of the GitHub an API URL belongs to, for links people click:
/// `https://api.github.com` → `https://github.com`, GitHub Enterprise's `https://host/api/v3`
/// → `https://host`; anything else (a test server) is its own web address.
pub fn web_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if let Some(rest) = api.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn web_urls() {
        for (api, web) in [
            ("https://api.github.com", "https://github.com"),
            ("https://api.github.com/", "https://github.com"),
            ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
            ("http://127.0.0.1:4000", "http://127.0.0.1:4000"),
        ] {
            assert_eq!(super::web_url(api), web);
        }
    }
}
