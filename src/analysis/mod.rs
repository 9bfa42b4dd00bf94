//! Analysis backends and the engine that runs them over a checked-out tree.

pub mod backends;
pub mod bandit;
pub mod cache;
pub mod clippy;
pub mod engine;
pub mod glob;
pub mod mypy;
pub mod parse;
pub mod repo_config;
pub mod ruff;
pub mod runner;
pub mod sarif;
pub mod semgrep;
