//! The files of one commit in a mirror, as the analysis reads its configuration: a pull
//! request's base commit gives the Semgrep rules and the project's MyPy settings, so what the
//! pull request changed in them does not count. Symbolic links are refused, never followed.

use super::checkout::Mirrors;
use crate::analysis::backends::ConfigFiles;
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use std::path::Path;
use std::sync::Arc;

/// Mode git gives symbolic links.
const LINK_MODE: i32 = 0o120000;

pub struct CommitFiles {
    pub mirrors: Arc<Mirrors>,
    pub repo_id: i64,
    pub sha: String,
}

impl CommitFiles {
    fn tree(&self) -> Result<(Repository, Oid), String> {
        let repo = self
            .mirrors
            .open(self.repo_id)
            .map_err(|e| format!("{e:#}"))?;
        let oid = Oid::from_str(&self.sha).map_err(|e| e.message().to_owned())?;
        let tree = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| format!("commit {}: {}", self.sha, e.message()))?
            .id();
        Ok((repo, tree))
    }
}

impl ConfigFiles for CommitFiles {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let (repo, tree) = self.tree()?;
        let tree = repo.find_tree(tree).map_err(|e| e.message().to_owned())?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.message().to_owned()),
        };
        if entry.filemode() == LINK_MODE {
            return Err(format!("`{path}` is a symbolic link"));
        }
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = repo
            .find_blob(entry.id())
            .map_err(|e| e.message().to_owned())?;
        Ok(Some(blob.content().to_vec()))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let (repo, tree) = self.tree()?;
        let tree = repo.find_tree(tree).map_err(|e| e.message().to_owned())?;
        let clean = path.trim_end_matches('/');
        // Every component on the way must be a real directory, not a link.
        let mut prefix = String::new();
        for part in clean.split('/').filter(|p| !p.is_empty() && *p != ".") {
            prefix = if prefix.is_empty() {
                part.to_owned()
            } else {
                format!("{prefix}/{part}")
            };
            let entry = tree
                .get_path(Path::new(&prefix))
                .map_err(|_| format!("`{clean}` does not exist in the config commit"))?;
            if entry.filemode() == LINK_MODE {
                return Err(format!("`{prefix}` is a symbolic link"));
            }
        }
        let entry = tree
            .get_path(Path::new(clean))
            .map_err(|_| format!("`{clean}` does not exist in the config commit"))?;
        match entry.kind() {
            Some(ObjectType::Blob) => Ok(vec![clean.to_owned()]),
            Some(ObjectType::Tree) => {
                let sub = repo
                    .find_tree(entry.id())
                    .map_err(|e| e.message().to_owned())?;
                let mut files = Vec::new();
                let mut link = None;
                sub.walk(TreeWalkMode::PreOrder, |dir, e| {
                    let name = format!("{clean}/{dir}{}", e.name().unwrap_or(""));
                    if e.filemode() == LINK_MODE {
                        link = Some(name);
                        return TreeWalkResult::Abort;
                    }
                    if e.kind() == Some(ObjectType::Blob) {
                        files.push(name);
                    }
                    TreeWalkResult::Ok
                })
                .ok();
                if let Some(name) = link {
                    return Err(format!("`{name}` is a symbolic link"));
                }
                files.sort();
                Ok(files)
            }
            _ => Err(format!("`{clean}` is neither a file nor a directory")),
        }
    }
}
