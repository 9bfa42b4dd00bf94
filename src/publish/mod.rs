//! What flext-quality tells people: the check run (title, summary, annotations).

pub mod check_run;
pub mod local;
