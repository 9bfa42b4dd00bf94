//! Analysis backends and the engine that runs them over a checked-out tree.

pub mod engine;
pub mod parse;
pub mod ruff;
pub mod runner;
