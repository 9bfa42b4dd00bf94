//! Analysis: the jail tools run in, the backends (one per tool), the engine that runs them over
//! a tree, the repository config, the per-file result cache, and the cores the tools share.

pub mod backends;
pub mod cache;
pub mod cpu;
pub mod engine;
pub mod glob;
pub mod jail;
pub mod repo_config;
pub mod toolchain;
pub mod tree;
