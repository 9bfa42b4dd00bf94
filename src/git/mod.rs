//! Git access with libgit2: a bare mirror per repository, fetched with the installation token,
//! and commits materialised into temporary work trees.

pub mod checkout;
pub mod config_files;
pub mod diff;
