//! Test harness for flext-quality's own parts: fresh databases of both engines.
//! (The fakes of services we cannot reach live in `support/`.)
#![allow(dead_code)]

pub mod app;
pub mod db;
pub mod scenario;
