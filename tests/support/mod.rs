//! Shared support for the end-to-end tests: a strict fake GitHub (REST API + git hosting, its
//! sign-in and App manifest flows), the OpenAPI request validator it uses, a strict fake
//! Slack, a strict receiver of outgoing events, and app key helpers.
//!
//! Every integration test binary compiles this module on its own and uses a different part
//! of it, so unused items and re-exports are expected.
#![allow(dead_code, unused_imports)]

pub mod app_key;
pub mod auth;
pub mod checks;
pub mod conversation;
pub mod fake_events;
pub mod fake_github;
pub mod fake_slack;
pub mod git_server;
pub mod hooks;
pub mod manifest;
pub mod oauth;
pub mod openapi;
pub mod routing;
pub mod storm;

pub use app_key::{app_jwt, generate_app_key, shared_app_key, sign_jwt, unix_now};
pub use fake_github::{
    Annotation, CheckRun, FakeGitHub, IssueComment, RecordedRequest, StatusChange,
};
