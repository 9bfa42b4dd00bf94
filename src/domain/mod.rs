//! The pure core: findings, fingerprints, diff line maps and the pairing of findings along them,
//! test code, the score, the grade, the gate, the judgement of a commit, the enqueue decision,
//! suppressions, the events a webhook asks for, the events we send out, status enums.
//!
//! Nothing here does I/O, runs async code or knows about a web framework; everything is a plain
//! function with table tests.

pub mod compliance;
pub mod diffmap;
pub mod enqueue;
pub mod events;
pub mod finding;
pub mod fingerprint;
pub mod gate;
pub mod judgement;
pub mod notify;
pub mod outgoing;
pub mod pairing;
pub mod policy;
pub mod score;
pub mod status;
pub mod suppression;
pub mod test_code;
pub mod time;
