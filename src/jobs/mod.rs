//! Workers that take jobs from the database queue and the analysis pipeline they run.

pub mod pipeline;
pub mod worker;
