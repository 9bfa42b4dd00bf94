//! Test harness for flext-quality's own parts: the end-to-end DSL (`dsl.rs`), the `analyze`
//! binary run as a user would (`cli.rs`), fresh databases
//! of both engines, and the pinned tools. (The fakes of services we cannot reach live in
//! `support/`.)
#![allow(dead_code, unused_imports, unused_macros)]

pub mod burst;
pub mod cli;
pub mod db;
pub mod dsl;
pub mod html;
pub mod pull;
pub mod server;
pub mod talk;
pub mod tools;
pub mod web;
