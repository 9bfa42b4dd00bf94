//! The pure core: findings, fingerprints, the score, the grade and the gate.
//!
//! Nothing here does I/O, runs async code or knows about a web framework; everything is a plain
//! function with table tests.

pub mod finding;
pub mod fingerprint;
pub mod gate;
pub mod policy;
pub mod score;
pub mod suppression;
pub mod time;
