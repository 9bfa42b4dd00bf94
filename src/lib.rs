//! flext-quality: a self-hosted GitHub App that analyses every pull request and push, scores and
//! grades the commit, applies a quality gate and reports back as a check run.

pub mod analysis;
pub mod config;
pub mod domain;
pub mod env_file;
#[cfg(feature = "test-support")]
pub mod fuzzing;
pub mod git;
pub mod github;
pub mod jobs;
pub mod local;
pub mod metrics;
pub mod publish;
pub mod secret_box;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod web;
