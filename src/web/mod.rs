//! The HTTP surface: webhook ingress and health checks.

pub mod router;
pub mod webhook;

pub use router::{router, AppState};
