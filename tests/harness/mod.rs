//! Test harness for flext-quality's own parts: the app, fresh databases of both engines,
//! scenarios, and the pinned tools.
//! (The fakes of services we cannot reach live in `support/`.)
#![allow(dead_code)]

pub mod app;
pub mod db;
pub mod scenario;
pub mod tools;
