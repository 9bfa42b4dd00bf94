//! Everything that talks to GitHub: app authentication, the REST client, webhook payloads.

pub mod app;
pub mod checks;
pub mod client;
pub mod clone_url;
pub mod events;
pub mod signature;
