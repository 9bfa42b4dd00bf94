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
pub mod http;
pub mod payloads;
pub mod signature;
