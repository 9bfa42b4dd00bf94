//! Workers that take jobs from the database queue and the analysis pipeline they run.

pub mod pipeline;
pub mod worker;

/// An error no retry can fix — a setting that is missing, a clone URL we will not send a token
/// to, a tree over the size limit: the job gives up at once and the check run says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);
